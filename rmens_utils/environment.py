"""``setup()``: the first call of every notebook."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from .artifacts import RUNS_ENV, repo_root, runs_root
from .config import Config, get_config
from .hardware import pick_precision

VERSIONED_PACKAGES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")


def in_colab() -> bool:
    return "google.colab" in sys.modules


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run repeats."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def quiet_libraries() -> None:
    """Silence the libraries' own progress bars and chatter ("Loading weights", "Map"), so
    a notebook shows the progress of its own stages only."""
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    for library in ("transformers", "trl", "peft"):  # deprecation notices meant for their users
        warnings.filterwarnings("ignore", category=FutureWarning, module=library)


def runs_location(path: Path) -> str:
    """The runs folder as printed: relative to the repository when inside it."""
    try:
        return str(path.relative_to(repo_root()))
    except ValueError:
        return str(path)


def setup(profile: str | None = None, runs_dir: str | os.PathLike | None = None,
          verbose: bool = True, pilot: bool = False) -> Config:
    """Pick the profile (``$RMENS_PROFILE``, default ``cpu``) and the runs folder
    (``runs_dir``, else ``$RMENS_RUNS``, else ``runs/``), decide device and precision from
    the hardware, seed everything, set the plot theme, and print all of it with the package
    versions. Returns the config. ``pilot``: the ``cpu`` profile becomes ``pilot``, the study
    whose runs notebooks 06-08 show until the study on the redesigned gold has its own."""
    import seaborn as sns  # imported here: the tests of other modules need no plotting

    if runs_dir is not None:
        os.environ[RUNS_ENV] = str(Path(runs_dir).expanduser())
    cfg = get_config(profile)
    if pilot and cfg.profile == "cpu":
        cfg = get_config("pilot", device=cfg.device, precision=cfg.precision)
    seed_everything(cfg.seed)
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    quiet_libraries()
    if verbose:
        where = "Colab" if in_colab() else "local"
        _, why = pick_precision(cfg.device)
        print(f"profile: {cfg.profile}   runs folder: {runs_location(runs_root())}   "
              f"running on: {where}")
        # the CPU's vector kernels decide float rounding, so what a build comes out as
        kernels = torch.backends.cpu.get_cpu_capability()
        print(f"device: {cfg.device} ({torch.get_num_threads()} CPU threads, {kernels} kernels)   "
              f"precision: {cfg.precision} ({why})")
        print("   ".join(f"{k} {v}" for k, v in package_versions().items()))
    return cfg
