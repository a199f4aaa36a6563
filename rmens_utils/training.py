"""Bradley–Terry training of reward models, one function for every kind.

A single RM is a :class:`MultiHeadRewardModel` with one head; a multi-head RM has k;
a full ensemble is k single RMs trained by this same function with different seeds.
We write the loop by hand rather than use TRL's ``RewardTrainer`` because that trainer
expects one scalar reward per sequence; here the loss is summed over k heads, each
optionally on its own bootstrap sample of the pairs.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .hardware import Precision


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor,
                       weights: torch.Tensor | None = None) -> torch.Tensor:
    """Σ_heads mean_pairs −log σ(r_chosen − r_rejected); inputs ``(batch, k)``.

    ``weights`` ``(batch, k)`` (e.g. bootstrap counts) weight each pair for each head.
    """
    nll = -F.logsigmoid(chosen - rejected)
    if weights is None:
        return nll.mean(0).sum()
    return ((nll * weights).sum(0) / weights.sum(0).clamp(min=1)).sum()


def reads_text_pairs(tokenizer) -> bool:
    """BERT-style encoders (MiniLM) take (prompt, response) as a [SEP]-joined pair."""
    return tokenizer.chat_template is None and tokenizer.sep_token is not None


def encode(tokenizer, prompts: list[str], responses: list[str], max_length: int):
    """Tokenise (prompt, response) pairs the way the reward model reads them."""
    tokenizer.padding_side = "right"
    if reads_text_pairs(tokenizer):
        return tokenizer(prompts, responses, padding=True, truncation=True,
                         max_length=max_length, return_tensors="pt")
    texts = [f"{p}\n\n{r}" for p, r in zip(prompts, responses)]  # decoders: one text
    return tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                     return_tensors="pt")


@torch.no_grad()
def score(model, tokenizer, prompts: list[str], responses: list[str], batch_size: int = 64,
          progress: bool = False) -> torch.Tensor:
    """Rewards of a :class:`MultiHeadRewardModel`, ``(len(prompts), k)``, returned on the
    CPU whatever the model's device (float32)."""
    model.eval()
    order = np.argsort([-len(p) - len(r) for p, r in zip(prompts, responses)], kind="stable")
    out = torch.empty(len(prompts), model.config.num_heads)
    for i in tqdm(range(0, len(prompts), batch_size), desc="scoring", disable=not progress):
        idx = order[i:i + batch_size]  # similar lengths together: little padding
        enc = encode(tokenizer, [prompts[j] for j in idx], [responses[j] for j in idx],
                     model.config.max_input_tokens).to(model.device)
        out[torch.as_tensor(idx)] = model(**enc).float().cpu()
    return out


def bootstrap_weights(n_pairs: int, k: int, seed: int) -> torch.Tensor:
    """``(n_pairs, k)`` counts: head j sees a resample (with replacement) of the pairs."""
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, n_pairs, n_pairs), minlength=n_pairs)
                       for _ in range(k)], axis=1)
    return torch.tensor(counts, dtype=torch.float32)


def length_grouped_batches(lengths, batch_size: int, generator: torch.Generator,
                           group: int = 16) -> list[list[int]]:
    """Random batches of similar-length items (one epoch; an incomplete last batch is
    dropped). Shuffle, cut into groups of ``group`` batches, sort each group by length,
    split it into batches, shuffle the batches. Padding to the longest item of a batch
    then wastes little compute; this is transformers' ``group_by_length`` idea."""
    lengths = torch.as_tensor(lengths)
    order = torch.randperm(len(lengths), generator=generator)
    batches = []
    for chunk in order.split(batch_size * group):
        chunk = chunk[lengths[chunk].argsort(descending=True, stable=True)]
        batches += [b.tolist() for b in chunk.split(batch_size) if len(b) == batch_size]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator)]


def train_reward_model(model, tokenizer, pairs, *, epochs: float, learning_rate: float,
                       batch_size: int, seed: int, bootstrap: bool = False,
                       freeze_backbone: bool = False, precision: Precision | None = None,
                       head_lr_factor: float = 1.0, progress: bool = True) -> pd.DataFrame:
    """Train ``model`` in place on ``pairs`` (columns ``prompt, chosen, rejected``) with the
    Bradley–Terry loss per head, summed. Returns a log: one row per step with
    ``step, epoch, loss, accuracy`` (per-batch agreement with the labels, mean over heads)
    and ``seconds``.

    ``precision`` (default float32) sets the autocast of the forward pass and the gradient
    scaler (see :mod:`hardware`); weights and optimiser stay float32. ``head_lr_factor``: the
    heads learn at that multiple of ``learning_rate`` (AdamW moves a weight by about its
    learning rate a step, so at the backbone's rate heads hardly leave their start).
    """
    if len(pairs["prompt"]) < batch_size:  # not one whole batch: the loop would never step
        raise ValueError(f"{len(pairs['prompt'])} training pairs, fewer than one batch of "
                         f"{batch_size}: train on more pairs or with a smaller batch_size.")
    precision = precision or Precision("fp32", model.device.type)
    scaler = precision.scaler()
    generator = torch.Generator().manual_seed(seed)
    k = model.config.num_heads
    weights = bootstrap_weights(len(pairs), k, seed) if bootstrap else None
    if freeze_backbone:  # (a LoRA backbone arrives with its base already frozen)
        model.backbone.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    if head_lr_factor == 1.0:
        optimizer = torch.optim.AdamW(params, lr=learning_rate)
    else:  # two parameter groups: the heads at their own rate
        heads = {id(p) for p in model.heads.parameters()}
        optimizer = torch.optim.AdamW(
            [{"params": [p for p in params if id(p) not in heads]},
             {"params": [p for p in params if id(p) in heads],
              "lr": learning_rate * head_lr_factor}], lr=learning_rate)
    steps_per_epoch = max(1, len(pairs) // batch_size)
    total = max(1, int(round(epochs * steps_per_epoch)))
    # Linear warm-up over 10 % of the steps, then linear decay. Not transformers'
    # get_linear_schedule_with_warmup: its first step has learning rate 0, so every reward model
    # would come out other than those the committed results were made with.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / max(1, total // 10), (total - s) / (total * 0.9)))
    prompts, chosen, rejected = list(pairs["prompt"]), list(pairs["chosen"]), list(pairs["rejected"])
    n_chars = [len(p) + max(len(c), len(r)) for p, c, r in zip(prompts, chosen, rejected)]
    log, step, start = [], 0, time.perf_counter()
    model.train()
    bar = tqdm(total=total, desc="reward model", disable=not progress)
    while step < total:
        for idx in length_grouped_batches(n_chars, batch_size, generator):
            if step >= total:
                break
            enc = encode(tokenizer, [prompts[i] for i in idx] * 2,
                         [chosen[i] for i in idx] + [rejected[i] for i in idx],
                         model.config.max_input_tokens).to(model.device)
            with precision.autocast():
                r = model(**enc).float()
            r_chosen, r_rejected = r[:len(idx)], r[len(idx):]
            w = weights[idx].to(r.device) if weights is not None else None
            loss = bradley_terry_loss(r_chosen, r_rejected, w)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            log.append({"step": step, "epoch": step / steps_per_epoch, "loss": loss.item() / k,
                        "accuracy": (r_chosen > r_rejected).float().mean().item(),
                        "seconds": time.perf_counter() - start})
            bar.update()
            bar.set_postfix(loss=f"{log[-1]['loss']:.3f}")
    bar.close()
    model.eval()
    return pd.DataFrame(log)
