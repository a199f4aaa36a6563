"""The analysis of PPO runs (:mod:`rmens_utils.analysis`) on tables made by hand."""
import numpy as np
import pandas as pd
import pytest

from rmens_utils import analysis
from rmens_utils.config import RubricWeights


def _evals():
    """Two runs × two seeds, two steps, two prompts; scores chosen by hand."""
    rows = []
    for run, seed, step, gold, kl in [
            ("single", 0, 0, 1.0, 0.0), ("single", 0, 10, 2.0, 10.0),
            ("single", 1, 0, 1.0, 0.0), ("single", 1, 10, 1.0, 20.0),
            ("ensemble_min", 0, 0, 1.0, 0.0), ("ensemble_min", 0, 10, 3.0, 10.0),
            ("ensemble_min", 1, 0, 1.0, 0.0), ("ensemble_min", 1, 10, 4.0, 20.0)]:
        for prompt_idx, shift in ((0, -0.5), (1, 0.5)):
            rows.append({"regime": "beta0", "run": run, "seed": seed, "step": step,
                         "prompt_idx": prompt_idx, "gold": gold + shift, "kl": kl,
                         "kl_half_sq": kl / 2, "words": 10, "finished": True,
                         "single_0": 0.3, "ensemble_0": 1.0, "ensemble_1": -1.0,
                         "multihead_0": 0.0, "multihead_1": 2.0})
    return pd.DataFrame(rows)


def test_aggregates_and_the_optimised_proxy_of_each_run():
    df = analysis.with_aggregates(_evals())
    assert (df["ensemble_min"] == -1).all() and (df["ensemble_mean"] == 0).all()
    assert (df["multihead_min"] == 0).all() and (df["multihead_mean"] == 1).all()
    assert df.loc[df["run"] == "single", "proxy"].tolist() == [pytest.approx(0.3)] * 8
    assert df.loc[df["run"] == "ensemble_min", "proxy"].eq(-1).all()
    # uwo with PPO's λ: mean 1 − 0.1 · population variance 1
    assert df["multihead_uwo"].tolist() == [pytest.approx(0.9)] * len(df)


def test_curves_matched_kl_and_paired_differences_against_hand_values():
    stored = _evals().astype({"gold": "float32", "kl": "float32"})  # as eval.parquet keeps them
    curves = analysis.seed_curves(stored)
    assert (curves[analysis.CURVE_COLUMNS].dtypes == "float64").all()
    assert curves.loc[(curves["run"] == "single") & (curves["step"] == 10), "gold"].tolist() == [2, 1]
    table = analysis.mean_se(curves, ["run", "step"], ["gold"])
    row = table[(table["run"] == "ensemble_min") & (table["step"] == 10)].iloc[0]
    assert (row["gold_mean"], row["gold_se"], row["n"]) == (3.5, pytest.approx(0.5), 2)
    at = analysis.gold_at_kl(curves, [5.0, 15.0])
    single = at[at["run"] == "single"].set_index(["seed", "kl"])["gold"]
    assert single[(0, 5.0)] == 1.5 and np.isnan(single[(0, 15.0)])  # beyond its last KL
    assert single[(1, 15.0)] == 1.0
    diff = analysis.paired_difference(at[at["kl"] == 5.0], "gold").iloc[0]
    # seed 0: 2.0 − 1.5, seed 1: 1.75 − 1.0
    assert diff["gold − single"] == pytest.approx(0.625) and diff["seeds"] == 2
    assert diff["se"] == pytest.approx(0.125)
    # 2 seeds: t with 1 degree of freedom, 12.706 standard errors each side
    half = 12.706 * 0.125
    assert diff["95 % low"] == pytest.approx(0.625 - half, abs=1e-3)
    assert diff["95 % high"] == pytest.approx(0.625 + half, abs=1e-3)
    table = analysis.mean_curves(curves)
    assert table.loc[(table["run"] == "single") & (table["step"] == 10), "kl_mean"].item() == 15.0
    final = analysis.final_points(curves)
    assert final["step"].tolist() == [10] * 4 and final["gold"].tolist() == [3.0, 4.0, 2.0, 1.0]
    fits = analysis.gao_rl_fits(table)
    assert fits.index.tolist() == [("beta0", "ensemble_min"), ("beta0", "single")]
    assert fits.columns.tolist() == ["alpha", "beta", "peak_kl"]
    # the KLs every run and seed reaches: single seed 0 stops at 10 nats
    assert analysis.matched_kls(curves, points=2) == {"beta0": [5.0, 10.0]}
    # a short drift: two significant figures, rounded down (never past the reach)
    short = curves.assign(kl=curves["kl"] / 30)  # single seed 0 reaches 1/3 nat
    assert analysis.matched_kls(short, points=4) == {"beta0": [0.083, 0.16, 0.25, 0.33]}
    assert analysis.gold_at_kl(curves, []).columns.tolist() == ["regime", "run", "seed", "kl", "gold"]
    by_regime = analysis.gold_at_kl(curves, {"beta0": [5.0]})
    assert by_regime["gold"].tolist() == at[at["kl"] == 5.0]["gold"].tolist()


def test_findings_pair_each_claims_runs_by_seed_and_judge_the_sign():
    gold = {"single": [[1, 3, 1], [1, 3, 1.5], [1, 3, 0.5]],  # falls by 2, 1.5, 2.5
            "gold": [[1, 2, 3]] * 3,  # the control: no fall
            "ensemble_min": [[1, 2, 2], [1, 2, 2.5], [1, 2, 1.5]],  # 1 above single at the end
            "multihead_min": [[1, 2, 2]]}  # one seed only
    curves = pd.DataFrame([{"regime": "beta0", "run": run, "seed": seed, "step": 10 * i, "gold": g}
                           for run, seeds in gold.items() for seed, values in enumerate(seeds)
                           for i, g in enumerate(values)])
    table = analysis.findings(curves).set_index("quantity")
    assert len(table) == len(analysis.CLAIMS)
    fall = table.loc["fall of the gold from its peak to the end: single − control"]
    assert (fall["mean"], fall["se"], fall["seeds"]) == (2.0, pytest.approx(0.5 / 3 ** 0.5), 3)
    assert fall["verdict"] == "agrees"
    ensemble = table.loc["gold at the end: ensemble_min − single"]
    assert (ensemble["mean"], ensemble["se"], ensemble["verdict"]) == (1.0, 0.0, "agrees")
    heads = table.loc["gold at the end: multihead_min − ensemble_min"]
    assert (heads["mean"], heads["seeds"], heads["verdict"]) == (0.0, 1, "not established (1 seed)")
    def judged(mean, se, seeds, expected):  # the verdict on a mean ± s.e. over seeds
        return analysis.verdict(*analysis.t_interval(mean, se, seeds), expected)

    no_sign = "not established (95 % interval includes 0)"
    assert judged(0.02, 0.06, 3, "≈ 0").startswith("no difference found")
    assert judged(1.1, 0.05, 2, "≈ 0") == "disagrees"
    assert judged(-1.05, 0.05, 2, "> 0") == "disagrees"
    assert judged(0.05, 0.45, 2, "> 0") == no_sign
    # beyond 2 s.e. is not enough with few seeds: 3 seeds need 4.3 s.e., 2 seeds 12.7
    assert judged(1.0, 0.3, 3, "> 0") == no_sign and judged(1.0, 0.2, 3, "> 0") == "agrees"
    assert judged(1.0, 0.1, 2, "> 0") == no_sign
    assert judged(1.0, np.nan, 1, "> 0") == "not established (1 seed)"
    markdown = analysis.findings_markdown(analysis.findings(curves))
    assert ("| β = 0 | gold at the end: ensemble_min − single | > 0 | +1.00 ± 0.00 (3) | "
            "+1.00 to +1.00 | agrees |" in markdown)
    assert "+0.00 (1) | – | not established (1 seed) |" in markdown  # one seed: no s.e.


def test_gao_fit_recovers_the_form_it_fits():
    kl = np.linspace(0.5, 60, 20)
    d = np.sqrt(kl)
    fit = analysis.gao_rl_fit(kl, d * (1.2 - 0.4 * np.log(d)))
    assert (fit["alpha"], fit["beta"]) == (pytest.approx(1.2), pytest.approx(0.4))
    assert fit["peak_kl"] == pytest.approx(np.exp(2 * (1.2 / 0.4 - 1)))  # d* = e^(α/β − 1)
    assert analysis.gao_rl_fit(kl, d)["peak_kl"] == float("inf")  # still rising: no peak


def test_answers_gold_terms_and_step_times_tables():
    evals = _evals().assign(prompt="Q", text="an answer", gold_fluency=0.5)
    table = analysis.answers(evals, n=2)
    assert table.columns.tolist() == ["prompt", "SFT policy (step 0)", "single (step 10)",
                                      "ensemble_min (step 10)"]
    assert table["single (step 10)"][0] == "an answer  [gold 1.50, reward 0.30]"
    terms = analysis.gold_terms(evals)
    assert terms.index.names == ["run", "step"]
    assert terms.columns.tolist() == ["words", "fluency", "gold"]
    assert terms.loc[("ensemble_min", 10), "gold"] == 3.5
    logs = pd.DataFrame({"regime": "beta0", "run": ["single", "single"], "generation_s": [1, 3],
                         "scoring_s": 1, "logprob_s": 1, "update_s": 1, "gold_s": 1})
    times = analysis.step_times(logs)
    assert times.loc[("beta0", "single"), "generation"] == 2
    paused = pd.concat([logs, logs.assign(update_s=[1, 8000])])  # one step of a paused process
    assert analysis.step_times(paused).loc[("beta0", "single"), "PPO update"] == 1
    assert times.columns[1] == "proxy scoring"
    assert times.loc[("beta0", "single"), "total"] == 6
    assert times.loc[("beta0", "single"), "CPU threads"] == "not logged"
    threads = analysis.step_times(logs.assign(threads=[2, 1]))["CPU threads"]
    assert threads.tolist() == ["1, 2"]  # one seed alone, one beside another (--jobs 2)


def test_member_scores_takes_one_reward_models_columns_in_order():
    evals = pd.DataFrame({"ensemble_0": [1.0, 2.0], "ensemble_1": [3.0, 4.0],
                          "multihead_0": [5.0, 6.0], "ensemble_mean": [9.0, 9.0]})
    assert analysis.member_scores(evals, "ensemble").tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert analysis.member_scores(evals, "single").shape == (2, 0)


def test_gold_at_kl_reads_the_first_crossing_along_time_not_a_sort_by_kl():
    """A KL-penalised run drifts to 10 nats, falls back to 4 and rises again: at 5 nats it is
    read between steps 0 and 1 (its first crossing), never between the late steps 2 and 3,
    which a sort by KL would splice in between."""
    curve = pd.DataFrame({"regime": "beta0.01", "run": "single", "seed": 0,
                          "step": [0, 10, 20, 30], "kl": [0.0, 10.0, 4.0, 6.0],
                          "kl_half_sq": [0.0, 2.0, 6.0, 8.0], "gold": [1.0, 3.0, -5.0, -7.0]})
    at = analysis.gold_at_kl(curve, [0.0, 5.0, 10.0, 11.0])["gold"].tolist()
    assert at[:3] == [1.0, 2.0, 3.0] and np.isnan(at[3])  # 11: never reached
    # the other estimator: ½ Σ log-ratio² reaches 5 nats between steps 10 and 20
    half = analysis.gold_at_kl(curve, [5.0], kl="kl_half_sq")
    assert half["gold"].item() == pytest.approx(3.0 + 0.75 * (-8.0))
    assert half["kl"].item() == 5.0
    assert analysis.matched_kls(curve, points=2, kl="kl_half_sq") == {"beta0.01": [4.0, 8.0]}


def test_term_differences_split_each_paired_difference_into_the_rubric_terms():
    """Two seeds of single and ensemble_min, one prompt each, at their last step (step 10; step
    0 is left out): the gold is relevance + fluency − 3·repetition under these weights."""
    weights = RubricWeights(relevance=1.0, fluency=2.0, repetition=3.0)
    rows = []
    for run, seed, rel, flu, rep in [("single", 0, 0.5, 0.5, 0.1), ("single", 1, 0.4, 0.6, 0.0),
                                     ("ensemble_min", 0, 0.6, 1.0, 0.0),
                                     ("ensemble_min", 1, 0.4, 0.8, 0.1)]:
        for step in (0, 10):
            rows.append({"regime": "beta0", "run": run, "seed": seed, "step": step,
                         "gold_relevance": rel, "gold_fluency": flu, "gold_repetition": rep,
                         "gold": rel + 2 * flu - 3 * rep if step else 99.0})
    evals = pd.DataFrame(rows)
    parts = analysis.contributions(evals, weights)
    assert parts.columns.tolist() == ["relevance", "fluency", "repetition"]
    np.testing.assert_allclose(parts.sum(1)[evals["step"] == 10], evals["gold"][evals["step"] == 10])
    table = analysis.term_differences(evals, weights).set_index("term")
    # fluency: seed 0 2·(1.0 − 0.5) = 1.0, seed 1 2·(0.8 − 0.6) = 0.4; repetition +0.3, −0.3
    assert table.loc["fluency", "end − single"] == pytest.approx(0.7)
    assert table.loc["repetition", "end − single"] == pytest.approx(0.0)
    assert table.loc["gold", "end − single"] == pytest.approx(0.75)  # 0.05 + 0.7 + 0.0
    assert table.loc["gold without fluency", "end − single"] == pytest.approx(0.05)
    assert table.loc["gold", "seeds"] == 2 and (table["run"] == "ensemble_min").all()


def test_gold_at_kl_gives_no_rows_for_a_regime_without_a_matched_kl():
    curve = pd.DataFrame({"regime": "beta0", "run": "single", "seed": 0, "step": [0, 10],
                          "kl": [0.0, -0.2], "kl_half_sq": [0.0, 0.1], "gold": [1.0, 2.0]})
    assert analysis.matched_kls(curve) == {}  # KL never rose above 0
    assert analysis.gold_at_kl(curve, analysis.matched_kls(curve)).empty


def test_paired_difference_gives_the_per_seed_sd_that_power_reads():
    table = pd.DataFrame({"run": ["single"] * 3 + ["ensemble_min"] * 3, "regime": "beta0",
                          "seed": [0, 1, 2] * 2, "gold": [1.0, 2.0, 3.0, 2.0, 2.5, 4.5]})
    row = analysis.paired_difference(table, "gold").iloc[0]  # differences 1.0, 0.5, 1.5
    assert row["sd"] == pytest.approx(0.5) and row["se"] == pytest.approx(0.5 / np.sqrt(3))


def test_paired_power_matches_a_simulated_t_test_and_grows_with_seeds():
    from scipy import stats

    rng = np.random.default_rng(0)
    diffs = rng.normal(0.5, 0.5, size=(20_000, 6))
    p = stats.ttest_1samp(diffs, 0, axis=1).pvalue
    assert analysis.paired_power(0.5, 0.5, 6) == pytest.approx((p < 0.05).mean(), abs=0.01)
    assert analysis.paired_power(0.0, 0.5, 6) == pytest.approx(0.05)
    powers = [analysis.paired_power(0.4, 0.3, n) for n in (3, 6, 9)]
    assert powers == sorted(powers) and powers[-1] > 0.8  # the study's plan: ~80 % at 9 seeds


def test_contrasts_label_paired_differences_for_a_forest_plot():
    paired = pd.DataFrame({"run": ["ensemble_min", "gold"], "regime": ["beta0", "beta0.01"],
                           "kl": [34.0, 51.5], "gold − single": [0.2, 1.0], "se": [0.1, 0.2],
                           "seeds": [3, 2], "95 % low": [-0.2, 0.1], "95 % high": [0.6, 1.9]})
    found = analysis.contrasts(paired)
    assert found["contrast"].tolist() == ["ensemble_min − single (β = 0, 34 nats)",
                                          "gold − single (β = 0.01, 51.5 nats)"]
    assert found["difference"].tolist() == [0.2, 1.0]
    assert analysis.excluding_zero(found).startswith("1 of 2 paired differences exclude 0 "
                                                     "(1 above, 0 below")
    plain = analysis.contrasts(paired.drop(columns=["regime", "kl"]))
    assert plain["contrast"].tolist() == ["ensemble_min − single", "gold − single"]


def test_the_compute_sentence_sums_every_phase_of_every_step():
    logs = pd.DataFrame({"regime": "confirm", "run": ["a", "a", "b"], "seed": 0,
                         "generation_s": [1800.0, 1800.0, 3600.0], "update_s": [900.0, 900.0, 0.0],
                         "threads": 1})
    assert analysis.compute_sentence(logs) == (
        "**Compute**: 2 runs, 2.5 h in their training steps (1.25 h a run; CPU threads a run: "
        "1); the held-out evaluations are not counted.")
    one = analysis.compute_sentence(logs[logs["run"] == "b"].drop(columns="threads"))
    assert one.startswith("**Compute**: 1 run, 1.0 h in their training steps (1.00 h a run)")


def test_the_compute_sentence_counts_a_paused_step_at_its_runs_median():
    logs = pd.DataFrame({"regime": "confirm", "run": "a", "seed": 0,
                         "generation_s": [60.0, 60.0, 60.0, 8000.0], "update_s": 0.0})
    assert analysis.compute_sentence(logs) == (
        "**Compute**: 1 run, 0.1 h in their training steps (0.07 h a run); 1 step that took "
        "over 10× its run's median (a paused process) counted at the median; the held-out "
        "evaluations are not counted.")


def test_the_drift_finding_counts_rewards_whose_gold_ends_below_the_sft_policy():
    def curve(run, gold, se, proxy):
        return pd.DataFrame({"run": run, "step": [0, 10, 40], "gold_mean": gold, "gold_se": se,
                             "proxy_mean": proxy})
    falls = curve("single", [4.6, 5.0, 2.0], [0.1, 0.1, 0.2], [0.0, 1.0, 1.8])
    within = curve("multihead_min", [4.6, 5.0, 4.4], [0.1, 0.1, 0.3], [0.0, 1.0, 1.5])  # 1 s.e.
    one_seed = curve("candidate_min", [4.6, 4.0, 3.0], [np.nan] * 3, [0.0, -0.2, -0.1])
    assert analysis.drift_finding(pd.concat([falls, within])) == (
        "Held-out gold ends below the SFT policy's for 1 of 2 rewards (single); each optimised "
        "reward rose")
    assert analysis.drift_finding(pd.concat([falls, one_seed])) == (
        "Held-out gold ends below the SFT policy's for every reward")
    assert analysis.drift_finding(within) == ("Held-out gold ends below the SFT policy's for no "
                                              "reward; each optimised reward rose")
