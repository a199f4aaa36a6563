"""The PPO study of notebook 06: every run it reads, as one resumable command, and its results.

Runs (reward × regime × seed: ``PLAN``, then ``CHEAP_PLAN`` for notebook 08) are PPO stages in
the runs folder (:mod:`rlhf`); each finished run's small outputs — the per-step log and the
held-out evaluations with their answers — are copied to
``results/<profile>/ppo/<regime>/<run>/seed<k>/`` with the settings that made them.
``results/`` is committed: notebook 06, the README and anyone else read every seed from it
without re-running anything.

    python -m rmens_utils.study            # run (or resume) every run of the plan, in order
    python -m rmens_utils.study --list     # what is done and what is left
    python -m rmens_utils.study --jobs 2   # two runs at a time (2 cores: 1.6x the runs an hour)

Interrupt it at any time: a run resumes from its last checkpoint (every ``save_every`` steps),
and finished runs are never re-run while their settings are unchanged.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .aggregation import PPO_UWO_LAMBDA, aggregate
from .artifacts import (CONFIG_FILE, RESULTS_ENV, _canonical, atomic_dir, atomic_write_json,
                        atomic_write_text, repo_root, results_dir, runs_root, stage_config)
from .environment import runs_location
from .gold import term_columns
from .hardware import PRECISION_ENV
from .labels import pin_labels
from .stages import (DEFAULT_REGIME, EVAL_REWARDS, GOLD, PPO_EVAL, PPO_RUNS, REGIMES,
                     eval_prefix, ppo_params, ppo_stage, require, trained_stages)

REWARDS = ("single", "ensemble_min", "multihead_min")  # what the lesson compares
CONTROL = GOLD  # PPO on the gold itself: does the gold fall without a proxy to exploit?
# In the order they run, so that an unfinished study already answers the first questions:
# seed 0 at beta = 0 of the single RM, then the control (does the gold fall without a proxy?
# if so, beta = 0 needs a slower learning rate before anything else runs), then the
# ensembles; then more seeds, then the KL-penalised regime. (regime, run, seed)
# On cpu the beta0 runs come from one build, the beta0.01 runs from another (README, "The PPO
# study"); the first build is lost, so the control's third seed at beta = 0 cannot be made.
PLAN = ([("beta0", run, seed) for seed in (0, 1) for run in (REWARDS[0], CONTROL, *REWARDS[1:])]
        + [("beta0", run, 2) for run in REWARDS]
        + [("beta0.01", run, seed) for seed in (0, 1) for run in (*REWARDS, CONTROL)
           if seed == 0 or run != CONTROL])


# Beyond the paper (notebook 08): PPO with the min of the cheap ensemble that notebook 08 found
# most promising, two seeds at beta = 0.01 (the regime of the cpu build that can still be
# made), against ensemble_min and multihead_min of the same seeds. They run after the paper's
# runs. The LoRA ensemble: chosen on notebook 08's table for an earlier cpu build of the reward
# models, where its members' spread grew on the late PPO answers nearly like the full ensemble's
# while its best-of-64 min tied the multi-head min's. On the build the runs were made from, its
# spread hardly grows (notebook 08, "What happened"); the runs stand as made, as a test of it.
CHEAP_RUN = "lora_k3_min"
CHEAP_PLAN = [("beta0.01", CHEAP_RUN, seed) for seed in (0, 1)]

# smoke (the tests): every kind of run and both regimes, the fewest that still give a
# standard error and a paired difference (two seeds of single, one of each other reward)
SMOKE_PLAN = ([("beta0", "single", seed) for seed in (0, 1)]
              + [("beta0", run, 0) for run in ("multihead_min", "ensemble_min", CONTROL)]
              + [("beta0.01", "single", 0)])
SMOKE_CHEAP_PLAN = [("beta0", CHEAP_RUN, 0)]


def plan(cfg, part: str = "paper") -> list[tuple[str, str, int]]:
    """The runs of the study for ``cfg``'s profile (the ``SMOKE_`` plans on smoke): the
    paper's (``part="paper"``: notebooks 06-07), the cheap ensemble's (``"cheap"``: notebook
    08) or both, in the order they run (``"all"``)."""
    smoke = cfg.profile == "smoke"
    parts = {"paper": SMOKE_PLAN if smoke else PLAN,
             "cheap": SMOKE_CHEAP_PLAN if smoke else CHEAP_PLAN}
    if part == "all":
        return parts["paper"] + parts["cheap"]
    if part not in parts:
        raise ValueError(f"Unknown part {part!r}. Valid: paper, cheap, all.")
    return parts[part]


def cheap_runs(cfg, rivals=("ensemble_min", "multihead_min")) -> list[tuple[str, str, int]]:
    """Notebook 08's PPO comparison: the paper's runs of ``rivals`` in the regimes and seeds of
    the cheap ensemble's runs, then those (``plan(cfg, "cheap")``)."""
    cheap = plan(cfg, "cheap")
    return [(regime, run, seed) for regime, run, seed in plan(cfg)
            if run in rivals and (regime, seed) in {(r, s) for r, _, s in cheap}] + cheap


def run_results(profile: str, name: str, seed: int, regime: str) -> Path:
    return results_dir(profile) / ppo_stage(name, seed, regime)


def is_exported(cfg, name: str, seed: int = 0, regime: str = DEFAULT_REGIME) -> bool:
    """True when the results of this run, made with today's settings, are in ``results/``."""
    folder = run_results(cfg.profile, name, seed, regime)
    return stage_config(folder) == _canonical(ppo_params(cfg, name, seed, regime))


def export_run(cfg, name: str, seed: int = 0, regime: str = DEFAULT_REGIME) -> Path:
    """Copy a finished run's log and held-out evaluations (with the settings that made
    them) from the runs folder to ``results/``, atomically. Runs it first if needed."""
    folder = require(cfg, ppo_stage(name, seed, regime))
    out = run_results(cfg.profile, name, seed, regime)
    with atomic_dir(out) as tmp:
        shutil.copy(folder / "log.csv", tmp / "log.csv")
        evals = pd.read_parquet(folder / "eval.parquet")
        # step 0 is the shared evaluation below, unless the run's reward is not scored there
        if PPO_RUNS[name][0] in (*EVAL_REWARDS, GOLD):  # (a cheap ensemble's: its own step 0)
            evals = evals[evals["step"] > 0]
        evals.to_parquet(tmp / "eval.parquet", index=False)
        atomic_write_json(tmp / CONFIG_FILE, stage_config(folder))
    return out


def reference_step0(profile: str, regime: str) -> Path:
    """The step-0 evaluation of the build that ``regime``'s runs start from: each regime is
    made from one build (on ``cpu``, beta0 from the first, beta0.01 from a later one)."""
    return results_dir(profile) / "ppo" / regime / "eval_sft.parquet"


def check_same_build(cfg, regime: str = DEFAULT_REGIME) -> None:
    """Stop unless the SFT policy and reward models in the runs folder are the ones the runs
    of ``regime`` already in ``results/`` started from; the first run's build becomes that
    reference (and a new one when no run of today's settings is left: a study made afresh).

    The upstream stages (SFT, labels, reward models) are models, so they live in the runs
    folder, never in ``results/``. Built again on another machine they may come out different:
    another CPU's kernels round differently, and a CPU that computes bf16 natively picks bf16.
    Runs from two builds do not compare, so the check is the step-0 evaluation (the SFT
    policy's held-out answers and every reward's scores of them, ``eval_sft.parquet``), which
    all of a build's runs share, and first, before hours of building, the precision. Reward
    models retrained with rounding differences along the way are the same build
    (:func:`compare_builds`). The reference build's labelled pairs (data, not a model) are
    pinned in ``results/`` too (:func:`labels.pin_labels`): relabelling on another machine
    gives other pairs, and reward models trained on them are other models (on ``cpu``, scores
    correlating 0.81-0.92 with the reference's), while retrained from (nearly) the same pairs
    they correlated 0.9999 with it. Called before a study's first run."""
    reference = reference_step0(cfg.profile, regime)
    made_in = reference.with_name("precision.txt")  # of the reference build
    # a reference with no run of today's settings beside it is stale (settings changed)
    in_use = reference.exists() and any(is_exported(cfg, n, s, r)
                                        for r, n, s in plan(cfg, "all") if r == regime)
    own_study = (f"or make a study of your own: set {RESULTS_ENV} to an empty folder "
                 f"(e.g. `{RESULTS_ENV}=my_results bash scripts/run_study.sh`)")
    if in_use and made_in.exists() and made_in.read_text().strip() != cfg.precision:
        were = made_in.read_text().strip()
        raise RuntimeError(f"The runs in {reference.parent} were made in {were}; here the models "
                           f"would be built in {cfg.precision}. Set {PRECISION_ENV}={were}, "
                           f"{own_study}.")
    step0 = require(cfg, PPO_EVAL) / "eval.parquet"
    if not in_use:  # step 0 of every run, shared: this build's is the reference from now on
        tmp = reference.with_name(f".{reference.name}.tmp")
        reference.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(step0, tmp)
        os.replace(tmp, reference)
        pin_labels(cfg)
    else:
        same, how = compare_builds(ours := pd.read_parquet(step0),
                                   theirs := pd.read_parquet(reference))
        if not same:
            raise RuntimeError(
                f"The runs in {reference.parent} started from another build of the SFT policy "
                f"and reward models than the one in the runs folder "
                f"({runs_location(runs_root())}): their step-0 evaluations differ ({how}; gold "
                f"mean {theirs['gold'].mean():.4f} there, {ours['gold'].mean():.4f} here). Runs "
                "from two builds do not compare. Go on with the runs folder that made them (it "
                f"is not in the repository), {own_study}.")
        print(f"The runs folder's models are the build of the runs in results/: {how}.")
    if not in_use or not made_in.exists():
        atomic_write_text(made_in, cfg.precision + "\n")


# Reward models retrained on another machine round differently along the way: on the SFT
# answers, the rebuilt models' scores correlated 0.9999 with the first build's (up to 0.05
# apart, sd ~1.1; README, "The PPO study"), while the full ensemble's members, reward models
# of different seeds, correlate 0.81 (notebook 08). The policy and gold must match exactly.
SAME_REWARD_CORR = 0.999


def compare_builds(ours: pd.DataFrame, theirs: pd.DataFrame, atol: float = 1e-4,
                   min_corr: float = SAME_REWARD_CORR) -> tuple[bool, str]:
    """Whether two step-0 evaluations come from the same build, and how they differ: the same
    answers, the same gold and other numbers (to ``atol``: float rounding) and reward scores
    (``<prefix>_<j>`` columns, as :func:`member_scores` reads them) that correlate at least
    ``min_corr`` with the reference's."""
    if list(ours.columns) != list(theirs.columns) or len(ours) != len(theirs):
        return False, "other columns or prompts"
    rewards = ours.filter(regex=rf"^({'|'.join(EVAL_REWARDS.values())})_\d+$").columns
    gap = (ours.select_dtypes("number") - theirs.select_dtypes("number")).abs().max()
    corr = ours[rewards].corrwith(theirs[rewards])
    texts = (ours["text"] != theirs["text"]).sum()
    changed = [f"{c} by up to {g:.2g}" for c, g in gap.drop(rewards).items() if g > atol]
    changed += [f"{c} correlates {r:.4f}" for c, r in corr.items()
                if not r >= min_corr and gap[c] > atol]  # (r is NaN for a constant column)
    if texts or changed:
        return False, ", ".join([f"{texts} of {len(theirs)} answers", *changed])
    return True, (f"the same answers and gold at step 0; reward scores up to "
                  f"{gap[rewards].max():.2g} apart, correlation ≥ {corr.min():.4f} (at least "
                  f"{min_corr} is the same build)")


def own_regime(cfg) -> str:
    """The regime whose runs start from the SFT policy and reward models in the runs folder
    (its step-0 reference is this build's step 0), so that these models scored its runs'
    answers; of several, the one with the most planned runs. On ``cpu``: beta0.01 (README,
    "The PPO study")."""
    ours = pd.read_parquet(require(cfg, PPO_EVAL) / "eval.parquet")
    references = {r: reference_step0(cfg.profile, r) for r in REGIMES}
    mine = [r for r, ref in references.items()
            if ref.exists() and compare_builds(ours, pd.read_parquet(ref))[0]]
    if not mine:
        raise FileNotFoundError(f"No regime in results/{cfg.profile} was made from the models in "
                                "the runs folder: run the study with them (`bash "
                                f"scripts/run_study.sh`; {RESULTS_ENV}=<folder> for a study of "
                                "your own).")
    return max(mine, key=lambda r: sum(regime == r for regime, _, _ in plan(cfg)))


def status(cfg, runs=None) -> pd.DataFrame:
    """One row per planned run: whether its results are in ``results/``."""
    return pd.DataFrame([{"regime": r, "run": n, "seed": s, "done": is_exported(cfg, n, s, r)}
                         for r, n, s in runs or plan(cfg, "all")])


def run_study(cfg, runs=None, shard: tuple[int, int] = (0, 1)) -> None:
    """Run, resume or skip every run of ``runs`` (default: the profile's whole :func:`plan`)
    in order, exporting each when it ends. ``shard=(i, n)``: only every n-th run left, from the
    i-th (one of :func:`run_parallel`'s processes)."""
    runs = runs or plan(cfg, "all")
    todo = [(r, n, s) for r, n, s in runs if not is_exported(cfg, n, s, r)]
    print(f"{len(runs) - len(todo)} of {len(runs)} runs already in "
          f"results/{cfg.profile}; {len(todo)} to run")
    i, n = shard
    mine = todo[i::n]
    for regime in dict.fromkeys(r for r, _, _ in mine):
        check_same_build(cfg, regime)  # before hours of PPO, not after
    for j, (regime, name, seed) in enumerate(mine, 1):
        print(f"[{j}/{len(mine)}{f' of shard {i + 1}/{n}' if n > 1 else ''}] "
              f"{ppo_stage(name, seed, regime)}")
        export_run(cfg, name, seed, regime)


def run_parallel(cfg, jobs: int) -> None:
    """:func:`run_study` in ``jobs`` processes at once, each on its share of the runs left and
    on cores / jobs threads. On 2 CPU cores (AMD EPYC, AVX2), two one-thread processes made
    1.6x the PPO steps an hour of one two-thread process: sampling and the small matrix
    products of these models keep a second thread poorly busy. Each process needs its own
    memory (about 8 GB on cpu). The stages the runs share are built first, here, once."""
    todo = [(r, n, s) for r, n, s in plan(cfg, "all") if not is_exported(cfg, n, s, r)]
    if not todo:
        return run_study(cfg)
    for regime in dict.fromkeys(r for r, _, _ in todo):
        check_same_build(cfg, regime)
    for reward in dict.fromkeys(PPO_RUNS[name][0] for _, name, _ in todo):
        for stage in trained_stages(cfg, reward) if reward != GOLD else ():
            require(cfg, stage)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "RMENS_PROFILE": cfg.profile,
           PRECISION_ENV: cfg.precision}
    processes = [subprocess.Popen([sys.executable, "-m", "rmens_utils.study", "--shard",
                                   f"{i}/{jobs}"], env=env) for i in range(jobs)]
    if any([p.wait() for p in processes]):
        raise SystemExit("a process of the study failed: its error is above; run again to resume")


def load_results(cfg, runs=None, make_missing: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run of ``runs`` (default: the paper's, :func:`plan`) from ``results/``:
    ``(logs, evals)``, each with ``regime, run, seed`` columns; ``evals`` includes step 0
    (the SFT policy) for every run. A run not yet in ``results/`` is made first (on
    ``smoke``: seconds; on ``cpu``: about an hour each), or left out with
    ``make_missing=False`` (to look at a study still running)."""
    runs = runs or plan(cfg)
    missing = [(r, n, s) for r, n, s in runs if not is_exported(cfg, n, s, r)]
    if missing and make_missing:
        run_study(cfg, missing)
    elif missing:
        runs = [run for run in runs if run not in missing]
        if not runs:
            raise FileNotFoundError(f"No run of the study is in results/{cfg.profile} yet: "
                                    "run `bash scripts/run_study.sh` first.")
    sft_eval = {regime: pd.read_parquet(reference_step0(cfg.profile, regime))
                for regime in {r for r, _, _ in runs}}
    logs, evals = [], []
    for regime, name, seed in runs:
        folder = run_results(cfg.profile, name, seed, regime)
        keys = {"regime": regime, "run": name, "seed": seed}
        logs.append(pd.read_csv(folder / "log.csv").assign(**keys))
        own = pd.read_parquet(folder / "eval.parquet")
        if not (own["step"] == 0).any():  # step 0: the SFT policy, shared by the regime's runs
            own = pd.concat([sft_eval[regime], own], ignore_index=True)
        evals.append(own.assign(**keys))
    return pd.concat(logs, ignore_index=True), pd.concat(evals, ignore_index=True)


# --- analysis: what notebook 06 and the README show -------------------------------------

# Each reward a run can optimise, as (the evaluation's column prefix, aggregation)
AGGREGATES = {run: (eval_prefix(stage), how) for run, (stage, how) in PPO_RUNS.items()
              if stage != GOLD}
CURVE_COLUMNS = ["gold", "proxy", "kl", "kl_half_sq", "words", "finished"]


def member_scores(evals: pd.DataFrame, prefix: str) -> np.ndarray:
    """``(answers, k)``: every member's or head's score of each evaluated answer, for the
    reward model whose columns are ``<prefix>_0`` … (``single``, ``ensemble``, ``multihead``)."""
    return evals.filter(regex=rf"^{prefix}_\d+$").to_numpy()


def with_aggregates(evals: pd.DataFrame) -> pd.DataFrame:
    """``evals`` plus one column per aggregate (``single``, ``ensemble_min`` …) and
    ``proxy``: the score of the reward the row's run optimised (the gold for the control)."""
    out = evals.copy()
    for name, (prefix, how) in AGGREGATES.items():
        scores = member_scores(out, prefix)
        if scores.shape[1]:
            out[name] = aggregate(scores, how, PPO_UWO_LAMBDA).numpy()
    out["proxy"] = out["gold"]
    for run in out["run"].unique():
        if run in AGGREGATES:
            rows = out["run"] == run
            out.loc[rows, "proxy"] = out.loc[rows, run]
    return out


def seed_curves(evals: pd.DataFrame) -> pd.DataFrame:
    """One row per run, seed and evaluated step: the means over the held-out answers, in
    float64 (the evaluations are stored in float32, whose means print as 94.044998)."""
    evals = with_aggregates(evals).astype(dict.fromkeys(CURVE_COLUMNS, float))
    return (evals.groupby(["regime", "run", "seed", "step"])[CURVE_COLUMNS].mean()
            .reset_index())


def mean_se(df: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """Mean, standard error (sd / √n, n = rows per group, e.g. seeds) and n of ``columns``."""
    g = df.groupby(by)[columns]
    out = g.mean().add_suffix("_mean").join(g.sem().add_suffix("_se"))
    return out.join(g.size().rename("n")).reset_index()


def mean_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Gold, optimised reward and KL of each regime, run and evaluated step: mean ± s.e. over
    seeds (what :func:`plotting.plot_study_vs_kl` draws)."""
    return mean_se(curves, ["regime", "run", "step"], ["gold", "proxy", "kl"])


def final_points(curves: pd.DataFrame) -> pd.DataFrame:
    """Each run and seed at its last evaluation (the end of the run)."""
    last = curves.groupby(["regime", "run", "seed"])["step"].transform("max")
    return curves[curves["step"] == last]


def matched_kls(curves: pd.DataFrame, points: int = 4) -> dict[str, list[float]]:
    """For each regime, ``points`` evenly spaced KL values (nats) that every run and seed of
    it reaches — the KLs at which its runs can all be compared. Each is rounded down to two
    significant figures: readable, and never past the shortest run's reach."""
    reach = curves.groupby(["regime", "run", "seed"])["kl"].max().groupby("regime").min()
    return {regime: [_round_down(float(r) * i / points) for i in range(1, points + 1)]
            for regime, r in reach.items() if r > 0}


def _round_down(x: float) -> float:
    digits = 1 - int(np.floor(np.log10(x)))
    return float(f"{np.floor(x * 10 ** digits) / 10 ** digits:.2g}")


def gold_at_kl(curves: pd.DataFrame, kls, column: str = "gold") -> pd.DataFrame:
    """``column`` of each run and seed at each KL in ``kls`` (nats; a list, or a dict of
    lists by regime as from :func:`matched_kls`), read off its held-out curve by linear
    interpolation between evaluations; NaN beyond the run's last KL (never extrapolated).
    Comparing runs at matched KL asks which reward buys more gold for the same drift from
    the SFT policy."""
    rows = []
    for (regime, run, seed), c in curves.groupby(["regime", "run", "seed"]):
        c = c.sort_values("kl")
        for kl in (kls[regime] if isinstance(kls, dict) else kls):
            value = np.interp(kl, c["kl"], c[column]) if c["kl"].min() <= kl <= c["kl"].max() \
                else np.nan
            rows.append({"regime": regime, "run": run, "seed": seed, "kl": kl, column: value})
    return pd.DataFrame(rows, columns=["regime", "run", "seed", "kl", column])


def paired_difference(table: pd.DataFrame, value: str, baseline: str = "single",
                      by: tuple[str, ...] = ("regime",)) -> pd.DataFrame:
    """Each run's ``value`` minus the ``baseline`` run's for the same seed (same prompts,
    sampling noise and initial adapters), as mean ± s.e. over the seeds both have, with the
    95 % :func:`t_interval` (NaN with one seed)."""
    keys = [*by, "seed"]
    base = table[table["run"] == baseline].set_index(keys)[value]
    rows = []
    for (run, *group), t in table[table["run"] != baseline].groupby(["run", *by]):
        diff = (t.set_index(keys)[value] - base).dropna()
        low, high = t_interval(diff.mean(), diff.sem(), len(diff))
        rows.append({"run": run, **dict(zip(by, group)), f"{value} − {baseline}": diff.mean(),
                     "se": diff.sem(), "seeds": len(diff), "95 % low": low, "95 % high": high})
    return pd.DataFrame(rows)


def answers(evals: pd.DataFrame, regime: str = DEFAULT_REGIME, seed: int = 0,
            n: int = 3) -> pd.DataFrame:
    """The first ``n`` held-out prompts: the SFT policy's answer (step 0), then each run's
    answer at its last evaluation (``regime``, ``seed``), with its gold and the reward that
    run optimised."""
    df = with_aggregates(evals[(evals["regime"] == regime) & (evals["seed"] == seed)
                               & (evals["prompt_idx"] < n)])
    show = lambda r: f"{r['text']}  [gold {r['gold']:.2f}, reward {r['proxy']:.2f}]"  # noqa: E731
    sft = df[(df["step"] == 0)].drop_duplicates("prompt_idx").sort_values("prompt_idx")
    table = {"prompt": sft["prompt"].tolist(),
             "SFT policy (step 0)": [f"{t}  [gold {g:.2f}]" for t, g in zip(sft["text"], sft["gold"])]}
    for run, d in df.groupby("run", sort=False):
        last = d[d["step"] == d["step"].max()].sort_values("prompt_idx")
        table[f"{run} (step {d['step'].max()})"] = last.apply(show, axis=1).tolist()
    return pd.DataFrame(table)


def gold_terms(evals: pd.DataFrame, regime: str = DEFAULT_REGIME) -> pd.DataFrame:
    """Length in words, every rubric term and the gold of the held-out answers, averaged
    over prompts and seeds, per run and evaluated step of ``regime``. Index ``(run, step)``."""
    df = evals[evals["regime"] == regime]
    cols = ["words", *term_columns(df), "gold"]
    out = df.groupby(["run", "step"], sort=False)[cols].mean()
    return out.rename(columns=lambda c: c.removeprefix("gold_") if c != "gold" else c)


def step_times(logs: pd.DataFrame) -> pd.DataFrame:
    """Mean seconds per PPO step in each phase, per regime and run (over seeds and steps), and
    the CPU threads its steps ran on (logged from the ``threads`` column on)."""
    cols = {"generation_s": "generation", "scoring_s": "proxy scoring",
            "logprob_s": "log-probs (policy, reference, values)", "update_s": "PPO update",
            "gold_s": "gold scoring (not part of training)"}
    table = logs.groupby(["regime", "run"], sort=False)[list(cols)].mean().rename(columns=cols)
    table["total"] = table.sum(1)
    # a run of `--jobs 2` computes on one thread, slower a step: say which runs did
    threads = logs["threads"] if "threads" in logs else pd.Series(np.nan, logs.index)
    table["CPU threads"] = threads.groupby([logs["regime"], logs["run"]], sort=False).agg(
        lambda t: ", ".join(f"{x:g}" for x in sorted(t.dropna().unique())) or "not logged")
    return table


def gao_rl_fit(kl, gold) -> dict:
    """Gao et al.'s functional form for RL, R(d) = d·(α − β·log d) with d = √KL, fitted by
    least squares to the gold gained over the SFT policy (``gold`` at ``kl`` = 0 subtracted by
    the caller). With β > 0 the fitted gold peaks at d* = exp(α/β − 1), i.e. ``peak_kl`` = d*²
    (``inf`` when β ≤ 0: no turn within the fit). Best-of-n's form is ``best_of_n.fit_gao``."""
    d = np.sqrt(np.asarray(kl, dtype=float))
    keep = d > 0
    d, y = d[keep], np.asarray(gold, dtype=float)[keep]
    (alpha, beta), *_ = np.linalg.lstsq(np.stack([d, -d * np.log(d)], 1), y, rcond=None)
    peak_kl = float(np.exp(2 * (alpha / beta - 1))) if beta > 0 else float("inf")
    return {"alpha": float(alpha), "beta": float(beta), "peak_kl": peak_kl}


def gao_rl_fits(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`gao_rl_fit` of each regime and run's mean curve (:func:`mean_curves`), to the
    gold gained over step 0."""
    fits = {key: gao_rl_fit(c["kl_mean"], c["gold_mean"] - c["gold_mean"].iloc[0])
            for key, c in table.sort_values("step").groupby(["regime", "run"])}
    return pd.DataFrame(fits).T


# The papers' PPO claims, each as a per-seed measure of the held-out curves, compared between
# two runs of the same seed, with the sign the papers expect: (claim, measure, run, baseline,
# expected). "fall" is a run's gold at its best evaluation minus at its end; noise alone makes it
# positive, so the single reward model's is compared with the control's (PPO on the gold itself
# has no proxy to exploit).
MEASURES = {"fall": "fall of the gold from its peak to the end", "end": "gold at the end"}
CLAIMS = [
    ("a single proxy is overoptimised: its gold rises, then falls (Gao; Coste)",
     "fall", "single", CONTROL, "> 0"),
    ("the full ensemble's min mitigates it (Coste)", "end", "ensemble_min", "single", "> 0"),
    ("the multi-head min mitigates it (Ahmed)", "end", "multihead_min", "single", "> 0"),
    ("… as well as the full ensemble (Ahmed)", "end", "multihead_min", "ensemble_min", "≈ 0"),
]
README_PROFILE = "cpu"  # the profile whose runs README.md shows
FINDINGS_MARKERS = ("<!-- findings -->\n", "<!-- /findings -->")  # README's table between


def t_interval(mean: float, se: float, seeds: int, level: float = 0.95) -> tuple[float, float]:
    """The ``level`` confidence interval of a mean over ``seeds`` values with standard error
    ``se``: Student's t with ``seeds − 1`` degrees of freedom, not the normal's ±2 s.e. — with
    2 seeds the 95 % interval is ±12.7 s.e., with 3 seeds ±4.3 s.e.; NaN with one seed."""
    half = stats.t.ppf((1 + level) / 2, seeds - 1) * se  # NaN below 1 degree of freedom
    return mean - half, mean + half


def verdict(low: float, high: float, expected: str) -> str:
    """Whether a paired difference, by its 95 % :func:`t_interval` over seeds, agrees with the
    sign a claim expects: the sign counts when the interval excludes 0. One seed (a NaN
    interval) is no evidence either way."""
    if np.isnan(low):
        return "not established (1 seed)"
    sign = "> 0" if low > 0 else "< 0" if high < 0 else "≈ 0"
    if expected == "≈ 0":  # an interval around 0 is no proof of equality: it may be wide
        return "no difference found (equality not established)" if sign == "≈ 0" \
            else "disagrees"
    if sign == "≈ 0":
        return "not established (95 % interval includes 0)"
    return "agrees" if sign == expected else "disagrees"


def findings(curves: pd.DataFrame) -> pd.DataFrame:
    """The evidence on each of :data:`CLAIMS` in each regime, from the runs in ``curves``
    (:func:`seed_curves`): the :func:`paired_difference` over the seeds both runs have and its
    :func:`verdict`. What the README's findings table shows."""
    keys = ["regime", "run", "seed"]
    ends = final_points(curves).set_index(keys)["gold"]
    values = {"end": ends, "fall": curves.groupby(keys)["gold"].max() - ends}
    rows = []
    for claim, measure, run, baseline, expected in CLAIMS:
        table = values[measure].reset_index()
        pairs = paired_difference(table[table["run"].isin([run, baseline])], "gold", baseline)
        named = "control" if baseline == CONTROL else baseline
        for pair in pairs.to_dict("records"):
            mean, se, seeds = pair[f"gold − {baseline}"], pair["se"], pair["seeds"]
            low, high = pair["95 % low"], pair["95 % high"]
            if seeds:
                rows.append({"regime": pair["regime"], "claim": claim,
                             "quantity": f"{MEASURES[measure]}: {run} − {named}",
                             "expected": expected, "mean": mean, "se": se, "seeds": seeds,
                             "low": low, "high": high, "verdict": verdict(low, high, expected)})
    columns = ["regime", "claim", "quantity", "expected", "mean", "se", "seeds", "low", "high",
               "verdict"]
    return pd.DataFrame(rows, columns=columns).sort_values("regime", kind="stable",
                                                           ignore_index=True)


def findings_markdown(table: pd.DataFrame) -> str:
    """:func:`findings` as the README's markdown table."""
    lines = ["| claim | regime | measure (held-out gold, paired by seed) | papers | ours: mean ± s.e. "
             "(seeds) | 95 % interval | verdict |", "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        se = f" ± {r.se:.2f}" if r.seeds > 1 else ""
        interval = f"{r.low:+.2f} to {r.high:+.2f}" if r.seeds > 1 else "–"
        lines.append(f"| {r.claim} | β = {REGIMES[r.regime]['beta']:g} | {r.quantity} | "
                     f"{r.expected} | {r.mean:+.2f}{se} ({r.seeds}) | {interval} | {r.verdict} |")
    return "\n".join(lines) + "\n"


def write_readme_findings(table: str, readme: Path | None = None) -> Path:
    """Put ``table`` (:func:`findings_markdown`) between README.md's :data:`FINDINGS_MARKERS`,
    in place of the table there."""
    readme = readme or repo_root() / "README.md"
    start, end = FINDINGS_MARKERS
    head, rest = readme.read_text().split(start)
    atomic_write_text(readme, head + start + table + end + rest.split(end, 1)[1])
    return readme


def save_figures(cfg) -> list[Path]:
    """What the README shows from the runs in ``results/`` (runs still missing are left out):
    held-out gold and optimised reward against KL of each regime
    (:func:`plotting.plot_study_vs_kl`), saved as ``results/<profile>/gold_vs_kl_<regime>.png``
    (the title says how many of the plan's runs are in); on the README's profile, also its
    findings table (:func:`write_readme_findings`)."""
    import matplotlib.pyplot as plt

    from .plotting import plot_study_vs_kl

    _, evals = load_results(cfg, make_missing=False)
    curves = seed_curves(evals)
    table = mean_curves(curves)
    paths = []
    for regime, runs in curves.groupby("regime"):
        n = runs.groupby(["run", "seed"]).ngroups
        total = sum(r == regime for r, _, _ in plan(cfg))
        fig = plot_study_vs_kl(table, regime, f"PPO with β = {REGIMES[regime]['beta']:g}: "
                               f"held-out means over seeds ± 1 s.e. ({n} of {total} runs)")
        paths.append(results_dir(cfg.profile) / f"gold_vs_kl_{regime}.png")
        fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
        plt.close(fig)
    if cfg.profile == README_PROFILE:
        paths.append(write_readme_findings(findings_markdown(findings(curves))))
    return paths


def main(argv=None) -> None:
    from .config import get_config

    parser = argparse.ArgumentParser(prog="python -m rmens_utils.study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", help="default: $RMENS_PROFILE, else cpu")
    parser.add_argument("--list", action="store_true", help="show what is done and stop")
    parser.add_argument("--figures", action="store_true",
                        help="redraw the README's figure and findings table from the runs in "
                             "results/ and stop")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at a time, in as many processes (2 on 2 cores: ~1.6x the "
                             "runs an hour, ~16 GB of RAM)")
    parser.add_argument("--shard", default="0/1", help=argparse.SUPPRESS)  # i/n: one of --jobs
    args = parser.parse_args(argv)
    from .environment import setup

    cfg = setup(args.profile) if not args.list else get_config(args.profile)
    if args.list:
        print(status(cfg).to_string(index=False))
    elif args.figures:
        print("\n".join(str(p) for p in save_figures(cfg)))
    elif args.jobs > 1:
        run_parallel(cfg, args.jobs)
    else:
        run_study(cfg, shard=tuple(map(int, args.shard.split("/"))))


if __name__ == "__main__":
    main()
