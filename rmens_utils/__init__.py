"""rmens_utils: the code behind the rmens notebooks (multi-head reward-model ensembles
against reward overoptimisation, after Ahmed et al. 2024 and Coste et al. 2023)."""
import warnings

# tqdm.auto falls back to plain-text bars without ipywidgets (readable in a committed notebook);
# its warning about that would otherwise open every notebook.
warnings.filterwarnings("ignore", message="IProgress not found")

from .config import PROFILES, Config, get_config  # noqa: E402
from .environment import setup  # noqa: E402

__all__ = ["Config", "PROFILES", "get_config", "setup"]
__version__ = "0.1.0"
