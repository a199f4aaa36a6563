import dataclasses

import numpy as np
import pandas as pd
import pytest

from rmens_utils import labels, rlhf, stages, study
from rmens_utils.artifacts import repo_root
from rmens_utils.config import get_config
from test_rlhf import stand_ins  # noqa: F401  (the fixture: PPO with stand-in rewards)


def test_the_study_runs_exports_and_loads_each_run_once(stand_ins, tmp_path, monkeypatch, capsys):  # noqa: F811
    cfg = dataclasses.replace(stand_ins, ppo=dataclasses.replace(stand_ins.ppo, steps=2,
                                                                  eval_every=1))
    monkeypatch.setenv(study.RESULTS_ENV, str(tmp_path / "results"))
    plan = [("beta0", "single", 0), ("beta0.01", "gold", 1)]
    assert not study.status(cfg, plan)["done"].any()
    study.run_study(cfg, plan)
    assert study.status(cfg, plan)["done"].all()
    folder = study.run_results("smoke", "gold", 1, "beta0.01")
    assert folder == tmp_path / "results" / "smoke" / "ppo" / "beta0.01" / "gold" / "seed1"
    assert sorted(p.name for p in folder.iterdir()) == ["eval.parquet", "log.csv",
                                                        "rmens_stage.json"]
    # the build's step 0 and labelled pairs, the reference of every later run
    assert labels.pinned_labels(cfg)["train"].to_dict() == \
        labels.run_labelling(cfg)["train"].to_dict()
    control = rlhf.train_ppo_stage(cfg, "gold", seed=1, regime="beta0.01")  # made: loaded
    assert control.folder.parts[-4:] == ("ppo", "beta0.01", "gold", "seed1")
    assert control.params["ppo"]["beta"] == 0.01 and control.params["seed"] == 1
    # the control's reward is the gold, standardised on the labelled answers
    standardised = (control.samples["gold"] - 10) / np.std([12, 12, 8, 8], ddof=1)  # stand_ins'
    assert control.samples["proxy"].to_numpy() == pytest.approx(standardised.to_numpy(), abs=1e-5)
    capsys.readouterr()
    logs, evals = study.load_results(cfg, plan)  # loaded, nothing re-run
    assert "to run" not in capsys.readouterr().out
    assert logs.groupby(["run", "seed"]).size().tolist() == [cfg.ppo.steps] * 2
    steps = evals.groupby("run")["step"].unique().map(list).to_dict()
    assert steps == {"gold": [0, 1, 2], "single": [0, 1, 2]}  # step 0: the shared SFT answers
    sft = evals[evals["step"] == 0]
    assert (sft[sft["run"] == "gold"]["text"].tolist() == sft[sft["run"] == "single"]["text"].tolist())
    study.run_study(cfg, plan)
    assert "2 of 2 runs already in results/smoke; 0 to run" in capsys.readouterr().out
    # a study still running: what is in results/ is shown, nothing is made
    monkeypatch.setattr(study, "plan", lambda c: [*plan, ("beta0", "multihead_min", 0)])
    _, partial = study.load_results(cfg, make_missing=False)
    assert sorted(partial["run"].unique()) == ["gold", "single"]
    paths = study.save_figures(cfg)
    assert [p.name for p in paths] == ["gold_vs_kl_beta0.png", "gold_vs_kl_beta0.01.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)  # smoke: README left as it is


def test_a_cheap_ensembles_run_is_scored_by_it_from_step_0(stand_ins, tmp_path, monkeypatch):  # noqa: F811
    cfg = dataclasses.replace(stand_ins, ppo=dataclasses.replace(stand_ins.ppo, steps=2,
                                                                  eval_every=1))
    monkeypatch.setenv(study.RESULTS_ENV, str(tmp_path / "results"))
    run, variant = ("beta0", study.CHEAP_RUN, 0), study.CHEAP_RUN.removesuffix("_min")
    assert run in study.plan(cfg, "all") and run not in study.plan(cfg)  # notebook 08's
    _, evals = study.load_results(cfg, [run])  # made, exported, loaded
    assert evals.groupby("step").size().to_dict() == {s: cfg.ppo.eval_prompts for s in (0, 1, 2)}
    df = study.with_aggregates(evals)  # the shared rewards' scores, and the variant's own
    assert df[["single_0", "multihead_0", f"{variant}_0"]].notna().all().all()
    assert (df["proxy"] == df[study.CHEAP_RUN]).all()  # a stand-in of one head: its score
    with pytest.raises(ValueError, match="Valid: paper, cheap, all"):
        study.plan(cfg, "lora")
    # notebook 08 sets it against the paper's ensembles of the same seeds
    assert study.cheap_runs(cfg) == [("beta0", "multihead_min", 0), ("beta0", "ensemble_min", 0), run]
    assert study.cheap_runs(get_config("cpu")) == [
        ("beta0.01", "ensemble_min", 0), ("beta0.01", "multihead_min", 0),
        ("beta0.01", "ensemble_min", 1), ("beta0.01", "multihead_min", 1), *study.CHEAP_PLAN]


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
    df = study.with_aggregates(_evals())
    assert (df["ensemble_min"] == -1).all() and (df["ensemble_mean"] == 0).all()
    assert (df["multihead_min"] == 0).all() and (df["multihead_mean"] == 1).all()
    assert df.loc[df["run"] == "single", "proxy"].tolist() == [pytest.approx(0.3)] * 8
    assert df.loc[df["run"] == "ensemble_min", "proxy"].eq(-1).all()
    # uwo with PPO's λ: mean 1 − 0.1 · population variance 1
    assert df["multihead_uwo"].tolist() == [pytest.approx(0.9)] * len(df)


def test_curves_matched_kl_and_paired_differences_against_hand_values():
    stored = _evals().astype({"gold": "float32", "kl": "float32"})  # as eval.parquet keeps them
    curves = study.seed_curves(stored)
    assert (curves[study.CURVE_COLUMNS].dtypes == "float64").all()
    assert curves.loc[(curves["run"] == "single") & (curves["step"] == 10), "gold"].tolist() == [2, 1]
    table = study.mean_se(curves, ["run", "step"], ["gold"])
    row = table[(table["run"] == "ensemble_min") & (table["step"] == 10)].iloc[0]
    assert (row["gold_mean"], row["gold_se"], row["n"]) == (3.5, pytest.approx(0.5), 2)
    at = study.gold_at_kl(curves, [5.0, 15.0])
    single = at[at["run"] == "single"].set_index(["seed", "kl"])["gold"]
    assert single[(0, 5.0)] == 1.5 and np.isnan(single[(0, 15.0)])  # beyond its last KL
    assert single[(1, 15.0)] == 1.0
    diff = study.paired_difference(at[at["kl"] == 5.0], "gold").iloc[0]
    # seed 0: 2.0 − 1.5, seed 1: 1.75 − 1.0
    assert diff["gold − single"] == pytest.approx(0.625) and diff["seeds"] == 2
    assert diff["se"] == pytest.approx(0.125)
    # 2 seeds: t with 1 degree of freedom, 12.706 standard errors each side
    half = 12.706 * 0.125
    assert diff["95 % low"] == pytest.approx(0.625 - half, abs=1e-3)
    assert diff["95 % high"] == pytest.approx(0.625 + half, abs=1e-3)
    table = study.mean_curves(curves)
    assert table.loc[(table["run"] == "single") & (table["step"] == 10), "kl_mean"].item() == 15.0
    final = study.final_points(curves)
    assert final["step"].tolist() == [10] * 4 and final["gold"].tolist() == [3.0, 4.0, 2.0, 1.0]
    fits = study.gao_rl_fits(table)
    assert fits.index.tolist() == [("beta0", "ensemble_min"), ("beta0", "single")]
    assert fits.columns.tolist() == ["alpha", "beta", "peak_kl"]
    # the KLs every run and seed reaches: single seed 0 stops at 10 nats
    assert study.matched_kls(curves, points=2) == {"beta0": [5.0, 10.0]}
    # a short drift: two significant figures, rounded down (never past the reach)
    short = curves.assign(kl=curves["kl"] / 30)  # single seed 0 reaches 1/3 nat
    assert study.matched_kls(short, points=4) == {"beta0": [0.083, 0.16, 0.25, 0.33]}
    assert study.gold_at_kl(curves, []).columns.tolist() == ["regime", "run", "seed", "kl", "gold"]
    by_regime = study.gold_at_kl(curves, {"beta0": [5.0]})
    assert by_regime["gold"].tolist() == at[at["kl"] == 5.0]["gold"].tolist()


def test_findings_pair_each_claims_runs_by_seed_and_judge_the_sign():
    gold = {"single": [[1, 3, 1], [1, 3, 1.5], [1, 3, 0.5]],  # falls by 2, 1.5, 2.5
            "gold": [[1, 2, 3]] * 3,  # the control: no fall
            "ensemble_min": [[1, 2, 2], [1, 2, 2.5], [1, 2, 1.5]],  # 1 above single at the end
            "multihead_min": [[1, 2, 2]]}  # one seed only
    curves = pd.DataFrame([{"regime": "beta0", "run": run, "seed": seed, "step": 10 * i, "gold": g}
                           for run, seeds in gold.items() for seed, values in enumerate(seeds)
                           for i, g in enumerate(values)])
    table = study.findings(curves).set_index("quantity")
    assert len(table) == len(study.CLAIMS)
    fall = table.loc["fall of the gold from its peak to the end: single − control"]
    assert (fall["mean"], fall["se"], fall["seeds"]) == (2.0, pytest.approx(0.5 / 3 ** 0.5), 3)
    assert fall["verdict"] == "agrees"
    ensemble = table.loc["gold at the end: ensemble_min − single"]
    assert (ensemble["mean"], ensemble["se"], ensemble["verdict"]) == (1.0, 0.0, "agrees")
    heads = table.loc["gold at the end: multihead_min − ensemble_min"]
    assert (heads["mean"], heads["seeds"], heads["verdict"]) == (0.0, 1, "not established (1 seed)")
    def judged(mean, se, seeds, expected):  # the verdict on a mean ± s.e. over seeds
        return study.verdict(*study.t_interval(mean, se, seeds), expected)

    no_sign = "not established (95 % interval includes 0)"
    assert judged(0.02, 0.06, 3, "≈ 0").startswith("no difference found")
    assert judged(1.1, 0.05, 2, "≈ 0") == "disagrees"
    assert judged(-1.05, 0.05, 2, "> 0") == "disagrees"
    assert judged(0.05, 0.45, 2, "> 0") == no_sign
    # beyond 2 s.e. is not enough with few seeds: 3 seeds need 4.3 s.e., 2 seeds 12.7
    assert judged(1.0, 0.3, 3, "> 0") == no_sign and judged(1.0, 0.2, 3, "> 0") == "agrees"
    assert judged(1.0, 0.1, 2, "> 0") == no_sign
    assert judged(1.0, np.nan, 1, "> 0") == "not established (1 seed)"
    markdown = study.findings_markdown(study.findings(curves))
    assert ("| β = 0 | gold at the end: ensemble_min − single | > 0 | +1.00 ± 0.00 (3) | "
            "+1.00 to +1.00 | agrees |" in markdown)
    assert "+0.00 (1) | – | not established (1 seed) |" in markdown  # one seed: no s.e.


def test_the_readme_shows_the_findings_and_figure_of_the_committed_runs(monkeypatch, tmp_path):
    monkeypatch.delenv(study.RESULTS_ENV, raising=False)  # the repository's own results/
    _, evals = study.load_results(get_config("cpu"), make_missing=False)
    table = study.findings_markdown(study.findings(study.seed_curves(evals)))
    readme = (repo_root() / "README.md").read_text()
    start, end = study.FINDINGS_MARKERS
    assert readme.split(start)[1].split(end)[0] == table, (
        "README's findings are not those of the runs in results/cpu: run "
        "`bash scripts/run_study.sh --figures`")
    assert "](results/cpu/gold_vs_kl_beta0.png)" in readme
    assert (study.results_dir("cpu") / "gold_vs_kl_beta0.png").exists()
    # --figures rewrites the table between the markers, and only it
    copy = tmp_path / "README.md"
    copy.write_text(f"intro\n{start}| old |\n{end}\nrest\n")
    study.write_readme_findings("| new |\n", copy)
    assert copy.read_text() == f"intro\n{start}| new |\n{end}\nrest\n"


def test_jobs_share_the_runs_left_between_processes_of_one_thread_each(monkeypatch):
    cfg = get_config("smoke")
    runs = [("beta0", "single", 0), ("beta0", "gold", 0), ("beta0", "single", 1),
            ("beta0.01", "gold", 1)]
    monkeypatch.setattr(study, "is_exported", lambda c, n, s, r: (r, n, s) == runs[0])
    ran, built = [], []
    monkeypatch.setattr(study, "export_run", lambda c, n, s, r: ran.append((r, n, s)))
    monkeypatch.setattr(study, "check_same_build", lambda c, regime: built.append(regime))
    study.run_study(cfg, runs, shard=(0, 2))
    assert ran == [runs[1], runs[3]]  # of the three left, the first and the third
    assert built == ["beta0", "beta0.01"]  # each regime's build, checked before the first run
    ran.clear()
    study.run_study(cfg, runs, shard=(1, 2))
    assert ran == [runs[2]]
    started = []

    class Process:
        def __init__(self, args, env):
            started.append((args[1:], env["OMP_NUM_THREADS"], env["RMENS_PROFILE"]))

        def wait(self):
            return 0

    monkeypatch.setattr(study.subprocess, "Popen", Process)
    monkeypatch.setattr(study.os, "cpu_count", lambda: 2)
    built.clear()
    monkeypatch.setattr(study, "require", lambda c, name: built.append(stages.stage(c, name).name))
    study.run_parallel(cfg, 2)
    # what the runs share is built once, before the processes start: the smoke plan's rewards,
    # each once, through the stages that train them; no gold
    members = [f"rm_ensemble/member_{i}" for i in range(cfg.rm.num_members)]
    assert built == ["beta0", "beta0.01", "rm_single", "rm_multihead", *members,
                     *(f"rm_variants/lora_k3/member_{i}" for i in range(3))]
    assert started == [(["-m", "rmens_utils.study", "--shard", f"{i}/2"], "1", "smoke")
                       for i in (0, 1)]


def test_runs_from_another_build_of_the_models_are_refused(tmp_path, monkeypatch):
    cfg = get_config("smoke")
    monkeypatch.setenv(study.RESULTS_ENV, str(tmp_path / "results"))
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setattr(study, "require", lambda c, stage: runs)
    pinned = []  # the labels of each build that becomes the reference
    monkeypatch.setattr(study, "pin_labels", lambda c: pinned.append(c))
    step0 = pd.DataFrame({"step": 0, "text": ["Sleep early.", "Drink water.", "Walk.", "Read."],
                          "gold": [4.0, 5.0, 3.0, 4.5], "single_0": [0.1, -1.0, 0.7, 1.2]})
    step0.to_parquet(runs / "eval.parquet")
    study.check_same_build(cfg)  # the first: it becomes the reference
    reference = tmp_path / "results" / "smoke" / "ppo" / "beta0" / "eval_sft.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(reference), step0)
    step0.assign(text=["Sleep well.", "Drink tea.", "Run.", "Nap."]).to_parquet(runs / "eval.parquet")
    study.check_same_build(cfg)  # no run of today's settings in results/: a new reference
    assert pd.read_parquet(reference)["text"].tolist() == ["Sleep well.", "Drink tea.", "Run.", "Nap."]
    step0.to_parquet(runs / "eval.parquet")
    study.check_same_build(cfg)
    assert pinned == [cfg] * 3
    monkeypatch.setattr(study, "is_exported", lambda c, n, s, r: n == "single")  # a run made
    step0.assign(gold=step0["gold"] + 1e-6).to_parquet(runs / "eval.parquet")
    study.check_same_build(cfg)  # float rounding: the same build
    step0.assign(single_0=step0["single_0"] + [0.02, -0.01, 0.0, 0.01]).to_parquet(runs / "eval.parquet")
    study.check_same_build(cfg)  # a reward model retrained with rounding differences
    assert len(pinned) == 3  # a check against the reference pins nothing
    step0.assign(text=["Sleep early.", "Drink tea.", "Walk.", "Read."]).to_parquet(runs / "eval.parquet")
    with pytest.raises(RuntimeError, match=r"another build.*1 of 4 answers.*RMENS_RESULTS"):
        study.check_same_build(cfg)
    step0.assign(gold=step0["gold"] + 0.01).to_parquet(runs / "eval.parquet")
    with pytest.raises(RuntimeError, match=r"0 of 4 answers, gold by up to 0.01;"):
        study.check_same_build(cfg)
    step0.assign(single_0=[0.1, 1.2, 0.7, -1.0]).to_parquet(runs / "eval.parquet")  # another RM
    with pytest.raises(RuntimeError, match=r"0 of 4 answers, single_0 correlates -0\.\d+;"):
        study.check_same_build(cfg)
    study.check_same_build(cfg, "beta0.01")  # another regime: its own build and reference
    other_regime = reference.parent.with_name("beta0.01") / "eval_sft.parquet"
    assert pd.read_parquet(other_regime)["single_0"].tolist() == [0.1, 1.2, 0.7, -1.0]
    made_in = reference.with_name("precision.txt")
    assert made_in.read_text() == f"{cfg.precision}\n"
    other = "bf16" if cfg.precision == "fp32" else "fp32"
    made_in.write_text(f"{other}\n")  # refused before anything is built
    monkeypatch.setattr(study, "require", lambda c, stage: pytest.fail("built"))
    with pytest.raises(RuntimeError, match=f"were made in {other}.*RMENS_PRECISION={other}"):
        study.check_same_build(cfg)


def test_own_regime_is_the_one_whose_runs_the_runs_folders_models_scored(tmp_path, monkeypatch):
    cfg = get_config("smoke")
    monkeypatch.setenv(study.RESULTS_ENV, str(tmp_path / "results"))
    monkeypatch.setattr(study, "require", lambda c, stage: tmp_path)  # the runs folder's step 0
    step0 = pd.DataFrame({"step": 0, "text": ["Walk.", "Read.", "Nap."], "gold": [3.0, 4.5, 4.0],
                          "single_0": [0.7, 1.2, -0.4]})
    for regime, scores in (("beta0", [1.2, 0.7, -0.4]), ("beta0.01", [0.7, 1.2, -0.4])):
        reference = study.reference_step0(cfg.profile, regime)  # made from two builds
        reference.parent.mkdir(parents=True)
        step0.assign(single_0=scores).to_parquet(reference)
    step0.to_parquet(tmp_path / "eval.parquet")
    assert study.own_regime(cfg) == "beta0.01"
    step0.to_parquet(study.reference_step0(cfg.profile, "beta0"))  # both from this build:
    assert study.own_regime(cfg) == "beta0"  # the one with more planned runs
    step0.assign(text="Run.").to_parquet(tmp_path / "eval.parquet")
    with pytest.raises(FileNotFoundError, match="run_study.sh"):
        study.own_regime(cfg)


def test_gao_fit_recovers_the_form_it_fits():
    kl = np.linspace(0.5, 60, 20)
    d = np.sqrt(kl)
    fit = study.gao_rl_fit(kl, d * (1.2 - 0.4 * np.log(d)))
    assert (fit["alpha"], fit["beta"]) == (pytest.approx(1.2), pytest.approx(0.4))
    assert fit["peak_kl"] == pytest.approx(np.exp(2 * (1.2 / 0.4 - 1)))  # d* = e^(α/β − 1)
    assert study.gao_rl_fit(kl, d)["peak_kl"] == float("inf")  # still rising: no peak


def test_answers_gold_terms_and_step_times_tables():
    evals = _evals().assign(prompt="Q", text="an answer", gold_fluency=0.5)
    table = study.answers(evals, n=2)
    assert table.columns.tolist() == ["prompt", "SFT policy (step 0)", "single (step 10)",
                                      "ensemble_min (step 10)"]
    assert table["single (step 10)"][0] == "an answer  [gold 1.50, reward 0.30]"
    terms = study.gold_terms(evals)
    assert terms.index.names == ["run", "step"]
    assert terms.columns.tolist() == ["words", "fluency", "gold"]
    assert terms.loc[("ensemble_min", 10), "gold"] == 3.5
    logs = pd.DataFrame({"regime": "beta0", "run": ["single", "single"], "generation_s": [1, 3],
                         "scoring_s": 1, "logprob_s": 1, "update_s": 1, "gold_s": 1})
    times = study.step_times(logs)
    assert times.loc[("beta0", "single"), "generation"] == 2
    assert times.columns[1] == "proxy scoring"
    assert times.loc[("beta0", "single"), "total"] == 6
    assert times.loc[("beta0", "single"), "CPU threads"] == "not logged"
    threads = study.step_times(logs.assign(threads=[2, 1]))["CPU threads"]
    assert threads.tolist() == ["1, 2"]  # one seed alone, one beside another (--jobs 2)


def test_member_scores_takes_one_reward_models_columns_in_order():
    evals = pd.DataFrame({"ensemble_0": [1.0, 2.0], "ensemble_1": [3.0, 4.0],
                          "multihead_0": [5.0, 6.0], "ensemble_mean": [9.0, 9.0]})
    assert study.member_scores(evals, "ensemble").tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert study.member_scores(evals, "single").shape == (2, 0)
