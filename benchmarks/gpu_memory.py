"""Peak GPU memory of the ``gpu`` profile's heaviest steps, to check that they fit a free Colab
T4 (15 GB). The models are randomly initialised with the real models' architectures (Pythia-410M
policy, Pythia-70M proxies, DeBERTa-v3-large gold): memory depends on shapes, not on weights, so
this runs without the Hugging Face Hub. Random weights never emit EOS, so every answer has the
full length: the worst case.

    RMENS_PRECISION=fp16 python benchmarks/gpu_memory.py   # a T4's float16 path, on any GPU
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from transformers import (DebertaV2Config, DebertaV2ForSequenceClassification, GPTNeoXConfig,
                          GPTNeoXForCausalLM, GPTNeoXModel)

from rmens_utils import get_config
from rmens_utils.hardware import precision_of
from rmens_utils.ppo import PolicyWithValue, ppo_update
from rmens_utils.reward_model import MultiHeadRewardModel

PYTHIA = {"410m": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                       intermediate_size=4096),
          "70m": dict(hidden_size=512, num_hidden_layers=6, num_attention_heads=8,
                      intermediate_size=2048)}
DEBERTA_V3_LARGE = DebertaV2Config(
    vocab_size=128100, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
    intermediate_size=4096, relative_attention=True, position_buckets=256,
    norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
    max_relative_positions=-1, position_biased_input=False, type_vocab_size=0, num_labels=1)
VOCAB = 50304


def pythia(size: str, head: bool = True):
    config = GPTNeoXConfig(vocab_size=VOCAB, rotary_pct=0.25, max_position_embeddings=2048,
                           **PYTHIA[size])
    return (GPTNeoXForCausalLM if head else GPTNeoXModel)(config)


def gib() -> float:
    return torch.cuda.max_memory_allocated() / 2 ** 30


def tokens(batch: int, length: int, device) -> dict:
    ids = torch.randint(0, VOCAB, (batch, length), device=device)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def sft_step(cfg) -> float:
    """One full fine-tuning step of the policy (AdamW), as TRL's SFTTrainer takes it."""
    precision, s = precision_of(cfg), cfg.sft
    model = pythia("410m").to(cfg.device).train()
    optimizer, scaler = torch.optim.AdamW(model.parameters(), lr=1e-5), precision.scaler()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(2):  # the second step holds AdamW's states
        batch = tokens(s.batch_size, s.max_length, cfg.device)
        with precision.autocast():
            loss = model(**batch, labels=batch["input_ids"]).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
    return gib()


def reward_model_step(cfg) -> float:
    """One step of training the k-head reward model: chosen and rejected in one batch."""
    precision = precision_of(cfg)
    model = MultiHeadRewardModel.from_backbone(pythia("70m", head=False), cfg.rm.num_members,
                                               "last", cfg.rm.max_length).to(cfg.device)
    optimizer, scaler = torch.optim.AdamW(model.parameters(), lr=1e-5), precision.scaler()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        with precision.autocast():
            r = model(**tokens(2 * cfg.rm.batch_size, cfg.rm.max_length, cfg.device)).float()
        scaler.scale(r.mean()).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
    return gib()


def ppo_step(cfg, prompt_tokens: int = 96) -> float:
    """A PPO step with everything resident: LoRA policy + value head, its sampling copy, k
    proxies (the full ensemble, the largest reward) and the gold."""
    from peft import LoraConfig, get_peft_model

    p, precision = cfg.ppo, precision_of(cfg)
    policy = get_peft_model(pythia("410m").to(cfg.device), LoraConfig(
        r=p.lora_r, lora_alpha=2 * p.lora_r, target_modules="all-linear", task_type="CAUSAL_LM"))
    model = PolicyWithValue(policy, precision)
    proxies = [MultiHeadRewardModel.from_backbone(pythia("70m", head=False), 1, "last",
                                                  cfg.rm.max_length).to(cfg.device).eval()
               for _ in range(cfg.rm.num_members)]
    gold = DebertaV2ForSequenceClassification(DEBERTA_V3_LARGE).to(cfg.device).eval()
    optimizer = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-5)
    scaler = precision.scaler()
    torch.cuda.reset_peak_memory_stats()
    prompts = tokens(p.batch_size, prompt_tokens, cfg.device)
    with torch.no_grad():
        copy = pythia("410m").to(cfg.device, precision.sample_dtype)  # as ppo.rollout samples
        ids = copy.generate(**prompts, max_new_tokens=p.max_new_tokens,
                            min_new_tokens=p.max_new_tokens, do_sample=True, pad_token_id=0)
        del copy
        text = tokens(p.batch_size, min(cfg.rm.max_length, ids.shape[1]), cfg.device)
        for proxy in proxies:
            proxy(**text)
        gold(**tokens(p.batch_size, 2 * ids.shape[1], cfg.device))
        attention = torch.ones_like(ids)
        logp, _, values = model(ids, attention, prompt_tokens)
        with model.policy.disable_adapter():
            model(ids, attention, prompt_tokens)
    mask = torch.ones_like(logp)
    ppo_update(model, optimizer, {"input_ids": ids, "attention_mask": attention, "mask": mask,
                                  "old_logp": logp, "old_values": values,
                                  "advantages": torch.randn_like(logp), "returns": values},
               prompt_tokens, epochs=p.epochs, minibatch_size=p.minibatch_size, scaler=scaler)
    return gib()


def sampling(cfg, prompt_tokens: int = 96) -> float:
    """Sampling the labelled pairs and best-of-n answers: the largest generation batch."""
    precision, gen = precision_of(cfg), cfg.labels.generation
    model = pythia("410m").to(cfg.device, precision.sample_dtype).eval()
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        model.generate(**tokens(gen.batch_size, prompt_tokens, cfg.device),
                       max_new_tokens=gen.max_new_tokens, min_new_tokens=gen.max_new_tokens,
                       do_sample=True, pad_token_id=0)
    return gib()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for gpu_memory.json")
    args = parser.parse_args(argv)
    cfg = get_config("gpu")
    if not cfg.device.startswith("cuda"):
        raise SystemExit("needs a CUDA GPU (RMENS_DEVICE=cuda)")
    result = {"gpu": torch.cuda.get_device_name(), "precision": cfg.precision}
    for name, step in [("SFT step (full fine-tune)", sft_step), ("reward model step", reward_model_step),
                       ("sampling", sampling), ("PPO step (all models resident)", ppo_step)]:
        torch.cuda.empty_cache()
        result[f"{name}, peak GiB"] = round(step(cfg), 2)
        print(f"{name:<32} {result[f'{name}, peak GiB']:6.2f} GiB", flush=True)
    if args.out:
        (args.out / "gpu_memory.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
