import matplotlib

matplotlib.use("Agg")
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
    labels = [t.get_text() for t in gold_ax.get_legend().get_texts()]
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
