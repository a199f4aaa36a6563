import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from rmens_utils import calibration as cal


def test_perfectly_calibrated_predictions_have_ece_near_zero():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=200_000)
    y = rng.uniform(size=p.size) < p  # the label follows p exactly
    assert cal.ece(p, y) < 0.01


def test_always_ninety_percent_on_a_coin_has_ece_point_four():
    y = np.tile([1, 0], 500)
    assert cal.ece(np.full(1000, 0.9), y) == pytest.approx(0.4)
    table = cal.reliability(np.full(1000, 0.9), y, bins=5)
    assert table["pairs"].sum() == 1000 and np.allclose(table["accuracy"], 0.5)


def test_metrics_against_hand_values():
    margin, y = np.array([np.log(3.0), -np.log(3.0)]), np.array([1, 1])  # p = 0.75, 0.25
    m = cal.metrics(margin, y, bins=1)
    assert m["accuracy"] == 0.5
    assert m["Brier"] == pytest.approx((0.25 ** 2 + 0.75 ** 2) / 2)
    assert m["NLL"] == pytest.approx(-(np.log(0.75) + np.log(0.25)) / 2)
    assert m["ECE"] == pytest.approx(abs(0.5 - 0.75))  # one bin, both at confidence 0.75


def test_margins_of_members_and_aggregations():
    chosen, rejected = np.array([[1.0, 3.0]]), np.array([[0.0, 0.0]])
    m = cal.margins(chosen, rejected, lam=0.5)
    assert m["member 0"] == 1 and m["member 1"] == 3
    assert m["mean"] == 2 and m["min"] == 1 and m["max"] == 3
    assert m["uwo"] == pytest.approx(2 - 0.5 * 1.0)  # variance of (1, 3) is 1, of (0, 0) is 0
    assert set(cal.margins(chosen[:, :1], rejected[:, :1])) == {"member 0"}


def test_temperature_scaling_recovers_an_overconfident_model():
    rng = np.random.default_rng(1)
    true_margin = rng.normal(0, 1.5, size=20_000)
    y = rng.uniform(size=true_margin.size) < expit(true_margin)
    overconfident = 3 * true_margin
    assert cal.fit_temperature(overconfident, y) == pytest.approx(3, rel=0.1)
    scaled = cal.cross_fitted_temperature(overconfident, y)
    assert cal.ece(expit(scaled), y) < cal.ece(expit(overconfident), y)
    assert cal.metrics(scaled, y)["NLL"] < cal.metrics(overconfident, y)["NLL"]


def test_uncertainty_that_marks_the_errors_has_auroc_one():
    chosen = np.array([[1.0, 1.0], [2.0, 2.0], [1.0, -1.0], [3.0, -3.0]])
    rejected = np.zeros((4, 2))
    u = cal.uncertainty(chosen, rejected)
    assert u.tolist() == [0.0, 0.0, 1.0, 3.0]
    wrong = np.array([0, 0, 1, 1])
    assert cal.error_auroc(u, wrong) == 1.0 and cal.error_auroc(-u, wrong) == 0.0
    table = cal.error_by_uncertainty(u, wrong, bins=2)
    assert table["error rate"].tolist() == [0.0, 1.0]


def test_ece_noise_floor_shrinks_with_more_pairs():
    rng = np.random.default_rng(2)
    few, many = rng.uniform(size=200), rng.uniform(size=20_000)
    assert cal.ece_noise_floor(few, draws=100) > 0.03 > cal.ece_noise_floor(many, draws=20)


def test_no_pairs_gives_nan_not_an_error():
    m = cal.metrics(np.array([]), np.array([]))
    assert all(np.isnan(v) for v in m.values())


def test_disagreement_summary_against_hand_values():
    chosen = np.array([[1.0, 1.0], [2.0, 0.0], [-1.0, -3.0]])  # mean margins 1, 1, -2
    rejected = np.zeros((3, 2))
    s = cal.disagreement_summary(chosen, rejected, y=[1, 0, 0])  # wrong on the second only
    assert s["error rate"] == pytest.approx(1 / 3)
    assert s["mean uncertainty"] == pytest.approx((0 + 1 + 1) / 3)
    assert s["AUROC of uncertainty for errors"] == pytest.approx(0.75)  # tie with the third


def test_spread_by_step_is_the_mean_sd_of_each_steps_answers():
    answers = pd.DataFrame({"run": ["a", "a", "a", "b"], "step": [0, 0, 1, 0]})
    scores = {"m": np.array([[0.0, 2.0], [1.0, 1.0], [0.0, 4.0], [3.0, 3.0]])}
    spread = cal.spread_by_step(answers, scores)
    assert spread[["run", "step"]].values.tolist() == [["a", 0], ["a", 1], ["b", 0]]
    assert spread["m"].tolist() == [0.5, 2.0, 0.0]  # sds 1 and 0, then 2, then 0
    drift = cal.spread_by_step(answers.assign(kl=[0.0, 2.0, 5.0, 1.0]), scores)
    assert drift.columns.tolist() == ["run", "step", "kl", "m"]
    assert drift["kl"].tolist() == [1.0, 5.0, 1.0]  # the answers' mean KL at each step
    as_logged = cal.spread_by_step(answers.assign(kl=np.float32([0.1, 0.2, 0.3, 0.4])), scores)
    assert as_logged["kl"].dtype == np.float64  # rounds to 0.15, not 0.150000


def test_bt_margins_are_on_each_models_own_scale_and_named_by_model_and_kind():
    chosen, rejected = np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]])
    m = cal.bt_margins({"a": (chosen, rejected), "b": (chosen[:, :1], rejected[:, :1])},
                       {"a": np.array([2.0, 0.5]), "b": np.array([3.0])})
    assert set(m) == {"a · member 0", "a · member 1", "a · mean", "a · min", "a · max",
                      "a · uwo", "b · member 0"}
    assert (m["a · member 0"], m["a · member 1"], m["a · min"]) == (2.0, 1.0, 1.0)
    assert m["b · member 0"] == 3.0
    kept = cal.bt_margins({"a": (chosen, rejected)}, {"a": np.ones(2)}, kinds=("mean",))
    assert list(kept) == ["a · mean"] and kept["a · mean"] == 1.5


def test_temperature_table_scales_an_overconfident_model_down():
    rng = np.random.default_rng(3)
    true_margin = rng.normal(0, 1.5, size=4_000)
    y = (rng.uniform(size=true_margin.size) < expit(true_margin)).astype(int)
    table = cal.temperature_table({"calibrated": true_margin, "overconfident": 3 * true_margin}, y)
    assert table.columns.tolist() == ["T (all pairs)", "ECE raw", "ECE scaled", "NLL raw",
                                      "NLL scaled"]
    assert table.loc["calibrated", "T (all pairs)"] == pytest.approx(1, abs=0.15)
    assert table.loc["overconfident", "T (all pairs)"] == pytest.approx(3, rel=0.15)
    assert table.loc["overconfident", "NLL scaled"] < table.loc["overconfident", "NLL raw"]


def test_disagreement_tables_give_a_summary_row_and_error_bins_per_model():
    chosen = np.array([[1.0, 1.0], [2.0, 0.0], [-1.0, -3.0], [0.5, 0.5]])
    rejected = np.zeros((4, 2))
    y = [1, 0, 0, 1]  # the mean is wrong on the second pair only
    summary, by_spread = cal.disagreement_tables({"m": (chosen, rejected)}, y, bins=2)
    assert summary.loc["m", "error rate"] == pytest.approx(0.25)
    assert by_spread[("m", "error rate")].tolist() == [0.0, 0.5]  # spreads 0, 0 | 1, 1
