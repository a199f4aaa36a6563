"""Every stage of the pipeline, declared in one place: the settings that change its output
(its identity), the stages it reads, the notebook that makes it and roughly how long it takes.

Nothing here builds anything: the functions that make each stage live in the notebooks' own
modules (:mod:`sft`, :mod:`labels`, :mod:`proxy` …) and :mod:`pipeline`, at the top of the
package, knows them. A loader asks :func:`folder` for a stage's folder and gets it, or a
:class:`MissingArtifactError` that names the notebook making it and the one line that builds it.

A stage's identity is its settings (bookkeeping such as checkpoint cadence left out,
:func:`config.bookkeeping`) with those of the stages before it, plus a ``version`` per kind of
stage: raise it when a change of code changes what a stage makes. Its record also holds the
build id of each stage it read (:func:`artifacts.write_record`), so a stage made from another
build of its inputs is made again, never silently reused.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .aggregation import PPO_UWO_LAMBDA
from .artifacts import (MissingArtifactError, build_id, canonical, is_complete, results_dir,
                        run_stage, runs_dir, shown, stage_dir, stage_settings)
from .config import result_settings

SFT, LABELS, BON_SAMPLES = "sft", "labels", "bon_samples"
RM_SINGLE, RM_ENSEMBLE, RM_MULTIHEAD = "rm_single", "rm_ensemble", "rm_multihead"
PPO = "ppo"
# Raise a kind's number when a change of its code changes what it makes: every stage of that
# kind, and every stage after it, is then made again.
VERSIONS = {SFT: 1, "gold": 1, LABELS: 1, BON_SAMPLES: 1, "reward_model": 1, "eval": 1, PPO: 1}


# --- what each stage depends on (a change in any of it re-makes the stage) ---------------

def sft_params(cfg) -> dict:
    return {"version": VERSIONS[SFT], "policy_name": cfg.policy_name,
            "data_source": cfg.data_source, "seed": cfg.seed, "sft": result_settings(cfg.sft)}


def gold_params(cfg) -> dict:
    """The gold reward: its name and, for the offline rubric, its weights and its fluency
    model (so that a changed rubric re-labels everything instead of mixing two golds)."""
    if cfg.gold_name == "offline:rubric":
        rubric = json.loads(json.dumps(dataclasses.asdict(cfg.rubric)))  # as stored
        return {"version": VERSIONS["gold"], "name": cfg.gold_name, "rubric": rubric,
                "fluency_model": cfg.policy_name}
    return {"version": VERSIONS["gold"], "name": cfg.gold_name}


def labels_params(cfg) -> dict:
    return {"version": VERSIONS[LABELS], "sft": sft_params(cfg), "gold": gold_params(cfg),
            "seed": cfg.seed, "labels": result_settings(cfg.labels)}


def bon_params(cfg) -> dict:
    return {"version": VERSIONS[BON_SAMPLES], "sft": sft_params(cfg), "gold": gold_params(cfg),
            "seed": cfg.seed, "bon": result_settings(cfg.bon),
            "generation": result_settings(cfg.labels.generation)}


def rm_params(cfg, num_heads: int, seed: int, epochs: float, bootstrap: bool = False,
              freeze_backbone: bool = False, lora_r: int = 0) -> dict:
    """One trained reward model (not k or the epochs of the other kinds)."""
    rm = {k: getattr(cfg.rm, k) for k in
          ("learning_rate", "batch_size", "max_length", "standardise_pairs")}
    return {"version": VERSIONS["reward_model"], "labels": labels_params(cfg),
            "rm_backbone": cfg.rm_backbone_name, "rm": rm, "num_heads": num_heads, "seed": seed,
            "epochs": epochs, "bootstrap": bootstrap, "freeze_backbone": freeze_backbone,
            "lora_r": lora_r}


def member_stage(i: int) -> str:
    """The stage of the i-th full-ensemble member."""
    return f"{RM_ENSEMBLE}/member_{i}"


def reward_params(cfg, stage: str) -> dict:
    """The settings of the reward model(s) a stage name stands for, as made by 03-05."""
    if stage == RM_SINGLE:
        return rm_params(cfg, 1, cfg.seed, cfg.rm.epochs)
    if stage == RM_MULTIHEAD:
        return rm_params(cfg, cfg.rm.num_members, cfg.seed, cfg.rm.multihead_epochs)
    if stage == RM_ENSEMBLE:
        return {"members": [reward_params(cfg, member_stage(i))
                            for i in range(cfg.rm.num_members)]}
    match = re.fullmatch(rf"{RM_ENSEMBLE}/member_(\d+)", stage)
    if match:  # members differ only by seed: head initialisation and data order
        return rm_params(cfg, 1, cfg.seed + 1 + int(match[1]), cfg.rm.ensemble_epochs)
    if variant := parse_variant_stage(stage):
        return variant_params(cfg, *variant)
    if candidate := parse_screen_stage(stage):
        return screen_params(cfg, *candidate)
    if (name := stage.removeprefix(f"{RM_SCREEN}/")) in SCREEN:  # a whole list candidate
        return screen_params(cfg, name)
    if (name := stage.removeprefix(f"{RM_VARIANTS}/")) in VARIANTS:  # a whole LoRA ensemble
        return variant_params(cfg, name)
    raise ValueError(f"{stage!r} is not a reward-model stage")


# Notebook 08's cheap ensembles, trained on the same labelled pairs (stage rm_variants/<name>).
# Each is the multi-head model of notebook 05 (k = 3 heads, its epochs, the profile's learning
# rate) changed only in what its entry says.
RM_VARIANTS = "rm_variants"
VARIANTS = {
    "multihead_k5": {"num_heads": 5},
    "multihead_k8": {"num_heads": 8},
    "bootstrap_k3": {"bootstrap": True},  # each head its own resample of the pairs
    # Heads only, on the frozen backbone: a linear probe, which needs a far larger step. A head
    # starts at norm ~1, and AdamW moves each of its 384 weights by at most lr a step: at the
    # fine-tuning lr 1e-4 three epochs (168 steps on cpu) move it by at most ~0.3 (the
    # multi-head model's heads move ~1 %: notebook 08), at 3e-3 by up to ~10.
    "frozen_k3": {"freeze_backbone": True, "learning_rate": 3e-3, "epochs_factor": 3.0},
    # A LoRA ensemble: k adapters on one frozen backbone, each with its own head (Zhang et al.
    # 2024), trained one after another like the full ensemble's members and with their seeds,
    # so member i starts from member i's head and sees its data order. LoRA's usual lr: 10x.
    "lora_k3": {"members": 3, "lora_r": 16, "learning_rate": 1e-3, "epochs_factor": 2.0},
}


# The screen's candidates (docs/study-plan.md), declared before any is trained: ensembles of
# k = 3 on the same labelled pairs, each changed from notebook 05's multi-head model (a dict) or
# from notebook 04's members (a list: one dict a member) only in what its entry says. Its stages:
# rm_screen/<name>, or rm_screen/<name>/member_<i>.
RM_SCREEN = "rm_screen"
SCREEN = {
    "heads_lr30": {"head_lr_factor": 30.0},  # heads that learn: 30x the backbone's rate
    "heads_lr100": {"head_lr_factor": 100.0},
    "disjoint_thirds": [{"shard": [i, 3]} for i in range(3)],  # a third of the pairs each
    "pairs_600": [{"max_pairs": 600}] * 3,  # Coste et al.: ensembles help most with less data
    "noise_0": [{"noise": 0.0}] * 3,  # the pairs relabelled from the gold with this noise
    "noise_40": [{"noise": 0.4}] * 3,
    # different representations: MiniLM read by mean (as 04's), by its first token ([CLS]),
    # and the policy's own pretrained model (SmolLM2-135M, read at its last token)
    "mixed": [{}, {"pooling": "first"}, {"backbone": "policy"}],
}


def screen_params(cfg, name: str, member: int | None = None) -> dict:
    """The settings of screen candidate ``name`` (of one member of a list, or all of them)."""
    if name not in SCREEN:
        raise ValueError(f"Unknown screen candidate {name!r}. Valid: {', '.join(SCREEN)}.")
    spec = SCREEN[name]
    if isinstance(spec, dict):
        return {**rm_params(cfg, cfg.rm.num_members, cfg.seed, cfg.rm.multihead_epochs),
                "screen": spec}
    if member is None:
        return {"members": [screen_params(cfg, name, i) for i in range(len(spec))]}
    return {**rm_params(cfg, 1, cfg.seed + 1 + member, cfg.rm.ensemble_epochs),
            "screen": spec[member]}


def screen_stage(name: str, member: int | None = None) -> str:
    return f"{RM_SCREEN}/{name}" + ("" if member is None else f"/member_{member}")


def parse_screen_stage(stage: str) -> tuple[str, int | None] | None:
    """``(candidate, member)`` of a trained screen stage (a whole multi-head candidate, or one
    member of a list), else None."""
    return _parse_named(stage, RM_SCREEN, SCREEN, lambda spec: len(spec) if isinstance(spec, list)
                        else 0)


def _parse_named(stage: str, prefix: str, entries: dict, members) -> tuple[str, int | None] | None:
    """``(name, member)`` of ``<prefix>/<name>`` (an entry of one model) or
    ``<prefix>/<name>/member_<i>`` (one of the ``members(entry)`` models of an ensemble)."""
    match = re.fullmatch(rf"{prefix}/([^/]+?)(?:/member_(\d+))?", stage)
    if not match or match[1] not in entries:
        return None
    n, member = members(entries[match[1]]), None if match[2] is None else int(match[2])
    if member is None:
        return (match[1], None) if n == 0 else None
    return (match[1], member) if member < n else None


def variant_config(cfg, name: str):
    """``cfg`` with the reward-model learning rate of variant ``name``."""
    lr = VARIANTS[name].get("learning_rate", cfg.rm.learning_rate)
    return dataclasses.replace(cfg, rm=dataclasses.replace(cfg.rm, learning_rate=lr))


def variant_params(cfg, name: str, member: int | None = None) -> dict:
    """The settings of variant ``name`` (of one member of a LoRA ensemble, or all of them)."""
    if name not in VARIANTS:
        raise ValueError(f"Unknown variant {name!r}. Valid: {', '.join(VARIANTS)}.")
    v = VARIANTS[name]
    epochs = cfg.rm.multihead_epochs * v.get("epochs_factor", 1.0)
    if "members" in v:
        if member is None:
            return {"members": [variant_params(cfg, name, i) for i in range(v["members"])]}
        return rm_params(variant_config(cfg, name), 1, cfg.seed + 1 + member, epochs,
                         lora_r=v["lora_r"])
    return rm_params(variant_config(cfg, name), v.get("num_heads", cfg.rm.num_members),
                     cfg.seed, epochs, v.get("bootstrap", False), v.get("freeze_backbone", False))


def variant_stage(name: str, member: int | None = None) -> str:
    return f"{RM_VARIANTS}/{name}" + ("" if member is None else f"/member_{member}")


def parse_variant_stage(stage: str) -> tuple[str, int | None] | None:
    """``(variant, member)`` of a trained variant's stage, else None. A LoRA ensemble's
    stages are its members (``rm_variants/lora_k3/member_0`` …), every other variant's its
    own name."""
    return _parse_named(stage, RM_VARIANTS, VARIANTS, lambda v: v.get("members", 0))


def trained_stages(cfg, reward: str) -> list[str]:
    """The stages that train reward ``reward``: a full or LoRA ensemble's members, else itself."""
    if reward == RM_ENSEMBLE:
        return [member_stage(i) for i in range(cfg.rm.num_members)]
    if (name := reward.removeprefix(f"{RM_SCREEN}/")) in SCREEN:
        spec = SCREEN[name]
        return [screen_stage(name, i) for i in range(len(spec))] if isinstance(spec, list) \
            else [reward]
    variant = reward.removeprefix(f"{RM_VARIANTS}/")
    members = VARIANTS.get(variant, {}).get("members")
    return [variant_stage(variant, i) for i in range(members)] if members else [reward]


# name: (reward stage, aggregation of its k scores); "gold": the control, PPO on the gold itself
GOLD = "gold"
PPO_RUNS = {"single": (RM_SINGLE, "mean"),  # k = 1: the mean is the score itself
            "ensemble_min": (RM_ENSEMBLE, "min"),
            "multihead_min": (RM_MULTIHEAD, "min"),
            "ensemble_mean": (RM_ENSEMBLE, "mean"),
            "multihead_mean": (RM_MULTIHEAD, "mean"),
            "multihead_uwo": (RM_MULTIHEAD, "uwo"),
            # PPO with the min of one of notebook 08's cheap ensembles, e.g. "bootstrap_k3_min",
            # or of a screen candidate (docs/study-plan.md), e.g. "heads_lr30_min"
            **{f"{name}_min": (variant_stage(name), "min") for name in VARIANTS},
            **{f"{name}_min": (screen_stage(name), "min") for name in SCREEN},
            # one member of the full ensemble alone: Coste et al.'s single-model baseline
            **{f"member{j}": (RM_ENSEMBLE, f"member_{j}") for j in range(3)},
            GOLD: (GOLD, "mean")}
# Every held-out answer is scored by all of these; their columns in an evaluation: <prefix>_<j>
EVAL_REWARDS = {RM_SINGLE: "single", RM_ENSEMBLE: "ensemble", RM_MULTIHEAD: "multihead"}


def eval_prefix(stage: str) -> str:
    """The columns of a reward's scores in the held-out evaluations: ``<prefix>_<j>``, the
    prefix ``single``, ``ensemble``, ``multihead`` or a cheap ensemble's name (scored only in
    the runs that optimise it)."""
    return EVAL_REWARDS.get(stage) or stage.removeprefix(f"{RM_VARIANTS}/").removeprefix(
        f"{RM_SCREEN}/")

# The regimes, as overrides of the profile's PPOConfig. The pilot's two (notebook 06): the
# papers' claim is about the KL-penalised one (Coste et al.: β = 0.01); β = 0 shows
# overoptimisation fastest. The study's (docs/study-plan.md): the confirmatory runs, β = 0 for
# 40 steps, and the pilot of a smaller penalty.
REGIMES = {"beta0": {"beta": 0.0}, "beta0.01": {"beta": 0.01},
           "confirm": {"beta": 0.0, "steps": 40}, "beta0.003": {"beta": 0.003}}
DEFAULT_REGIME = "beta0"
PPO_EVAL = f"{PPO}/eval_sft"  # the held-out evaluation of the SFT policy: step 0 of every run


def regime_config(cfg, regime: str):
    """``cfg`` with the PPO settings of ``regime``."""
    if regime not in REGIMES:
        raise ValueError(f"Unknown regime {regime!r}. Valid: {', '.join(REGIMES)}.")
    overrides = REGIMES[regime]
    if cfg.profile == "smoke":  # the tests: a regime's penalty, at smoke's own few steps
        overrides = {k: v for k, v in overrides.items() if k != "steps"}
    return dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, **overrides))


def ppo_stage(name: str, seed: int = 0, regime: str = DEFAULT_REGIME) -> str:
    """The stage of one PPO run: its reward, regime and seed are its identity."""
    return f"{PPO}/{regime}/{name}/seed{seed}"


def _reward_stage_params(cfg, stage: str) -> dict:
    if stage == GOLD:  # the control: the gold standardised on the labelled answers
        return {**gold_params(cfg), "standardised_on": labels_params(cfg)}
    return reward_params(cfg, stage)


def eval_params(cfg) -> dict:
    """What a held-out evaluation depends on: the SFT policy, the prompts and sampling, the
    gold and every reward model that scores the answers."""
    p = cfg.ppo
    return {"version": VERSIONS["eval"], "sft": sft_params(cfg), "gold": gold_params(cfg),
            "rewards": {s: reward_params(cfg, s) for s in EVAL_REWARDS},
            "eval": {"prompts": p.eval_prompts, "max_new_tokens": p.max_new_tokens,
                     "temperature": p.temperature, "batch_size": p.batch_size,
                     "seed": cfg.seed}}


def ppo_params(cfg, name: str, seed: int = 0, regime: str = DEFAULT_REGIME) -> dict:
    if name not in PPO_RUNS:
        raise ValueError(f"Unknown PPO run {name!r}. Valid: {', '.join(PPO_RUNS)}.")
    reward_stage, aggregation = PPO_RUNS[name]
    cfg = regime_config(cfg, regime)
    return {"version": VERSIONS[PPO], "sft": sft_params(cfg),
            "reward": _reward_stage_params(cfg, reward_stage), "aggregation": aggregation,
            "uwo_lambda": PPO_UWO_LAMBDA, "eval": eval_params(cfg), "seed": seed,
            "regime": regime, "ppo": result_settings(cfg.ppo)}


# --- what each stage reads, which notebook makes it, and how long it takes ----------------

# Minutes per stage, to plan with, on 2 CPU cores for cpu and smoke (smoke: the tests; cpu:
# measured on an AVX2-only CPU in float32 — SFT 20 min of training; labels ~3 min per chunk of
# 256 answers (16) plus the gold: 75 min for the study's gold on the 4,000 answers (four passes
# of its language model; measured beside other work, so an upper bound), 20 for the pilot's; a reward model ~6 s per step of 32 pairs; a PPO
# step ~58 s; best-of-n 85 min: 6,400 answers sampled in 53 min, their gold's fluency term
# 30 min; a PPO run's evaluations estimated from those rates; notebook 08's variants 6-8.5 min,
# a LoRA member 12-12.6; a member on the policy's SmolLM2, 6x MiniLM's parameters, estimated
# at 6x a member), and on a Colab T4 for gpu (an estimate, not measured).
MINUTES = {
    "smoke": {SFT: 0.5, LABELS: 0.5, RM_SINGLE: 0.2, "member": 0.2, RM_MULTIHEAD: 0.2,
              BON_SAMPLES: 0.3, "eval": 0.2, PPO: 0.5, "variant": 0.2, "lora member": 0.2,
              "screen model": 0.2, "screen member": 0.2, "screen policy member": 0.3},
    "cpu": {SFT: 20, LABELS: 120, RM_SINGLE: 12, "member": 12, RM_MULTIHEAD: 6,
            BON_SAMPLES: 85, "eval": 3, PPO: 65, "variant": 8, "lora member": 13,
            "screen model": 8, "screen member": 12, "screen policy member": 75},
    "gpu": {SFT: 30, LABELS: 20, RM_SINGLE: 5, "member": 5, RM_MULTIHEAD: 5,
            BON_SAMPLES: 40, "eval": 2, PPO: 30, "variant": 5, "lora member": 5,
            "screen model": 5, "screen member": 5, "screen policy member": 15},
}

MINUTES["pilot"] = {**MINUTES["cpu"], LABELS: 70}  # its gold: one pass of its language model
PINNED_LABELS_MINUTES = 0.1  # labels pinned in results/ are restored, not sampled


def labels_pinned(cfg) -> bool:
    """Whether ``results/<profile>/labels`` holds pairs labelled with ``cfg``'s settings
    (``labels.pin_labels``): the labels stage then restores them instead of sampling."""
    return stage_settings(results_dir(cfg.profile) / LABELS) == canonical(labels_params(cfg))


@dataclass(frozen=True)
class Stage:
    name: str
    notebook: str  # the notebook that makes it
    needs: tuple[str, ...]  # stages it reads
    params: Callable  # cfg -> its settings
    kind: str  # key of MINUTES (and of pipeline.BUILDERS)


def stage(cfg, name: str) -> Stage:
    """What is known about stage ``name`` (e.g. ``labels``, ``rm_ensemble/member_1``,
    ``ppo/beta0/single/seed0``)."""
    def reward(kind, notebook):
        return Stage(name, notebook, (LABELS,), lambda c: reward_params(c, name), kind)

    if name == SFT:
        return Stage(name, "01_sft", (), sft_params, SFT)
    if name == LABELS:
        return Stage(name, "02_gold_labels", (SFT,), labels_params, LABELS)
    if name == BON_SAMPLES:
        return Stage(name, "03_proxy_reward_model", (SFT,), bon_params, BON_SAMPLES)
    if name == RM_SINGLE:
        return reward(RM_SINGLE, "03_proxy_reward_model")
    if name == RM_MULTIHEAD:
        return reward(RM_MULTIHEAD, "05_multihead_reward_model")
    if re.fullmatch(rf"{RM_ENSEMBLE}/member_\d+", name):
        return reward("member", "04_full_ensemble")
    if parsed := parse_variant_stage(name):
        return reward("variant" if parsed[1] is None else "lora member", "08_head_diversity")
    if parsed := parse_screen_stage(name):
        spec = SCREEN[parsed[0]] if parsed[1] is None else SCREEN[parsed[0]][parsed[1]]
        kind = ("screen model" if parsed[1] is None else
                "screen policy member" if spec.get("backbone") == "policy" else "screen member")
        return reward(kind, "08_head_diversity")
    rewards = [s for reward in EVAL_REWARDS for s in trained_stages(cfg, reward)]
    if name == PPO_EVAL:
        return Stage(name, "06_ppo", (SFT, *rewards), eval_params, "eval")
    match = re.fullmatch(rf"{PPO}/([^/]+)/([^/]+)/seed(\d+)", name)
    if match and match[1] in REGIMES and match[2] in PPO_RUNS:
        regime, run, seed = match[1], match[2], int(match[3])
        own = PPO_RUNS[run][0]  # a reward the shared evaluation does not load: read it too
        extra = () if own in (*EVAL_REWARDS, GOLD) else tuple(trained_stages(cfg, own))
        return Stage(name, "06_ppo", (PPO_EVAL, *extra),
                     lambda c: ppo_params(c, run, seed, regime), PPO)
    raise ValueError(f"Unknown stage {name!r}.")


def input_builds(cfg, name: str) -> dict[str, str | None]:
    """The build id of each stage that ``name`` reads, as the runs folder holds them now."""
    return {need: build_id(stage_dir(cfg.profile, need)) for need in stage(cfg, name).needs}


def is_made(cfg, name: str) -> bool:
    """True when stage ``name`` and every stage before it are made with ``cfg``'s settings,
    each from the builds of its inputs that the runs folder holds."""
    spec = stage(cfg, name)
    return (all(is_made(cfg, need) for need in spec.needs)
            and is_complete(cfg.profile, name, spec.params(cfg), input_builds(cfg, name)))


def missing(cfg, name: str) -> list[Stage]:
    """The stages to build, inputs first, before ``name`` can be read with ``cfg``."""
    order: list[Stage] = []

    def visit(n: str):
        if any(o.name == n for o in order) or is_made(cfg, n):
            return
        spec = stage(cfg, n)
        for need in spec.needs:
            visit(need)
        order.append(spec)

    visit(name)
    return order


def minutes(cfg, todo: list[Stage]) -> tuple[float, str]:
    """About how long building ``todo`` takes, and on what that estimate was made."""
    table = MINUTES.get(cfg.profile, MINUTES["cpu"])
    if any(s.kind == LABELS for s in todo) and labels_pinned(cfg):
        table = {**table, LABELS: PINNED_LABELS_MINUTES}
    where = "a Colab T4, estimated" if cfg.profile == "gpu" else "2 CPU cores"
    return sum(table[s.kind] for s in todo), where


def folder(cfg, name: str) -> Path:
    """The folder of stage ``name``, made with ``cfg``'s settings from the inputs the runs
    folder holds; a :class:`MissingArtifactError` naming what makes it when it is not."""
    if is_made(cfg, name):
        return stage_dir(cfg.profile, name)
    todo = missing(cfg, name)
    total, where = minutes(cfg, todo)
    makers = ", ".join(dict.fromkeys(f"notebooks/{s.notebook}.ipynb" for s in todo))
    raise MissingArtifactError(
        f"'{name}' is not made with these settings in {shown(runs_dir(cfg.profile))}: "
        f"{makers} make{'s' if ',' not in makers else ''} it and what it needs (about "
        f"{total:g} min on {where}). To build it here: "
        f"`rmens_utils.pipeline.require(cfg, {name!r})`.")


def run(cfg, name: str, build, load, force: bool = False):
    """:func:`artifacts.run_stage` for stage ``name`` with its declared settings and its
    inputs' builds; its inputs must be made (:func:`folder` says what is missing)."""
    for need in stage(cfg, name).needs:
        folder(cfg, need)
    return run_stage(cfg.profile, name, stage(cfg, name).params(cfg), build, load, force,
                     inputs=input_builds(cfg, name), precision=cfg.precision)
