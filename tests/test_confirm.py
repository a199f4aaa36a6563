"""The confirmatory study's plan in code (:mod:`rmens_utils.confirm`) on hand-made runs."""
import numpy as np
import pandas as pd
import pytest

from rmens_utils import confirm, stages


def test_each_seed_runs_every_arm_and_the_single_arm_rotates_through_the_members():
    runs = confirm.runs(range(6), candidate="heads_lr30")
    assert len(runs) == 6 * 5 and {r for r, _, _ in runs} == {"confirm"}
    singles = [run for _, run, seed in runs if confirm.arm_of(run, "heads_lr30") == "single"]
    assert singles == ["member0", "member1", "member2"] * 2
    assert confirm.arm_of("heads_lr30_min", "heads_lr30") == confirm.CANDIDATE_ARM
    cfg_runs = {run for _, run, _ in runs}
    assert cfg_runs <= set(stages.PPO_RUNS) and stages.REGIMES["confirm"]["steps"] == 40
    assert [s for block in confirm.BLOCKS for s in block] == list(range(confirm.LOOKS[-1]))


def fake_runs(effects: dict[str, float], seeds=range(9), noise=0.1, seed=0, candidate=None):
    """Logs and evaluations of every arm whose gold is its effect plus seed noise."""
    rng = np.random.default_rng(seed)
    logs, evals = [], []
    for s in seeds:
        for _, run, _ in confirm.runs([s], candidate):
            gold = effects.get(confirm.arm_of(run, candidate), 0.0) + rng.normal(0, noise)
            logs += [{"regime": "confirm", "run": run, "seed": s, "step": t,
                      "gold": gold + (t == 35)} for t in range(40)]
            evals += [{"regime": "confirm", "run": run, "seed": s, "step": t,
                       "gold": gold - (t == 40)} for t in (0, 10, 20, 30, 40) for _ in range(2)]
    return pd.DataFrame(logs), pd.DataFrame(evals)


def test_the_endpoint_windows_are_the_registered_ones_for_40_steps_and_scale_to_short_runs():
    assert confirm.windows(40, 10) == (confirm.TRAIN_STEPS, confirm.HELD_OUT_STEPS)
    assert confirm.windows(40, 10) == (range(30, 40), (30, 40))  # docs/study-plan.md §3
    assert confirm.windows(2, 2) == (range(1, 2), (2,))  # smoke: one batch, the last look
    assert confirm.windows(8, 2) == (range(6, 8), (6, 8))


def test_the_endpoint_averages_the_late_training_batches_and_two_held_out_looks():
    logs, evals = fake_runs({"ensemble min": 1.0}, seeds=[0], noise=0.0)
    table = confirm.endpoint(logs, evals).set_index("arm")
    # training: 10 batches of 1, one of them +1 -> +0.1; held out: (1 + 0) / 2 -> -0.5
    assert table.loc["ensemble min", "training gold"] == pytest.approx(1.1)
    assert table.loc["ensemble min", "held-out gold"] == pytest.approx(0.5)
    assert table.loc["ensemble min", "endpoint"] == pytest.approx(0.8)
    unfinished = confirm.endpoint(logs[logs["step"] < 35], evals)
    assert unfinished.empty  # a run without its late batches has no endpoint
    other = confirm.endpoint(logs.assign(regime="beta0.003"), evals.assign(regime="beta0.003"))
    assert other.empty  # the KL pilot's runs are not the study's
    # a run of 8 steps evaluated every 2: batches 6 and 7 (gold 1 and 2), looks 6 and 8 (3, 4)
    keys = {"regime": "confirm", "run": "ensemble_min", "seed": 0}
    short_logs = pd.DataFrame([{**keys, "step": t, "gold": max(t - 5, 0)} for t in range(8)])
    short_evals = pd.DataFrame([{**keys, "step": t, "gold": t / 2} for t in range(0, 9, 2)])
    short = confirm.endpoint(short_logs, short_evals, window=confirm.windows(8, 2))
    assert short[["training gold", "held-out gold", "endpoint"]].values.tolist() == [[1.5, 3.5, 2.5]]
    assert confirm.endpoint(short_logs, short_evals).empty  # the registered window: no steps 30-39


def test_obrien_fleming_levels_spend_alpha_as_declared():
    assert confirm.obrien_fleming([1.0])[0] == pytest.approx(1.959964, abs=1e-5)
    bounds = confirm.obrien_fleming([2 / 3, 1])
    assert bounds[0] > 2.3 and 1.96 < bounds[1] < 2.05  # little spent at the interim
    # Brownian motion at t = 2/3 and 1 under no effect: crosses a bound in 5 % of draws
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, np.sqrt(2 / 3), 400_000)
    w2 = w1 + rng.normal(0, np.sqrt(1 / 3), len(w1))
    z1, z2 = w1 / np.sqrt(2 / 3), w2
    crossed = (np.abs(z1) >= bounds[0]) | (np.abs(z2) >= bounds[1])
    assert crossed.mean() == pytest.approx(0.05, abs=0.002)
    assert confirm.nominal_level(6) < confirm.nominal_level(9) < 0.05


def test_a_clear_effect_is_decided_at_the_interim_and_no_effect_never():
    logs, evals = fake_runs({"ensemble min": 1.0, "multi-head min": 0.8})
    table = confirm.endpoint(logs, evals)
    early = confirm.looks(table)
    assert early["look"].tolist() == [6, 6] and (early["decided at look"] == 6).all()
    logs, evals = fake_runs({}, seed=1)
    none = confirm.looks(confirm.endpoint(logs, evals))
    assert none["look"].tolist() == [6, 6, 9, 9] and none["decided at look"].isna().all()
    # Holm: the smaller p is held to the stricter level
    final = none[none["look"] == 9].sort_values("p")
    assert final["level"].iloc[0] == pytest.approx(confirm.nominal_level(9, 0.025))
    # with seeds 0-5 missing a run of one arm, there is no look yet
    partial = table[~((table["seed"] == 4) & (table["arm"] == "single"))]
    assert confirm.looks(partial).empty


def test_non_inferiority_reads_the_one_sided_lower_bound_against_the_margin():
    logs, evals = fake_runs({"ensemble min": 1.0, "multi-head min": 0.95}, noise=0.05)
    table = confirm.secondary(confirm.endpoint(logs, evals), 9).set_index("contrast")
    assert table.loc["multi-head min − ensemble min", "non-inferior"]
    logs, evals = fake_runs({"ensemble min": 1.0, "multi-head min": 0.5}, noise=0.05)
    table = confirm.secondary(confirm.endpoint(logs, evals), 9).set_index("contrast")
    assert not table.loc["multi-head min − ensemble min", "non-inferior"]


def test_the_candidate_arm_is_what_the_declared_rule_picks_from_the_committed_screen():
    from rmens_utils import exploits, screen
    from rmens_utils.artifacts import repo_root

    path = repo_root() / "results" / "cpu" / "screen" / "table.csv"
    table = pd.read_csv(path, index_col=0) if path.is_file() else None
    if table is None or set(table.index) != set(screen.CANDIDATES):
        assert confirm.CANDIDATE is None  # the screen is not complete: no candidate yet
    else:
        chosen = exploits.pick(table)  # the paper's two ensembles are arms already
        assert confirm.CANDIDATE == (chosen if chosen in stages.SCREEN else None)


def test_the_rule_picks_the_passing_candidate_whose_min_agrees_most():
    from rmens_utils import exploits

    table = pd.DataFrame({"passes": [True, False, True], "min agreement": [0.6, 0.9, 0.7]},
                         index=["a", "b", "c"])
    assert exploits.pick(table) == "c"
    assert exploits.pick(table.assign(passes=False)) is None


def test_the_report_tests_nothing_before_the_interim_look_and_then_what_the_plan_says():
    logs, evals = fake_runs({"ensemble min": 1.0, "candidate min": 0.5}, seeds=range(3),
                            candidate="noise_0")
    none = confirm.report(confirm.endpoint(logs.iloc[:0], evals.iloc[:0]), "noise_0")
    assert none.endswith("No run of the study has finished yet.") and "| arm |" not in none
    assert "(steps 30–39 of training, held out at 30 and 40)" in none  # the registered window
    short = confirm.report(confirm.endpoint(logs.iloc[:0], evals.iloc[:0]), None, confirm.windows(2, 2))
    assert "(step 1 of training, held out at 2)" in short
    early = confirm.report(confirm.endpoint(logs, evals, "noise_0"), "noise_0")
    assert "Seeds with an endpoint in every arm: 3 of 9" in early and "No look yet" in early
    assert "| candidate min | +0.2" in early and "| p |" not in early  # 0.5 above single's
    assert "`noise_0_min`" in early
    logs, evals = fake_runs({"ensemble min": 1.0}, candidate="noise_0")
    table = confirm.endpoint(logs, evals, "noise_0")
    done = confirm.report(table, "noise_0")
    assert "| 6 seeds | ensemble min − single | +1.0" in done
    assert "better than single (decided at 6 seeds)" in done
    assert "| 9 seeds | multi-head min − single |" in done and "not established" in done
    assert "**Secondary contrasts** (at 9 seeds" in done and "| candidate min − single |" in done
    found = confirm.looks(table)
    assert confirm.final_look(found) == 9 and confirm.final_look(found[found["look"] == 6]) is None
    assert confirm.headline(found[found["look"] == 6]).startswith(
        "At 6 seeds: ensemble min − single +1.0")


def test_the_contrasts_plot_fills_the_decided_and_draws_the_margin():
    from rmens_utils import plotting

    logs, evals = fake_runs({"ensemble min": 1.0})
    table = confirm.endpoint(logs, evals)
    found = confirm.looks(table)
    look = confirm.latest_look(table)  # the final look: with the secondary contrasts
    shown = look["found"]
    assert look["margin"] == confirm.NI_MARGIN and look["title"].startswith("At 9 seeds: ")
    fig = plotting.plot_contrasts(**look)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == [
        "ensemble min − single (9 seeds)", "multi-head min − single (9 seeds)"]
    assert ax.get_yticklabels()[2].get_text() == "multi-head min − multi-head mean"
    filled, hollow = [line for line in ax.lines if line.get_marker() == "o"]  # decided, open
    assert len(filled.get_xdata()) == 1 and filled.get_xdata()[0] == pytest.approx(
        found.loc[found["look"] == 9, "difference"].iloc[0])
    assert len(hollow.get_xdata()) == len(shown) - 1
    assert any(list(line.get_xdata()) == [-confirm.NI_MARGIN] * 2 for line in ax.lines)
    assert fig.legends or ax.get_legend() is not None
    interim = confirm.latest_look(table[table["seed"] < 6])  # the primaries alone, no margin
    assert interim["margin"] is None and set(interim["found"]["look"]) == {6}
    assert interim["title"].startswith("At 6 seeds: ")
    assert confirm.latest_look(table[table["seed"] < 5]) is None  # before the interim look
