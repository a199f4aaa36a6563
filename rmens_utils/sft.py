"""Supervised fine-tuning of the policy with TRL's ``SFTTrainer`` (notebook 01)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import PrinterCallback, ProgressCallback, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from . import stages
from .artifacts import atomic_write_json
from .data import load_split, prompt_text
from .hardware import precision_of
from .models import format_prompt, load_policy
from .stages import SFT as STAGE


@dataclass
class SFTResult:
    folder: Path
    log: pd.DataFrame  # one row per logged step: step, epoch, loss, learning_rate ...
    metrics: dict  # eval_loss_before, eval_loss_after, train_seconds, n_train, n_eval ...


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


def answer_token_nll(model, tokenizer, prompt: str, completion: str) -> pd.DataFrame:
    """The loss SFT minimises, token by token, for one prompt-completion pair of
    :func:`sft_datasets`: −log p(token | everything before it) for each token of the answer
    and of the EOS that ends it. The prompt's tokens are read, never scored; the mean is
    this example's SFT loss. Tokenised as TRL does: prompt and completion apart, then joined,
    EOS appended."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    answer_ids = tokenizer(completion, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    ids = torch.tensor([prompt_ids + answer_ids], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1:-1].float()
    nll = -torch.log_softmax(logits, -1).gather(1, ids[0, len(prompt_ids):, None])[:, 0]
    return pd.DataFrame({"token": tokenizer.convert_ids_to_tokens(answer_ids),
                         "nll": nll.cpu().numpy()})


class StepProgress(TrainerCallback):
    """One progress bar with the latest loss, instead of the trainer printing a dict for every
    logged step (the loss of every step is still kept, in the stage's ``log.csv``)."""

    bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="SFT")

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and "loss" in (logs or {}):
            self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}")

    def on_train_end(self, args, state, control, **kwargs):
        self.bar.close()


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
        use_cpu=cfg.device == "cpu", bf16=cfg.precision == "bf16", fp16=cfg.precision == "fp16",
    )
    peft_config = None
    if s.use_lora:
        peft_config = LoraConfig(r=s.lora_r, lora_alpha=2 * s.lora_r, lora_dropout=0.0,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=held_out,
                         processing_class=tokenizer, peft_config=peft_config)
    for callback in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(callback)
    trainer.add_callback(StepProgress())
    return trainer


def run_sft(cfg, force: bool = False) -> SFTResult:
    """Fine-tune the base policy on the ``sft`` split; save it under ``<runs>/<profile>/sft``.

    Skipped when the artifact exists for the same settings (unless ``force``).
    Checkpoints go to the stage's work folder, so an interrupted run resumes.
    """
    def build(out: Path, work: Path):
        model, tokenizer = load_policy(cfg)
        train, held_out = sft_datasets(cfg, tokenizer)
        trainer = make_trainer(cfg, model, tokenizer, train, held_out, work)
        before_file = work / "eval_loss_before.json"
        if not before_file.is_file():  # measured once, on the untouched base policy
            atomic_write_json(before_file, trainer.evaluate()["eval_loss"])
        checkpoint = get_last_checkpoint(str(work))
        if checkpoint:
            print(f"resuming from checkpoint {Path(checkpoint).name}")
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
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        pd.DataFrame(trainer.state.log_history).to_csv(out / "log.csv", index=False)
        atomic_write_json(out / "metrics.json", metrics)

    return stages.run(cfg, STAGE, build, load_sft_result, force)


def load_sft_result(folder: Path) -> SFTResult:
    return SFTResult(folder, pd.read_csv(folder / "log.csv"),
                     json.loads((folder / "metrics.json").read_text()))


def time_training_steps(cfg, use_lora: bool, n_steps: int | None = None) -> dict:
    """Seconds per optimiser step and trainable parameters, full fine-tune vs LoRA,
    on one fixed batch of SFT data (a measurement, not a training run), timing ``n_steps``
    steps (by default the profile's ``cost.sft_steps``)."""
    from peft import LoraConfig, get_peft_model

    n_steps = n_steps or cfg.cost.sft_steps
    model, tokenizer = load_policy(cfg)
    precision = precision_of(cfg)
    if use_lora:
        model = get_peft_model(model, LoraConfig(
            r=cfg.sft.lora_r, lora_alpha=2 * cfg.sft.lora_r, target_modules="all-linear",
            task_type="CAUSAL_LM"))
    train, _ = sft_datasets(cfg, tokenizer)
    rows = train.select(range(cfg.sft.batch_size))
    tokenizer.padding_side = "right"
    batch = tokenizer([p + c for p, c in zip(rows["prompt"], rows["completion"])],
                      return_tensors="pt", padding=True, truncation=True,
                      max_length=cfg.sft.max_length, add_special_tokens=False).to(cfg.device)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer, scaler = torch.optim.AdamW(trainable, lr=cfg.sft.learning_rate), precision.scaler()
    model.train()
    seconds = []
    for _ in range(n_steps + 1):  # the first step warms up and is not counted
        start = time.perf_counter()
        with precision.autocast():
            loss = model(**batch, labels=labels).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
        if cfg.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return {"method": "LoRA" if use_lora else "full fine-tune",
            "trainable_parameters": sum(p.numel() for p in trainable),
            "seconds_per_step": round(sum(seconds[1:]) / n_steps, 2),
            "batch": f"{batch['input_ids'].shape[0]} x {batch['input_ids'].shape[1]} tokens"}
