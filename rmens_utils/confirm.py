"""The confirmatory PPO study of docs/study-plan.md §3, in code: its arms, seeds, endpoint,
looks and tests, fixed before its first run, and the analysis that reads them.

Every number the plan names is here, so that the report is computed by the plan and not
chosen after the data: :data:`ARMS`, :data:`BLOCKS` and :data:`LOOKS` (seeds in blocks of
3, an interim look at 6 and the final one at 9), :func:`endpoint` (the late trajectory's
gold), :data:`PRIMARY` (two contrasts, Holm's step-down) with group-sequential boundaries
(:func:`obrien_fleming`, :func:`looks`), and the secondary contrasts of :data:`SECONDARY`
(:func:`secondary`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .analysis import t_interval

REGIME = "confirm"  # stages.REGIMES: beta = 0, 40 steps
# arm -> its PPO run for seed s. "single": member s mod 3 of the full ensemble alone (Coste et
# al.'s baseline), so that the comparison includes reward-model draws, not one lucky model.
ARMS = {"single": lambda s: f"member{s % 3}",
        "ensemble min": lambda s: "ensemble_min",
        "multi-head min": lambda s: "multihead_min",
        "multi-head mean": lambda s: "multihead_mean"}
CANDIDATE_ARM = "candidate min"  # the screen's pick (exploits.DECISION_RULE), if one passes
# That pick, written here when the screen is complete (tests/test_confirm.py checks that it is
# what the rule picks from results/cpu/screen/table.csv); None: no candidate arm (yet).
CANDIDATE: str | None = "noise_0"
BLOCKS = [(0, 1, 2), (3, 4, 5), (6, 7, 8)]  # seeds run block by block, every arm in a block
LOOKS = (6, 9)  # seeds at the interim and at the final look
ALPHA = 0.05  # two-sided, for the family of the two primary contrasts
# The endpoint: the late trajectory's gold. The mean of the training batches' gold over
# steps 30-39 (10 batches of 16 prompts) and the mean of the held-out gold at steps 30 and 40
# (64 prompts each), half each. On the pilot its per-seed sd of a difference between arms is
# 0.30-0.46, against 0.17-0.94 for the gold at the end alone.
TRAIN_STEPS, HELD_OUT_STEPS = range(30, 40), (30, 40)
WINDOW = (TRAIN_STEPS, HELD_OUT_STEPS)  # the registered one; shorter runs: windows()
PRIMARY = [("ensemble min", "single"), ("multi-head min", "single")]
NI_MARGIN = 0.3  # multi-head min may fall short of the full ensemble's by less than this
NON_INFERIORITY = ("multi-head min", "ensemble min")
SECONDARY = [("multi-head min", "multi-head mean"),  # is a gain pessimism's, or the model's?
             NON_INFERIORITY, ("ensemble min", "multi-head mean")]


def windows(steps: int = 40, eval_every: int = 10) -> tuple[range, tuple[int, ...]]:
    """The endpoint's two windows for runs of ``steps`` steps evaluated every ``eval_every``:
    the training batches of the last quarter and the held-out evaluations from its start. For
    the registered runs, :data:`TRAIN_STEPS` and :data:`HELD_OUT_STEPS`; shorter runs (the
    tests' miniature of the study) get the same shape."""
    start = steps - max(1, steps // 4)
    return range(start, steps), tuple(t for t in range(0, steps + 1, eval_every) if t >= start)


def runs(seeds, candidate: str | None = None) -> list[tuple[str, str, int]]:
    """``(regime, run, seed)`` of every arm for each of ``seeds``, in the order they run;
    ``candidate``: the screen's pick (its run is ``<candidate>_min``)."""
    arms = dict(ARMS)
    if candidate is not None:
        arms[CANDIDATE_ARM] = lambda s: f"{candidate}_min"
    return [(REGIME, arm(seed), seed) for seed in seeds for arm in arms.values()]


def arm_of(run: str, candidate: str | None = None) -> str:
    """The arm a PPO run belongs to."""
    if run.startswith("member"):
        return "single"
    if candidate is not None and run == f"{candidate}_min":
        return CANDIDATE_ARM
    return next(arm for arm, of in ARMS.items() if of(0) == run)


def endpoint(logs: pd.DataFrame, evals: pd.DataFrame, candidate: str | None = None,
             window: tuple[range, tuple[int, ...]] = WINDOW
             ) -> pd.DataFrame:
    """The endpoint of each run (``logs`` and ``evals`` of :func:`study.load_results`): a row
    per run and seed, with its arm and its two halves, over ``window`` (:func:`windows`). A run
    without every step it needs (an unfinished one) is left out, and so is any run of another
    regime."""
    train_steps, held_out_steps = window
    logs, evals = logs[logs["regime"] == REGIME], evals[evals["regime"] == REGIME]
    train = logs[logs["step"].isin(train_steps)].groupby(["run", "seed"])["gold"]
    held = (evals[evals["step"].isin(held_out_steps)].groupby(["run", "seed", "step"])["gold"]
            .mean().groupby(["run", "seed"]))
    table = pd.DataFrame({"training gold": train.mean(), "held-out gold": held.mean(),
                          "batches": train.size(), "looks": held.size()}).dropna()
    table = table[(table["batches"] == len(train_steps))
                  & (table["looks"] == len(held_out_steps))].reset_index()
    table["endpoint"] = (table["training gold"] + table["held-out gold"]) / 2
    table.insert(0, "arm", [arm_of(r, candidate) for r in table["run"]])
    return table[["arm", "run", "seed", "training gold", "held-out gold", "endpoint"]]


def obrien_fleming(fractions, alpha: float = ALPHA) -> np.ndarray:
    """Two-sided critical values |z| at each look (information ``fractions``, ending at 1) of
    the Lan–DeMets spending function of O'Brien–Fleming type, α(t) = 2 − 2Φ(z_{1−α/2}/√t):
    little of α is spent early, so the final look keeps nearly its whole level."""
    t = np.asarray(fractions, float)
    spent = 2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / np.sqrt(t))
    bounds = []
    for k in range(len(t)):
        # Z at the looks is Brownian motion at times t: corr(Z_i, Z_j) = sqrt(t_i / t_j)
        now = t[:k + 1]
        cov = np.sqrt(np.minimum.outer(now, now) / np.maximum.outer(now, now))

        def crossed_by_now(c):  # P(|Z_j| >= bound_j for some j <= k), with c at look k
            edges = np.array([*bounds, c])
            return 1 - _inside(edges, cov) - spent[k]

        bounds.append(optimize.brentq(crossed_by_now, 0.5, 8))
    return np.array(bounds)


def _inside(edges: np.ndarray, cov: np.ndarray) -> float:
    """P(|Z_j| < edges_j for every j) for a centred normal vector with covariance ``cov``."""
    mvn = stats.multivariate_normal(np.zeros(len(edges)), cov)
    signs = np.array(np.meshgrid(*[[-1, 1]] * len(edges))).reshape(len(edges), -1).T
    return float(sum(np.prod(s) * mvn.cdf(s * edges) for s in signs))


def nominal_level(seeds: int, alpha: float = ALPHA) -> float:
    """The two-sided p-value below which a contrast is decided at the look with ``seeds``
    seeds (one of :data:`LOOKS`), spending ``alpha`` over the looks."""
    z = obrien_fleming([n / LOOKS[-1] for n in LOOKS], alpha)[LOOKS.index(seeds)]
    return float(2 * stats.norm.sf(z))


def contrast(table: pd.DataFrame, arm: str, baseline: str, seeds) -> dict:
    """``arm − baseline`` on the endpoint, paired by seed over ``seeds``: mean, s.e., the
    paired t-test's two-sided p and the 95 % t interval."""
    wide = table[table["seed"].isin(seeds)].pivot(index="seed", columns="arm",
                                                  values="endpoint")
    diff = (wide[arm] - wide[baseline]).dropna()
    n, se = len(diff), diff.sem()
    low, high = t_interval(diff.mean(), se, n)
    return {"contrast": f"{arm} − {baseline}", "seeds": n, "difference": diff.mean(), "se": se,
            "p": float(2 * stats.t.sf(abs(diff.mean() / se), n - 1)), "95 % low": low,
            "95 % high": high}


def complete_seeds(table: pd.DataFrame, arms) -> list[int]:
    """The seeds with an endpoint in every arm of ``arms``."""
    have = table[table["arm"].isin(arms)].groupby("seed")["arm"].nunique()
    return sorted(have[have == len(set(arms))].index)


def looks(table: pd.DataFrame) -> pd.DataFrame:
    """The primary contrasts at each look of :data:`LOOKS` that ``table`` (:func:`endpoint`)
    has the seeds for, decided by Holm's step-down over group-sequential levels (Maurer &
    Bretz 2013): of the contrasts still open, the smaller p is held to the level of α/2, and
    if decided the other to the level of α. A contrast decided at the interim stays decided;
    the study stops early only when both are. The p-values are paired t-tests (n − 1 degrees
    of freedom) held to the normal-theory levels of :func:`obrien_fleming`."""
    arms = {a for pair in PRIMARY for a in pair}
    seeds = complete_seeds(table, arms)
    decided: dict[tuple[str, str], int] = {}
    rows = []
    for n in LOOKS:
        if seeds[:n] != list(range(n)):  # this look needs seeds 0 .. n-1
            break
        found = {c: contrast(table, *c, range(n)) for c in PRIMARY}
        still_open = sorted((c for c in PRIMARY if c not in decided), key=lambda c: found[c]["p"])
        holding = True
        for rank, c in enumerate(still_open):
            found[c]["level"] = nominal_level(n, ALPHA / (len(still_open) - rank))
            holding = holding and found[c]["p"] < found[c]["level"]
            if holding:
                decided[c] = n
        rows += [{"look": n, **found[c], "decided at look": decided.get(c)} for c in PRIMARY]
        if len(decided) == len(PRIMARY):
            break
    return pd.DataFrame(rows)


def final_look(found: pd.DataFrame) -> int | None:
    """The seeds at which the study ended, from :func:`looks`: the last look of
    :data:`LOOKS`, or the interim look if it decided both primary contrasts; None before."""
    if found.empty:
        return None
    last = int(found["look"].max())
    decided = found.loc[found["look"] == last, "decided at look"].notna().all()
    return last if last == LOOKS[-1] or decided else None


def secondary(table: pd.DataFrame, seeds: int) -> pd.DataFrame:
    """The secondary contrasts at the final look, unadjusted 95 % intervals; for
    "multi-head min − ensemble min", non-inferiority holds when its one-sided 95 % lower
    bound (the 90 % interval's low end) lies above −:data:`NI_MARGIN`. With a candidate arm
    in ``table``, its min − single as well."""
    rows = []
    candidate = [(CANDIDATE_ARM, "single")] if CANDIDATE_ARM in set(table["arm"]) else []
    for pair in SECONDARY + candidate:
        row = contrast(table, *pair, range(seeds))
        if pair == NON_INFERIORITY:
            lower, _ = t_interval(row["difference"], row["se"], row["seeds"], level=0.90)
            row["non-inferior"] = bool(lower > -NI_MARGIN)
        rows.append(row)
    return pd.DataFrame(rows)


def arms_table(table: pd.DataFrame) -> pd.DataFrame:
    """Each arm's endpoint (:func:`endpoint`): mean, standard error and seeds. Descriptive:
    the tests are the contrasts of :func:`looks` and :func:`secondary`."""
    g = table.groupby("arm", sort=False)["endpoint"]
    return pd.DataFrame({"endpoint": g.mean(), "se": g.sem(), "seeds": g.size()})


def _steps(steps: range) -> str:
    return f"steps {steps[0]}–{steps[-1]}" if len(steps) > 1 else f"step {steps[0]}"


def _signed(x: float) -> str:
    return f"{x:+.2f}".replace("-", "−")


def latest_look(table: pd.DataFrame) -> dict | None:
    """What the latest look reached shows, as :func:`plotting.plot_contrasts` draws it
    (``found``, ``title``, ``margin``): that look's primary contrasts, with the secondary ones
    and the non-inferiority margin at the final look; None before the interim look. The
    results page and notebook 09 draw it alike."""
    found = looks(table)
    if found.empty:
        return None
    last = found[found["look"] == found["look"].max()]
    final = final_look(found)
    return {"found": pd.concat([last, secondary(table, final)]) if final else last,
            "title": headline(last), "margin": NI_MARGIN if final else None}


def headline(found: pd.DataFrame) -> str:
    """What one look of :func:`looks` found, in a line (a figure's title)."""
    said = [f"{r['contrast']} {_signed(r['difference'])} "
            f"({'decided' if r['decided at look'] == r['decided at look'] else 'not decided'})"
            for r in found.to_dict("records")]
    return f"At {found['look'].iloc[0]} seeds: " + ";\n".join(said)


def report(table: pd.DataFrame, candidate: str | None = None,
           window: tuple[range, tuple[int, ...]] = WINDOW) -> str:
    """The study's report in markdown, computed as the plan says from ``table``
    (:func:`endpoint`): the seeds done, each arm's endpoint, the primary contrasts at each look
    reached, the secondary contrasts once the final look is reached. Before the interim look
    nothing is tested, and the report says so."""
    arms = [*ARMS, *([CANDIDATE_ARM] if candidate else [])]
    done = complete_seeds(table, arms)
    lines = [f"Seeds with an endpoint in every arm: {len(done)} of {LOOKS[-1]} (looks at "
             f"{' and '.join(map(str, LOOKS))}). The endpoint is the late trajectory's gold "
             f"({_steps(window[0])} of training, held out at "
             f"{' and '.join(map(str, window[1]))}); its plan is docs/study-plan.md §3."
             + (f" The {CANDIDATE_ARM} arm is `{candidate}_min`, the screen's pick."
                if candidate else ""),
             ""]
    if table.empty:
        return "\n".join([*lines, "No run of the study has finished yet."])
    lines += ["| arm | endpoint: mean ± s.e. | seeds |", "|---|---|---|"]
    for arm, row in arms_table(table).reindex(arms).dropna(subset=["seeds"]).iterrows():
        se = f" ± {row['se']:.2f}" if row["seeds"] > 1 else ""
        lines.append(f"| {arm} | {_signed(row['endpoint'])}{se} | {int(row['seeds'])} |")
    found = looks(table)
    lines += ["", "**Primary contrasts** (paired by seed; Holm over group-sequential levels):", ""]
    if found.empty:
        lines.append(f"No look yet: the interim look comes at {LOOKS[0]} seeds in every arm, and "
                     "until then nothing is tested.")
    else:
        lines += ["| look | contrast | difference ± s.e. | 95 % interval | p | level | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for r in found.to_dict("records"):
            at = r["decided at look"]
            verdict = (f"{'better' if r['difference'] > 0 else 'worse'} than single (decided "
                       f"at {int(at)} seeds)" if at == at  # not NaN
                       else "not established" if r["look"] == LOOKS[-1]
                       else "not decided at this look")
            p = "< 0.001" if r["p"] < 0.001 else f"{r['p']:.3f}"
            level = f"{r['level']:.4f}" if r.get("level") == r.get("level") else "–"  # tested?
            lines.append(f"| {r['look']} seeds | {r['contrast']} | {_signed(r['difference'])} ± "
                         f"{r['se']:.2f} | {_signed(r['95 % low'])} to {_signed(r['95 % high'])} "
                         f"| {p} | {level} | {verdict} |")
    final = final_look(found)
    if final:
        lines += ["", f"**Secondary contrasts** (at {final} seeds, unadjusted 95 % intervals; "
                  f"non-inferiority margin {NI_MARGIN}):", "",
                  "| contrast | difference ± s.e. | 95 % interval | non-inferior |",
                  "|---|---|---|---|"]
        for r in secondary(table, final).to_dict("records"):
            ni = {True: "yes", False: "no"}.get(r.get("non-inferior"), "–")
            lines.append(f"| {r['contrast']} | {_signed(r['difference'])} ± {r['se']:.2f} | "
                         f"{_signed(r['95 % low'])} to {_signed(r['95 % high'])} | {ni} |")
    return "\n".join(lines)
