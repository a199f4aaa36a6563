"""Instruction data: this repository's splits (``data/*.jsonl``) or AlpacaFarm, one schema.

Every split is a ``datasets.Dataset`` with string columns
``id, task, instruction, input, output`` (``output`` is the demonstration, ``""`` when
the split has none).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from datasets import Dataset, load_dataset

from .artifacts import repo_root

SPLITS = ("sft", "pref", "rl", "eval")
COLUMNS = ("id", "task", "instruction", "input", "output")

# Our split -> AlpacaFarm's file (Dubois et al. 2023; the splits Coste et al. use).
ALPACA_FARM_FILES = {
    "sft": "sft.json",
    "pref": "preference.json",
    "rl": "unlabeled.json",
    "eval": "val.json",
}
ALPACA_FARM_URL = "hf://datasets/tatsu-lab/alpaca_farm/alpaca_instructions/{file}"


def data_dir() -> Path:
    return repo_root() / "data"


def validate_rows(rows: list[dict], split: str, source: str) -> list[dict]:
    """Keep well-formed rows in the common schema; report the rejected ones.

    A row needs a non-empty string ``instruction``; ``input``/``output`` must be
    strings when present, and the ``sft`` split needs a non-empty ``output``.
    """
    if not rows:
        raise ValueError(f"{source} has no rows: a split needs at least one example (restore the "
                         "file from the repository, or run `python data/make_prompts.py`).")
    good, bad = [], []
    for i, row in enumerate(rows):
        problem = _row_problem(row, split)
        if problem:
            bad.append((i, problem, row))
            continue
        good.append({
            "id": str(row.get("id") or f"{split}-{i:05d}"),
            "task": str(row.get("task") or "unknown"),
            "instruction": row["instruction"].strip(),
            "input": (row.get("input") or "").strip(),
            "output": (row.get("output") or "").strip(),
        })
    if bad:
        i, problem, row = bad[0]
        message = (f"{source}: rejected {len(bad)} of {len(rows)} malformed rows "
                   f"(first: row {i}, {problem}: {str(row)[:200]})")
        if not good:
            raise ValueError(message + ". No valid rows left.")
        warnings.warn(message, stacklevel=2)
    return good


def _row_problem(row, split: str) -> str | None:
    if not isinstance(row, dict):
        return f"not an object but {type(row).__name__}"
    instruction = row.get("instruction")
    if not isinstance(instruction, str):
        return f"instruction is {type(instruction).__name__}, not str"
    if not instruction.strip():
        return "empty instruction"
    for key in ("input", "output", "task"):
        if row.get(key) is not None and not isinstance(row[key], str):
            return f"{key} is {type(row[key]).__name__}, not str"
    if split == "sft" and not (row.get("output") or "").strip():
        return "sft row without a demonstration (output)"
    return None


def read_jsonl(path: Path) -> list:
    """Parse a JSON-lines file; a line that is not JSON fails with its line number."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not valid JSON ({e.msg})") from e
    return rows


def load_local_split(split: str, folder: Path | None = None) -> Dataset:
    """One of this repository's splits from ``data/<split>.jsonl``."""
    _check_split(split)
    path = Path(folder or data_dir()) / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; the data folder ships with the repository "
                                "(re-clone it, or run `python data/make_prompts.py`).")
    return _to_dataset(validate_rows(read_jsonl(path), split, str(path)))


def load_alpaca_farm(split: str, path: str | None = None) -> Dataset:
    """An AlpacaFarm split (``tatsu-lab/alpaca_farm``) in the common schema.

    ``path`` overrides the Hub location, e.g. with a local file of AlpacaFarm's format
    (a JSON list of ``{"instruction", "input", "output"...}`` records).
    """
    _check_split(split)
    source = path or ALPACA_FARM_URL.format(file=ALPACA_FARM_FILES[split])
    try:
        raw = load_dataset("json", data_files=source, split="train")
    except Exception as e:  # no network, no Hub access, moved file ...
        raise RuntimeError(
            f"Could not load AlpacaFarm from {source} ({type(e).__name__}: {e}). "
            "Without Hub access use the offline profile: RMENS_PROFILE=cpu."
        ) from e
    rows = [{"id": f"alpaca_farm-{split}-{i:05d}", "task": "alpaca_farm",
             "instruction": r.get("instruction"), "input": r.get("input"),
             "output": r.get("output") if split == "sft" else ""}
            for i, r in enumerate(raw)]
    return _to_dataset(validate_rows(rows, split, source))


def load_split(split: str, cfg) -> Dataset:
    """The ``split`` of the profile's data source (``local`` or ``alpaca_farm``)."""
    if cfg.data_source == "local":
        return load_local_split(split)
    if cfg.data_source == "alpaca_farm":
        return load_alpaca_farm(split)
    raise ValueError(f"Unknown data_source {cfg.data_source!r}: use 'local' or 'alpaca_farm'.")


def prompt_text(row: dict) -> str:
    """The user turn: the instruction, then the input text (if any) after a blank line."""
    return row["instruction"] + (f"\n\n{row['input']}" if row["input"] else "")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}. Valid splits: {', '.join(SPLITS)}.")


def _to_dataset(rows: list[dict]) -> Dataset:
    return Dataset.from_dict({c: [r[c] for r in rows] for c in COLUMNS})
