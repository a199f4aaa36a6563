"""Supervised fine-tuning of the policy with TRL's ``SFTTrainer`` (notebook 01)."""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from transformers.trainer_utils import get_last_checkpoint

from .artifacts import (atomic_dir, atomic_write_json, is_complete, runs_dir, stage_dir,
                        write_stage_config)
from .data import load_split, prompt_text
from .models import format_prompt, load_policy

STAGE = "sft"


@dataclass
class SFTResult:
    folder: Path
    log: pd.DataFrame  # one row per logged step: step, epoch, loss, learning_rate ...
    metrics: dict  # eval_loss_before, eval_loss_after, train_seconds, n_train, n_eval ...


def stage_params(cfg) -> dict:
    """What the SFT artifact depends on; a change here re-runs the stage."""
    return {"policy_name": cfg.policy_name, "data_source": cfg.data_source,
            "seed": cfg.seed, "sft": dataclasses.asdict(cfg.sft)}


def sft_datasets(cfg, tokenizer):
    """Train/held-out splits of the ``sft`` data as TRL prompt-completion pairs."""
    data = load_split("sft", cfg).shuffle(seed=cfg.seed)
    if cfg.sft.max_examples:
        data = data.select(range(min(cfg.sft.max_examples, len(data))))
    data = data.map(lambda row: {"prompt": format_prompt(tokenizer, prompt_text(row)),
                                 "completion": row["output"]},  # TRL appends EOS
                    remove_columns=data.column_names)
    split = data.train_test_split(test_size=cfg.sft.eval_fraction, seed=cfg.seed)
    return split["train"], split["test"]


def make_trainer(cfg, model, tokenizer, train, held_out, output_dir: Path):
    """An ``SFTTrainer`` for the profile's SFT settings (full fine-tune or LoRA)."""
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    s = cfg.sft
    args = SFTConfig(
        output_dir=str(output_dir), num_train_epochs=s.epochs, max_steps=s.max_steps,
        per_device_train_batch_size=s.batch_size, per_device_eval_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum, learning_rate=s.learning_rate,
        lr_scheduler_type="cosine", warmup_steps=0.05, max_length=s.max_length,
        completion_only_loss=True,  # learn the answers, not the prompts
        logging_steps=1, save_steps=s.save_steps, save_total_limit=1, eval_strategy="no",
        report_to="none", seed=cfg.seed, data_seed=cfg.seed,
        use_cpu=not torch.cuda.is_available(),
    )
    peft_config = None
    if s.use_lora:
        peft_config = LoraConfig(r=s.lora_r, lora_alpha=2 * s.lora_r, lora_dropout=0.0,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    return SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=held_out,
                      processing_class=tokenizer, peft_config=peft_config)


def run_sft(cfg, force: bool = False) -> SFTResult:
    """Fine-tune the base policy on the ``sft`` split; save it under ``runs/<profile>/sft``.

    Skipped when the artifact exists for the same settings (unless ``force``).
    Checkpoints go to ``runs/<profile>/_work/sft``, so an interrupted run resumes.
    """
    params = stage_params(cfg)
    folder = stage_dir(cfg.profile, STAGE)
    if is_complete(cfg.profile, STAGE, params) and not force:
        print(f"SFT artifact for these settings exists: {folder} (force=True re-runs it)")
        return load_sft_result(folder)

    work = runs_dir(cfg.profile) / "_work" / STAGE
    if force or not (work / "params.json").is_file() or \
            json.loads((work / "params.json").read_text()) != json.loads(json.dumps(params)):
        shutil.rmtree(work, ignore_errors=True)  # checkpoints of other settings are useless
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_json(work / "params.json", params)

    model, tokenizer = load_policy(cfg)
    train, held_out = sft_datasets(cfg, tokenizer)
    trainer = make_trainer(cfg, model, tokenizer, train, held_out, work)

    before_file = work / "eval_loss_before.json"
    if not before_file.is_file():  # measured once, on the untouched base policy
        atomic_write_json(before_file, trainer.evaluate()["eval_loss"])
    checkpoint = get_last_checkpoint(str(work))
    if checkpoint:
        print(f"resuming from {checkpoint}")
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    metrics = {
        "eval_loss_before": json.loads(before_file.read_text()),
        "eval_loss_after": trainer.evaluate()["eval_loss"],
        "train_seconds": round(time.perf_counter() - start, 1),
        "steps": trainer.state.global_step,
        "n_train": len(train), "n_eval": len(held_out),
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters()
                                    if p.requires_grad),
    }
    model = trainer.model
    if cfg.sft.use_lora:  # later stages load a plain model
        model = model.merge_and_unload()
    log = pd.DataFrame(trainer.state.log_history)

    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        log.to_csv(tmp / "log.csv", index=False)
        atomic_write_json(tmp / "metrics.json", metrics)
        write_stage_config(tmp, params)
    shutil.rmtree(work, ignore_errors=True)
    return SFTResult(folder, log, metrics)


def load_sft_result(folder: Path) -> SFTResult:
    return SFTResult(folder, pd.read_csv(folder / "log.csv"),
                     json.loads((folder / "metrics.json").read_text()))


def time_training_steps(cfg, use_lora: bool, n_steps: int = 3) -> dict:
    """Seconds per optimiser step and trainable parameters, full fine-tune vs LoRA,
    on one fixed batch of SFT data (a measurement, not a training run)."""
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_policy(cfg)
    if use_lora:
        model = get_peft_model(model, LoraConfig(
            r=cfg.sft.lora_r, lora_alpha=2 * cfg.sft.lora_r, target_modules="all-linear",
            task_type="CAUSAL_LM"))
    train, _ = sft_datasets(cfg, tokenizer)
    rows = train.select(range(cfg.sft.batch_size))
    tokenizer.padding_side = "right"
    batch = tokenizer([p + c for p, c in zip(rows["prompt"], rows["completion"])],
                      return_tensors="pt", padding=True, truncation=True,
                      max_length=cfg.sft.max_length, add_special_tokens=False)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.sft.learning_rate)
    model.train()
    seconds = []
    for _ in range(n_steps + 1):  # the first step warms up and is not counted
        start = time.perf_counter()
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        seconds.append(time.perf_counter() - start)
    return {"method": "LoRA" if use_lora else "full fine-tune",
            "trainable_parameters": sum(p.numel() for p in trainable),
            "seconds_per_step": round(sum(seconds[1:]) / n_steps, 2),
            "batch": f"{batch['input_ids'].shape[0]} x {batch['input_ids'].shape[1]} tokens"}
