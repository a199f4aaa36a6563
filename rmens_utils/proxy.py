"""Proxy reward models as pipeline stages: train on the gold-labelled pairs, save, load,
score text, evaluate."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
from datasets import Dataset, load_from_disk
from scipy.stats import spearmanr
from transformers import AutoTokenizer

from .aggregation import AGGREGATIONS, BON_UWO_LAMBDA, aggregate
from .artifacts import (MissingArtifactError, build_id, run_stage, shown, stage_dir, stage_settings,
                        summarised_loads)
from .hardware import precision_of
from .labels import label_pairs
from .models import load_policy, load_rm_backbone
from . import stages
from .reward_model import MultiHeadRewardModel
from .stages import LABELS, member_stage, reward_params, rm_params
from .stages import RM_ENSEMBLE as ENSEMBLE_STAGE  # noqa: F401  (for callers)
from .stages import RM_MULTIHEAD as MULTIHEAD_STAGE
from .stages import RM_SINGLE as SINGLE_STAGE
from .training import reads_text_pairs, score, train_reward_model


class ProxyReward:
    """A trained :class:`MultiHeadRewardModel` behind the text interface of every reward:
    ``score(prompts, responses)`` → ``(batch, k)``."""

    def __init__(self, model, tokenizer, batch_size: int = 64, params: dict | None = None,
                 build: str | None = None):
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.params = params or {}  # the settings that made it (its stage's record)
        self.build = build  # its stage's build id: which bytes these are

    @property
    def num_members(self) -> int:
        return self.model.config.num_heads

    def score(self, prompts: list[str], responses: list[str], progress: bool = False):
        return score(self.model, self.tokenizer, prompts, responses, self.batch_size, progress)

    @property
    def bt_scale(self) -> np.ndarray:
        """``(k,)``: what turns each head's standardised score back into its Bradley–Terry
        logit (the scale it was trained on): multiply by it. Calibration of σ(margin) is
        only meaningful on that scale; the standardised one is for aggregating heads."""
        return np.asarray(self.model.config.reward_std, dtype=float)

    @classmethod
    def load(cls, folder, device: str = "cpu"):
        """The reward model saved in ``folder`` (a stage), with the settings that made it."""
        return cls(MultiHeadRewardModel.from_pretrained(folder).to(device),
                   AutoTokenizer.from_pretrained(folder), params=stage_settings(folder),
                   build=build_id(folder))


class EnsembleReward:
    """A full ensemble: k separately trained reward models behind the same interface as
    one model, ``score`` → ``(batch, k)`` (one column per member)."""

    def __init__(self, members: list[ProxyReward]):
        self.members = members
        self.params = {"members": [m.params for m in members]}
        self.build = "+".join(str(m.build) for m in members)

    @property
    def num_members(self) -> int:
        return sum(m.num_members for m in self.members)

    def score(self, prompts: list[str], responses: list[str], progress: bool = False):
        return torch.cat([m.score(prompts, responses, progress) for m in self.members], dim=1)

    @property
    def bt_scale(self) -> np.ndarray:
        """``(k,)``: each member's :attr:`ProxyReward.bt_scale`."""
        return np.concatenate([m.bt_scale for m in self.members])


def load_labels(cfg):
    """The gold-labelled pairs of notebook 02 (``DatasetDict`` train/validation)."""
    return load_from_disk(str(stages.folder(cfg, LABELS) / "pairs"))


def _folder(cfg, stage: str):
    """A reward-model stage of 03-05, or any other trained one (e.g. an exercise's)."""
    try:
        stages.stage(cfg, stage)
    except ValueError:  # not one of the series' own stages: e.g. an exercise's variant
        folder = stage_dir(cfg.profile, stage)
        if stage_settings(folder) is None:
            raise MissingArtifactError(
                f"No reward model '{stage}' in {shown(folder)}: train it first with "
                f"proxy.train_proxy_stage(cfg, {stage!r}, ...).") from None
        return folder
    return stages.folder(cfg, stage)


def load_proxy(cfg, stage: str = SINGLE_STAGE) -> ProxyReward:
    """A reward model an earlier notebook trained, on ``cfg.device``."""
    return ProxyReward.load(_folder(cfg, stage), cfg.device)


def training_log(cfg, stage: str = SINGLE_STAGE) -> pd.DataFrame:
    """The per-step training log of a trained reward model stage."""
    return pd.read_csv(_folder(cfg, stage) / "log.csv")


def training_times(cfg, k: int | None = None) -> pd.DataFrame:
    """What the real training runs of notebooks 03-05 took, from their logs: for the single
    model, the k members and the multi-head model, the models trained, the epochs each and
    the wall time of all of them."""
    k = cfg.rm.num_members if k is None else k
    kinds = {"single RM (03)": [SINGLE_STAGE],
             "full ensemble (04)": [member_stage(i) for i in range(k)],
             "multi-head (05)": [MULTIHEAD_STAGE]}
    rows = {}
    for kind, group in kinds.items():
        logs = [training_log(cfg, stage) for stage in group]
        rows[kind] = {"models": len(logs), "epochs each": logs[0]["epoch"].iloc[-1],
                      "training wall time (s)": sum(log["seconds"].iloc[-1] for log in logs)}
    return pd.DataFrame(rows).T


def load_ensemble(cfg, k: int | None = None) -> EnsembleReward:
    """The full ensemble of notebook 04."""
    k = cfg.rm.num_members if k is None else k
    return EnsembleReward([load_proxy(cfg, member_stage(i)) for i in range(k)])


def load_reward(cfg, reward: str):
    """Trained reward ``reward`` by its stage name: one model, or the members of an ensemble
    (the full ensemble, a LoRA ensemble, a screen candidate) behind one ``score``."""
    members = stages.trained_stages(cfg, reward)
    if members == [reward]:
        return load_proxy(cfg, reward)
    return EnsembleReward([load_proxy(cfg, member) for member in members])


def new_reward_model(cfg, num_heads: int, seed: int, pooling: str | None = None,
                     backbone: str = "rm"):
    """A fresh reward model, heads initialised from ``seed``, on the profile's reward backbone
    (``backbone="rm"``) or on the policy's own pretrained model (``"policy"``: SmolLM2, never
    fine-tuned, without its language-model head). ``pooling`` overrides how it reads a text."""
    if backbone == "policy":
        lm, tokenizer = load_policy(cfg)
        body = lm.get_decoder()  # the transformer under the language-model head
        # Its 30 layers' activations for a batch of 32 pairs exceed 24 GB in float32: keep each
        # layer's input only and recompute the rest in the backward pass (the same gradients,
        # tests/test_reward_model.py; more time)
        body.config.use_cache = False
        body.activation_checkpointing_enable({"use_reentrant": False})
    else:
        body, tokenizer = load_rm_backbone(cfg)
    # Encoders with a [SEP] token (BERT, MiniLM) read both texts: mean over tokens.
    # Decoders (Pythia, SmolLM2) have seen the whole sequence only at the last token.
    pooling = pooling or ("mean" if reads_text_pairs(tokenizer) else "last")
    model = MultiHeadRewardModel.from_backbone(body, num_heads, pooling, cfg.rm.max_length, seed)
    return model.to(cfg.device), tokenizer


def training_pairs(pairs, screen: dict, seed: int):
    """The labelled pairs (a ``Dataset``) that a model with screen settings ``screen`` trains
    on: the first ``max_pairs``, one contiguous ``shard`` ``[i, n]`` of n, or all of them
    relabelled from the gold with label noise ``noise`` (the labels stage's own
    :func:`labels.label_pairs`, with ``seed``)."""
    if "max_pairs" in screen:
        pairs = pairs.select(range(min(len(pairs), screen["max_pairs"])))
    if "shard" in screen:
        i, n = screen["shard"]
        pairs = pairs.shard(num_shards=n, index=i, contiguous=True)
    if "noise" in screen:
        df = pairs.to_pandas()
        flipped = df["flipped"].to_numpy()
        better = np.where(flipped, df["rejected"], df["chosen"])  # by the gold, before flips
        worse = np.where(flipped, df["chosen"], df["rejected"])
        gold_better = np.where(flipped, df["gold_rejected"], df["gold_chosen"])
        gold_worse = np.where(flipped, df["gold_chosen"], df["gold_rejected"])
        new = label_pairs(df["prompt"].tolist(), better, worse, gold_better, gold_worse,
                          screen["noise"], seed).drop(columns="chosen_is_a")
        pairs = Dataset.from_pandas(new, preserve_index=False)
    return pairs


def with_lora(model, r: int):
    """``model`` whose backbone is frozen and adapted by rank-``r`` LoRA on every linear layer
    (its heads stay trainable); :func:`merge_lora` folds the adapters back in."""
    from peft import LoraConfig, get_peft_model

    model.backbone = get_peft_model(model.backbone, LoraConfig(
        r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules="all-linear"))
    return model


def merge_lora(model):
    """The adapters folded into the backbone's weights: a plain model again, which saves,
    loads and scores like every other reward model."""
    model.backbone = model.backbone.merge_and_unload()
    return model


def train_proxy_stage(cfg, stage: str, num_heads: int = 1, seed: int | None = None,
                      epochs: float | None = None, bootstrap: bool = False,
                      freeze_backbone: bool = False, lora_r: int = 0,
                      screen: dict | None = None, force: bool = False):
    """Train one reward model on the labelled pairs and save it to ``<runs>/<profile>/<stage>``.
    ``bootstrap`` gives each head its own resample of the pairs; ``freeze_backbone``
    trains the heads only (both ablations, off by default as in Ahmed et al.); ``lora_r``
    trains LoRA adapters of that rank instead of the whole backbone (notebook 08); ``screen``
    holds a screen candidate's settings (:data:`stages.SCREEN`: ``head_lr_factor``, the pairs
    it sees, its backbone and pooling).

    Returns ``(ProxyReward, log)``; skipped (loaded) when done with the same settings.
    """
    seed = cfg.seed if seed is None else seed
    epochs = cfg.rm.epochs if epochs is None else epochs

    def build(out, work):
        pairs = training_pairs(load_labels(cfg)["train"], screen or {}, seed)
        torch.manual_seed(seed)
        model, tokenizer = new_reward_model(cfg, num_heads, seed, (screen or {}).get("pooling"),
                                            (screen or {}).get("backbone", "rm"))
        if lora_r:
            model = with_lora(model, lora_r)
        log = train_reward_model(model, tokenizer, pairs, epochs=epochs,
                                 learning_rate=cfg.rm.learning_rate,
                                 batch_size=cfg.rm.batch_size, seed=seed,
                                 precision=precision_of(cfg), bootstrap=bootstrap,
                                 freeze_backbone=freeze_backbone,
                                 head_lr_factor=(screen or {}).get("head_lr_factor", 1.0))
        if lora_r:
            model = merge_lora(model)
        # Standardise each head on a sample of the policy's own (SFT) answers, so that every
        # model and head speaks on one scale: SFT answers score mean 0, sd 1.
        some = pairs.shuffle(seed=seed).select(range(min(len(pairs), cfg.rm.standardise_pairs)))
        model.standardise(score(model, tokenizer, list(some["prompt"]) * 2,
                                list(some["chosen"]) + list(some["rejected"])))
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        log.to_csv(out / "log.csv", index=False)

    params = rm_params(cfg, num_heads, seed, epochs, bootstrap, freeze_backbone, lora_r)
    if screen is not None:
        params["screen"] = screen
    labels = build_id(stages.folder(cfg, LABELS))
    return run_stage(cfg.profile, stage, params, build, lambda folder: (
        ProxyReward.load(folder, cfg.device), pd.read_csv(folder / "log.csv")), force,
        inputs={LABELS: labels}, precision=cfg.precision)


def train_declared(cfg, stage: str, force: bool = False):
    """The reward model of stage ``stage`` (one model: 03-05's, a variant of 08, one member),
    trained with exactly the settings :mod:`stages` declares for it: ``(ProxyReward, log)``."""
    p = reward_params(cfg, stage)
    cfg = dataclasses.replace(cfg, rm=dataclasses.replace(
        cfg.rm, learning_rate=p["rm"]["learning_rate"]))  # a variant may have its own
    return train_proxy_stage(cfg, stage, p["num_heads"], p["seed"], p["epochs"], p["bootstrap"],
                             p["freeze_backbone"], p["lora_r"], p.get("screen"), force=force)


def train_reward(cfg, reward: str, force: bool = False):
    """Reward ``reward`` trained (or loaded): its one model, or the members of an ensemble one
    after another (:func:`train_members`), each its own resumable stage."""
    members = stages.trained_stages(cfg, reward)
    if members == [reward]:
        return train_declared(cfg, reward, force)
    return train_members(lambda i: train_declared(cfg, members[i], force), len(members))


def train_single_stage(cfg, force: bool = False):
    """The single proxy reward model of notebook 03: ``(ProxyReward, log)``."""
    return train_declared(cfg, SINGLE_STAGE, force)


def train_multihead_stage(cfg, force: bool = False):
    """The k-head reward model of notebook 05 (k = ``cfg.rm.num_members``, Ahmed et al.'s
    one epoch): ``(ProxyReward, log)``."""
    return train_declared(cfg, MULTIHEAD_STAGE, force)


def train_member_stage(cfg, i: int, force: bool = False):
    """The i-th member of notebook 04's full ensemble (seed ``cfg.seed + 1 + i``)."""
    return train_declared(cfg, member_stage(i), force)


def train_ensemble_stage(cfg, force: bool = False):
    """Train (or load) the k one-head reward models of the full ensemble, which differ only
    by seed (head initialisation and data order), each its own resumable stage
    ``rm_ensemble/member_<i>``. Returns ``(EnsembleReward, log)``; the log has a
    ``member`` column."""
    return train_members(lambda i: train_member_stage(cfg, i, force), cfg.rm.num_members)


def train_members(train, k: int):
    """``train(i)`` → ``(ProxyReward, log)`` for i = 0 … k − 1, one after another:
    ``(EnsembleReward, log)``, the log with a ``member`` column."""
    members, logs = [], []
    with summarised_loads():  # members already made: one line for all
        for i in range(k):
            member, log = train(i)
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
    ``<runs>/<profile>/<stage>`` and re-made only when ``params`` (what the answers depend
    on) or the reward model (its ``params`` and ``build``) change."""
    def build(out, work):
        np.save(out / "scores.npy", reward.score(prompts, responses, progress=True).numpy())

    return run_stage(cfg.profile, stage, {**params, "reward": reward.params}, build,
                     lambda folder: np.load(folder / "scores.npy"),
                     inputs={"reward": getattr(reward, "build", None)})
