"""Calibration of reward models as preference classifiers (notebook 07).

A reward model r says answer a beats answer b with probability p = σ(r(a) − r(b)) (the
Bradley–Terry model it was trained with). It is *calibrated* if, among the pairs where it
says 0.8, it is right 80 % of the time. We measure that against the clean gold label and
the noisy label, for each member or head and each aggregation, and ask whether the spread
of the k estimates (their uncertainty) points at the pairs the model gets wrong.

Inputs everywhere: ``chosen`` and ``rejected`` scores ``(n, k)`` and ``y`` ``(n,)``, 1 where
the label prefers ``chosen``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit  # expit is also used by notebook 07
from sklearn.metrics import roc_auc_score

from .aggregation import AGGREGATIONS, BON_UWO_LAMBDA, aggregate


def margins(chosen, rejected, lam: float = BON_UWO_LAMBDA) -> dict[str, np.ndarray]:
    """Reward margin r(chosen) − r(rejected) of each member or head (``member <j>``) and
    of each aggregation of the k scores (the aggregate of each answer, then the
    difference, as when the aggregate is used as the reward)."""
    chosen, rejected = np.asarray(chosen, float), np.asarray(rejected, float)
    out = {f"member {j}": chosen[:, j] - rejected[:, j] for j in range(chosen.shape[1])}
    if chosen.shape[1] > 1:
        for name in AGGREGATIONS:
            out[name] = (aggregate(chosen, name, lam) - aggregate(rejected, name, lam)).numpy()
    return out


def bt_margins(pairs: dict, scale: dict, kinds=None) -> dict[str, np.ndarray]:
    """:func:`margins` of several models, keyed ``"<model> · <kind>"``, each on its own
    Bradley–Terry scale — the only scale on which σ(margin) is that model's probability.
    ``pairs[model] = (chosen, rejected)``: standardised scores ``(n, k)`` (SFT answers: mean
    0, sd 1 per head); ``scale[model]``: the ``(k,)`` factors back to the logits each head
    was trained to produce (``reward.bt_scale``); ``kinds`` keeps only those members and
    aggregations (e.g. ``("member 0", "mean")``)."""
    return {f"{name} · {kind}": m for name, (chosen, rejected) in pairs.items()
            for kind, m in margins(np.asarray(chosen) * scale[name],
                                   np.asarray(rejected) * scale[name]).items()
            if kinds is None or kind in kinds}


def reliability(p, y, bins: int = 10) -> pd.DataFrame:
    """Reliability-diagram data over equal-mass bins of confidence: for each bin the mean
    confidence in the model's pick (max(p, 1 − p)), how often that pick agrees with the
    label, and the number of pairs."""
    p, y = np.asarray(p, float), np.asarray(y, bool)
    confidence, correct = np.maximum(p, 1 - p), (p > 0.5) == y
    order = np.argsort(confidence, kind="stable")
    rows = [{"confidence": confidence[idx].mean(), "accuracy": correct[idx].mean(),
             "pairs": len(idx)} for idx in np.array_split(order, bins) if len(idx)]
    return pd.DataFrame(rows, columns=["confidence", "accuracy", "pairs"])


def ece(p, y, bins: int = 10) -> float:
    """Expected calibration error: the pair-weighted mean |accuracy − confidence| over
    equal-mass bins."""
    r = reliability(p, y, bins)
    if r.empty:
        return float("nan")
    return float((r["pairs"] * (r["accuracy"] - r["confidence"]).abs()).sum() / r["pairs"].sum())


def metrics(margin, y, bins: int = 10) -> dict:
    """Accuracy, ECE, Brier score and negative log-likelihood of p = σ(margin)."""
    margin, y = np.asarray(margin, float), np.asarray(y, float)
    if margin.size == 0:
        return dict.fromkeys(("accuracy", "ECE", "Brier", "NLL"), float("nan"))
    p = expit(margin)
    return {"accuracy": float(np.mean((p > 0.5) == (y > 0.5))), "ECE": ece(p, y, bins),
            "Brier": float(np.mean((p - y) ** 2)), "NLL": nll(margin, y)}


def nll(margin, y) -> float:
    """Mean negative log-likelihood of the labels under p = σ(margin): log σ(m) for
    y = 1 and log σ(−m) for y = 0, computed without overflow."""
    margin, y = np.asarray(margin, float), np.asarray(y, float)
    return float(-np.mean(y * log_expit(margin) + (1 - y) * log_expit(-margin)))


def metrics_table(margin_by_model: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                  bins: int = 10) -> pd.DataFrame:
    """:func:`metrics` of every margin against every label set (e.g. clean and noisy)."""
    return pd.concat({label: pd.DataFrame({name: metrics(m, y, bins)
                                           for name, m in margin_by_model.items()}).T
                      for label, y in labels.items()}, axis=1)


def fit_temperature(margin, y) -> float:
    """The temperature T minimising the NLL of σ(margin / T) (Guo et al. 2017)."""
    margin = np.asarray(margin, float)
    best = minimize_scalar(lambda log_t: nll(margin / np.exp(log_t), y), bounds=(-5, 5),
                           method="bounded")
    return float(np.exp(best.x))


def cross_fitted_temperature(margin, y, seed: int = 0) -> np.ndarray:
    """Temperature-scaled margins where each half of the pairs gets the temperature fitted
    on the other half: every pair is scaled by a temperature that never saw it."""
    margin, y = np.asarray(margin, float), np.asarray(y, float)
    halves = np.array_split(np.random.default_rng(seed).permutation(len(margin)), 2)
    out = np.empty_like(margin)
    for fit, apply in (halves, halves[::-1]):
        out[apply] = margin[apply] / fit_temperature(margin[fit], y[fit])
    return out


def temperature_table(margin_by_model: dict[str, np.ndarray], y, seed: int = 0) -> pd.DataFrame:
    """Per model: the temperature fitted on all pairs, and ECE and NLL before and after
    cross-fitted temperature scaling (:func:`cross_fitted_temperature`)."""
    rows = {}
    for name, m in margin_by_model.items():
        scaled = cross_fitted_temperature(m, y, seed)
        rows[name] = {"T (all pairs)": fit_temperature(m, y),
                      "ECE raw": ece(expit(m), y), "ECE scaled": ece(expit(scaled), y),
                      "NLL raw": nll(m, y), "NLL scaled": nll(scaled, y)}
    return pd.DataFrame(rows).T


def spread(scores) -> np.ndarray:
    """Per row of ``scores`` ``(n, k)``, the standard deviation of its k values: how much
    the members (heads) disagree about one answer or one margin."""
    return np.asarray(scores, float).std(1)


def uncertainty(chosen, rejected) -> np.ndarray:
    """The spread of the k members' (heads') margins."""
    return spread(np.asarray(chosen, float) - np.asarray(rejected, float))


def error_auroc(uncertain, wrong) -> float:
    """AUROC of ``uncertain`` for telling the pairs the model gets wrong from the rest:
    0.5 is chance, 1 means every wrong pair is more uncertain than every right one."""
    wrong = np.asarray(wrong, bool)
    if wrong.all() or not wrong.any():
        return float("nan")  # undefined without both right and wrong pairs
    return float(roc_auc_score(wrong, uncertain))


def mean_errors(chosen, rejected, y) -> np.ndarray:
    """Where the mean of the k scores ranks a pair against the label ``y``."""
    return (np.mean(chosen, 1) > np.mean(rejected, 1)) != np.asarray(y, bool)


def disagreement_summary(chosen, rejected, y) -> dict:
    """How the k members' spread relates to the errors of their mean: the error rate
    against ``y``, the mean spread, and the AUROC of the spread for the errors."""
    u, wrong = uncertainty(chosen, rejected), mean_errors(chosen, rejected, y)
    return {"error rate": wrong.mean(), "mean uncertainty": u.mean(),
            "AUROC of uncertainty for errors": error_auroc(u, wrong)}


def disagreement_tables(pairs: dict, y, bins: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For each model (``pairs[model] = (chosen, rejected)``, scores ``(n, k)``, k > 1):
    its :func:`disagreement_summary` (a row a model), and the error rate of its mean in
    ``bins`` equal-mass bins of spread (:func:`error_by_uncertainty`, columns by model)."""
    summary = {name: disagreement_summary(c, r, y) for name, (c, r) in pairs.items()}
    by_spread = {name: error_by_uncertainty(uncertainty(c, r), mean_errors(c, r, y), bins)
                 for name, (c, r) in pairs.items()}
    return pd.DataFrame(summary).T, pd.concat(by_spread, axis=1)


def error_by_uncertainty(uncertain, wrong, bins: int = 4) -> pd.DataFrame:
    """Error rate in equal-mass bins of uncertainty (lowest first)."""
    uncertain, wrong = np.asarray(uncertain, float), np.asarray(wrong, float)
    order = np.argsort(uncertain, kind="stable")
    return pd.DataFrame([{"uncertainty": uncertain[idx].mean(), "error rate": wrong[idx].mean(),
                          "pairs": len(idx)} for idx in np.array_split(order, bins)])


def cross_run_pairs(samples: pd.DataFrame, by=("step", "prompt")) -> pd.DataFrame:
    """Preference pairs from PPO answers: runs answer the same prompts at the same step
    (with the same seed), so each two runs' answers to one prompt make a pair, labelled by
    the gold. ``samples``: the runs' answers stacked; ``by``: the columns that must match
    within a pair. Returns one row a pair: the ``by`` columns, ``answer_a, answer_b`` (row
    numbers in ``samples``), ``y`` (1 when the gold prefers a) — gold ties dropped."""
    rows = []
    for keys, group in samples.groupby(list(by), sort=False):
        idx = group.index.tolist()
        for i, a in enumerate(idx):
            for b in idx[i + 1:]:
                ga, gb = samples.at[a, "gold"], samples.at[b, "gold"]
                if ga != gb:
                    rows.append({**dict(zip(by, keys)), "answer_a": a, "answer_b": b,
                                 "y": int(ga > gb)})
    return pd.DataFrame(rows, columns=[*by, "answer_a", "answer_b", "y"])


def spread_by_step(answers: pd.DataFrame, scores: dict[str, np.ndarray]) -> pd.DataFrame:
    """The disagreement of each reward model on each run's answers, step by step: the mean
    over a step's answers of the sd of their k scores (one column per model), with the
    answers' mean ``kl`` when ``answers`` has one. ``answers``: ``run`` and ``step``
    columns, one row per answer, in the order of the rows of each ``(answers, k)`` score."""
    keep = [c for c in ("run", "step", "kl") if c in answers]
    table = answers[keep].assign(**{name: spread(s) for name, s in scores.items()})
    if "kl" in table:  # float32 in the evaluations, which rounding would print as 14.858000
        table["kl"] = table["kl"].astype(float)
    return table.groupby(["run", "step"], sort=False).mean().reset_index()


def ece_noise_floor(p, bins: int = 10, draws: int = 500, seed: int = 0) -> float:
    """The ECE a *perfectly calibrated* model with these predictions would show on this
    many pairs, from sampling noise alone (mean over ``draws`` label sets y ~ Bernoulli(p)).
    ECEs below or near it cannot be told apart."""
    p = np.asarray(p, float)
    rng = np.random.default_rng(seed)
    return float(np.mean([ece(p, rng.uniform(size=p.size) < p, bins) for _ in range(draws)]))
