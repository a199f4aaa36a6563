"""rmens_utils: the code behind the rmens notebooks (multi-head reward-model ensembles
against reward overoptimisation, after Ahmed et al. 2024 and Coste et al. 2023)."""
from .config import PROFILES, Config, get_config
from .environment import setup

__all__ = ["Config", "PROFILES", "get_config", "setup"]
__version__ = "0.1.0"
