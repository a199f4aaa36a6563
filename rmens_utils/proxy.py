"""Proxy reward models as pipeline stages: train on the gold-labelled pairs, save, load,
score text, evaluate."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch
from datasets import load_from_disk
from scipy.stats import spearmanr
from transformers import AutoTokenizer

from . import labels
from .aggregation import AGGREGATIONS, BON_UWO_LAMBDA, aggregate
from .artifacts import (CONFIG_FILE, atomic_dir, is_complete, require_stage, stage_dir,
                        write_stage_config)
from .models import load_rm_backbone
from .reward_model import MultiHeadRewardModel
from .training import reads_text_pairs, score, train_reward_model

SINGLE_STAGE, ENSEMBLE_STAGE, MULTIHEAD_STAGE = "rm_single", "rm_ensemble", "rm_multihead"


class ProxyReward:
    """A trained :class:`MultiHeadRewardModel` behind the text interface of every reward:
    ``score(prompts, responses)`` → ``(batch, k)``."""

    def __init__(self, model, tokenizer, batch_size: int = 64, params: dict | None = None):
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.params = params or {}  # the settings that made it (its stage config)

    @property
    def num_members(self) -> int:
        return self.model.config.num_heads

    def score(self, prompts: list[str], responses: list[str], progress: bool = False):
        return score(self.model, self.tokenizer, prompts, responses, self.batch_size, progress)

    @classmethod
    def load(cls, folder, params: dict | None = None):
        return cls(MultiHeadRewardModel.from_pretrained(folder),
                   AutoTokenizer.from_pretrained(folder), params=params)


class EnsembleReward:
    """A full ensemble: k separately trained reward models behind the same interface as
    one model, ``score`` → ``(batch, k)`` (one column per member)."""

    def __init__(self, members: list[ProxyReward]):
        self.members = members
        self.params = {"members": [m.params for m in members]}

    @property
    def num_members(self) -> int:
        return sum(m.num_members for m in self.members)

    def score(self, prompts: list[str], responses: list[str], progress: bool = False):
        return torch.cat([m.score(prompts, responses, progress) for m in self.members], dim=1)


def load_labels(cfg):
    """The gold-labelled pairs of notebook 02 (``DatasetDict`` train/validation)."""
    return load_from_disk(str(require_stage(cfg.profile, labels.STAGE) / "pairs"))


def load_proxy(cfg, stage: str = SINGLE_STAGE) -> ProxyReward:
    """A reward model an earlier notebook trained (the error names it when missing)."""
    folder = require_stage(cfg.profile, stage)
    return ProxyReward.load(folder, json.loads((folder / CONFIG_FILE).read_text()))


def training_log(cfg, stage: str = SINGLE_STAGE) -> pd.DataFrame:
    """The per-step training log of a trained reward model stage."""
    return pd.read_csv(require_stage(cfg.profile, stage) / "log.csv")


def member_stage(i: int) -> str:
    """The stage of the i-th full-ensemble member."""
    return f"{ENSEMBLE_STAGE}/member_{i}"


def load_ensemble(cfg, k: int | None = None) -> EnsembleReward:
    """The full ensemble of notebook 04."""
    k = cfg.rm.num_members if k is None else k
    return EnsembleReward([load_proxy(cfg, member_stage(i)) for i in range(k)])


def new_reward_model(cfg, num_heads: int, seed: int):
    """A fresh reward model on the profile's backbone, heads initialised from ``seed``."""
    backbone, tokenizer = load_rm_backbone(cfg)
    # Encoders with a [SEP] token (BERT, MiniLM) read both texts: mean over tokens.
    # Decoders (Pythia) have seen the whole sequence only at the last token.
    pooling = "mean" if reads_text_pairs(tokenizer) else "last"
    model = MultiHeadRewardModel.from_backbone(backbone, num_heads, pooling,
                                               cfg.rm.max_length, seed)
    return model, tokenizer


def stage_params(cfg, num_heads: int, seed: int, epochs: float, **options) -> dict:
    """What one trained reward model depends on (not k or the epochs of other kinds)."""
    rm = {k: getattr(cfg.rm, k) for k in
          ("learning_rate", "batch_size", "max_length", "bf16", "standardise_pairs")}
    return {"labels": labels.stage_params(cfg), "rm_backbone": cfg.rm_backbone_name, "rm": rm,
            "num_heads": num_heads, "seed": seed, "epochs": epochs, **options}


def train_proxy_stage(cfg, stage: str, num_heads: int = 1, seed: int | None = None,
                      epochs: float | None = None, bootstrap: bool = False,
                      freeze_backbone: bool = False, force: bool = False):
    """Train one reward model on the labelled pairs and save it to ``runs/<profile>/<stage>``.
    ``bootstrap`` gives each head its own resample of the pairs; ``freeze_backbone``
    trains the heads only (both ablations, off by default as in Ahmed et al.).

    Returns ``(ProxyReward, log)``; skipped (loaded) when done with the same settings.
    """
    seed = cfg.seed if seed is None else seed
    epochs = cfg.rm.epochs if epochs is None else epochs
    params = stage_params(cfg, num_heads, seed, epochs, bootstrap=bootstrap,
                          freeze_backbone=freeze_backbone)
    folder = stage_dir(cfg.profile, stage)
    if is_complete(cfg.profile, stage, params) and not force:
        print(f"'{stage}' for these settings exists: {folder} (force=True retrains it)")
        return ProxyReward.load(folder, params), pd.read_csv(folder / "log.csv")
    pairs = load_labels(cfg)["train"]
    torch.manual_seed(seed)
    model, tokenizer = new_reward_model(cfg, num_heads, seed)
    log = train_reward_model(model, tokenizer, pairs, epochs=epochs,
                             learning_rate=cfg.rm.learning_rate,
                             batch_size=cfg.rm.batch_size, seed=seed, bf16=cfg.rm.bf16,
                             bootstrap=bootstrap, freeze_backbone=freeze_backbone)
    # Standardise each head on a sample of the policy's own (SFT) answers, so that every
    # model and head speaks on one scale: SFT answers score mean 0, sd 1.
    some = pairs.shuffle(seed=seed).select(range(min(len(pairs), cfg.rm.standardise_pairs)))
    model.standardise(score(model, tokenizer, list(some["prompt"]) * 2,
                            list(some["chosen"]) + list(some["rejected"])))
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        log.to_csv(tmp / "log.csv", index=False)
        write_stage_config(tmp, params)
    return ProxyReward(model, tokenizer, params=params), log


def train_ensemble_stage(cfg, k: int | None = None, epochs: float | None = None,
                         force: bool = False):
    """Train (or load) ``k`` one-head reward models that differ only by seed (head
    initialisation and data order), each its own resumable stage
    ``rm_ensemble/member_<i>``. Returns ``(EnsembleReward, log)``; the log has a
    ``member`` column."""
    k = cfg.rm.num_members if k is None else k
    epochs = cfg.rm.ensemble_epochs if epochs is None else epochs
    members, logs = [], []
    for i in range(k):
        print(f"member {i + 1}/{k}")
        member, log = train_proxy_stage(cfg, member_stage(i), num_heads=1,
                                        seed=cfg.seed + 1 + i, epochs=epochs, force=force)
        members.append(member)
        logs.append(log.assign(member=i))
    return EnsembleReward(members), pd.concat(logs, ignore_index=True)


def pair_accuracy(reward, pairs) -> dict:
    """Accuracy of ``reward`` on labelled pairs, per member: against the noisy labels
    (chosen > rejected) and against the clean gold preference (the label before flips)."""
    chosen = reward.score(pairs["prompt"], pairs["chosen"]).numpy()
    rejected = reward.score(pairs["prompt"], pairs["rejected"]).numpy()
    agrees = chosen > rejected  # (pairs, k)
    flipped = np.asarray(pairs["flipped"])[:, None]
    return {"noisy": agrees.mean(0), "clean": (agrees != flipped).mean(0),
            "chosen": chosen, "rejected": rejected}


def accuracy_table(acc: dict, flipped, member: str = "member",
                   lam: float = BON_UWO_LAMBDA) -> pd.DataFrame:
    """Accuracy of each of the k members (or heads) and of each aggregation of them,
    against the noisy and the clean labels; ``acc`` from :func:`pair_accuracy`."""
    chosen, rejected, flipped = acc["chosen"], acc["rejected"], np.asarray(flipped)
    rows = {f"{member} {j}": (acc["noisy"][j], acc["clean"][j]) for j in range(chosen.shape[1])}
    for name in AGGREGATIONS:
        agrees = (aggregate(chosen, name, lam) > aggregate(rejected, name, lam)).numpy()
        rows[name] = (agrees.mean(), (agrees != flipped).mean())
    return pd.DataFrame(rows, index=["accuracy vs noisy labels", "accuracy vs clean labels"]).T


def disagreement(acc: dict) -> float:
    """Share of pairs on which the k members (heads) do not all rank the pair alike."""
    votes = (acc["chosen"] > acc["rejected"]).mean(1)
    return float(((votes > 0) & (votes < 1)).mean())


def spearman(a, b) -> float:
    return float(spearmanr(a, b).statistic)


def mean_correlation(scores) -> float:
    """Mean Spearman correlation between the k columns of ``scores`` ``(n, k)``, over
    the k(k − 1)/2 pairs: how alike the members (heads) are."""
    c = pd.DataFrame(np.asarray(scores)).corr(method="spearman").to_numpy()
    k = c.shape[0]
    return float((c.sum() - k) / (k * k - k))


def cached_scores(cfg, stage: str, params: dict, reward, prompts: list[str],
                  responses: list[str]) -> np.ndarray:
    """``reward.score(prompts, responses)`` as an array ``(n, k)``, saved in
    ``runs/<profile>/<stage>`` and re-made only when ``params`` (what the answers depend
    on) or the reward model (its ``params``) change."""
    params = {**params, "reward": reward.params}
    folder = stage_dir(cfg.profile, stage)
    if is_complete(cfg.profile, stage, params):
        return np.load(folder / "scores.npy")
    scores = reward.score(prompts, responses, progress=True).numpy()
    with atomic_dir(folder) as tmp:
        np.save(tmp / "scores.npy", scores)
        write_stage_config(tmp, params)
    return scores
