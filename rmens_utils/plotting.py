"""Plots shared by the notebooks (seaborn; the theme is set by ``setup()``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


def plot_sft_loss(log: pd.DataFrame, metrics: dict, ax=None):
    """Training loss per optimiser step, with the held-out loss before and after SFT."""
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    steps = log.dropna(subset=["loss"])
    sns.lineplot(data=steps, x="step", y="loss", ax=ax, alpha=0.4, label="training loss (per step)")
    smooth = steps["loss"].rolling(10, min_periods=1).mean()
    ax.plot(steps["step"], smooth, label="training loss (mean of 10 steps)")
    for key, style, label in (("eval_loss_before", ":", "held-out loss before SFT"),
                              ("eval_loss_after", "--", "held-out loss after SFT")):
        ax.axhline(metrics[key], ls=style, color="black", label=f"{label}: {metrics[key]:.2f}")
    ax.set(xlabel="optimiser step", ylabel="cross-entropy on answer tokens (nats/token)",
           title=f"SFT lowers the held-out answer loss from {metrics['eval_loss_before']:.2f} "
                 f"to {metrics['eval_loss_after']:.2f}")
    ax.legend()
    return ax


def side_by_side(prompts: list[str], **answers: list[str]) -> pd.DataFrame:
    """A table with one row per prompt and one column per named list of answers."""
    return pd.DataFrame({"prompt": prompts, **answers})
