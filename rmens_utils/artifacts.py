"""Artifacts on disk: ``<runs>/<profile>/<stage>/``, written atomically, with a record of
what made them.

``<runs>`` is ``runs/`` in the repository unless ``$RMENS_RUNS`` moves it (e.g. to Google
Drive). What a stage keeps only while it is being made (checkpoints, chunks, the folder it is
written into) lives under ``$RMENS_WORK`` when that is set (on Colab: the runtime's own disk, so
that Drive receives finished stages only), else beside the stages. Each stage folder holds
``rmens_stage.json``: the settings that change its output (never bookkeeping such as checkpoint
cadence), the build id of each stage it read, and its own build id, a hash of all that and of
its files. A stage is *complete* when that record matches
the settings and the inputs' builds that would make it now; the record is written last, so a
half-written stage never looks complete.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

CONFIG_FILE = "rmens_stage.json"  # not config.json: model folders own that name
RUNS_ENV = "RMENS_RUNS"
RESULTS_ENV = "RMENS_RESULTS"
WORK_ENV = "RMENS_WORK"
READ_ONLY_ENV = "RMENS_READ_ONLY"  # "1": show what exists, make nothing (Colab's read mode)


class MissingArtifactError(FileNotFoundError):
    """An input stage has not been run yet (for this profile and config)."""


class ReadOnlyStop(MissingArtifactError):
    """Read mode (``$RMENS_READ_ONLY=1``) reached a stage that would have to be made: the
    notebook stops there, quietly, and the cells after it keep their committed outputs."""

    def _render_traceback_(self):  # IPython shows the message alone, without a traceback
        return [str(self)]


def check_may_build(stage: str) -> None:
    """Raise :class:`ReadOnlyStop` in read mode: ``stage`` is missing and nothing is made."""
    if os.environ.get(READ_ONLY_ENV) == "1":
        raise ReadOnlyStop(
            f"Read mode: '{stage}' is not on this runtime, so the notebook stops here; the "
            "outputs below it are those of the committed run. To make it, choose MODE = "
            '"smoke" (tiny models, minutes) or "run" in the first cell.')


def repo_root() -> Path:
    """The repository root, found from this file (never from the working directory)."""
    override = os.environ.get("RMENS_ROOT")
    return Path(override) if override else Path(__file__).resolve().parent.parent


def results_dir(profile: str) -> Path:
    """``results/<profile>`` in the repository, or under ``$RMENS_RESULTS`` (the tests): the
    committed small outputs of the study (:mod:`study`) and the labels of its build."""
    override = os.environ.get(RESULTS_ENV)
    return (Path(override).expanduser() if override else repo_root() / "results") / profile


def runs_root() -> Path:
    """The runs folder: ``$RMENS_RUNS`` (e.g. on Google Drive, so stages outlive a Colab
    runtime), else ``runs/`` in the repository. ``setup(runs_dir=...)`` sets it."""
    override = os.environ.get(RUNS_ENV)
    return Path(override).expanduser() if override else repo_root() / "runs"


def work_root() -> Path | None:
    """``$RMENS_WORK``: where stages are made and checkpointed, if not in the runs folder."""
    override = os.environ.get(WORK_ENV)
    return Path(override).expanduser() if override else None


def runs_dir(profile: str) -> Path:
    return runs_root() / profile


def stage_dir(profile: str, stage: str) -> Path:
    return runs_dir(profile) / stage


def shown(path: Path) -> str:
    """``path`` relative to the runs folder, as printed (no machine's absolute paths)."""
    try:
        return str(Path("<runs>") / Path(path).relative_to(runs_root()))
    except ValueError:  # outside the runs folder: a path the user chose
        return str(path)


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


def save_figure(fig, path: Path) -> Path:
    """Save a matplotlib figure as ``path`` (PNG) all or nothing, then close it: an interrupted
    save never leaves a figure that disagrees with the table written beside it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}.png"
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return path


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


@contextmanager
def atomic_dir(path: Path):
    """Yield a temporary folder; on success it replaces ``path`` in one rename.

    On any error (or an interrupt) the temporary folder is removed and ``path`` is
    left exactly as it was. With ``$RMENS_WORK`` set, the folder is written there and copied
    beside ``path`` only once complete (Drive then never holds, nor trashes, a half-made stage).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag, work = f".{path.name}.tmp-{uuid.uuid4().hex[:8]}", work_root()
    tmp = (work if work and not path.is_relative_to(work) else path.parent) / tag
    tmp.mkdir(parents=True)
    near = path.parent / tag  # the finished folder beside ``path``, so the rename is atomic
    try:
        yield tmp
        if tmp != near:  # made under $RMENS_WORK: copied to the runs folder only now
            shutil.copytree(tmp, near)
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
        os.replace(near, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        for folder in {tmp, near}:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)


def unwind_on_sigterm() -> None:
    """Make SIGTERM (``kill``, ``pkill``) unwind this process as Ctrl-C does, so that each
    :func:`atomic_dir` it is inside removes its half-written folder (by default SIGTERM ends a
    Python process at once, and they stay behind)."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def in_chunks(folder: Path, chunks: list, make, file: str, desc: str):
    """``make(c, chunk)`` (a data frame) for each of ``chunks``, each kept in
    ``folder/chunk-NNNNN/<file>`` as it is made, atomically; chunks made before (by a run that
    was interrupted) are read back, not made again. All of them, concatenated in order."""
    import pandas as pd
    from tqdm.auto import tqdm

    parts = []
    for c, chunk in enumerate(tqdm(chunks, desc=desc, disable=len(chunks) <= 1)):
        path = Path(folder) / f"chunk-{c:05d}" / file
        if not path.is_file():
            with atomic_dir(path.parent) as tmp:
                make(c, chunk).to_parquet(tmp / file, index=False)
        parts.append(pd.read_parquet(path))
    return pd.concat(parts, ignore_index=True)


def read_record(folder: Path) -> dict | None:
    """A stage folder's record — ``settings`` (what made it), ``inputs`` (the build of each
    stage it read) and ``build`` (its own id) — or None if it is unfinished or absent."""
    f = Path(folder) / CONFIG_FILE
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None


def stage_settings(folder: Path) -> dict | None:
    """The settings recorded in a stage folder, or None if it is unfinished or absent."""
    record = read_record(folder)
    return None if record is None else record["settings"]


def build_id(folder: Path) -> str | None:
    """The build a finished stage folder records, or None."""
    record = read_record(folder)
    return None if record is None else record["build"]


def canonical(params: dict) -> dict:
    """``params`` as stored in a record (JSON: tuples become lists, keys sorted)."""
    return json.loads(json.dumps(params, sort_keys=True))


def fingerprint(folder: Path, settings: dict, inputs: dict) -> str:
    """A build id: 12 hex digits of a SHA-256 over the settings, the inputs' builds and every
    file of ``folder`` but its record. The same id means the same bytes made the same way, as
    DVC's lock files record a stage's outputs by their hash."""
    digest = hashlib.sha256(json.dumps([settings, inputs], sort_keys=True).encode())
    for f in sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.name != CONFIG_FILE):
        digest.update(f.relative_to(folder).as_posix().encode())
        with open(f, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:12]


def write_record(folder: Path, settings: dict, inputs: dict | None = None,
                 **provenance) -> str:
    """Record what made a stage: its settings, its inputs' builds and its own build id
    (:func:`fingerprint`), plus ``provenance`` (e.g. the precision it computed in: how, not
    what, so never compared). Written last, so it marks the folder done. Returns the id."""
    settings, inputs = canonical(settings), dict(sorted((inputs or {}).items()))
    build = fingerprint(folder, settings, inputs)
    atomic_write_json(Path(folder) / CONFIG_FILE, {"settings": settings, "inputs": inputs,
                                                  "build": build, **provenance})
    return build


def is_complete(profile: str, stage: str, params: dict, inputs: dict | None = None) -> bool:
    """True when ``<runs>/<profile>/<stage>`` was made by exactly ``params`` (and, if given,
    from exactly these ``inputs`` builds)."""
    record = read_record(stage_dir(profile, stage))
    return (record is not None and record["settings"] == canonical(params)
            and (inputs is None or record["inputs"] == dict(sorted(inputs.items()))))


def differences(old, new, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two settings dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for key in sorted(set(old) | set(new))
                for d in differences(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [prefix.rstrip(".") or "(all)"]


def work_dir(profile: str, stage: str, params: dict, inputs: dict | None = None,
             fresh: bool = False) -> Path:
    """``<runs>/<profile>/_work/<stage>`` (``$RMENS_WORK/<profile>/_work/<stage>`` when set):
    where a stage keeps what lets it resume after an interrupt (checkpoints, sampled chunks).
    Emptied when it was left by other settings."""
    work = (work_root() or runs_root()) / profile / "_work" / stage
    made_by = canonical({"settings": params, "inputs": inputs or {}})
    marker = work / CONFIG_FILE
    if fresh or not marker.is_file() or json.loads(marker.read_text()) != made_by:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_json(marker, made_by)
    return work


_loaded: list[tuple[str, str]] | None = None  # (profile, stage) loaded in summarised_loads()


@contextmanager
def summarised_loads():
    """Inside it, a stage already made is loaded without its own line; at the end one line
    names them all (a cell that loads a dozen made stages says so once, not a dozen times)."""
    global _loaded
    outer, _loaded = _loaded, []
    try:
        yield
    finally:
        loaded, _loaded = _loaded, outer
        if outer is not None:  # nested: the outermost one says them
            outer.extend(loaded)
        else:
            for profile in dict.fromkeys(p for p, _ in loaded):
                names = [stage for p, stage in loaded if p == profile]
                print(f"{len(names)} stages done for these settings, loaded from "
                      f"{shown(runs_root() / profile)}: {', '.join(names)} "
                      "(force=True remakes one)")


def run_stage(profile: str, stage: str, params: dict, build, load, force: bool = False,
              inputs: dict | None = None, **provenance):
    """The one way every stage runs.

    Done for these ``params`` and ``inputs`` (the build ids of the stages it reads), and not
    ``force``: say so, return ``load(folder)``. Otherwise ``build(tmp, work)`` writes the
    stage's files into a temporary folder, with ``work`` (see :func:`work_dir`) for anything
    worth keeping through an interrupt; the record (:func:`write_record`) is written last and
    the folder moved into place in one rename, so an interrupted stage never looks finished.
    Then ``work`` is removed and ``load(folder)`` returned. A folder made with other settings
    or inputs is replaced, and what changed is printed.
    """
    folder, params, inputs = stage_dir(profile, stage), canonical(params), inputs or {}
    old = read_record(folder)
    if is_complete(profile, stage, params, inputs) and not force:
        if _loaded is not None:
            _loaded.append((profile, stage))
        else:
            print(f"{stage}: done for these settings, loaded from {shown(folder)} "
                  "(force=True remakes it)")
        return load(folder)
    if old is not None and not force:
        changed = differences({"settings": old["settings"], "inputs": old["inputs"]},
                              {"settings": params, "inputs": dict(sorted(inputs.items()))})
        print(f"{stage}: {shown(folder)} was made with other settings or inputs "
              f"({', '.join(changed[:6])}): remaking it")
    check_may_build(stage)
    work = work_dir(profile, stage, params, inputs, fresh=force)
    with atomic_dir(folder) as tmp:
        build(tmp, work)
        write_record(tmp, params, inputs, **provenance)
    shutil.rmtree(work, ignore_errors=True)
    return load(folder)
