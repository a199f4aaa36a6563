"""Plots shared by the notebooks (seaborn; the theme is set by ``setup()``)."""
from __future__ import annotations

from itertools import cycle

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .analysis import drift_finding, excluding_zero
from .text import word_count

# marker and line style of each run (or arm of the confirmatory study), readable in black and
# white; the figures draw them in this order
STUDY_STYLES = {"single": ("o", "-"), "ensemble_min": ("s", "--"), "multihead_min": ("^", "-."),
                "gold": ("D", ":"), "ensemble min": ("s", "--"), "multi-head min": ("^", "-."),
                "multi-head mean": ("v", ":"), "candidate min": ("P", "--")}


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


def plot_label_data(pairs: pd.DataFrame):
    """Three panels on the labelled pairs: gold scores, the gold gap within a pair, and
    answer lengths."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    gold = pd.concat([pairs["gold_chosen"], pairs["gold_rejected"]])
    sns.histplot(gold, bins=40, ax=axes[0])
    axes[0].set(xlabel="gold reward of an answer", ylabel="answers",
                title=f"Gold of an SFT answer: mean {gold.mean():.2f}, sd {gold.std():.2f}")
    gap = (pairs["gold_chosen"] - pairs["gold_rejected"]).abs()
    sns.histplot(gap, bins=40, ax=axes[1])
    axes[1].set(xlabel="|gold(answer 1) − gold(answer 2)|", ylabel="pairs",
                title=f"{(gap < 0.25).mean():.0%} of pairs are within 0.25 of a tie")
    words = {label: word_count(pairs[label]) for label in ("chosen", "rejected")}
    for (label, counts), style in zip(words.items(), ("-", "--")):
        sns.histplot(counts, bins=30, binrange=(0, max(map(max, words.values()))), ax=axes[2],
                     element="step", fill=False, linestyle=style, label=label)
    axes[2].legend(title="(noisy) label")
    axes[2].set(xlabel="answer length (words)", ylabel="answers",
                title=f"Chosen {words['chosen'].mean():.0f} words, rejected "
                      f"{words['rejected'].mean():.0f} on average")
    fig.tight_layout()
    return fig


def plot_reward_training(log: pd.DataFrame, window: int = 10):
    """Bradley–Terry loss and batch accuracy per step (rolling means); one line per
    ensemble member when ``log`` has a ``member`` column (loss: mean over heads)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    parts = log.groupby("member") if "member" in log else [(None, log)]
    for ax, col, label, name in (
            (axes[0], "loss", "Bradley–Terry loss (nats/pair)", "Bradley–Terry loss"),
            (axes[1], "accuracy", "agreement with the noisy labels", "Agreement with the noisy labels")):
        first, last = [], []
        for (m, part), style in zip(parts, cycle(("-", "--", "-.", ":"))):
            smooth = part[col].rolling(window, min_periods=1).mean()
            if m is None:
                ax.plot(part["step"], part[col], alpha=0.3, label="per batch")
            member = f"member {m}, " if m is not None else ""
            ax.plot(part["step"], smooth, ls=style, label=f"{member}mean of {window} batches")
            first.append(part[col].head(window).mean())
            last.append(part[col].tail(window).mean())
        ax.set(xlabel="optimiser step", ylabel=label,
               title=f"{name}: {np.mean(first):.2f} → {np.mean(last):.2f} "
                     f"(first and last {window} batches)")
        ax.legend()
    fig.tight_layout()
    return fig


def plot_best_of_n(curves: pd.DataFrame, x: str = "kl", title: str | None = None):
    """Gold and proxy reward of best-of-n against KL; ``curves``: rows of
    ``best_of_n_curve`` with a ``reward_model`` column naming the proxy used."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    xlabel = "KL(best-of-n ‖ SFT policy) (nats)" if x == "kl" else "√KL (√nats)"
    data = curves.rename(columns={"reward_model": "reward model"})
    last = data[data["n"] == data["n"].max()].set_index("reward model")
    for ax, col in zip(axes, ("gold", "proxy")):
        # style as well as colour: the curves stay apart in black and white
        sns.lineplot(data=data, x=x, y=col, hue="reward model", style="reward model",
                     markers=True, ax=ax, legend=ax is axes[0])
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(xlabel=xlabel, ylabel=f"{col} reward − SFT policy's (mean over prompts)")
    best = f" ({last['gold'].idxmax()})" if len(last) > 1 else ""
    axes[0].set_title(f"Gold of the pick at n = {last['n'].iloc[0]}: "
                      f"{last['gold'].max():+.3f}{best}")
    axes[1].set_title("The reward that picks: each proxy's own score")
    for _, row in curves.drop_duplicates("n").iterrows():
        axes[1].annotate(f"n={row['n']}", (row[x], 0), textcoords="offset points",
                         xytext=(0, -12), ha="center", fontsize=8, color="grey")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


COST_COLUMNS = ("parameters", "training seconds per epoch", "peak memory (MB)",
                "scoring seconds per 1000 pairs")


def plot_cost(table: pd.DataFrame):
    """Each cost column of :func:`rmens_utils.cost.sweep` against k, one line per kind."""
    fig, axes = plt.subplots(1, len(COST_COLUMNS), figsize=(16, 3.8))
    data = table[table["kind"] != "single"]
    for ax, col in zip(axes, COST_COLUMNS):
        sns.lineplot(data=data, x="k", y=col, hue="kind", style="kind", markers=True, ax=ax,
                     legend=ax is axes[0])
        ax.set(xlabel="k (heads or members)", ylabel=col, ylim=(0, None),
               xticks=sorted(data["k"].unique()))
    top = data[data["k"] == data["k"].max()].set_index("kind")
    if {"full ensemble", "multi-head"} <= set(top.index):
        ratio = top.loc["full ensemble"] / top.loc["multi-head"]
        fig.suptitle(f"At k = {data['k'].max()} a full ensemble costs "
                     f"{ratio['training seconds per epoch']:.1f}× the training time and "
                     f"{ratio['parameters']:.1f}× the parameters of a multi-head model")
    else:
        fig.suptitle("Cost against k")
    fig.tight_layout()
    return fig


def plot_gold_terms(terms: pd.DataFrame, columns: int = 4):
    """One panel per column of ``analysis.gold_terms``: its mean over the held-out answers
    against the PPO step (index ``(run, step)``), one line per run."""
    rows = -(-len(terms.columns) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.8 * rows + 0.4), sharex=True,
                             squeeze=False, layout="constrained")
    for (name, table), marker in zip(terms.groupby(level="run", sort=False), "osD^vx"):
        steps = table.index.get_level_values("step")
        for ax, col in zip(axes.flat, terms.columns):
            ax.plot(steps, table[col], marker=marker, label=name)
            ax.set(xlabel="PPO step (held-out evaluation)", ylabel="mean over answers",
                   title=col)
    for ax in axes.flat[len(terms.columns):]:
        ax.remove()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=len(labels))  # off the lines
    return fig


def plot_spread(spread: pd.DataFrame):
    """Each model's disagreement per answer (``calibration.spread_by_step``) against the
    policy's drift (KL to the SFT policy on the same answers): one panel per model, one
    line per run, a point per evaluated step."""
    models = [c for c in spread.columns if c not in ("run", "step", "kl")]
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4), sharey=True,
                             squeeze=False)
    for name, table in spread.groupby("run", sort=False):
        marker, line = STUDY_STYLES.get(name, ("x", "-"))
        for ax, model in zip(axes.flat, models):
            ax.plot(table["kl"], table[model], marker=marker, ls=line, label=name)
    first, last = (spread[spread["step"] == step] for step in (0, spread["step"].max()))
    for ax, model in zip(axes.flat, models):
        ax.set(xlabel="KL(policy ‖ SFT policy), held-out answers (nats)",
               ylabel="sd of the k scores of an answer",
               title=f"{model}: spread {first[model].mean():.2f} at the SFT policy, "
                     f"{last[model].mean():.2f} at the last step")
    axes.flat[0].legend()
    fig.tight_layout()
    return fig


def plot_reliability(tables: dict[str, pd.DataFrame], columns: int = 4):
    """Reliability diagrams, one panel per model: accuracy of the model's pick against
    its confidence in it, in equal-mass bins (``calibration.reliability`` tables). On
    the diagonal a model is calibrated; below it, overconfident."""
    rows = -(-len(tables) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.3 * rows),
                             sharex=True, sharey=True, squeeze=False)
    for ax, (name, table) in zip(axes.flat, tables.items()):
        ax.plot([0.5, 1], [0.5, 1], color="grey", ls="--", lw=0.8)
        sns.lineplot(data=table, x="confidence", y="accuracy", marker="o", ax=ax)
        gap = (table["pairs"] * (table["accuracy"] - table["confidence"])).sum() / table["pairs"].sum()
        ax.set(xlim=(0.5, 1), ylim=(0, 1), xlabel="confidence in its pick",
               ylabel="accuracy of its picks")
        ax.set_title(f"{name}\naccuracy − confidence {gap:+.3f}", fontsize=10)
        ax.label_outer()  # axis labels on the outer panels only: none overlap
    for ax in axes.flat[len(tables):]:
        ax.remove()
    fig.suptitle("Above the diagonal a model is underconfident, below it overconfident")
    fig.tight_layout()
    return fig


def plot_study_vs_kl(curves: pd.DataFrame, regime: str, title: str | None = None):
    """Held-out gold and the optimised proxy's rise against KL(policy ‖ SFT), one line per
    reward: means over seeds at each evaluated step, with ±1 standard error in both
    directions (``curves``: ``analysis.mean_se`` of ``analysis.seed_curves`` by regime, run,
    step). Titled with what it finds (``analysis.drift_finding``), then ``title``: what ran."""
    data = curves[curves["regime"] == regime]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharex=True, layout="constrained")
    order = list(STUDY_STYLES)
    runs = sorted(data["run"].unique(), key=lambda r: order.index(r) if r in order else len(order))
    for run, color in zip(runs, sns.color_palette()):
        c = data[data["run"] == run].sort_values("step")
        marker, line = STUDY_STYLES.get(run, ("x", "-"))
        n = int(c["n"].min())
        seeds = f"{n} seed{'s' * (n > 1)}"
        label = f"{run} ({seeds})" if run != "gold" else f"gold itself: the control ({seeds})"
        rise = c["proxy_mean"] - c["proxy_mean"].iloc[0]
        for ax, y, err in ((axes[0], c["gold_mean"], c["gold_se"]),
                           (axes[1], rise, c["proxy_se"])):
            ax.errorbar(c["kl_mean"], y, xerr=c["kl_se"], yerr=err, marker=marker, ls=line,
                        color=color, capsize=3, label=label)
    axes[0].axhline(data["gold_mean"][data["step"] == 0].mean(), color="grey", lw=0.8,
                    label="SFT policy (step 0)")
    axes[0].set(xlabel="KL(policy ‖ SFT policy), held-out answers (nats)",
                ylabel="gold reward, held-out answers", title="Gold reward against drift")
    axes[1].axhline(0, color="grey", lw=0.8)
    axes[1].set(xlabel="KL(policy ‖ SFT policy), held-out answers (nats)",
                ylabel="optimised reward − its value at step 0",
                title="The reward each run optimises")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels))  # off the data
    # the finding first, then what was run
    fig.suptitle(f"{drift_finding(data)}\n{title or f'PPO, regime {regime}'}; "
                 f"means over seeds ± 1 s.e.")
    return fig


def plot_diversity(table: pd.DataFrame):
    """Notebook 08's comparison of cheap ensembles (``table``: a row a model, the columns of
    ``diversity.summary``): the spread of the k estimates on the SFT policy's answers and on
    the late PPO answers, and the AUROC of the spread for the mean's errors in and off
    distribution. Paired bars told apart by hatching as well as colour."""
    panels = [(("spread, SFT answers", "spread, late PPO answers"),
               "sd of the k scores of an answer", "spread growth (late / SFT)"),
              (("AUROC of spread, in distribution", "AUROC of spread, off distribution"),
               "AUROC of the spread for the mean's errors", "AUROC of spread, off distribution")]
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.2))
    y = np.arange(len(table))
    for ax, (columns, label, best) in zip(axes, panels):
        for i, (col, hatch) in enumerate(zip(columns, ("", "//"))):
            ax.barh(y + 0.4 * (i - 0.5), table[col], height=0.4, hatch=hatch, edgecolor="black",
                    label=col.split(", ")[1])
        ax.set(yticks=y, yticklabels=table.index, xlabel=label)
        ax.invert_yaxis()
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)  # below: off the bars
        top = table[best].idxmax()
        ax.set_title(f"highest {best}: {top} ({table.loc[top, best]:.2f})")
    axes[1].axvline(0.5, color="grey", ls=":")  # chance
    axes[1].set_yticklabels([])
    fig.tight_layout()
    return fig


def forest(ax, values, low, high, labels, filled=None) -> np.ndarray:
    """A forest plot on ``ax``: one row per estimate (top to bottom in the order given), its
    95 % interval as a bar, and a dotted line at 0, where a difference changes sign. ``filled``
    (optional, one bool a row): a filled marker where it is true, an open one elsewhere.
    Returns the rows' y positions."""
    y = np.arange(len(values))
    values, low, high = (np.asarray(v, float) for v in (values, low, high))
    filled = np.ones(len(y), bool) if filled is None else np.asarray(filled, bool)
    ax.errorbar(values, y, xerr=[values - low, high - values], fmt="none", ecolor="black",
                capsize=3)
    ax.plot(values[filled], y[filled], "o", color="black")
    ax.plot(values[~filled], y[~filled], "o", mfc="white", mec="black")
    ax.axvline(0, color="grey", ls=":")
    ax.set(yticks=y, yticklabels=list(labels))
    ax.set_ylim(len(y) - 0.5, -0.5)  # the first row on top
    return y


def plot_contrasts(found: pd.DataFrame, title: str, margin: float | None = None,
                   measure: str = "difference in the endpoint, gold points",
                   interval: str = "mean over seeds, 95 % t interval"):
    """Paired differences between arms with their 95 % intervals (``found``: rows with
    ``contrast``, ``difference``, ``95 % low``, ``95 % high``, and optionally ``look``,
    ``decided at look``: ``confirm.looks`` or ``confirm.secondary``). A filled marker is a
    decided contrast, an open one is not; each row's numbers are written on the right.
    ``margin``: a non-inferiority margin, drawn at −margin; ``measure``: what the differences
    are of, and ``interval``: how their intervals were made (the x-axis)."""
    looks = found["look"] if "look" in found else pd.Series(np.nan, index=found.index)
    labels = [c + (f" ({look:.0f} seeds)" if look == look else "")  # NaN: no look
              for c, look in zip(found["contrast"], looks)]
    decided = found["decided at look"].notna() if "decided at look" in found else None
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(found) + 1.6), layout="constrained")
    y = forest(ax, found["difference"], found["95 % low"], found["95 % high"], labels, decided)
    numbers = ax.twinx()  # each row's estimate and interval, written on the right
    numbers.set_ylim(ax.get_ylim())
    numbers.set_yticks(y, [f"{d:+.3f}" + (f" ({low:+.3f} to {high:+.3f})" if low == low else "")
                           for d, low, high in  # NaN (low != low): one seed, no interval
                           zip(found["difference"], found["95 % low"], found["95 % high"])])
    numbers.tick_params(length=0)
    if margin is not None:
        ax.axvline(-margin, color="grey", ls="--", label=f"non-inferiority margin (−{margin:g})")
        fig.legend(loc="outside lower center")  # off the data
    ax.set(xlabel=f"{measure} ({interval})", title=title)
    return fig


def plot_paired_best_of_n(paired: pd.DataFrame):
    """:func:`best_of_n.paired_best_of_n`'s rows as a forest plot, its title saying how many
    of the differences exclude 0."""
    n, prompts = paired["n"].iloc[0], paired["prompts"].iloc[0]
    intervals = f"95 % paired bootstrap over {prompts} prompts"
    return plot_contrasts(paired, f"Best-of-{n}: " + excluding_zero(paired, intervals),
                          measure=f"difference in best-of-{n} gold", interval=intervals)


def plot_screen(table: pd.DataFrame):
    """The screen (``exploits.screen``: a row a candidate): left, the metric — the min's
    agreement with the gold minus its members' — with its 95 % interval (a candidate must be
    above 0 to pass); right, both agreements against chance (one half: above it, a scorer sides
    with the gold more often than against it)."""
    table = table.astype({c: float for c in table.columns if c != "passes"})
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.4 * len(table) + 1.6), sharey=True)
    y = forest(left, table["metric"], table["95 % low"], table["95 % high"], table.index)
    left.set(xlabel="min's agreement − members' (95 % CI)")
    right.plot(table["members' agreement"], y, "o", mfc="white", mec="black", label="members")
    right.plot(table["min agreement"], y, "s", color="black", label="their min")
    right.axvline(0.5, color="grey", ls=":")
    right.set(xlabel="agreement with the gold on the exploit pairs")
    right.legend(loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the axes: off the data
    passing = table.index[table["passes"].astype(bool)].tolist()
    fig.suptitle(f"{len(passing)} of {len(table)} ensembles pass the screen"
                 + (f": {', '.join(passing)}" if passing else ""))
    fig.tight_layout()
    return fig


def plot_gold_vs_proxy(evals: pd.DataFrame, proxy: str, phases: dict[str, pd.Series],
                       xlabel: str | None = None):
    """Each held-out answer's gold against the ``proxy`` column's score, one panel per phase
    (name → a row mask of ``evals``, e.g. early and late steps of one run), with the rank
    correlation of the two in each title: where the proxy still ranks as the gold does, and
    where it no longer does."""
    from scipy.stats import spearmanr

    fig, axes = plt.subplots(1, len(phases), figsize=(5.5 * len(phases), 4.2), sharex=True,
                             sharey=True, squeeze=False)
    for ax, (name, rows) in zip(axes[0], phases.items()):
        part = evals[rows]
        ax.scatter(part[proxy], part["gold"], s=12, alpha=0.6, color="black")
        rho = spearmanr(part[proxy], part["gold"]).statistic
        ax.set(title=f"{name}: Spearman {rho:+.2f} ({len(part)} answers)",
               xlabel=xlabel or f"proxy ({proxy})")
    axes[0][0].set_ylabel("gold")
    fig.tight_layout()
    return fig


def plot_power(sds: dict[str, float], effect: float, seeds=range(2, 31), target: float = 0.8):
    """The power of a two-sided paired t-test (``analysis.paired_power``, α = 0.05) to find a
    true difference ``effect`` against the number of seeds, one curve per per-seed standard
    deviation (``sds``: label → sd); the title says how many seeds each needs for ``target``."""
    from .analysis import paired_power

    seeds = list(seeds)
    fig, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
    needed = {}
    for (label, sd), color in zip(sds.items(), sns.color_palette()):
        power = [paired_power(effect, sd, n) for n in seeds]
        ax.plot(seeds, power, "o-", ms=3, color=color, label=f"{label} (sd {sd:.2f})")
        needed[label] = next((n for n, p in zip(seeds, power) if p >= target), None)
    ax.axhline(target, color="grey", ls=":")
    ax.set(xlabel="seeds (paired runs of each arm)", ylim=(0, 1.02),
           ylabel=f"power to establish a true {effect:g}")
    fig.legend(loc="outside lower center", ncol=max(1, min(len(sds), 3)))  # off the data
    said = [f"{label}: {n if n else f'more than {seeds[-1]}'}" for label, n in needed.items()]
    ax.set_title(f"Seeds for {target * 100:g} % power to establish a difference of {effect:g}\n"
                 + "; ".join(said))
    return fig
