"""Every stage of both profiles on a GPU, with nothing downloaded: run it whenever a GPU is at hand.

The ``gpu`` profile's models are replaced by random-weight stand-ins with their real architectures
and layer shapes (Pythia-410M policy and Pythia-70M reward backbone: GPT-NeoX; a DeBERTa-v3-large
gold: DeBERTa-v2), saved to a folder with local tokenizers (SmolLM2's for GPT-NeoX, MiniLM's for
DeBERTa, as no tokenizer can be downloaded); the ``cpu`` profile's models are the offline
packages themselves. Each profile runs, at the ``smoke`` profile's budgets and on ``data/``, every
stage the notebooks make: SFT, the labels (with the gold), best-of-n sampling, the single reward
model, the full ensemble, the multi-head model, the SFT policy's held-out evaluation, and a PPO
run interrupted after its first checkpoint and resumed in the other precision. It runs once per
precision: float16 with the gradient scaler (a T4's path) and bfloat16.

    python benchmarks/gpu_check.py                           # on a GPU: both, ~minutes
    python benchmarks/gpu_check.py --device cpu --layers 1   # the plumbing, on a CPU (the tests)

It writes ``benchmarks/results/gpu_check_<device>.json``: the date, the device, each stage's
seconds per profile and precision, and the first error if one stopped it.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import (DebertaV2Config, DebertaV2ForSequenceClassification,
                          GPTNeoXConfig, GPTNeoXForCausalLM, GPTNeoXModel)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_memory import DEBERTA_V3_LARGE, PYTHIA  # noqa: E402  (the architectures, in one place)

from rmens_utils import get_config, models, pipeline, rlhf  # noqa: E402

# what the notebooks make, in order (PPO: below, with an interrupt)
STAGES = ["sft", "labels", "bon_samples", "rm_single", "rm_ensemble", "rm_multihead",
          "ppo/eval_sft"]
PPO_RUN = "ensemble_min"


class Interrupt(Exception):
    """Stands for a stopped notebook or a recycled runtime, after the first checkpoint."""


def build_standins(folder: Path, layers: int | None = None) -> dict[str, str]:
    """Random-weight stand-ins of the ``gpu`` profile's three models, saved under ``folder``;
    ``layers``: fewer layers, the same layer shapes (for a CPU). Returns the config names."""
    smoke = get_config("smoke", device="cpu", precision="fp32")
    _, lm_tokenizer = models.load_policy(smoke)
    lm_tokenizer.chat_template = None  # Pythia has none: prompts are formatted as plain text
    _, encoder_tokenizer = models.load_rm_backbone(smoke)
    depth = {} if layers is None else {"num_hidden_layers": layers}
    made = {}
    for key, size, cls in (("policy_name", "410m", GPTNeoXForCausalLM),
                           ("rm_backbone_name", "70m", GPTNeoXModel)):
        config = GPTNeoXConfig(vocab_size=len(lm_tokenizer), rotary_pct=0.25,
                               max_position_embeddings=2048, **{**PYTHIA[size], **depth},
                               pad_token_id=lm_tokenizer.pad_token_id,
                               eos_token_id=lm_tokenizer.eos_token_id,
                               bos_token_id=lm_tokenizer.bos_token_id)
        made[key] = save(cls(config), lm_tokenizer, folder / f"pythia-{size}")
    gold = DebertaV2Config(**{**DEBERTA_V3_LARGE.to_dict(), "vocab_size": len(encoder_tokenizer),
                              **depth})
    made["gold_name"] = save(DebertaV2ForSequenceClassification(gold), encoder_tokenizer,
                             folder / "deberta-v3-large")
    return made


def save(model, tokenizer, folder: Path) -> str:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def check_config(profile: str, names: dict, device: str, precision: str):
    """``profile`` at the smoke budgets on ``data/``, with the stand-ins' names (``gpu``)."""
    smoke = get_config("smoke", device=device, precision=precision)
    budgets = {f.name: getattr(smoke, f.name) for f in dataclasses.fields(smoke)
               if f.name in ("sft", "generation", "labels", "rm", "bon", "ppo", "cost",
                             "n_show", "n_stats")}
    overrides = names if profile == "gpu" else {}
    return get_config(profile, device=device, precision=precision, data_source="local",
                      **budgets, **overrides)


def run_profile(cfg, other_precision: str) -> dict[str, float]:
    """Every stage of ``cfg``, timed; the PPO run stopped after its first checkpoint and
    resumed in ``other_precision``."""
    seconds = {}
    for name in STAGES:
        start = time.perf_counter()
        pipeline.prepare(cfg, name, allow_long=True)
        seconds[name] = round(time.perf_counter() - start, 1)
    real_step = rlhf.ppo_step

    def stopped(*args, **kwargs):
        if args[-1] == 1:  # the step after the first checkpoint (save_every = 1)
            raise Interrupt
        return real_step(*args, **kwargs)

    start = time.perf_counter()
    rlhf.ppo_step = stopped
    try:
        rlhf.train_ppo_stage(cfg, PPO_RUN)
        raise AssertionError("the PPO run was not interrupted")
    except Interrupt:
        pass
    finally:
        rlhf.ppo_step = real_step
    run = rlhf.train_ppo_stage(dataclasses.replace(cfg, precision=other_precision), PPO_RUN)
    assert run.log["step"].tolist() == list(range(cfg.ppo.steps)), run.log
    seconds[f"ppo/{PPO_RUN} (stopped, resumed in {other_precision})"] = round(
        time.perf_counter() - start, 1)
    return seconds


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precisions", nargs="+", default=["fp16", "bf16"])
    parser.add_argument("--profiles", nargs="+", default=["gpu", "cpu"])
    parser.add_argument("--layers", type=int, help="fewer layers for the stand-ins (a CPU)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("No CUDA GPU is visible: run on a GPU, or --device cpu for the plumbing.")
    device_name = (torch.cuda.get_device_name() if args.device == "cuda"
                   else f"CPU ({torch.backends.cpu.get_cpu_capability()})")
    result = {"date": datetime.date.today().isoformat(), "device": device_name,
              "torch": torch.__version__, "layers": args.layers or "real", "seconds": {}}
    with tempfile.TemporaryDirectory(prefix="rmens-gpu-check-") as tmp:
        # work folders and the converted base policy, shared; a runs folder per precision
        os.environ["RMENS_WORK"] = str(Path(tmp) / "work")
        names = build_standins(Path(tmp) / "standins", args.layers)
        try:
            for precision in args.precisions:
                other = next((p for p in args.precisions if p != precision), precision)
                os.environ["RMENS_RUNS"] = str(Path(tmp) / f"runs-{precision}")
                for profile in args.profiles:
                    cfg = check_config(profile, names, args.device, precision)
                    print(f"--- {profile} in {precision} on {device_name}", flush=True)
                    result["seconds"][f"{profile} {precision}"] = run_profile(cfg, other)
            result["passed"] = True
        except Exception as e:  # recorded, then raised: the record says where it stopped
            result["passed"], result["error"] = False, f"{type(e).__name__}: {e}"[:2000]
            raise
        finally:
            args.out.mkdir(parents=True, exist_ok=True)
            out = args.out / f"gpu_check_{args.device}.json"
            out.write_text(json.dumps(result, indent=2) + "\n")
            print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
