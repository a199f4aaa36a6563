"""What a reward model costs: parameters, training time, peak memory, scoring time.

A full ensemble of k members costs k·(M + L) parameters and k training runs; a
multi-head model M + k·L and one run (M: backbone, L: hidden size + 1). Here it is
measured. Each measurement runs in a fresh process, so its peak memory (the process's
peak resident set size) belongs to that model kind alone; every kind trains on the same
pairs with the same settings.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import pandas as pd
import psutil
import torch

KINDS = ("single", "multi-head", "full ensemble")


def memory_mb(field: str = "VmHWM") -> float:
    """This process's peak (``VmHWM``) or current (``VmRSS``) resident memory, in MB.

    Read from ``/proc`` (Linux) rather than ``getrusage``: a child process inherits its
    parent's ``ru_maxrss``, which would report the notebook's peak, not the model's."""
    status = Path("/proc/self/status")
    if not status.exists():
        return float("nan")
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


def reset_peak_memory() -> None:
    """Start ``VmHWM`` again from the current resident memory (Linux ≥ 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def busy_warning(busy: float | None = None, cores: int | None = None) -> str | None:
    """A warning when other processes keep the CPU busy, or ``None``. ``busy``: the share of
    all ``cores`` in use, by default sampled for half a second while this process waits (so
    it is the others' use; a load average would count this notebook's own last minute).
    Another process on the same cores stretches every measured second, and unevenly."""
    if busy is None:
        busy = psutil.cpu_percent(interval=0.5) / 100
    cores = cores or os.cpu_count() or 1
    if busy < 0.25:
        return None
    return (f"warning: the CPU is busy (other processes use {busy:.0%} of its {cores} cores): "
            "the seconds measured now are longer and noisier than on an idle machine. "
            "Measure again with force=True when nothing else runs.")


def _fresh_processes():
    """Where measurements run: each in a process of its own, forked from a server process
    that imported torch and transformers once (a spawned interpreter imports them again,
    ~8 s a measurement on 2 CPU cores); spawned where forking is not offered (Windows)."""
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    context = get_context("forkserver")
    context.set_forkserver_preload(["rmens_utils.proxy", "rmens_utils.training"])
    return context


def _measure(profile: str, kind: str, k: int, steps: int, score_pairs: int,
             settings: dict) -> dict:
    """Runs in a child process: build, train ``steps`` steps, score ``score_pairs``.
    ``settings``: the caller's ``RMENS_*`` environment (runs folder, device…), which a child
    forked from a server started earlier would otherwise not see."""
    for name in [name for name in os.environ if name.startswith("RMENS_")]:
        del os.environ[name]
    os.environ.update(settings)
    from .config import get_config
    from .environment import quiet_libraries
    from .hardware import precision_of
    from .proxy import (EnsembleReward, ProxyReward, load_labels, merge_lora,
                        new_reward_model, with_lora)
    from .stages import VARIANTS, variant_config, variant_params
    from .training import train_reward_model

    quiet_libraries()  # a fresh process: no "Loading weights" bars in the caller's output
    cfg = get_config(profile)
    pairs = load_labels(cfg)["train"]
    # the same random subset for every kind, so that batch lengths are typical
    train = pairs.shuffle(seed=cfg.seed).select(range(min(len(pairs), steps * cfg.rm.batch_size)))
    n_models, heads = (k, 1) if kind == "full ensemble" else (1, k)
    options, lora_r = {}, 0
    if kind in VARIANTS:  # a cheap ensemble of notebook 08: its own recipe
        cfg = variant_config(cfg, kind)
        p = variant_params(cfg, kind)
        n_models, p = (len(p["members"]), p["members"][0]) if "members" in p else (1, p)
        heads, lora_r = p["num_heads"], p.get("lora_r", 0)
        options = {"bootstrap": p["bootstrap"], "freeze_backbone": p["freeze_backbone"]}
    baseline = memory_mb("VmRSS")  # data loaded, no model yet
    reset_peak_memory()
    if cfg.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    members, train_seconds = [], 0.0  # seconds per step, summed over models
    frozen, trained = 0, 0  # parameters: the frozen ones are shared, the trained ones are not
    for i in range(n_models):
        model, tokenizer = new_reward_model(cfg, heads, seed=cfg.seed + i)
        if lora_r:
            model = with_lora(model, lora_r)
        log = train_reward_model(model, tokenizer, train, epochs=1,
                                 learning_rate=cfg.rm.learning_rate,
                                 batch_size=cfg.rm.batch_size, seed=cfg.seed + i,
                                 precision=precision_of(cfg), progress=False, **options)
        trained += sum(p.numel() for p in model.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        if lora_r:
            model = merge_lora(model)  # scored as a plain model: one backbone pass a member
        # time per step without the first one (it pays for one-off kernel set-up)
        seconds = log["seconds"].to_numpy()
        train_seconds += (seconds[-1] - seconds[0]) / (len(seconds) - 1) if len(seconds) > 1 \
            else seconds[0]
        members.append(ProxyReward(model, tokenizer))
    reward = EnsembleReward(members) if len(members) > 1 else members[0]
    scored = pairs.select(range(min(len(pairs), score_pairs)))
    start = time.perf_counter()
    reward.score(list(scored["prompt"]) * 2, list(scored["chosen"]) + list(scored["rejected"]))
    score_seconds = time.perf_counter() - start
    steps_per_epoch = len(pairs) // cfg.rm.batch_size
    return {
        "kind": kind, "k": n_models * heads,
        "parameters": frozen + trained,
        "training seconds per epoch": train_seconds * steps_per_epoch,
        "peak memory (MB)": memory_mb(),
        "peak memory above baseline (MB)": memory_mb() - baseline,
        "scoring seconds per 1000 pairs": score_seconds / len(scored) * 1000,
        **({"peak GPU memory (MB)": torch.cuda.max_memory_allocated() / 2 ** 20}
           if cfg.device.startswith("cuda") else {}),
    }


def measure(profile: str, kind: str, k: int | None = None, steps: int | None = None,
            score_pairs: int | None = None, force: bool = False) -> dict:
    """Cost of one reward model of ``kind`` (see ``KINDS``) with ``k`` heads or members,
    or of a cheap ensemble of notebook 08 (a name in ``stages.VARIANTS``, whose own recipe
    sets k), measured in a fresh process: training time of ``steps`` steps scaled to one
    epoch, peak memory, and the time to score ``score_pairs`` pairs scaled to 1,000 (by
    default the profile's ``cost`` settings).

    A measurement is a stage (``cost/<kind>``): kept, and reused by a later notebook that
    asks for the same one on the same CPU or GPU, device and precision; ``force`` measures
    again."""
    from .artifacts import atomic_write_text, run_stage
    from .config import get_config
    from .hardware import cpu_name
    from .stages import VARIANTS, labels_params

    if kind not in KINDS and kind not in VARIANTS:
        raise ValueError(f"Unknown kind {kind!r}. Valid: {', '.join([*KINDS, *VARIANTS])}.")
    if kind in KINDS and k is None:
        raise ValueError(f"Say how many heads or members: measure({profile!r}, {kind!r}, k).")
    cfg = get_config(profile)
    steps, score_pairs = steps or cfg.cost.rm_steps, score_pairs or cfg.cost.score_pairs
    hardware = torch.cuda.get_device_name() if cfg.device.startswith("cuda") else cpu_name()
    params = {"labels": labels_params(cfg), "rm_backbone": cfg.rm_backbone_name,
              "rm": dataclasses.asdict(cfg.rm), "variant": VARIANTS.get(kind), "k": k,
              "steps": steps, "score_pairs": score_pairs, "hardware": hardware,
              "device": cfg.device, "precision": cfg.precision}

    def build(out, work):
        if not cfg.device.startswith("cuda") and (warning := busy_warning()):
            print(warning)
        with ProcessPoolExecutor(1, mp_context=_fresh_processes()) as pool:
            settings = {n: v for n, v in os.environ.items() if n.startswith("RMENS_")}
            row = pool.submit(_measure, profile, kind, k, steps, score_pairs, settings).result()
        atomic_write_text(out / "cost.json", json.dumps(row, indent=2))  # in measuring order

    stage = f"cost/{kind.replace(' ', '_')}" + (f"_k{k}" if kind in KINDS else "")
    return run_stage(profile, stage, params, build,
                     lambda folder: json.loads((folder / "cost.json").read_text()), force)


def sweep(profile: str, ks=(1, 2, 3, 5, 8), steps: int | None = None,
          score_pairs: int | None = None, progress: bool = True, force: bool = True
          ) -> pd.DataFrame:
    """:func:`measure` for the single RM once, then for the multi-head model and the full
    ensemble at every k > 1; the single RM stands for k = 1 of both. A benchmark: it measures
    again unless ``force=False``."""
    def run(kind, k):
        row = measure(profile, kind, k, steps, score_pairs, force)
        if progress:
            print(f"{kind:>13} k={k}: {row['training seconds per epoch']:.0f} s/epoch, "
                  f"{row['peak memory (MB)']:.0f} MB", flush=True)
        return row

    single = run("single", 1)
    rows = [single] + [{**single, "kind": kind} for kind in KINDS[1:]]
    rows += [run(kind, k) for kind in KINDS[1:] for k in ks if k > 1]
    return pd.DataFrame(rows)


def ratios(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """Multi-head over full ensemble and over single, for every cost column, at ``k``."""
    by = table.set_index(["kind", "k"])
    single = by.loc[("single", 1)]
    mh, fe = by.loc[("multi-head", k)], by.loc[("full ensemble", k)]
    return pd.DataFrame({f"multi-head / full ensemble (k={k})": mh / fe,
                         f"multi-head (k={k}) / single": mh / single}).round(3)
