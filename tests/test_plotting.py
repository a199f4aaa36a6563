import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rmens_utils import plotting  # noqa: E402


def test_sft_loss_plot_labels_and_title_state_the_numbers():
    log = pd.DataFrame({"step": [1, 2, 3, 3], "loss": [2.0, 1.5, 1.2, None]})
    ax = plotting.plot_sft_loss(log, {"eval_loss_before": 2.1, "eval_loss_after": 1.3})
    assert "2.10" in ax.get_title() and "1.30" in ax.get_title()
    assert ax.get_xlabel() == "optimiser step" and "nats" in ax.get_ylabel()
    assert list(ax.lines[0].get_ydata()) == [2.0, 1.5, 1.2]


def test_side_by_side_has_a_column_per_model():
    df = plotting.side_by_side(["p1", "p2"], before=["a", "b"], after=["c", "d"])
    assert list(df.columns) == ["prompt", "before", "after"] and df.loc[1, "after"] == "d"


def test_study_plot_draws_one_line_per_reward_with_error_bars():
    import pandas as pd

    from rmens_utils import plotting

    rows = [{"regime": "beta0", "run": run, "step": step, "n": 3, "gold_mean": g,
             "gold_se": 0.1, "proxy_mean": step / 10, "proxy_se": 0.1, "kl_mean": step,
             "kl_se": 1.0} for run in ("single", "multihead_min", "gold")
            for step, g in ((0, 1.0), (10, 1.5), (20, 1.2))]
    fig = plotting.plot_study_vs_kl(pd.DataFrame(rows), "beta0")
    gold_ax, proxy_ax = fig.axes
    labels = [t.get_text() for t in fig.legends[0].get_texts()]  # one legend, below both
    assert sorted(labels) == ["SFT policy (step 0)", "gold itself: the control (3 seeds)",
                              "multihead_min (3 seeds)", "single (3 seeds)"]
    assert len(gold_ax.containers) == 3  # one errorbar container per run
    assert gold_ax.get_xlabel().startswith("KL") and proxy_ax.get_ylabel()
    styles = {c.lines[0].get_linestyle() for c in gold_ax.containers}
    assert styles == {"-", "-.", ":"}  # told apart without colour
    assert list(gold_ax.containers[0].lines[0].get_ydata()) == [1.0, 1.5, 1.2]


def test_gold_terms_plot_has_a_panel_per_term_and_labelled_axes():
    import pandas as pd

    from rmens_utils import plotting

    index = pd.MultiIndex.from_product([["single", "multihead_min"], [0, 10]], names=["run", "step"])
    terms = pd.DataFrame({"words": [40, 45, 40, 60], "fluency": [1, 0.9, 1, 0.5],
                          "gold": [5, 5.2, 5, 4.1]}, index=index)
    fig = plotting.plot_gold_terms(terms, columns=2)
    assert len(fig.axes) == 3 and [ax.get_title() for ax in fig.axes] == ["words", "fluency", "gold"]
    assert fig.axes[0].get_xlabel() == "PPO step (held-out evaluation)"
    assert all(ax.get_ylabel() for ax in fig.axes)
    assert [list(line.get_ydata()) for line in fig.axes[1].get_lines()] == [[1, 0.9], [1, 0.5]]
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()  # one legend for all panels, over none of them
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["single", "multihead_min"]
    assert not any(legend.overlaps(ax.get_window_extent()) for ax in fig.axes)


def test_label_data_plot_states_its_numbers_and_tells_labels_apart_by_style():
    pairs = pd.DataFrame({"gold_chosen": [5.0, 4.0, 6.0], "gold_rejected": [4.0, 4.1, 3.0],
                          "chosen": ["a b c", "a b", "a b c d"], "rejected": ["a", "a b", "a"]})
    fig = plotting.plot_label_data(pairs)
    scores, gaps, lengths = fig.axes
    assert scores.get_title() == "Gold of an SFT answer: mean 4.35, sd 1.03"
    assert gaps.get_title() == "33% of pairs are within 0.25 of a tie"
    assert lengths.get_title() == "Chosen 3 words, rejected 1 on average"
    assert {line.get_linestyle() for line in lengths.get_legend().get_lines()} == {"-", "--"}
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)


def test_reward_training_plot_draws_one_styled_line_per_member_and_states_the_change():
    log = pd.DataFrame({"member": [0] * 4 + [1] * 4, "step": [1, 2, 3, 4] * 2,
                        "loss": [0.7, 0.7, 0.5, 0.5, 0.7, 0.7, 0.6, 0.6],
                        "accuracy": [0.5, 0.5, 0.7, 0.7] * 2})
    fig = plotting.plot_reward_training(log, window=2)
    loss_ax, acc_ax = fig.axes
    assert [line.get_linestyle() for line in loss_ax.get_lines()] == ["-", "--"]
    np.testing.assert_allclose(loss_ax.get_lines()[1].get_ydata(), [0.7, 0.7, 0.65, 0.6])
    assert loss_ax.get_title().startswith("Bradley–Terry loss: 0.70 → 0.55")
    assert acc_ax.get_title().startswith("Agreement with the noisy labels: 0.50 → 0.70")
    single = plotting.plot_reward_training(log[log["member"] == 0].drop(columns="member"), 2)
    assert len(single.axes[0].get_lines()) == 2  # per batch, and its rolling mean


def test_best_of_n_plot_tells_curves_apart_without_colour_and_names_the_best():
    rows = [{"reward_model": name, "n": n, "kl": k, "gold": g * k, "proxy": k}
            for name, g in (("single RM", 0.1), ("ensemble min", 0.2), ("ensemble mean", 0.15))
            for n, k in ((1, 0.0), (2, 0.19), (4, 0.64))]
    fig = plotting.plot_best_of_n(pd.DataFrame(rows), title="t")
    gold_ax, proxy_ax = fig.axes
    assert gold_ax.get_title() == "Gold of the pick at n = 4: +0.128 (ensemble min)"
    legend = gold_ax.get_legend()
    assert legend.get_title().get_text() == "reward model" and proxy_ax.get_legend() is None
    assert len({line.get_marker() for line in gold_ax.get_lines()[:3]}) == 3  # not colour alone
    assert gold_ax.get_xlabel().startswith("KL") and gold_ax.get_ylabel() and proxy_ax.get_ylabel()


def test_cost_plot_has_a_panel_per_cost_and_states_the_ratio_at_the_largest_k():
    rows = [{"kind": kind, "k": k, "parameters": p * k if kind == "full ensemble" else p + k,
             "training seconds per epoch": t * k if kind == "full ensemble" else t,
             "peak memory (MB)": 100.0, "scoring seconds per 1000 pairs": 1.0}
            for kind, p, t in (("single", 10, 2.0), ("multi-head", 10, 2.0),
                               ("full ensemble", 10, 2.0)) for k in (1, 2, 4)]
    fig = plotting.plot_cost(pd.DataFrame(rows))
    assert [ax.get_ylabel() for ax in fig.axes] == list(plotting.COST_COLUMNS)
    assert fig._suptitle.get_text() == ("At k = 4 a full ensemble costs 4.0× the training time "
                                        "and 2.9× the parameters of a multi-head model")
    assert len(fig.axes[0].get_lines()) >= 2 and fig.axes[0].get_legend() is not None


def test_reliability_plot_labels_outer_panels_only_and_states_each_gap():
    table = pd.DataFrame({"confidence": [0.6, 0.8], "accuracy": [0.7, 0.9], "pairs": [10, 10]})
    fig = plotting.plot_reliability({f"model {i}": table for i in range(3)}, columns=2)
    assert len(fig.axes) == 3
    assert fig.axes[0].get_title() == "model 0\naccuracy − confidence +0.100"
    assert fig.axes[1].get_ylabel() == "" and fig.axes[0].get_ylabel() == "accuracy of its picks"
    assert fig.axes[0].get_xlabel() == "" and fig.axes[2].get_xlabel() == "confidence in its pick"
    assert list(fig.axes[0].get_lines()[1].get_ydata()) == [0.7, 0.9]


def test_spread_plot_draws_each_run_against_its_drift_and_states_the_change():
    spread = pd.DataFrame({"run": ["single", "single", "multihead_min", "multihead_min"],
                           "step": [0, 10, 0, 10], "kl": [0.0, 5.0, 0.0, 8.0],
                           "full ensemble": [0.2, 0.3, 0.2, 0.5], "multi-head": [0.1] * 4})
    fig = plotting.plot_spread(spread)
    ens, heads = fig.axes
    assert ens.get_title() == "full ensemble: spread 0.20 at the SFT policy, 0.40 at the last step"
    assert [list(line.get_xdata()) for line in ens.get_lines()] == [[0.0, 5.0], [0.0, 8.0]]
    assert [line.get_linestyle() for line in ens.get_lines()] == ["-", "-."]
    assert ens.get_xlabel().startswith("KL") and ens.get_ylabel()


def test_diversity_plot_pairs_bars_and_names_the_best_model():
    table = pd.DataFrame({"spread, SFT answers": [0.2, 0.3], "spread, late PPO answers": [0.3, 0.9],
                          "spread growth (late / SFT)": [1.5, 3.0],
                          "AUROC of spread, in distribution": [0.6, 0.55],
                          "AUROC of spread, off distribution": [0.7, 0.5]},
                         index=["multihead_k3", "lora_k3"])
    fig = plotting.plot_diversity(table)
    spread, auroc = fig.axes
    assert spread.get_title() == "highest spread growth (late / SFT): lora_k3 (3.00)"
    assert auroc.get_title() == "highest AUROC of spread, off distribution: multihead_k3 (0.70)"
    widths = [bar.get_width() for bar in spread.patches]
    assert widths == [0.2, 0.3, 0.3, 0.9]
    assert [bar.get_hatch() == "//" for bar in spread.patches] == [False, False, True, True]
    assert spread.get_xlabel() and auroc.get_xlabel()
    assert [t.get_text() for t in spread.get_yticklabels()] == ["multihead_k3", "lora_k3"]
    fig.canvas.draw()
    for ax in fig.axes:  # each legend sits outside its panel, so it hides no bar
        assert not ax.get_legend().get_window_extent().overlaps(ax.get_window_extent())


def test_screen_plot_draws_each_interval_and_says_who_passes():
    table = pd.DataFrame({"min agreement": [0.45, 0.55], "members' agreement": [0.42, 0.47],
                          "metric": [0.03, 0.08], "95 % low": [-0.01, 0.04],
                          "95 % high": [0.07, 0.12], "passes": [False, True]},
                         index=["full ensemble", "heads_lr30"]).astype(object)  # as screen()
    fig = plotting.plot_screen(table)
    left, right = fig.axes[:2]
    assert fig._suptitle.get_text() == "1 of 2 ensembles pass the screen: heads_lr30"
    assert [t.get_text() for t in left.get_yticklabels()] == ["full ensemble", "heads_lr30"]
    assert left.get_xlabel().startswith("min's agreement − members'")
    assert [line.get_label() for line in right.get_lines()[:2]] == ["members", "their min"]
    plt.close(fig)


def test_gold_vs_proxy_plot_has_a_panel_per_phase_with_its_rank_correlation():
    evals = pd.DataFrame({"single": [0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0],
                          "gold": [1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0], "step": [0] * 4 + [40] * 3})
    fig = plotting.plot_gold_vs_proxy(evals, "single", {"early": evals["step"] == 0,
                                                        "late": evals["step"] == 40})
    assert [ax.get_title() for ax in fig.axes] == ["early: Spearman +1.00 (4 answers)",
                                                  "late: Spearman -1.00 (3 answers)"]
    assert fig.axes[0].get_ylabel() == "gold" and fig.axes[1].get_xlabel() == "proxy (single)"
    plt.close(fig)
    fig = plotting.plot_gold_vs_proxy(evals, "single", {"early": evals["step"] == 0}, "own reward")
    assert fig.axes[0].get_xlabel() == "own reward"
    plt.close(fig)
