"""``setup()``: the first call of every notebook."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import sys

import numpy as np
import torch

from .config import Config, get_config

VERSIONED_PACKAGES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")


def in_colab() -> bool:
    return "google.colab" in sys.modules


def pick_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


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


def setup(profile: str | None = None, verbose: bool = True) -> Config:
    """Pick the profile (``$RMENS_PROFILE``, default ``cpu``), seed everything, set the
    plot theme, and print profile, device and package versions. Returns the config."""
    import seaborn as sns  # imported here: the tests of other modules need no plotting

    cfg = get_config(profile)
    seed_everything(cfg.seed)
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if verbose:
        where = "Colab" if in_colab() else platform.node() or "local"
        print(f"profile: {cfg.profile}   device: {pick_device()}   "
              f"threads: {torch.get_num_threads()}   running on: {where}")
        print("   ".join(f"{k} {v}" for k, v in package_versions().items()))
    return cfg
