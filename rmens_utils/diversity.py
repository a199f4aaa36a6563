"""Beyond the paper (notebook 08): what makes a cheap ensemble's members disagree where the
policy drifts, and does that disagreement buy protection?

The cheap ensembles (``stages.VARIANTS``) are trained on the same labelled pairs as notebooks
03-05 and compared with the multi-head model of 05 (``multihead_k3``) and the full ensemble of
04, on three sets of answers: the labelled validation pairs (in distribution, clean labels), the
SFT policy's best-of-n samples, and the last held-out answers of every PPO run in ``results/``
(off distribution: pairs of two runs' answers to one prompt, labelled by the gold).
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from . import best_of_n, proxy
from .aggregation import aggregate
from .calibration import cross_run_pairs, error_auroc, mean_errors, spread, uncertainty
from .analysis import final_points
from .artifacts import summarised_loads
from .stages import RM_MULTIHEAD, VARIANTS, variant_params, variant_stage

# The references' best-of-n scores, as notebooks 04-05 cached them
SAMPLE_SCORES = {"multihead_k3": "multihead", "full_ensemble": "ensemble"}


def train_variant_stage(cfg, name: str, force: bool = False):
    """Train (or load) variant ``name`` of :data:`stages.VARIANTS`: ``(reward, log)``. A LoRA
    ensemble trains its members one after another, each its own resumable stage, like the
    full ensemble (:func:`proxy.train_reward`)."""
    variant_params(cfg, name)  # an unknown name fails here, naming the valid ones
    return proxy.train_reward(cfg, variant_stage(name), force)


def train_variant_stages(cfg, names=None) -> dict:
    """Train (or load) each variant in ``names`` (default: all): ``{name: log}``."""
    with summarised_loads():
        return {name: train_variant_stage(cfg, name)[1] for name in names or VARIANTS}


def load_rewards(cfg, names=None) -> dict:
    """Both references (the multi-head model of 05, the full ensemble of 04) and each variant
    in ``names`` (default: all)."""
    return {"multihead_k3": proxy.load_proxy(cfg, RM_MULTIHEAD),
            "full_ensemble": proxy.load_ensemble(cfg),
            **{name: proxy.load_reward(cfg, variant_stage(name)) for name in names or VARIANTS}}


def answer_scores(cfg, name: str, reward, samples: pd.DataFrame,
                  late: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``reward``'s scores ``(n, k)`` of the SFT policy's best-of-n samples and of the late
    PPO answers, each cached in the runs folder (re-made when the answers or the model
    change). The references reuse the best-of-n scores notebooks 04-05 cached."""
    sft = best_of_n.score_samples(cfg, SAMPLE_SCORES.get(name, name), reward, samples)
    texts = (late["prompt"] + "\x1f" + late["text"]).str.cat(sep="\x1e")
    digest = hashlib.sha256(texts.encode()).hexdigest()  # which answers: their text
    scores = proxy.cached_scores(cfg, f"late_scores/{name}", {"answers": digest}, reward,
                                 late["prompt"].tolist(), late["text"].tolist())
    return sft, scores


def compare(cfg, rewards: dict, validation, samples: pd.DataFrame,
            late: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """:func:`summary` of every reward in ``rewards`` (a row each), and each one's scores of
    the best-of-n samples (for best-of-n with its min)."""
    pairs, rows, sft_scores = late_pairs(late), {}, {}
    with summarised_loads():  # the scores already cached: one line for all
        for name, reward in rewards.items():
            sft_scores[name], late_scores = answer_scores(cfg, name, reward, samples, late)
            rows[name] = summary(proxy.pair_accuracy(reward, validation), validation["flipped"],
                                 sft_scores[name], late_scores, pairs)
    return pd.DataFrame(rows).T, sft_scores


def training_wall_times(cfg, logs: dict) -> pd.Series:
    """The wall time of every real training run, in seconds: the references' from notebooks
    04-05 (:func:`proxy.training_times`), each variant's from its log in ``logs`` (summed
    over the members of a LoRA ensemble)."""
    made = proxy.training_times(cfg)["training wall time (s)"]
    times = {"multihead_k3": made["multi-head (05)"], "full_ensemble": made["full ensemble (04)"]}
    for name, log in logs.items():
        times[name] = (log.groupby("member")["seconds"].max().sum() if "member" in log
                       else log["seconds"].iloc[-1])
    return pd.Series(times, name="training wall time of the real run (s)", dtype=float)


def min_gap(scores) -> np.ndarray:
    """Per answer, how far the min of its k scores sits below their mean: what the
    pessimism of min costs an answer."""
    scores = np.asarray(scores, float)
    return scores.mean(1) - scores.min(1)


def late_answers(evals: pd.DataFrame) -> pd.DataFrame:
    """Each PPO run's held-out answers at its last evaluation (the furthest it drifted)."""
    return final_points(evals[evals["step"] > 0]).reset_index(drop=True)


def late_pairs(answers: pd.DataFrame) -> pd.DataFrame:
    """Pairs of two runs' answers to one prompt (same regime, seed and step: the same
    prompt and sampling noise), labelled by the gold: off-distribution preference pairs."""
    return cross_run_pairs(answers, by=["regime", "seed", "step", "prompt"])


def summary(acc: dict, flipped, sft_scores, late_scores, pairs: pd.DataFrame) -> dict:
    """What one model's k estimates do in and off distribution.

    ``acc``: :func:`proxy.pair_accuracy` on the labelled validation pairs; ``flipped``:
    their label flips; ``sft_scores``, ``late_scores``: ``(n, k)`` scores of the SFT
    policy's answers and of the late PPO answers; ``pairs``: :func:`late_pairs` of those
    (``answer_a``/``answer_b`` index ``late_scores``).

    Errors are those of the mean of the k estimates (against the clean label in distribution,
    the gold off distribution); the AUROC says how well the spread of the k margins picks
    them out (0.5: not at all)."""
    chosen, rejected = acc["chosen"], acc["rejected"]
    clean = ~np.asarray(flipped, bool)  # 1 when the gold prefers "chosen"
    late_scores = np.asarray(late_scores, float)
    a, b = late_scores[pairs["answer_a"]], late_scores[pairs["answer_b"]]
    off_wrong = mean_errors(a, b, pairs["y"])
    sft_spread, late_spread = spread(sft_scores).mean(), spread(late_scores).mean()
    return {
        "k": chosen.shape[1],
        "clean accuracy, members (mean)": float(np.mean(acc["clean"])),
        "clean accuracy, mean": float((~mean_errors(chosen, rejected, clean)).mean()),
        "clean accuracy, min": float(((aggregate(chosen, "min") > aggregate(rejected, "min"))
                                      .numpy() == clean).mean()),
        "correlation of estimates": proxy.mean_correlation(sft_scores),
        "spread, SFT answers": sft_spread,
        "spread, late PPO answers": late_spread,
        "spread growth (late / SFT)": late_spread / sft_spread,
        "AUROC of spread, in distribution": error_auroc(uncertainty(chosen, rejected),
                                                        mean_errors(chosen, rejected, clean)),
        "error of mean, off distribution": float(off_wrong.mean()),
        "AUROC of spread, off distribution": error_auroc(uncertainty(a, b), off_wrong),
        "mean − min gap, SFT answers": min_gap(sft_scores).mean(),
        "mean − min gap, late PPO answers": min_gap(late_scores).mean(),
    }
