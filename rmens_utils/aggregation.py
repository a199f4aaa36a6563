"""Aggregations of k reward estimates into one: ``(batch, k)`` in, ``(batch,)`` out.

The same functions serve a full ensemble (k members) and a multi-head model (k heads).
``min`` is Coste et al.'s worst-case optimisation (WCO) and the aggregation of Ahmed et
al.; ``uwo`` is Coste et al.'s uncertainty-weighted optimisation, mean − λ·variance
(they use λ = 0.5 for best-of-n and 0.1 for PPO). The variance is the population
variance over the k estimates (divide by k).
"""
from __future__ import annotations

import numpy as np
import torch

BON_UWO_LAMBDA = 0.5
PPO_UWO_LAMBDA = 0.1


def _as_tensor(scores) -> torch.Tensor:
    # a copy for arrays: those read from parquet are read-only, which torch warns about
    scores = scores if torch.is_tensor(scores) else torch.tensor(np.asarray(scores, dtype=float))
    if scores.ndim != 2:
        raise ValueError(f"expected rewards of shape (batch, k), got {tuple(scores.shape)}")
    return scores.float()


def mean_reward(scores) -> torch.Tensor:
    return _as_tensor(scores).mean(1)


def min_reward(scores) -> torch.Tensor:
    """Worst case over members/heads (WCO): the pessimistic aggregation."""
    return _as_tensor(scores).min(1).values


def max_reward(scores) -> torch.Tensor:
    """Best case: the optimistic aggregation, a foil for min."""
    return _as_tensor(scores).max(1).values


def uwo_reward(scores, lam: float = BON_UWO_LAMBDA) -> torch.Tensor:
    """Uncertainty-weighted: mean − λ·variance over members/heads."""
    scores = _as_tensor(scores)
    return scores.mean(1) - lam * scores.var(1, unbiased=False)


AGGREGATIONS = {"mean": mean_reward, "min": min_reward, "max": max_reward, "uwo": uwo_reward}


def matched_uwo_lambda(scores) -> float:
    """The λ at which UWO's penalty, λ·variance, equals on average the min's, mean − min,
    on these ``(n, k)`` scores. Coste et al.'s λ values were set for their reward models'
    raw scales; on standardised heads whose spread is ~0.2 their λ = 0.1 penalises by
    ~0.004, and UWO is the mean. Matched this way, min and UWO remove the same amount on
    average and differ only in how the penalty grows with disagreement (linearly or
    quadratically)."""
    scores = _as_tensor(scores)
    gap = (scores.mean(1) - scores.min(1).values).mean()
    return float(gap / scores.var(1, unbiased=False).mean().clamp(min=1e-12))


def member_index(name: str) -> int | None:
    """``j`` for ``"member_<j>"`` (member j alone, Coste et al.'s single-model baseline: no
    aggregation), else None."""
    j = name.removeprefix("member_")
    return int(j) if name.startswith("member_") and j.isdigit() else None


def aggregate(scores, name: str, lam: float = BON_UWO_LAMBDA) -> torch.Tensor:
    """``aggregate(scores, "min")``: the aggregation called ``name``; ``lam`` is used by
    ``uwo`` only (default: the best-of-n value; PPO passes ``PPO_UWO_LAMBDA``).
    ``"member_<j>"``: member j alone (:func:`member_index`)."""
    if (j := member_index(name)) is not None:
        return _as_tensor(scores)[:, j]
    if name not in AGGREGATIONS:
        raise ValueError(f"Unknown aggregation {name!r}. Valid: {', '.join(AGGREGATIONS)}.")
    return uwo_reward(scores, lam) if name == "uwo" else AGGREGATIONS[name](scores)
