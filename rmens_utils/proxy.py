"""Proxy reward models as pipeline stages: train on the gold-labelled pairs, save, load,
score text, evaluate."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
from datasets import load_from_disk
from scipy.stats import spearmanr

from . import labels
from .artifacts import atomic_dir, is_complete, require_stage, stage_dir, write_stage_config
from .models import load_rm_backbone
from .reward_model import MultiHeadRewardModel
from .training import score, train_reward_model


class ProxyReward:
    """A trained :class:`MultiHeadRewardModel` behind the text interface of every reward:
    ``score(prompts, responses)`` → ``(batch, k)``."""

    def __init__(self, model, tokenizer, batch_size: int = 64):
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size

    @property
    def num_members(self) -> int:
        return self.model.config.num_heads

    def score(self, prompts: list[str], responses: list[str], progress: bool = False):
        return score(self.model, self.tokenizer, prompts, responses, self.batch_size, progress)

    @classmethod
    def load(cls, folder):
        from transformers import AutoTokenizer

        return cls(MultiHeadRewardModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder))


def load_labels(cfg):
    """The gold-labelled pairs of notebook 02 (``DatasetDict`` train/validation)."""
    return load_from_disk(str(require_stage(cfg.profile, labels.STAGE) / "pairs"))


def new_reward_model(cfg, num_heads: int, seed: int):
    """A fresh reward model on the profile's backbone, heads initialised from ``seed``."""
    backbone, tokenizer = load_rm_backbone(cfg)
    pooling = "last" if backbone.config.is_decoder or "pythia" in cfg.rm_backbone_name.lower() \
        else "mean"
    model = MultiHeadRewardModel.from_backbone(backbone, num_heads, pooling,
                                               cfg.rm.max_length, seed)
    return model, tokenizer


def stage_params(cfg, num_heads: int, seed: int, epochs: float) -> dict:
    return {"labels": labels.stage_params(cfg), "rm_backbone": cfg.rm_backbone_name,
            "rm": dataclasses.asdict(cfg.rm), "num_heads": num_heads, "seed": seed,
            "epochs": epochs}


def train_proxy_stage(cfg, stage: str, num_heads: int = 1, seed: int | None = None,
                      epochs: float | None = None, force: bool = False):
    """Train one reward model on the labelled pairs and save it to ``runs/<profile>/<stage>``.

    Returns ``(ProxyReward, log)``; skipped (loaded) when done with the same settings.
    """
    seed = cfg.seed if seed is None else seed
    epochs = cfg.rm.epochs if epochs is None else epochs
    params, folder = stage_params(cfg, num_heads, seed, epochs), stage_dir(cfg.profile, stage)
    if is_complete(cfg.profile, stage, params) and not force:
        print(f"'{stage}' for these settings exists: {folder} (force=True retrains it)")
        return ProxyReward.load(folder), pd.read_csv(folder / "log.csv")
    pairs = load_labels(cfg)["train"]
    torch.manual_seed(seed)
    model, tokenizer = new_reward_model(cfg, num_heads, seed)
    log = train_reward_model(model, tokenizer, pairs, epochs=epochs,
                             learning_rate=cfg.rm.learning_rate,
                             batch_size=cfg.rm.batch_size, seed=seed)
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        log.to_csv(tmp / "log.csv", index=False)
        write_stage_config(tmp, params)
    return ProxyReward(model, tokenizer), log


def pair_accuracy(reward, pairs) -> dict:
    """Accuracy of ``reward`` on labelled pairs, per member: against the noisy labels
    (chosen > rejected) and against the clean gold preference (the label before flips)."""
    chosen = reward.score(pairs["prompt"], pairs["chosen"]).numpy()
    rejected = reward.score(pairs["prompt"], pairs["rejected"]).numpy()
    agrees = chosen > rejected  # (pairs, k)
    flipped = np.asarray(pairs["flipped"])[:, None]
    return {"noisy": agrees.mean(0), "clean": (agrees != flipped).mean(0),
            "margin": chosen - rejected}


def spearman(a, b) -> float:
    return float(spearmanr(a, b).statistic)
