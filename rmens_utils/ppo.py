"""PPO for a causal language model, written out in one module.

TRL removed its PPO trainer (``trl.experimental.ppo``) in 1.13, so this is our own,
following the published implementation details of RLHF with PPO (Ouyang et al. 2022;
Huang et al. 2024, "The N+ implementation details of RLHF with PPO"). For a batch of
prompts x and sampled responses y = (y_1 … y_T):

    per-token reward  r_t = −β·(log π(y_t) − log π_ref(y_t))             kl_penalised_rewards
                          + [t = T]·(R(x, y) − penalty·[no EOS])            (R: aggregated proxy)
    advantage         A_t = Σ_l (γλ)^l δ_{t+l},  δ_t = r_t + γV_{t+1} − V_t  gae (γ = 1, λ = 0.95)
                      then whitened over the batch                          whiten
    policy loss       −min(ρ_t·A_t, clip(ρ_t, 1 − ε, 1 + ε)·A_t),  ρ_t = π/π_old   policy_loss
    value loss        ½·max((V_t − G_t)², (clip(V_t, V_old ± ε) − G_t)²),  G_t = A_t + V_old
                                                                            value_loss

with several epochs of minibatches per rollout batch and gradient-norm clipping
(``ppo_update``). All tensors are ``(batch, T)`` over response tokens; ``mask`` is 1 on
real response tokens (EOS included) and 0 on padding after the end.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .hardware import Precision
from .models import format_prompt
from .sampling import answer_rows, generation_kwargs, response_mask


MAX_GRAD_NORM = 1.0  # gradients clipped to this norm before every update


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Normalise to zero mean and unit variance over the masked entries."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


def kl_penalised_rewards(logp: torch.Tensor, ref_logp: torch.Tensor, score: torch.Tensor,
                         mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-token rewards: −β·(log π − log π_ref) at every token, plus the sequence
    ``score`` ``(batch,)`` at the last real token."""
    rewards = -beta * (logp - ref_logp) * mask
    last = mask.sum(1).long().clamp(min=1) - 1
    rewards[torch.arange(len(score), device=rewards.device), last] += score.to(rewards.device)
    return rewards


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
        gamma: float = 1.0, lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation; returns ``(advantages, returns)``. The value
    after the last real token is 0 (the episode ends there)."""
    values, rewards = values * mask, rewards * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], device=rewards.device)
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, advantages + values


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, clip: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped surrogate loss and the share of tokens where the clip was active."""
    ratio = torch.exp(logp - old_logp)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1 - clip, 1 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    return loss, masked_mean((clipped > unclipped).float(), mask)


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               mask: torch.Tensor, clip: float = 0.2) -> torch.Tensor:
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


class PolicyWithValue(nn.Module):
    """The policy plus a value head on its last hidden state (one linear layer).

    Why a head on the policy rather than a separate value model: a second 135M network
    would double the cost of every forward and backward pass on a CPU, and a shared trunk
    is the cheaper of the two set-ups Huang et al. describe. Its value loss is weighted
    (``value_coef``) so that it does not dominate the policy's gradient.
    """

    def __init__(self, policy, precision: Precision | None = None, temperature: float = 1.0):
        super().__init__()
        self.policy = policy
        # π is the distribution the answers are sampled from: logits / temperature
        self.temperature = temperature
        # autocast of the forward passes and the dtype of the sampling copy (hardware.py)
        self.precision = precision or Precision("fp32", policy.device.type)
        self.value_head = nn.Linear(policy.config.hidden_size, 1, device=policy.device)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, input_ids, attention_mask, n_prompt: int):
        """Log-probabilities, entropies and values of the response tokens (positions
        ``n_prompt`` onwards), each ``(batch, T)``."""
        # prompts are left-padded: positions count real tokens only, as in ``generate``
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        with self.precision.autocast():  # the transformer in the run's precision ...
            out = self.policy(input_ids=input_ids, attention_mask=attention_mask,
                              position_ids=position_ids, output_hidden_states=True,
                              logits_to_keep=1)
        # ... the output layer in float32, where it predicts a response token (position t
        # predicts t + 1): PPO's ratios and KL are differences of log-probabilities, which
        # bfloat16 or float16 logits would round away
        hidden = out.hidden_states[-1][:, n_prompt - 1:-1].float()
        logits = self.policy.get_output_embeddings()(hidden) / self.temperature
        logprobs = F.log_softmax(logits, -1)
        logp = logprobs.gather(-1, input_ids[:, n_prompt:, None]).squeeze(-1)
        entropy = -(logprobs.exp() * logprobs).sum(-1)
        values = self.value_head(hidden).squeeze(-1)
        return logp, entropy, values


def ppo_update(model: PolicyWithValue, optimizer, batch: dict, n_prompt: int, *,
               epochs: int = 2, minibatch_size: int = 8, clip: float = 0.2,
               value_coef: float = 0.1, generator: torch.Generator | None = None,
               scaler=None) -> dict:
    """Several epochs of minibatch updates on one rollout batch. ``batch`` holds
    ``input_ids, attention_mask`` (prompt + response), ``mask`` (response tokens),
    ``old_logp, old_values, advantages, returns`` (all ``(batch, T)``). Returns the mean
    of ``policy_loss, value_loss, clip_fraction, entropy`` over the minibatches.
    ``scaler``: a ``torch.amp.GradScaler`` (needed with float16 autocast)."""
    scaler = scaler or torch.amp.GradScaler(enabled=False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.train()
    n = batch["input_ids"].shape[0]
    stats = {"policy_loss": 0.0, "value_loss": 0.0, "clip_fraction": 0.0, "entropy": 0.0}
    updates = 0
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=generator).split(minibatch_size):
            mb = {k: v[idx] for k, v in batch.items()}
            logp, entropy, values = model(mb["input_ids"], mb["attention_mask"], n_prompt)
            pg, clip_frac = policy_loss(logp, mb["old_logp"], mb["advantages"], mb["mask"], clip)
            vf = value_loss(values, mb["old_values"], mb["returns"], mb["mask"], clip)
            loss = pg + value_coef * vf
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(trainable, MAX_GRAD_NORM)
            scaler.step(optimizer)
            scaler.update()
            for key, value in (("policy_loss", pg), ("value_loss", vf),
                               ("clip_fraction", clip_frac),
                               ("entropy", masked_mean(entropy, mb["mask"]))):
                stats[key] += value.item()
            updates += 1
    return {k: v / updates for k, v in stats.items()}


@torch.no_grad()
def sampling_copy(model: PolicyWithValue):
    """The policy the rollouts sample from: ``model.policy`` with any LoRA adapters merged
    in (peft's ``merge_and_unload`` on a deep copy), cast to the sampling dtype. Copied once,
    then refreshed in place before every rollout with the values a fresh copy and merge would
    give — each adapted weight is its base weight plus the adapters' delta, added as peft
    adds it — so the samples are the same without a copy of the whole model per rollout."""
    sampler = model.__dict__.get("_sampler")  # kept out of the module's parameters
    if sampler is None:
        sampler = copy.deepcopy(model.policy)
        if hasattr(sampler, "merge_and_unload"):
            sampler = sampler.merge_and_unload()
        sampler = model.__dict__["_sampler"] = sampler.to(model.precision.sample_dtype)
        return sampler
    if not hasattr(model.policy, "merge_and_unload"):  # full fine-tune: every weight
        for target, source in zip(sampler.parameters(), model.policy.parameters()):
            target.copy_(source)
        return sampler
    from peft.tuners.lora import LoraLayer

    for name, layer in model.policy.named_modules():  # LoRA: only the adapted layers change
        if isinstance(layer, LoraLayer):
            merged = layer.get_base_layer().weight.detach().clone()
            for adapter in layer.active_adapters:
                merged += layer.get_delta_weight(adapter).to(merged.dtype)
            sampler.get_submodule(name.removeprefix("base_model.model.")).weight.copy_(merged)
    return sampler


@torch.no_grad()
def rollout(model: PolicyWithValue, tokenizer, user_texts: list[str], gen) -> dict:
    """One sampled response per prompt (``gen``: a ``GenerationConfig``; use top_p = 1
    so that the samples come from π itself). Returns ``input_ids, attention_mask``
    (left-padded prompt + response), ``mask`` (response tokens up to and including the
    first EOS), ``n_prompt``, and ``text, n_tokens, finished`` per response."""
    model.eval()
    tokenizer.padding_side = "left"
    enc = tokenizer([format_prompt(tokenizer, t) for t in user_texts], return_tensors="pt",
                    padding=True, add_special_tokens=False).to(model.policy.device)
    # Sample from a copy with any LoRA adapters merged in, in the precision's sampling dtype:
    # the same policy (up to that dtype's rounding, as in the autocast forward passes), but
    # without the adapters' extra products at every decoding step (16 answers × 64 tokens in
    # bfloat16: 6.9 s including the 0.6-s copy, against 8.5 s unmerged under autocast), and
    # the training weights are never touched.
    out = sampling_copy(model).generate(**enc, **generation_kwargs(gen, tokenizer))
    n_prompt = enc["input_ids"].shape[1]
    mask = response_mask(out[:, n_prompt:], tokenizer.eos_token_id)
    rows = answer_rows(out[:, n_prompt:], tokenizer)
    return {"input_ids": out, "mask": mask, "n_prompt": n_prompt,
            "attention_mask": torch.cat([enc["attention_mask"], mask.long()], 1),
            **{key: [r[key] for r in rows] for key in ("text", "n_tokens", "finished")}}
