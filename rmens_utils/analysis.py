"""The analysis of PPO runs: pure functions of the tables :func:`study.load_results` returns.

Curves over seeds, reads at matched KL, paired differences with Student's t intervals, Gao et
al.'s fits, and the papers' claims set against the runs (:func:`findings`). Nothing here runs,
loads or writes anything, so it is tested on hand-made tables.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .aggregation import PPO_UWO_LAMBDA, aggregate, member_index
from .config import PENALTIES
from .stages import DEFAULT_REGIME, GOLD, PPO_RUNS, REGIMES, eval_prefix
from .text import term_columns

CONTROL = GOLD  # PPO on the gold itself: does the gold fall without a proxy to exploit?

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
    ``proxy``: the score of the reward the row's run optimised (the gold for the control), kept
    where ``evals`` has it already (runs renamed by their arm: :func:`study.by_arm`)."""
    out = evals.copy()
    for name, (prefix, how) in AGGREGATES.items():
        scores = member_scores(out, prefix)
        if scores.shape[1] > (member_index(how) or 0):  # one member alone: needs its column
            out[name] = aggregate(scores, how, PPO_UWO_LAMBDA).numpy()
    if "proxy" in out:
        return out
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


def drift_finding(curves: pd.DataFrame) -> str:
    """What :func:`plotting.plot_study_vs_kl` shows, in its title: for how many of the rewards
    (runs) in ``curves`` (:func:`mean_curves` of one regime) the held-out gold ends below the
    SFT policy's (step 0) by more than one standard error, and whether each reward itself rose."""
    ends = []
    for run, c in curves.sort_values("step").groupby("run", sort=False):
        start, end = c.iloc[0], c.iloc[-1]
        ends.append((run, end["gold_mean"] + np.nan_to_num(end["gold_se"]) < start["gold_mean"],
                     end["proxy_mean"] > start["proxy_mean"]))
    below = [run for run, fell, _ in ends if fell]
    n = len(ends)
    who = ("every reward" if len(below) == n else "no reward" if not below
           else f"{len(below)} of {n} rewards ({', '.join(below)})")
    rose = "; each optimised reward rose" if all(r for *_, r in ends) else ""
    return f"Held-out gold ends below the SFT policy's for {who}{rose}"


def final_points(curves: pd.DataFrame) -> pd.DataFrame:
    """Each run and seed at its last evaluation (the end of the run)."""
    last = curves.groupby(["regime", "run", "seed"])["step"].transform("max")
    return curves[curves["step"] == last]


def matched_kls(curves: pd.DataFrame, points: int = 4, kl: str = "kl") -> dict[str, list[float]]:
    """For each regime, ``points`` evenly spaced KL values (nats) that every run and seed of
    it reaches — the KLs at which its runs can all be compared. Each is rounded down to two
    significant figures: readable, and never past the shortest run's reach. ``kl``: the
    estimator's column (``kl``: Σ log-ratio; ``kl_half_sq``: ½ Σ log-ratio²)."""
    reach = curves.groupby(["regime", "run", "seed"])[kl].max().groupby("regime").min()
    return {regime: [_round_down(float(r) * i / points) for i in range(1, points + 1)]
            for regime, r in reach.items() if r > 0}


def _round_down(x: float) -> float:
    digits = 1 - int(np.floor(np.log10(x)))
    return float(f"{np.floor(x * 10 ** digits) / 10 ** digits:.2g}")


def gold_at_kl(curves: pd.DataFrame, kls, column: str = "gold", kl: str = "kl") -> pd.DataFrame:
    """``column`` of each run and seed at each KL in ``kls`` (nats; a list, or a dict of
    lists by regime as from :func:`matched_kls`): read off its held-out curve when the run
    *first* reaches that KL, by linear interpolation between the two evaluations around that
    crossing; NaN if it never does (never extrapolated). Along time, not sorted by KL: with a KL
    penalty a policy's KL can fall back, and sorting by KL would splice late answers between
    early ones. Comparing runs at matched KL asks which reward buys more gold for the same
    drift from the SFT policy. ``kl``: the estimator's column, as in :func:`matched_kls`; the
    table's ``kl`` column holds the matched values either way. A regime missing from a dict
    ``kls`` (no KL that all its runs reach) gives no rows."""
    rows = []
    for (regime, run, seed), c in curves.groupby(["regime", "run", "seed"]):
        c = c.sort_values("step")
        k, v = c[kl].to_numpy(float), c[column].to_numpy(float)
        for at in (kls.get(regime, []) if isinstance(kls, dict) else kls):
            reached = np.flatnonzero(k >= at)
            if len(reached) == 0:
                value = np.nan
            elif (i := reached[0]) == 0:
                value = v[0]
            else:  # k[i - 1] < at <= k[i]: the first crossing
                value = v[i - 1] + (at - k[i - 1]) / (k[i] - k[i - 1]) * (v[i] - v[i - 1])
            rows.append({"regime": regime, "run": run, "seed": seed, "kl": at, column: value})
    return pd.DataFrame(rows, columns=["regime", "run", "seed", "kl", column])


def paired_difference(table: pd.DataFrame, value: str, baseline: str = "single",
                      by: tuple[str, ...] = ("regime",)) -> pd.DataFrame:
    """Each run's ``value`` minus the ``baseline`` run's for the same seed (same prompts,
    sampling noise and initial adapters), as mean ± s.e. over the seeds both have, with the
    per-seed standard deviation (``sd``, what :func:`paired_power` reads) and the 95 %
    :func:`t_interval` (NaN with one seed)."""
    keys = [*by, "seed"]
    base = table[table["run"] == baseline].set_index(keys)[value]
    rows = []
    for (run, *group), t in table[table["run"] != baseline].groupby(["run", *by]):
        diff = (t.set_index(keys)[value] - base).dropna()
        low, high = t_interval(diff.mean(), diff.sem(), len(diff))
        rows.append({"run": run, **dict(zip(by, group)), f"{value} − {baseline}": diff.mean(),
                     "se": diff.sem(), "sd": diff.std(), "seeds": len(diff), "95 % low": low,
                     "95 % high": high})
    return pd.DataFrame(rows, columns=["run", *by, f"{value} − {baseline}", "se", "sd", "seeds",
                                       "95 % low", "95 % high"])  # the columns even if no rows


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


def contributions(evals: pd.DataFrame, weights) -> pd.DataFrame:
    """What each rubric term adds to each answer's gold: its ``gold_<term>`` column times its
    weight in ``weights`` (:class:`config.RubricWeights`), negative for a penalty. The columns
    sum to ``gold``."""
    out = {}
    for column in term_columns(evals):
        term = column.removeprefix("gold_")
        out[term] = (-1 if term in PENALTIES else 1) * getattr(weights, term) * evals[column]
    return pd.DataFrame(out, index=evals.index)


def term_differences(evals: pd.DataFrame, weights, baseline: str = "single",
                     leave_out: str = "fluency") -> pd.DataFrame:
    """Each run's gold at its end minus ``baseline``'s, paired by seed (:func:`paired_difference`),
    split into what each rubric term contributed (:func:`contributions`), plus the gold without
    ``leave_out``: how much of a difference one term carries, and whether it survives without
    it. One row per regime, run and term."""
    last = evals["step"] == evals.groupby(["regime", "run", "seed"])["step"].transform("max")
    ends = evals[last]
    parts = contributions(ends, weights)
    parts["gold"] = ends["gold"]
    parts[f"gold without {leave_out}"] = ends["gold"] - parts[leave_out]
    keys = ["regime", "run", "seed"]
    per_seed = parts.join(ends[keys]).groupby(keys).mean().reset_index()
    rows = [paired_difference(per_seed[[*keys, term]].rename(columns={term: "value"}), "value",
                              baseline).assign(term=term)
            for term in parts.columns]
    table = pd.concat(rows, ignore_index=True)
    return table.rename(columns={f"value − {baseline}": f"end − {baseline}"})[
        ["regime", "run", "term", f"end − {baseline}", "se", "seeds", "95 % low", "95 % high"]]


# the phases of a PPO step whose seconds the run logs: column -> name
STEP_PHASES = {"generation_s": "generation", "scoring_s": "proxy scoring",
               "logprob_s": "log-probs (policy, reference, values)", "update_s": "PPO update",
               "gold_s": "gold scoring (not part of training)"}


def step_times(logs: pd.DataFrame) -> pd.DataFrame:
    """Median seconds per PPO step in each phase, per regime and run (over seeds and steps), and
    the CPU threads its steps ran on (logged from the ``threads`` column on). The median, not
    the mean: a process paused mid-step (a machine suspended) logs hours for one step."""
    table = (logs.groupby(["regime", "run"], sort=False)[list(STEP_PHASES)].median()
             .rename(columns=STEP_PHASES))
    table["total"] = table.sum(1)
    # a run of `--jobs 2` computes on one thread, slower a step: say which runs did
    threads = logs["threads"] if "threads" in logs else pd.Series(np.nan, logs.index)
    table["CPU threads"] = threads.groupby([logs["regime"], logs["run"]], sort=False).agg(
        lambda t: ", ".join(f"{x:g}" for x in sorted(t.dropna().unique())) or "not logged")
    return table


# A step that took this many times its run's median step was paused (a machine suspended
# mid-step), not computing: the compute sentence counts it at the median instead.
PAUSED_FACTOR = 10


def compute_sentence(logs: pd.DataFrame) -> str:
    """What the runs in ``logs`` cost, in a sentence: the hours their training steps took (the
    logs' step times, every phase, summed over steps and runs) and on how many CPU threads.
    A step over :data:`PAUSED_FACTOR` times its run's median is counted at the median, and the
    sentence says how many were. The held-out evaluations every few steps are not in the logs,
    so not in the sum."""
    seconds = logs[[c for c in STEP_PHASES if c in logs]].sum(1)
    median = seconds.groupby([logs["regime"], logs["run"], logs["seed"]]).transform("median")
    paused = seconds > PAUSED_FACTOR * median
    hours = seconds.where(~paused, median).sum() / 3600
    runs = logs.groupby(["regime", "run", "seed"]).ngroups
    threads = sorted(logs["threads"].dropna().unique()) if "threads" in logs else []
    on = f"; CPU threads a run: {', '.join(f'{t:g}' for t in threads)}" if threads else ""
    n = int(paused.sum())
    counted = (f"; {n} step{'s' * (n != 1)} that took over {PAUSED_FACTOR}× its run's median "
               f"(a paused process) counted at the median" if n else "")
    return (f"**Compute**: {runs} run{'s' * (runs != 1)}, {hours:.1f} h in their training "
            f"steps ({hours / runs:.2f} h a run{on}){counted}; the held-out evaluations are not "
            f"counted.")


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


def t_interval(mean: float, se: float, seeds: int, level: float = 0.95) -> tuple[float, float]:
    """The ``level`` confidence interval of a mean over ``seeds`` values with standard error
    ``se``: Student's t with ``seeds − 1`` degrees of freedom, not the normal's ±2 s.e. — with
    2 seeds the 95 % interval is ±12.7 s.e., with 3 seeds ±4.3 s.e.; NaN with one seed."""
    if seeds < 2:
        return np.nan, np.nan
    low, high = stats.t.interval(level, seeds - 1)  # of the standard t: ±12.71 with 2 seeds
    return mean + low * se, mean + high * se


def paired_power(effect: float, sd: float, seeds: int, alpha: float = 0.05) -> float:
    """The chance that a two-sided paired t-test at level ``alpha`` over ``seeds`` seeds
    finds a true mean difference ``effect`` whose per-seed differences have standard deviation
    ``sd``: the noncentral t's mass beyond the critical values, noncentrality
    effect / (sd / √seeds). How many seeds a comparison needs before it can be established."""
    df, shift = seeds - 1, effect / (sd / np.sqrt(seeds))
    critical = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))


def contrasts(paired: pd.DataFrame, baseline: str = "single") -> pd.DataFrame:
    """:func:`paired_difference`'s rows as :func:`plotting.plot_contrasts` reads them: a
    ``contrast`` label (``run − baseline``, with the regime and the KL where given)."""
    value = next(c for c in paired if c.endswith(f" − {baseline}"))
    where = [[f"β = {REGIMES[r]['beta']:g}" for r in paired["regime"]] if "regime" in paired
             else [""] * len(paired),
             [f"{kl:g} nats" for kl in paired["kl"]] if "kl" in paired else [""] * len(paired)]
    labels = [f"{run} − {baseline}" + (f" ({', '.join(w for w in ws if w)})" if any(ws) else "")
              for run, *ws in zip(paired["run"], *where)]
    return pd.DataFrame({"contrast": labels, "difference": paired[value].to_numpy(),
                         "95 % low": paired["95 % low"].to_numpy(),
                         "95 % high": paired["95 % high"].to_numpy()})


def excluding_zero(found: pd.DataFrame, intervals: str = "95 % t intervals over seeds") -> str:
    """How many of the intervals in ``found`` (:func:`contrasts`) exclude 0: a title that
    states what a forest plot shows (``intervals``: how they were made)."""
    low, high = found["95 % low"], found["95 % high"]
    above, below = int((low > 0).sum()), int((high < 0).sum())
    return (f"{above + below} of {len(found)} paired differences exclude 0 "
            f"({above} above, {below} below; {intervals})")


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
    :func:`verdict`. What the results page's findings table shows."""
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
                             "expected": expected, "mean": mean, "se": se, "sd": pair["sd"],
                             "seeds": seeds,
                             "low": low, "high": high, "verdict": verdict(low, high, expected)})
    columns = ["regime", "claim", "quantity", "expected", "mean", "se", "sd", "seeds", "low",
               "high", "verdict"]
    return pd.DataFrame(rows, columns=columns).sort_values("regime", kind="stable",
                                                           ignore_index=True)


def findings_markdown(table: pd.DataFrame) -> str:
    """:func:`findings` as a markdown table (the results page's)."""
    lines = ["| claim | regime | measure (held-out gold, paired by seed) | papers | ours: mean ± s.e. "
             "(seeds) | 95 % interval | verdict |", "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        se = f" ± {r.se:.2f}" if r.seeds > 1 else ""
        interval = f"{r.low:+.2f} to {r.high:+.2f}" if r.seeds > 1 else "–"
        lines.append(f"| {r.claim} | β = {REGIMES[r.regime]['beta']:g} | {r.quantity} | "
                     f"{r.expected} | {r.mean:+.2f}{se} ({r.seeds}) | {interval} | {r.verdict} |")
    return "\n".join(lines) + "\n"
