"""Artifacts on disk: ``runs/<profile>/<stage>/``, written atomically, with their config.

A stage is *complete* when its folder holds ``rmens_stage.json`` equal to the config that
would make it now; it is written last, so a half-written stage never looks complete.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

# Which notebook makes which stage, so a missing input names its maker.
STAGE_NOTEBOOKS = {
    "sft": "01_sft.ipynb",
    "labels": "02_gold_labels.ipynb",
    "rm_single": "03_proxy_reward_model.ipynb",
    "bon_samples": "03_proxy_reward_model.ipynb",
    "rm_ensemble": "04_full_ensemble.ipynb",
    "rm_multihead": "05_multihead_reward_model.ipynb",
    "ppo": "06_ppo.ipynb",
}

CONFIG_FILE = "rmens_stage.json"  # not config.json: model folders own that name


class MissingArtifactError(FileNotFoundError):
    """An input stage has not been run yet (for this profile and config)."""


def repo_root() -> Path:
    """The repository root, found from this file (never from the working directory)."""
    override = os.environ.get("RMENS_ROOT")
    return Path(override) if override else Path(__file__).resolve().parent.parent


def runs_dir(profile: str) -> Path:
    return repo_root() / "runs" / profile


def stage_dir(profile: str, stage: str) -> Path:
    return runs_dir(profile) / stage


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename: all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


@contextmanager
def atomic_dir(path: Path):
    """Yield a temporary folder; on success it replaces ``path`` in one rename.

    On any error (or an interrupt) the temporary folder is removed and ``path`` is
    left exactly as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _same_config(folder: Path, config: dict) -> bool:
    f = folder / CONFIG_FILE
    if not f.is_file():
        return False
    return json.loads(f.read_text(encoding="utf-8")) == json.loads(json.dumps(config, sort_keys=True))


def is_complete(profile: str, stage: str, config: dict) -> bool:
    """True when ``runs/<profile>/<stage>`` was made by exactly ``config``."""
    return _same_config(stage_dir(profile, stage), config)


def write_stage_config(folder: Path, config: dict) -> None:
    """Record the config that made a stage; call it last, inside ``atomic_dir``."""
    atomic_write_json(Path(folder) / CONFIG_FILE, config)


def require_stage(profile: str, stage: str) -> Path:
    """The folder of a finished input stage, or an error naming the notebook to run."""
    folder = stage_dir(profile, stage)
    if not (folder / CONFIG_FILE).is_file():
        notebook = STAGE_NOTEBOOKS.get(stage.split("/")[0], f"the notebook that makes '{stage}'")
        raise MissingArtifactError(
            f"No '{stage}' artifact for profile '{profile}' at {folder}. "
            f"Run notebooks/{notebook} first (with RMENS_PROFILE={profile})."
        )
    return folder
