"""The screen of docs/study-plan.md §2, run: which ensembles side with the gold, against their
own members, on answers that game the proxies?

Three steps, each kept in ``results/<profile>/screen/`` with the record of what made it, so
that notebook 08 reads the screen without re-running it:

1. :func:`load_bank`: the exploit bank (:func:`exploits.bank`: late PPO answers of the pilot at
   β = 0 and damaged SFT answers, each beside the SFT answer), every distinct answer scored
   once by the profile's gold, with its terms (``bank/``).
2. :func:`candidate_scores`: each candidate's members' scores of those answers
   (``<stage>/scores.npy``, e.g. ``rm_screen/heads_lr30/``), training the candidate first when
   it is not made (minutes each; the SmolLM2 member about an hour on 2 cores).
3. :func:`screen_table`: :func:`exploits.screen` on the pairs the gold separates, and
   :data:`exploits.DECISION_RULE`'s verdict.

    python -m rmens_utils.screen            # score, train and screen what is missing (resumable)
    python -m rmens_utils.screen --list     # what is done and what is left
    python -m rmens_utils.screen --table    # the table and figure of what is done
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import exploits
from .artifacts import (atomic_dir, atomic_write_text, build_id, canonical, read_record,
                        results_dir, save_figure, stage_dir, stage_settings,
                        write_record)
from .config import get_config
from .gold import load_gold, with_gold
from .pipeline import long_allowed, prepare
from .stages import (RM_ENSEMBLE, RM_MULTIHEAD, SCREEN, gold_params, reward_params,
                     screen_stage, trained_stages)

# name in the table -> the reward's stage: the paper's two ensembles, then the candidates
CANDIDATES = {"full ensemble": RM_ENSEMBLE, "multi-head": RM_MULTIHEAD,
              **{name: screen_stage(name) for name in SCREEN}}
BANK_REGIME = "beta0"  # docs/study-plan.md: late answers without a KL penalty
SMOKE_CANDIDATES = ("full ensemble", "multi-head", "heads_lr30")  # the tests: seconds


def folder(cfg) -> Path:
    return results_dir(cfg.profile) / "screen"


def _kept(path: Path, settings: dict, make, inputs: dict | None = None) -> Path:
    """``path``, made by ``make(tmp)`` unless it already records ``settings`` (then it is kept
    as it is, even if the stages it was made from are gone: ``results/`` outlives ``runs/``)."""
    if stage_settings(path) != canonical(settings):
        with atomic_dir(path) as tmp:
            make(tmp)
            write_record(tmp, settings, inputs)
    return path


def source(cfg):
    """The study whose PPO answers fill the bank: the pilot's for ``cpu``, else its own."""
    return get_config("pilot") if cfg.profile == "cpu" else cfg


def late_step(cfg) -> int:
    """Where the late answers start: the last fifth of the source's PPO (the pilot: step 40)."""
    return math.ceil(0.8 * source(cfg).ppo.steps)


def source_evals(cfg) -> pd.DataFrame:
    """The held-out evaluations at β = 0 of every run and seed of :func:`source`."""
    from .study import load_results, plan  # the study's plan and results: only when asked

    study = source(cfg)
    runs = [run for run in plan(study, "all") if run[0] == BANK_REGIME]
    return load_results(study, runs)[1]


def load_bank(cfg, evals: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(pairs, answers)``: the exploit bank built from ``evals`` (default:
    :func:`source_evals`) and its distinct answers with the gold of ``cfg`` and its terms.
    Scored once and kept; about half an hour on 2 cores for the pilot's 1,664 answers."""
    path = folder(cfg) / "bank"
    settings = {"gold": gold_params(cfg), "regime": BANK_REGIME, "min_step": late_step(cfg),
                "seed": cfg.seed}

    def make(tmp):
        pairs = exploits.bank(source_evals(cfg) if evals is None else evals, BANK_REGIME,
                              late_step(cfg), cfg.seed)
        answers = exploits.unique_answers(pairs)
        print(f"Scoring the bank's {len(answers)} distinct answers with the gold")
        pairs.to_parquet(tmp / "pairs.parquet")
        with_gold(answers, load_gold(cfg)).to_parquet(tmp / "answers.parquet")

    _kept(path, settings, make)
    return pd.read_parquet(path / "pairs.parquet"), pd.read_parquet(path / "answers.parquet")


def exploit_pairs(cfg) -> pd.DataFrame:
    """The bank's pairs that the gold separates (:func:`exploits.separated`), with both golds."""
    pairs, answers = load_bank(cfg)
    return exploits.separated(pairs, *exploits.lookup(pairs, answers, answers["gold"]))


def is_scored(cfg, name: str) -> bool:
    """Whether ``results/`` holds candidate ``name``'s scores of the bank as it is now."""
    if read_record(folder(cfg) / "bank") is None:  # no bank: nothing is scored
        return False
    return stage_settings(folder(cfg) / CANDIDATES[name]) == canonical(_score_settings(cfg, name))


def _score_settings(cfg, name: str) -> dict:
    return {"reward": reward_params(cfg, CANDIDATES[name]),
            "bank": read_record(folder(cfg) / "bank")["build"]}


def candidate_scores(cfg, name: str) -> np.ndarray:
    """``(answers, k)``: candidate ``name``'s members' scores of the bank's answers, trained
    first when it is missing (``pipeline.prepare``, which says what and how long)."""
    from .proxy import load_reward  # transformers: only when a candidate is scored

    _, answers = load_bank(cfg)
    stage = CANDIDATES[name]

    def make(tmp):
        prepare(cfg, stage, allow_long=True)
        reward = load_reward(cfg, stage)
        scores = reward.score(answers["prompt"].tolist(), answers["text"].tolist(),
                              progress=True)
        np.save(tmp / "scores.npy", scores.float().numpy())

    inputs = {s: build_id(stage_dir(cfg.profile, s)) for s in trained_stages(cfg, stage)}
    path = _kept(folder(cfg) / stage, _score_settings(cfg, name), make, inputs)
    return np.load(path / "scores.npy")


def screen_table(cfg, names=None) -> pd.DataFrame:
    """:func:`exploits.screen` of the candidates ``names`` (default: all that are scored) on
    the bank's exploit pairs: a row each, with whether it passes the declared rule."""
    _, answers = load_bank(cfg)
    separated = exploit_pairs(cfg)
    names = [n for n in CANDIDATES if is_scored(cfg, n)] if names is None else names
    scores = {n: exploits.lookup(separated, answers, candidate_scores(cfg, n)) for n in names}
    return exploits.screen(separated, scores)


def load_screen(cfg, make_missing: bool | None = None) -> pd.DataFrame:
    """The screen's table from what ``results/`` holds (notebook 08). Candidates not screened
    yet are screened first when that is short (``smoke``: :data:`SMOKE_CANDIDATES`, seconds) or
    asked for (``make_missing=True``, or ``$RMENS_ALLOW_LONG=1``); otherwise they are left out
    and the command that screens them is printed."""
    names = list(SMOKE_CANDIDATES if cfg.profile == "smoke" else CANDIDATES)
    todo = [n for n in names if not is_scored(cfg, n)]
    if todo and (make_missing or (make_missing is None and (cfg.profile == "smoke"
                                                              or long_allowed(None)))):
        for n in todo:
            candidate_scores(cfg, n)
    elif todo:
        print(f"{len(todo)} of {len(names)} candidates are not screened in results/"
              f"{cfg.profile}/screen ({', '.join(todo)}): `python -m rmens_utils.screen` screens "
              "them (resumable; it says what it trains and about how long first).")
    scored = [n for n in names if is_scored(cfg, n)]
    if not scored:
        raise FileNotFoundError(f"No candidate is screened in results/{cfg.profile}/screen "
                                "yet: run `python -m rmens_utils.screen` first.")
    return screen_table(cfg, scored)


def save_table(cfg) -> pd.DataFrame:
    """:func:`screen_table` of every candidate scored, kept as
    ``results/<profile>/screen/table.csv`` with its figure (:func:`plotting.plot_screen`) as
    ``screen.png`` beside it."""
    from .plotting import plot_screen

    table = screen_table(cfg)
    save_figure(plot_screen(table), folder(cfg) / "screen.png")
    atomic_write_text(folder(cfg) / "table.csv", table.to_csv())
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="what is scored and what is not")
    parser.add_argument("--table", action="store_true",
                        help="write the table and figure of what is scored; train nothing")
    parser.add_argument("names", nargs="*", help=f"candidates (default all): {list(CANDIDATES)}")
    args = parser.parse_args(argv)
    from .environment import setup

    cfg = setup()
    names = args.names or list(CANDIDATES)
    if unknown := set(names) - set(CANDIDATES):
        raise SystemExit(f"Unknown candidate(s) {sorted(unknown)}. Valid: {list(CANDIDATES)}.")
    if args.list:
        made = read_record(folder(cfg) / "bank") is not None
        print(f"bank: {'scored' if made else 'not scored'}")
        for n in names:
            print(f"{n:<16} {'scored' if made and is_scored(cfg, n) else 'not scored'}")
        return
    load_bank(cfg)
    for n in [] if args.table else names:
        candidate_scores(cfg, n)  # kept as it finishes: interrupt and run again to resume
        save_table(cfg)
    print(save_table(cfg).to_string())


if __name__ == "__main__":
    main()
