"""Tidy executed notebooks before they are committed: what a reader sees is the lesson's output,
not the machinery's.

- A solution's output is removed (its cell is still executed by the test command and by
  ``scripts/run_notebooks.sh``): a student predicts, then runs it.
- A progress bar keeps only its last state: tqdm redraws its line with ``\\r``, and a committed
  notebook would otherwise keep every redraw.
- The execution timestamps Jupyter writes into each cell's metadata are dropped (they change
  on every run and say nothing).
- This machine's paths (the repository's folder, the home folder) become ``<repo>`` and ``~``.

``python scripts/tidy_notebooks.py notebooks/*.ipynb`` tidies in place; ``--check`` only says
which are untidy (the tests run it on every committed notebook). Standard library only.
"""
from __future__ import annotations

import argparse
import json
import sys
from itertools import groupby
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _last_states(text: str) -> str:
    """Each line as it was last drawn: the part after its last carriage return."""
    parts, kept = text.split("\n"), []
    for i, part in enumerate(parts):
        last = part.rsplit("\r", 1)[-1]
        if "\r" in part and not last.strip():
            continue  # a bar that cleared itself (tqdm's leave=False)
        kept.append(last + ("\n" if i < len(parts) - 1 else ""))
    return "".join(kept)


def _private_paths(text: str) -> str:
    return text.replace(str(ROOT), "<repo>").replace(str(Path.home()), "~")


def tidy_outputs(outputs: list[dict]) -> list[dict]:
    """The outputs of one cell, tidied: each run of consecutive outputs of one stream is joined
    (as Jupyter shows them, a bar's redraws may span several), keeps its lines' last states, and
    is dropped if nothing is left of it."""
    tidied: list[dict] = []
    for (kind, name), run in groupby(outputs, key=lambda o: (o.get("output_type"), o.get("name"))):
        run = list(run)
        if kind != "stream":
            tidied += run
            continue
        text = _private_paths(_last_states("".join("".join(o["text"]) for o in run)))
        if text.strip():
            tidied.append({**run[0], "text": text.splitlines(keepends=True)})
    return tidied


def tidy(notebook: dict) -> dict:
    """The notebook, tidied (a new dict; ``notebook`` is left as it is)."""
    notebook = json.loads(json.dumps(notebook))
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        cell["metadata"].pop("execution", None)
        if "solution" in cell["metadata"].get("tags", []):
            cell["outputs"], cell["execution_count"] = [], None
        else:
            cell["outputs"] = tidy_outputs(cell["outputs"])
    return notebook


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if untidy")
    args = parser.parse_args(argv)
    untidy = []
    for path in args.notebooks:
        notebook = json.loads(path.read_text())
        tidied = tidy(notebook)
        if tidied != notebook:
            untidy.append(path.name)
            if not args.check:
                # nbformat's own layout (one space indent, a final newline), so diffs stay small
                path.write_text(json.dumps(tidied, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    verb = "untidy" if args.check else "tidied"
    print(f"{verb}: {', '.join(untidy)}" if untidy else "all tidy")
    return 1 if args.check and untidy else 0


if __name__ == "__main__":
    sys.exit(main())
