"""Gold-labelled preference pairs (notebook 02), after Coste et al. 2023.

Two answers per ``pref`` prompt from the SFT policy, both scored by the gold reward; the
higher-scoring one is *chosen*; then each label is flipped with probability ``noise``
(25 % in Coste et al., about the disagreement between human annotators).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def label_pairs(prompts: list[str], answers_a: list[str], answers_b: list[str],
                gold_a: np.ndarray, gold_b: np.ndarray, noise: float, seed: int) -> pd.DataFrame:
    """One row per prompt: ``prompt, chosen, rejected, gold_chosen, gold_rejected, flipped``.

    ``chosen`` is the answer the (noisy) label prefers; with ``flipped`` False it is also
    the gold-better one. Exact gold ties are broken at random.
    """
    rng = np.random.default_rng(seed)
    gold_a, gold_b = np.asarray(gold_a, float), np.asarray(gold_b, float)
    a_better = np.where(gold_a == gold_b, rng.random(len(gold_a)) < 0.5, gold_a > gold_b)
    flipped = rng.random(len(gold_a)) < noise
    a_chosen = a_better ^ flipped
    answers_a, answers_b = np.asarray(answers_a, dtype=object), np.asarray(answers_b, dtype=object)
    return pd.DataFrame({
        "prompt": list(prompts),
        "chosen": np.where(a_chosen, answers_a, answers_b).tolist(),
        "rejected": np.where(a_chosen, answers_b, answers_a).tolist(),
        "gold_chosen": np.where(a_chosen, gold_a, gold_b),
        "gold_rejected": np.where(a_chosen, gold_b, gold_a),
        "flipped": flipped,
    })
