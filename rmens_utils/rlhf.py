"""PPO runs against a proxy reward (notebook 06): the loop around :mod:`ppo`.

One run optimises the SFT policy against one reward — the single proxy, the full ensemble
or the multi-head model aggregated (e.g. by min), or, as a control, the gold itself — and
logs, every step, the aggregated proxy and each member/head, the gold reward of the same
responses (scored, never optimised), the KL to the SFT policy and where the time went.

Every ``eval_every`` steps, and at step 0 (the SFT policy, shared by all runs), it answers a
fixed set of held-out ``eval`` prompts with one fixed sampling seed, and scores those
answers with the gold and with every reward model (:func:`evaluate`): the lesson's curves
come from these, not from the training batches, whose prompts change every step.

A run's identity is its reward, its regime (``stages.REGIMES``) and its seed: the stage
``<runs>/<profile>/ppo/<regime>/<name>/seed<k>``. It checkpoints every ``save_every`` steps
to the stage's work folder and continues from there when interrupted. Runs with the same
seed see the same prompts in the same order with the same sampling noise and the same
initial adapters, so they can be compared pairwise.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from .aggregation import PPO_UWO_LAMBDA, aggregate
from . import stages
from .artifacts import atomic_dir, stage_settings
from .config import GenerationConfig
from .data import load_split, prompt_text
from .gold import load_gold, with_gold
from .text import word_count
from .hardware import precision_of
from .models import load_sft_policy
from .ppo import PolicyWithValue, gae, kl_penalised_rewards, ppo_update, rollout, whiten
from .proxy import load_labels, load_reward
from .stages import DEFAULT_REGIME, EVAL_REWARDS, GOLD, PPO_EVAL, eval_prefix
from .stages import PPO_RUNS as RUNS
from .stages import ppo_params, ppo_stage, regime_config


@dataclass
class PPORun:
    name: str
    log: pd.DataFrame  # one row a step (see ppo_step)
    samples: pd.DataFrame  # every response: step, prompt, text, n_tokens, finished, proxy…, gold
    folder: Path
    params: dict = field(default_factory=dict)  # the settings that made it
    evals: pd.DataFrame | None = None  # held-out evaluations (see evaluate), step 0 included
    seed: int = 0
    regime: str = DEFAULT_REGIME


class StandardisedGold:
    """The control's reward: the gold, shifted and scaled as every proxy head is (mean 0, sd 1
    on the SFT policy's answers; here the answers of notebook 02's training pairs, whose gold
    it stored). The gold's preferences on the proxies' scale, so that the control differs
    from a proxy run in what it rewards, not in how PPO sees it. On the raw gold (~4.7 for a
    typical answer) a value head that starts at 0 gives every answer a large positive
    advantage, which GAE (λ = 0.95) puts mostly on its last ~20 tokens: the tokens of a short
    answer get more of it, a push to shorten answers whatever their gold."""

    num_members = 1

    def __init__(self, gold, mean: float, std: float):
        self.gold, self.mean, self.std = gold, mean, std

    @classmethod
    def on_labels(cls, cfg, gold) -> "StandardisedGold":
        train = load_labels(cfg)["train"]
        answers = torch.tensor([*train["gold_chosen"], *train["gold_rejected"]])
        return cls(gold, answers.mean().item(), answers.std().item())

    def score(self, prompts, responses, progress=False) -> torch.Tensor:
        return (self.gold.score(prompts, responses) - self.mean) / self.std

    def unscaled(self, scores: torch.Tensor) -> torch.Tensor:
        """The gold itself, from this reward's ``scores``."""
        return scores * self.std + self.mean


def prompt_schedule(cfg, seed: int = 0) -> list[list[str]]:
    """The rl prompts of each step: one seeded shuffle, cycled through batch by batch."""
    prompts = [prompt_text(r) for r in load_split("rl", cfg).shuffle(seed=seed)]
    n = cfg.ppo.batch_size
    return [[prompts[(step * n + i) % len(prompts)] for i in range(n)]
            for step in range(cfg.ppo.steps)]


def new_policy(cfg, seed: int = 0):
    """The SFT policy with a value head, ready for PPO, plus its frozen reference:
    ``None`` with LoRA (the reference is the same model with its adapters off)."""
    policy, tokenizer = load_sft_policy(cfg)
    reference = None
    if cfg.ppo.use_lora:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(seed)  # the adapters' random init: the same in every run of a seed
        policy = get_peft_model(policy, LoraConfig(
            r=cfg.ppo.lora_r, lora_alpha=2 * cfg.ppo.lora_r, lora_dropout=0.0,
            target_modules="all-linear", task_type="CAUSAL_LM"))
    else:
        reference = PolicyWithValue(copy.deepcopy(policy), precision_of(cfg), cfg.ppo.temperature)
        reference.eval().requires_grad_(False)
    return PolicyWithValue(policy, precision_of(cfg), cfg.ppo.temperature), reference, tokenizer


@torch.no_grad()
def reference_logprobs(model, reference, input_ids, attention_mask, n_prompt):
    if reference is not None:
        return reference(input_ids, attention_mask, n_prompt)[0]
    with model.policy.disable_adapter():
        return model(input_ids, attention_mask, n_prompt)[0]


def ppo_step(cfg, model, reference, tokenizer, optimizer, reward, aggregation: str, gold,
             prompts: list[str], step: int, seed: int = 0,
             scaler=None) -> tuple[dict, pd.DataFrame]:
    """One PPO step: sample, score, compute advantages, update. Returns the log row and
    the responses with their scores. ``seed``: the run's seed."""
    p = cfg.ppo
    seed = seed * 100_003 + step
    torch.manual_seed(seed)
    gen = GenerationConfig(max_new_tokens=p.max_new_tokens, temperature=p.temperature,
                           top_p=1.0, batch_size=p.batch_size)
    clock = [time.perf_counter()]

    def lap():
        if cfg.device.startswith("cuda"):
            torch.cuda.synchronize()  # GPU work is asynchronous: time it when it is done
        clock.append(time.perf_counter())
        return clock[-1] - clock[-2]

    batch = rollout(model, tokenizer, prompts, gen)
    generation_s = lap()
    scores = reward.score(prompts, batch["text"])  # (batch, k)
    proxy = aggregate(scores, aggregation, PPO_UWO_LAMBDA)
    finished = torch.tensor(batch["finished"])
    score = proxy - p.unfinished_penalty * (~finished).float()
    scoring_s = lap()
    # watched, never optimised (except by the control, whose reward is the gold itself)
    gold_score = (reward.unscaled(scores[:, 0]) if isinstance(reward, StandardisedGold)
                  else gold.score(prompts, batch["text"])[:, 0])
    gold_s = lap()

    ids, attn, mask, n_prompt = (batch[k] for k in ("input_ids", "attention_mask", "mask",
                                                    "n_prompt"))
    model.eval()
    with torch.no_grad():
        logp, _, values = model(ids, attn, n_prompt)
    ref_logp = reference_logprobs(model, reference, ids, attn, n_prompt)
    rewards = kl_penalised_rewards(logp, ref_logp, score, mask, p.beta)
    advantages, returns = gae(rewards, values, mask)
    logprob_s = lap()
    stats = ppo_update(
        model, optimizer,
        {"input_ids": ids, "attention_mask": attn, "mask": mask, "old_logp": logp,
         "old_values": values, "advantages": whiten(advantages, mask), "returns": returns},
        n_prompt, epochs=p.epochs, minibatch_size=p.minibatch_size, clip=p.clip,
        value_coef=p.value_coef, generator=torch.Generator().manual_seed(seed), scaler=scaler)
    update_s = lap()

    log_ratio = ((logp - ref_logp) * mask).cpu()
    mask = mask.cpu()
    words = pd.Series(word_count(batch["text"]))
    samples = pd.DataFrame({"step": step, "prompt": prompts, "text": batch["text"],
                            "n_tokens": batch["n_tokens"], "finished": batch["finished"],
                            "words": words, "proxy": proxy.numpy(), "gold": gold_score.numpy(),
                            **{f"proxy_{j}": scores[:, j].numpy()
                               for j in range(scores.shape[1])}})
    row = {"step": step, "proxy": proxy.mean().item(), "score": score.mean().item(),
           **{f"proxy_{j}": scores[:, j].mean().item() for j in range(scores.shape[1])},
           "gold": gold_score.mean().item(),
           "kl": log_ratio.sum(1).mean().item(),  # sequence KL estimate, nats
           "kl_half_sq": 0.5 * (log_ratio ** 2).sum(1).mean().item(),  # Coste et al.
           "tokens": mask.sum(1).mean().item(), "words": words.mean(),
           "finished": finished.float().mean().item(), **stats,
           "generation_s": generation_s, "scoring_s": scoring_s, "gold_s": gold_s,
           "logprob_s": logprob_s, "update_s": update_s,
           "threads": torch.get_num_threads()}  # the seconds depend on it (study --jobs)
    return row, samples


def eval_prompts(cfg) -> list[str]:
    """The held-out prompts of every evaluation: the first ``cfg.ppo.eval_prompts`` of the
    ``eval`` split (never used for training)."""
    split = load_split("eval", cfg)
    if len(split) < cfg.ppo.eval_prompts:
        raise ValueError(f"The eval split has {len(split)} prompts; ppo.eval_prompts asks for "
                         f"{cfg.ppo.eval_prompts}. Lower it in the profile (config.py).")
    return [prompt_text(r) for r in split.select(range(cfg.ppo.eval_prompts))]


def load_eval_rewards(cfg) -> dict:
    """Every reward model that scores the held-out answers, by stage."""
    return {stage: load_reward(cfg, stage) for stage in EVAL_REWARDS}


@torch.no_grad()
def evaluate(cfg, model, reference, tokenizer, rewards: dict, gold, step: int) -> pd.DataFrame:
    """The policy's answers to :func:`eval_prompts`, one per prompt, sampled as in the
    rollouts (top-p 1) with one fixed seed, so that every run and step is compared on the
    same prompts and the same sampling noise. One row per answer: ``step, prompt_idx,
    prompt, text, n_tokens, finished, words``, the ``gold``, every reward model's members or
    heads (``single_0``, ``ensemble_0`` …, ``multihead_0`` …), for the rubric gold each of
    its terms (``gold_relevance`` …), and the answer's log-ratio
    to the SFT policy summed over its tokens (``kl``: its mean over answers estimates
    KL(π ‖ π_SFT) in nats) and ``kl_half_sq`` (½Σ log-ratio², Coste et al.'s estimator)."""
    p = cfg.ppo
    prompts = eval_prompts(cfg)
    gen = GenerationConfig(max_new_tokens=p.max_new_tokens, temperature=p.temperature,
                           top_p=1.0, batch_size=p.batch_size)
    # The evaluation's own, fixed noise (a PPO step re-seeds before it samples, so the
    # training's random stream is the same with or without evaluations).
    torch.manual_seed(cfg.seed * 100_003 + 99_999)
    parts = []
    for start in range(0, len(prompts), p.batch_size):
        chunk = prompts[start:start + p.batch_size]
        batch = rollout(model, tokenizer, chunk, gen)
        args = batch["input_ids"], batch["attention_mask"], batch["n_prompt"]
        log_ratio = (model(*args)[0] - reference_logprobs(model, reference, *args)) * batch["mask"]
        parts.append(pd.DataFrame({
            "prompt": chunk, "text": batch["text"], "n_tokens": batch["n_tokens"],
            "finished": batch["finished"], "kl": log_ratio.sum(1).cpu().numpy(),
            "kl_half_sq": (0.5 * log_ratio ** 2).sum(1).cpu().numpy()}))
    df = pd.concat(parts, ignore_index=True)
    df.insert(0, "step", step)
    df.insert(1, "prompt_idx", range(len(df)))
    df["words"] = word_count(df["text"])
    return with_scores(with_gold(df, gold), rewards)  # with every rubric term


def with_scores(df: pd.DataFrame, rewards: dict) -> pd.DataFrame:
    """``df`` (answers: ``prompt``, ``text``) with every reward model's scores of them, one
    column per member or head: ``<prefix>_<j>`` (:func:`stages.eval_prefix`)."""
    prompts, texts, columns = df["prompt"].tolist(), df["text"].tolist(), {}
    for stage, reward in rewards.items():
        scores = reward.score(prompts, texts)
        for j in range(scores.shape[1]):
            columns[f"{eval_prefix(stage)}_{j}"] = scores[:, j].numpy()
    return df.assign(**columns)


def evaluate_sft_stage(cfg, force: bool = False) -> pd.DataFrame:
    """The held-out evaluation of the SFT policy: step 0 of every PPO run, made once."""
    def build(out: Path, work: Path):
        model, reference, tokenizer = new_policy(cfg)  # adapters that add exactly zero
        evaluate(cfg, model, reference, tokenizer, load_eval_rewards(cfg), load_gold(cfg),
                 step=0).to_parquet(out / "eval.parquet", index=False)

    return stages.run(cfg, PPO_EVAL, build,
                      lambda folder: pd.read_parquet(folder / "eval.parquet"), force)


def _trainable(model) -> dict:
    return {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}


def _write_run(out: Path, rows, samples, evals) -> None:
    """The log, the answers and the held-out evaluations so far."""
    pd.DataFrame(rows).to_csv(out / "log.csv", index=False)
    pd.concat(samples, ignore_index=True).to_parquet(out / "samples.parquet", index=False)
    pd.concat(evals, ignore_index=True).to_parquet(out / "eval.parquet", index=False)


def train_ppo_stage(cfg, name: str, seed: int = 0, regime: str = DEFAULT_REGIME,
                    force: bool = False) -> PPORun:
    """Run (or load) the PPO run ``name`` (a key of ``RUNS``) with ``seed`` in ``regime``
    for ``cfg.ppo.steps`` steps, evaluating on held-out prompts every ``eval_every``."""
    ppo_params(cfg, name, seed, regime)  # checks the name and the regime
    reward_stage, aggregation = RUNS[name]
    stage = ppo_stage(name, seed, regime)
    run_cfg = regime_config(cfg, regime)
    p = run_cfg.ppo

    def build(out: Path, work: Path):
        sft_eval = pd.read_parquet(stages.folder(cfg, PPO_EVAL) / "eval.parquet")
        rewards, gold = load_eval_rewards(cfg), load_gold(cfg)
        # A cheap ensemble of notebook 08 scores the evaluations too, from step 0 on (the
        # shared evaluation of the SFT policy has the scores of EVAL_REWARDS only)
        if reward_stage not in (*rewards, GOLD):
            rewards[reward_stage] = load_reward(cfg, reward_stage)
            sft_eval = with_scores(sft_eval, {reward_stage: rewards[reward_stage]})
        reward = (StandardisedGold.on_labels(cfg, gold) if reward_stage == GOLD
                  else rewards[reward_stage])
        model, reference, tokenizer = new_policy(run_cfg, seed)
        optimizer = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad],
                                      lr=p.learning_rate)
        checkpoint, rows, samples, evals = work / "checkpoint", [], [], [sft_eval]
        state = None
        if (checkpoint / "state.pt").is_file():
            state = torch.load(checkpoint / "state.pt", map_location=cfg.device)
            # only the trained weights were saved; the frozen ones come from the SFT stage
            unexpected = model.load_state_dict(state["trainable"], strict=False).unexpected_keys
            if unexpected:
                raise RuntimeError(f"the checkpoint of '{stage}' does not fit this model "
                                   f"({unexpected[:3]}…); pass force=True to start again")
            optimizer.load_state_dict(state["optimizer"])
            rows = pd.read_csv(checkpoint / "log.csv").to_dict("records")
            samples = [pd.read_parquet(checkpoint / "samples.parquet")]
            evals = [pd.read_parquet(checkpoint / "eval.parquet")]
            print(f"resuming '{stage}' from its checkpoint at step {len(rows)}")
        scaler = precision_of(cfg).scaler(state and state["scaler"])

        schedule = prompt_schedule(run_cfg, seed)
        bar = tqdm(range(len(rows), p.steps), desc=f"PPO {name} seed {seed} ({regime})",
                   initial=len(rows), total=p.steps)
        for step in bar:
            row, df = ppo_step(run_cfg, model, reference, tokenizer, optimizer, reward,
                               aggregation, gold, schedule[step], step, seed=seed, scaler=scaler)
            rows.append(row)
            samples.append(df)
            bar.set_postfix(proxy=f"{row['proxy']:.2f}", gold=f"{row['gold']:.2f}",
                            kl=f"{row['kl']:.1f}")
            done = step + 1  # updates so far: the policy an evaluation now sees
            if done % p.eval_every == 0 or done == p.steps:
                evals.append(evaluate(run_cfg, model, reference, tokenizer, rewards, gold, done))
            if done % p.save_every == 0 and done < p.steps:
                with atomic_dir(checkpoint) as tmp:
                    torch.save({"trainable": _trainable(model), "optimizer": optimizer.state_dict(),
                                "scaler": scaler.state_dict()}, tmp / "state.pt")
                    _write_run(tmp, rows, samples, evals)
        model.policy.save_pretrained(out / "policy")  # with LoRA: the adapters only
        torch.save(model.value_head.state_dict(), out / "value_head.pt")
        _write_run(out, rows, samples, evals)

    if not stages.is_made(cfg, PPO_EVAL):  # step 0 of every run: this notebook's own stage
        evaluate_sft_stage(cfg)
    return stages.run(cfg, stage, build,
                      lambda folder: _load_run(name, folder, seed, regime), force)


def _load_run(name: str, folder: Path, seed: int = 0, regime: str = DEFAULT_REGIME) -> PPORun:
    evals = folder / "eval.parquet"
    return PPORun(name, pd.read_csv(folder / "log.csv"),
                  pd.read_parquet(folder / "samples.parquet"), folder, stage_settings(folder),
                  pd.read_parquet(evals) if evals.is_file() else None, seed, regime)
