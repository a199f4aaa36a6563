"""Where tensors live and in what precision they are computed: decided once, from the hardware.

``device``: ``cuda`` when a GPU is visible, else ``cpu``; ``$RMENS_DEVICE`` overrides.

``precision`` (weights always stay float32; only the arithmetic changes):

- ``bf16``: bfloat16 autocast. GPUs that compute it natively (Ampere and newer), and CPUs with
  bf16 matrix units (AMX, AVX-512 BF16), where it is ~1.6x faster than float32.
- ``fp16``: float16 autocast plus a gradient scaler: older GPUs such as Colab's T4, which only
  emulate bfloat16.
- ``fp32``: everything else, notably CPUs with only AVX2 (many laptops), where bfloat16 is
  emulated and far *slower* than float32 (measured on an AVX2-only AMD EPYC, 2 threads: a
  256x512 @ 512x512 product 1.2-1.8 ms in float32, 100-108 ms in bfloat16).

On a CPU the choice is a measurement, not a guess from flags: the same matrix product is timed
in both types at setup. ``$RMENS_PRECISION`` (``bf16``, ``fp16`` or ``fp32``) overrides.
"""
from __future__ import annotations

import functools
import os
import platform
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

DEVICE_ENV, PRECISION_ENV = "RMENS_DEVICE", "RMENS_PRECISION"
PRECISIONS = ("bf16", "fp16", "fp32")


def pick_device() -> str:
    """``$RMENS_DEVICE`` if set, else ``cuda`` when a GPU is visible, else ``cpu``."""
    device = os.environ.get(DEVICE_ENV) or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"{DEVICE_ENV}={device} but no CUDA GPU is visible to torch. "
                           f"Unset {DEVICE_ENV} (or set it to cpu).")
    return device


@functools.cache
def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux): timings belong to it."""
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _seconds_per_matmul(dtype: torch.dtype, reps: int = 3) -> float:
    a, b = torch.randn(256, 512).to(dtype), torch.randn(512, 512).to(dtype)
    a @ b  # warm-up
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return (time.perf_counter() - start) / reps


@functools.cache
def measure_cpu_bf16() -> tuple[float, float]:
    """Milliseconds of one 256x512 @ 512x512 product in float32 and in bfloat16 on this CPU."""
    return 1e3 * _seconds_per_matmul(torch.float32), 1e3 * _seconds_per_matmul(torch.bfloat16)


@functools.cache
def _pick_precision(device: str, override: str | None) -> tuple[str, str]:
    if override:
        if override not in PRECISIONS:
            raise ValueError(f"{PRECISION_ENV}={override!r}: use one of {', '.join(PRECISIONS)}.")
        return override, f"forced by {PRECISION_ENV}"
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(device)
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return "bf16", f"{name} computes bfloat16 natively"
        return "fp16", f"{name} has no native bfloat16: float16 with a gradient scaler"
    fp32_ms, bf16_ms = measure_cpu_bf16()
    why = f"measured matmul: float32 {fp32_ms:.2f} ms, bfloat16 {bf16_ms:.2f} ms"
    return ("bf16" if bf16_ms < fp32_ms else "fp32"), why


def pick_precision(device: str) -> tuple[str, str]:
    """``(precision, reason)`` for ``device``: see the module docstring."""
    return _pick_precision(device, os.environ.get(PRECISION_ENV) or None)


@dataclass(frozen=True)
class Precision:
    """How forward passes run: ``autocast()`` around them, ``sample_dtype`` for the weights
    of sampling-only copies, ``scaler()`` for the backward pass (a real one only for fp16)."""

    name: str  # bf16 | fp16 | fp32
    device: str

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    @property
    def sample_dtype(self) -> torch.dtype:
        return self.autocast_dtype or torch.float32

    def autocast(self):
        """Autocast to bf16/fp16 (weights stay float32), or nothing for fp32."""
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(torch.device(self.device).type, dtype=self.autocast_dtype)

    def scaler(self, state: dict | None = None) -> torch.amp.GradScaler:
        """A gradient scaler: float16 gradients underflow without one; a no-op otherwise.
        ``state``: a checkpoint's ``state_dict()``, loaded if it has one — a run checkpointed in
        another precision (no scaler: an empty state) resumes with a fresh scale."""
        scaler = torch.amp.GradScaler(torch.device(self.device).type, enabled=self.name == "fp16")
        if state:
            scaler.load_state_dict(state)
        return scaler


def precision_of(cfg) -> Precision:
    return Precision(cfg.precision, cfg.device)
