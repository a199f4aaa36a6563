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
