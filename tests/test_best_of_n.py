import math

import numpy as np
import pandas as pd
import pytest

from rmens_utils import analysis, plotting
from rmens_utils import best_of_n as bon


def test_kl_formula_against_hand_values():
    assert bon.kl_best_of_n(1) == pytest.approx(0.0)
    assert bon.kl_best_of_n(2) == pytest.approx(math.log(2) - 0.5)
    assert bon.kl_best_of_n(64) == pytest.approx(math.log(64) - 63 / 64)


def test_weights_are_a_distribution_and_match_the_combinatorics():
    w = bon.best_of_n_weights(5, 2)
    # the i-th lowest is the best of a random pair iff the pair is {i, j<i}: i of C(5,2)=10
    np.testing.assert_allclose(w, np.array([0, 1, 2, 3, 4]) / 10)
    for N, n in [(64, 1), (64, 7), (64, 64), (200, 100)]:
        assert bon.best_of_n_weights(N, n).sum() == pytest.approx(1.0)
    assert bon.best_of_n_weights(64, 64)[-1] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        bon.best_of_n_weights(4, 5)


def test_estimator_matches_brute_force_sampling_on_a_toy_distribution():
    rng = np.random.default_rng(0)
    N = 12
    proxy = rng.normal(size=N)
    gold = proxy + rng.normal(scale=2.0, size=N)  # gold only loosely follows the proxy
    for n in (1, 3, 12):
        draws = [rng.choice(N, size=n, replace=False) for _ in range(40_000)]
        brute = np.mean([gold[d[np.argmax(proxy[d])]] for d in draws])
        assert bon.best_of_n_expectation(proxy, gold, n) == pytest.approx(brute, abs=0.03)


def test_curve_is_centred_on_the_policy_and_proxy_rises():
    rng = np.random.default_rng(1)
    rows = [{"prompt_id": p, "proxy": x, "gold": x + rng.normal()}
            for p in range(20) for x in rng.normal(loc=p, size=16)]
    curve = bon.best_of_n_curve(pd.DataFrame(rows), "proxy", "gold")
    assert list(curve["n"]) == [1, 2, 4, 8, 16]
    assert curve.loc[0, ["proxy", "gold", "kl"]].abs().max() == pytest.approx(0.0, abs=1e-9)
    assert (np.diff(curve["proxy"]) > 0).all()
    np.testing.assert_allclose(curve["sqrt_kl"] ** 2, bon.kl_best_of_n(curve["n"]))
    # the gold as its own proxy: the ceiling of best-of-n on these samples
    ceiling = bon.best_of_n_curve(pd.DataFrame(rows), "gold", "gold")
    np.testing.assert_allclose(ceiling["proxy"], ceiling["gold"])
    assert (ceiling["gold"] >= curve["gold"] - 1e-9).all()


def test_table_averages_any_column_of_the_pick():
    df = pd.DataFrame({"prompt_id": [0, 0, 1, 1], "proxy": [0.0, 1.0, 5.0, 2.0],
                       "words": [10, 30, 50, 70]})
    table = bon.best_of_n_table(df, "proxy", ["words"], ns=[1, 2])
    assert table["words"].tolist() == [40.0, (30 + 50) / 2]


def test_gao_fit_recovers_a_known_peak():
    from rmens_utils.best_of_n import fit_gao, kl_best_of_n, peak_n
    n = np.array([1, 2, 4, 8, 16, 32, 64])
    d = np.sqrt(kl_best_of_n(n))
    curve = pd.DataFrame({"sqrt_kl": d, "gold": d * (0.4 - 0.1 * d)})
    fit = fit_gao(curve)
    assert fit["alpha"] == pytest.approx(0.4) and fit["beta"] == pytest.approx(0.1)
    assert fit["peak_kl"] == pytest.approx(4.0) and fit["peak_reward"] == pytest.approx(0.4)
    assert kl_best_of_n(fit["peak_n"]) == pytest.approx(4.0)
    assert peak_n(kl_best_of_n(64)) == pytest.approx(64)
    rising = fit_gao(pd.DataFrame({"sqrt_kl": d, "gold": d + 0.1 * d ** 2}))
    assert rising["peak_kl"] == np.inf


def test_paired_best_of_n_against_hand_values():
    # Two prompts, two samples each. "a" picks the better-gold sample, "b" the worse one.
    df = pd.DataFrame({"prompt_id": [0, 0, 1, 1], "gold": [1.0, 3.0, 0.0, 2.0],
                       "a": [0.0, 1.0, 0.0, 1.0], "b": [1.0, 0.0, 1.0, 0.0]})
    picks = bon.per_prompt_best_of_n(df, "a", "gold", n=2)
    assert picks.tolist() == [3.0, 2.0]
    table = bon.paired_best_of_n(df, ["a"], ["b"], n=2)
    row = table.iloc[0]
    assert (row["contrast"], row["model"], row["baseline"]) == ("a − b", "a", "b")
    assert row["difference"] == 2.0
    assert (row["95 % low"], row["95 % high"], row["prompts"]) == (2.0, 2.0, 2)  # no spread
    # n = 1 is the policy itself for every proxy: no difference
    assert bon.paired_best_of_n(df, ["a"], ["b"], n=1).iloc[0]["difference"] == 0
    # the rows draw as a forest plot, its title and axis saying how the intervals were made
    both = bon.paired_best_of_n(df, ["a", "b"], ["b"], n=2)
    title = analysis.excluding_zero(both, "bootstrap over prompts")
    assert title == "1 of 2 paired differences exclude 0 (1 above, 0 below; bootstrap over prompts)"
    fig = plotting.plot_contrasts(both, title, measure="best-of-2 gold", interval="prompts")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a − b", "b − b"]
    assert ax.get_xlabel() == "best-of-2 gold (prompts)"
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == [
        "+2.000 (+2.000 to +2.000)", "+0.000 (+0.000 to +0.000)"]
    fig = plotting.plot_paired_best_of_n(both)
    assert fig.axes[0].get_title() == ("Best-of-2: 1 of 2 paired differences exclude 0 "
                                       "(1 above, 0 below; 95 % paired bootstrap over 2 prompts)")
    one_seed = both.assign(**{"95 % low": np.nan, "95 % high": np.nan})  # no interval
    fig = plotting.plot_contrasts(one_seed, title)
    assert fig.axes[1].get_yticklabels()[0].get_text() == "+2.000"


def test_bootstrap_interval_covers_the_mean_and_narrows_with_more_data():
    rng = np.random.default_rng(1)
    small, large = rng.normal(1, 1, 20), rng.normal(1, 1, 2000)
    lo_s, hi_s = bon.bootstrap_interval(small)
    lo_l, hi_l = bon.bootstrap_interval(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 5
