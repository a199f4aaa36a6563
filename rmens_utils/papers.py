"""The papers' set-ups beside this series' own (notebook 09): what a result here can and cannot
say about theirs. The papers' column is what they report (their hyper-parameters as their
papers give them; Ahmed et al. publish no code, so only what their paper states); this series'
column is read from the profile's settings, so it stays right when they change."""
from __future__ import annotations

import pandas as pd

from . import confirm
from .stages import REGIMES

ROWS = ["policy", "proxy reward models", "gold", "preference pairs (label noise)",
        "best-of-n", "PPO", "KL penalty β", "seeds per comparison"]

PAPERS = {
    "Coste et al. 2023": [
        "Pythia-1.4B, SFT on AlpacaFarm",
        "Pythia 14M / 70M / 1.4B, 5 members differing by seed",
        "AlpacaFarm's human-preference reward model (7B)",
        "AlpacaFarm, 10k (25 %)",
        "n up to 12,500 on 1,000 prompts",
        "3,000 steps, lr 1e-6, batch 32",
        "0 and 0.01 (a single model needs 0.2)",
        "not stated here"],
    "Ahmed et al. 2024": [
        "~1.3B", "~1.3B, one backbone with k linear heads (about 3 best)",
        "a larger reward model (6.7B)", "AlpacaFarm", "–", "with a KL term", "not stated",
        "not stated"],
}


def setups(cfg) -> pd.DataFrame:
    """The papers' set-ups and this series' (``cfg``'s profile), a row per aspect."""
    ppo, labels, bon, rm = cfg.ppo, cfg.labels, cfg.bon, cfg.rm
    gold = ("a rubric: relevance, specificity, fluency, repetition, length, completeness "
            "(notebook 02)" if cfg.gold_name.endswith("rubric") else cfg.gold_name)
    ours = [
        f"{cfg.policy_name.removeprefix('offline:')}, SFT (notebook 01)",
        f"{cfg.rm_backbone_name.removeprefix('offline:')}: one model, a full ensemble of "
        f"{rm.num_members}, a multi-head model of {rm.num_members} heads",
        gold,
        f"{labels.max_prompts:,} ({labels.noise * 100:g} %)",
        f"n up to {bon.n_samples} on {bon.n_prompts} prompts",
        f"{'–'.join(map(str, sorted({REGIMES[confirm.REGIME]['steps'], ppo.steps})))} steps, "
        f"lr {ppo.learning_rate:g}, batch {ppo.batch_size}, LoRA rank {ppo.lora_r}",
        ", ".join(sorted({f"{r['beta']:g}" for r in REGIMES.values()}, key=float)),
        f"2–3 in the pilot, {confirm.LOOKS[-1]} in the confirmatory study",
    ]
    return pd.DataFrame({**PAPERS, f"this series (`{cfg.profile}`)": ours}, index=ROWS)
