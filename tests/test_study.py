import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from conftest import mark_made
from rmens_utils import analysis, confirm, labels, rlhf, stages, study
from rmens_utils.artifacts import read_record, repo_root, write_record
from rmens_utils.config import get_config


def test_the_study_runs_exports_and_loads_each_run_once(stand_ins, tmp_path, monkeypatch, capsys):
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
    # the build's step 0 and labelled pairs, the reference of every later run; each run
    # records the build of the step 0 it started from
    assert labels.pinned_labels(cfg)["train"].to_dict() == \
        labels.run_labelling(cfg)["train"].to_dict()
    step0 = read_record(study.reference_step0("smoke", "beta0.01"))
    assert read_record(folder)["inputs"] == {"ppo/eval_sft": step0["build"]}
    assert step0["precision"] == cfg.precision
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
    more = [*plan, ("beta0", "multihead_min", 0)]
    monkeypatch.setattr(study, "parts", lambda c: {"paper": more, "all": more})
    _, partial = study.load_results(cfg, make_missing=False)
    assert sorted(partial["run"].unique()) == ["gold", "single"]
    assert "1 of the 3 runs asked for are not in results/smoke" in capsys.readouterr().out
    # long work is never started unasked: what is missing is said, with the command
    monkeypatch.setattr(study, "LONG_MINUTES", 0)
    _, partial = study.load_results(cfg)
    assert sorted(partial["run"].unique()) == ["gold", "single"]
    assert "scripts/run_study.sh" in capsys.readouterr().out
    # a long list is counted, not spelled out
    many = [*plan, *(("beta0", "multihead_min", s) for s in range(5))]
    monkeypatch.setattr(study, "parts", lambda c: {"paper": many, "all": many})
    study.load_results(cfg, make_missing=False)
    said = capsys.readouterr().out
    assert "5 of the 7 runs" in said and "seed2 and 2 more." in said and "seed3" not in said
    paths = study.save_figures(cfg)
    assert [p.name for p in paths] == ["gold_vs_kl_beta0.png", "gold_vs_kl_beta0.01.png",
                                       "RESULTS.md"]
    assert all(p.stat().st_size > 10_000 for p in paths[:2])
    page = paths[2].read_text()
    assert "](gold_vs_kl_beta0.png)" in page and "| claim |" in page


def test_a_cheap_ensembles_run_is_scored_by_it_from_step_0(stand_ins, tmp_path, monkeypatch):
    cfg = dataclasses.replace(stand_ins, ppo=dataclasses.replace(stand_ins.ppo, steps=2,
                                                                  eval_every=1))
    monkeypatch.setenv(study.RESULTS_ENV, str(tmp_path / "results"))
    run, variant = study.SMOKE_CHEAP_PLAN[0], study.CHEAP_RUN.removesuffix("_min")
    mark_made(cfg, *stages.trained_stages(cfg, f"rm_variants/{variant}"))  # stand-in: LengthReward
    assert run in study.plan(cfg, "all") and run not in study.plan(cfg)  # notebook 08's
    _, evals = study.load_results(cfg, [run])  # made, exported, loaded
    assert evals.groupby("step").size().to_dict() == {s: cfg.ppo.eval_prompts for s in (0, 1, 2)}
    df = analysis.with_aggregates(evals)  # the shared rewards' scores, and the variant's own
    assert df[["single_0", "multihead_0", f"{variant}_0"]].notna().all().all()
    assert (df["proxy"] == df[study.CHEAP_RUN]).all()  # a stand-in of one head: its score
    with pytest.raises(ValueError, match="Valid: confirm, kl_pilot, paper, cheap, all"):
        study.plan(cfg, "lora")
    # notebook 08 sets it against the paper's ensembles of the same seeds
    assert study.cheap_runs(cfg) == [("confirm", "ensemble_min", 0), ("confirm", "multihead_min", 0), run]
    assert study.cheap_runs(get_config("pilot")) == [
        ("beta0.01", "ensemble_min", 0), ("beta0.01", "multihead_min", 0),
        ("beta0.01", "ensemble_min", 1), ("beta0.01", "multihead_min", 1), *study.CHEAP_PLAN]
    # on cpu the screen's pick, in the confirmatory runs, against the same seeds' mins
    picked = study.cheap_runs(get_config("cpu"))
    assert picked[:2] == [("confirm", "ensemble_min", 0), ("confirm", "multihead_min", 0)]
    assert picked[18:] == [("confirm", f"{confirm.CANDIDATE}_min", s) for s in range(9)]
    assert set(study.plan(get_config("cpu"), "cheap")) <= set(study.plan(get_config("cpu")))


def test_the_results_page_shows_the_findings_and_figures_of_the_committed_runs(monkeypatch):
    monkeypatch.delenv(study.RESULTS_ENV, raising=False)  # the repository's own results/
    cfg = get_config("pilot")
    _, evals = study.load_results(cfg, make_missing=False)
    page = (study.results_dir("pilot") / study.RESULTS_PAGE).read_text()
    expected = analysis.findings_markdown(analysis.findings(analysis.seed_curves(evals)))
    assert expected in page, ("results/pilot/RESULTS.md is not the findings of the runs in "
                              "results/pilot: run `bash scripts/run_study.sh --figures`")
    for regime in dict.fromkeys(r for r, _, _ in study.plan(cfg, "all")):  # beta0, beta0.01
        assert f"](gold_vs_kl_{regime}.png)" in page
        assert (study.results_dir("pilot") / f"gold_vs_kl_{regime}.png").exists()
    assert "](results/pilot/RESULTS.md)" in (repo_root() / "README.md").read_text()


def test_a_bookkeeping_setting_keeps_every_committed_run_a_result_setting_does_not(monkeypatch):
    """Every run in results/pilot is recognised with today's settings; changing how often a run
    checkpoints (or SFT saves) keeps them all, changing what a run computes keeps none."""
    monkeypatch.delenv(study.RESULTS_ENV, raising=False)
    cfg = get_config("pilot")
    runs = study.plan(cfg, "all")
    assert study.status(cfg)["done"].all() and len(runs) == 20
    assert labels.pinned_labels(cfg) is not None
    bookkeeping = dataclasses.replace(
        cfg, ppo=dataclasses.replace(cfg.ppo, save_every=10),
        sft=dataclasses.replace(cfg.sft, save_steps=7))
    assert study.status(bookkeeping)["done"].all()
    assert labels.pinned_labels(bookkeeping) is not None
    for changed in (dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, clip=0.3)),
                    dataclasses.replace(cfg, sft=dataclasses.replace(cfg.sft, epochs=3.0)),
                    dataclasses.replace(cfg, rm=dataclasses.replace(cfg.rm, learning_rate=1e-5))):
        assert not study.status(changed)["done"].any()
    # the study's gold is another gold: none of the pilot's runs or labels are its own
    study_gold = dataclasses.replace(cfg, rubric=get_config("cpu").rubric)
    assert not study.status(study_gold)["done"].any() and labels.pinned_labels(study_gold) is None
    # a new version of a kind of stage (its code changed what it makes) re-makes it and after it
    monkeypatch.setitem(stages.VERSIONS, "reward_model", 2)
    assert not study.status(cfg)["done"].any() and labels.pinned_labels(cfg) is not None


def test_the_study_on_the_redesigned_gold_is_the_declared_confirmatory_plan():
    from rmens_utils import confirm

    cfg = get_config("cpu")
    runs = study.plan(cfg)  # its main part
    assert runs == study.plan(cfg, "confirm") and len(runs) == 9 * len(confirm.ARMS) + (
        confirm.CANDIDATE is not None) * 9
    block = len(confirm.runs(confirm.BLOCKS[0], confirm.CANDIDATE))
    assert study.plan(cfg, "all")[:block] == runs[:block]  # the first block, then the KL pilot
    assert study.plan(cfg, "all")[block:block + 2] == study.KL_PILOT
    assert sorted(study.plan(cfg, "all")) == sorted(runs + study.KL_PILOT)
    assert study.plan(get_config("pilot")) == study.PLAN  # the pilot's runs are its own
    with pytest.raises(ValueError, match="Valid: confirm, kl_pilot, cheap, all"):
        study.plan(cfg, "paper")


def test_jobs_share_the_runs_left_between_processes_of_one_thread_each(monkeypatch):
    cfg = get_config("smoke")
    runs = [("beta0", "single", 0), ("beta0", "gold", 0), ("beta0", "single", 1),
            ("beta0.01", "gold", 1)]
    monkeypatch.setattr(study, "is_exported", lambda c, n, s, r: (r, n, s) == runs[0])
    ran, built = [], []
    monkeypatch.setattr(study, "export_run", lambda c, n, s, r: ran.append((r, n, s)))
    monkeypatch.setattr(study, "check_build", lambda c, regime: built.append(regime))
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

        returncode = 0  # each ends well at the first look

        def poll(self):
            return self.returncode

    monkeypatch.setattr(study.subprocess, "Popen", Process)
    monkeypatch.setattr(study.time, "sleep", lambda s: None)
    monkeypatch.setattr(study.os, "cpu_count", lambda: 2)
    built.clear()
    monkeypatch.setattr(study, "prepare", lambda c, *names, allow_long: built.append(names))
    monkeypatch.setattr(study, "check_build", lambda c, regime: built.append(regime))
    monkeypatch.setattr(study, "check_precision", lambda c, regime: built.append(f"{regime}?"))
    made = {"rm_single", "rm_ensemble/member_1"}
    monkeypatch.setattr(study, "is_made", lambda c, name: name in made)
    study.run_parallel(cfg, 2)
    # each regime's precision first; then what the runs share, once: the SFT policy and the
    # labels here, the reward models not yet made shared between the two processes (the
    # three the evaluations score and every reward a run optimises, through the stages that
    # train them; no gold); then each regime's build; then the PPO runs
    assert built == ["confirm?", "beta0.003?", "beta0?", "beta0.01?", ("sft", "labels"),
                     "confirm", "beta0.003", "beta0", "beta0.01"]
    left = ["rm_ensemble/member_0", "rm_ensemble/member_2", "rm_multihead",
            *(f"rm_variants/lora_k3/member_{i}" for i in range(3))]
    study_ = ["-m", "rmens_utils.study"]
    assert started == [([*study_, "--prepare", *left[0::2]], "1", "smoke"),
                       ([*study_, "--prepare", *left[1::2]], "1", "smoke"),
                       *(([*study_, "--part", "all", "--shard", f"{i}/2"], "1", "smoke")
                         for i in (0, 1))]


def _step0(folder, df, build_of=None):
    """A stand-in for the runs folder's step-0 evaluation: its answers and scores, recorded."""
    folder.mkdir(parents=True, exist_ok=True)
    df.to_parquet(folder / "eval.parquet")
    return write_record(folder, {"stand-in": "step 0"}, {"sft": build_of}, precision="fp32")


def test_runs_from_another_build_are_refused_unless_it_reproduces_theirs(tmp_path, monkeypatch,
                                                                          capsys):
    cfg = dataclasses.replace(get_config("smoke"), precision="fp32")
    monkeypatch.setenv(study.RESULTS_ENV, str(tmp_path / "results"))
    runs = tmp_path / "runs" / "eval_sft"
    monkeypatch.setattr(study, "require", lambda c, stage, allow_long=None: runs)
    pinned = []  # the labels of each build that becomes the reference
    monkeypatch.setattr(study, "pin_labels", lambda c: pinned.append(c))
    step0 = pd.DataFrame({"step": 0, "text": ["Sleep early.", "Drink water.", "Walk.", "Read."],
                          "gold": [4.0, 5.0, 3.0, 4.5], "single_0": [0.1, -1.0, 0.7, 1.2]})
    first = _step0(runs, step0, "a")
    study.check_build(cfg)  # the first: it becomes the reference
    reference = study.reference_step0("smoke", "beta0")
    assert reference == tmp_path / "results" / "smoke" / "ppo" / "beta0" / "eval_sft"
    pd.testing.assert_frame_equal(pd.read_parquet(reference / "eval.parquet"), step0)
    assert read_record(reference)["build"] == first and pinned == [cfg]
    other = _step0(runs, step0.assign(text=["Sleep well.", "Tea.", "Run.", "Nap."]), "b")
    study.check_build(cfg)  # no run of today's settings in results/: a new reference
    assert read_record(reference)["build"] == other != first and len(pinned) == 2
    monkeypatch.setattr(study, "is_exported", lambda c, n, s, r: n == "single")  # a run made
    study.check_build(cfg)
    assert f"holds build {other}; the runs in results/ started from build {other}: the same " \
        "build" in capsys.readouterr().out
    # rebuilt elsewhere: other bytes (another build id), the same numbers up to rounding
    _step0(runs, step0.assign(text=["Sleep well.", "Tea.", "Run.", "Nap."],
                              single_0=step0["single_0"] + [0.02, -0.01, 0.0, 0.01]), "c")
    study.check_build(cfg)
    assert "another build that reproduces it (the same answers" in capsys.readouterr().out
    assert len(pinned) == 2  # a check against the reference pins nothing
    _step0(runs, step0.assign(text=["Sleep well.", "Tea.", "Walk.", "Nap."]), "d")
    with pytest.raises(RuntimeError, match=r"holds build \w+, and its step-0.*1 of 4 answers"
                                           r".*RMENS_RESULTS"):
        study.check_build(cfg)
    _step0(runs, step0.assign(text=["Sleep well.", "Tea.", "Run.", "Nap."],
                              single_0=[0.1, 1.2, 0.7, -1.0]), "e")  # another reward model
    with pytest.raises(RuntimeError, match=r"0 of 4 answers, single_0 correlates -0\.\d+"):
        study.check_build(cfg)
    study.check_build(cfg, "beta0.01")  # another regime: its own build and reference
    assert read_record(study.reference_step0("smoke", "beta0.01"))["build"] != other
    record = read_record(reference)
    (reference / "rmens_stage.json").write_text(json.dumps({**record, "precision": "bf16"}))
    monkeypatch.setattr(study, "require", lambda c, stage, allow_long=None: pytest.fail("built"))
    with pytest.raises(RuntimeError, match="were made in bf16.*RMENS_PRECISION=bf16"):
        study.check_build(cfg)  # refused before anything is built


def test_own_regime_is_the_one_whose_runs_the_runs_folders_models_scored(tmp_path, monkeypatch):
    cfg = get_config("smoke")
    monkeypatch.setenv(study.RESULTS_ENV, str(tmp_path / "results"))
    runs = tmp_path / "runs" / "eval_sft"
    monkeypatch.setattr(study, "require", lambda c, stage, allow_long=None: runs)
    step0 = pd.DataFrame({"step": 0, "text": ["Walk.", "Read.", "Nap."], "gold": [3.0, 4.5, 4.0],
                          "single_0": [0.7, 1.2, -0.4]})
    for regime, scores in (("beta0", [1.2, 0.7, -0.4]), ("beta0.01", [0.7, 1.2, -0.4])):
        _step0(study.reference_step0(cfg.profile, regime), step0.assign(single_0=scores))
    _step0(runs, step0, "another build")  # reproduces beta0.01's step 0
    assert study.own_regime(cfg) == "beta0.01"
    _step0(study.reference_step0(cfg.profile, "beta0"), step0, "another build")  # the same build
    assert study.own_regime(cfg) == "beta0"  # of both, the one with more planned runs
    _step0(runs, step0.assign(text="Run."))
    with pytest.raises(FileNotFoundError, match="run_study.sh"):
        study.own_regime(cfg)


def test_the_cpu_results_page_reports_the_confirmatory_study_by_arm(tmp_path, monkeypatch):
    """On cpu the page is the plan's report (confirm.report), its figure draws the arms (the
    members taking turns as single are one arm) and, once a look is reached, the contrasts."""
    from test_confirm import fake_runs

    from rmens_utils import confirm

    monkeypatch.setenv(study.RESULTS_ENV, str(tmp_path))
    logs, evals = fake_runs({"ensemble min": 1.0}, seeds=range(6), candidate=confirm.CANDIDATE)
    pilot_logs, pilot_evals = (t[t["run"].isin(["member0", "ensemble_min"]) & (t["seed"] == 0)]
                               .assign(regime="beta0.003") for t in (logs, evals))
    logs, evals = pd.concat([logs, pilot_logs]), pd.concat([evals, pilot_evals])
    prefixes = {prefix for prefix, _ in analysis.AGGREGATES.values()}
    evals = evals.assign(**{f"{p}_{j}": evals["gold"] for p in prefixes for j in range(3)},
                         kl=evals["step"] / 10, kl_half_sq=evals["step"] / 20, words=40,
                         finished=True)
    asked = []
    monkeypatch.setattr(study, "load_results", lambda cfg, runs, make_missing: (
        asked.append(runs) or (logs, evals.reset_index(drop=True))))
    paths = study.save_figures(get_config("cpu"))
    assert asked == [study.plan(get_config("cpu"), "all")]  # the study and its KL pilot
    assert [p.name for p in paths] == ["gold_vs_kl_confirm.png", "gold_vs_kl_beta0.003.png",
                                       "contrasts.png", "RESULTS.md"]
    page = paths[-1].read_text()
    assert "RMENS_PROFILE=cpu bash scripts/run_study.sh --figures" in page
    assert confirm.report(confirm.endpoint(logs, evals, confirm.CANDIDATE),
                          confirm.CANDIDATE) in page
    assert "(decided at 6 seeds)" in page and "](contrasts.png)" in page
    assert analysis.compute_sentence(logs) in page  # what the runs cost


def test_a_study_process_that_dies_is_named_at_once_and_the_others_go_on(monkeypatch, capsys):
    class Process:  # finishes after `polls` looks, with `code`
        def __init__(self, polls, code):
            self.polls, self.returncode, self.code = polls, None, code

        def poll(self):
            self.polls -= 1
            if self.polls <= 0:
                self.returncode = self.code
            return self.returncode

    fates = iter([Process(1, -9), Process(3, 0)])  # one killed for memory, one that ends well
    monkeypatch.setattr(study.subprocess, "Popen", lambda *a, **k: next(fates))
    monkeypatch.setattr(study.time, "sleep", lambda s: None)
    with pytest.raises(SystemExit, match="failed"):
        study._in_processes(get_config("smoke"), 2, [["--shard", "0/2"], ["--shard", "1/2"]])
    said = capsys.readouterr().out
    assert "`--shard 0/2` stopped, killed by signal 9 (SIGKILL: often out of memory" in said
    assert "1 still running" in said and "--shard 1/2" not in said  # the other ended well
    fates = iter([Process(2, 0), Process(1, 0)])
    study._in_processes(get_config("smoke"), 2, [["a"], ["b"]])  # all well: nothing raised


def test_by_arm_names_the_studys_runs_after_scoring_them_with_their_own_reward():
    """Member s of the full ensemble is the single arm of seed s: its proxy is that member's
    score, not the standalone single model's; the KL pilot's runs keep their names."""
    rows = [("confirm", "member0", 0), ("confirm", "member1", 1), ("confirm", "ensemble_min", 0),
            ("beta0.003", "member0", 0)]
    evals = pd.DataFrame([{"regime": r, "run": n, "seed": s, "step": 10, "prompt_idx": 0,
                           "gold": 0.0, "single_0": 9.0, "ensemble_0": 1.0, "ensemble_1": 2.0,
                           "ensemble_2": 3.0} for r, n, s in rows])
    named = study.by_arm(get_config("cpu"), evals)
    assert named["run"].tolist() == ["single", "single", "ensemble min", "member0"]
    assert named["proxy"].tolist() == [1.0, 2.0, 1.0, 1.0]
    assert analysis.with_aggregates(named)["proxy"].tolist() == [1.0, 2.0, 1.0, 1.0]  # kept


def test_the_audit_of_every_arm_counts_each_scorer_on_the_answers_it_scored():
    """One late answer (step 30: cpu's first held-out look of the endpoint) of two arms, gold
    below the SFT answer's: the full ensemble's members all prefer the late answer (disagree),
    the multi-head's all prefer the SFT answer (agree); the candidate scored only its own run."""
    rows = []
    for run in ("member0", "noise_0_min"):
        for step, gold, ens, heads in [(0, 4.0, 1.0, 2.0), (30, 1.0, 3.0, 0.0)]:
            own = {f"noise_0_{i}": 5.0 - step / 10 for i in range(3)} if run != "member0" else {}
            rows.append({"regime": "confirm", "run": run, "seed": 0, "step": step,
                         "prompt_idx": 0, "gold": gold, "single_0": 0.0, **own,
                         **{f"ensemble_{i}": ens for i in range(3)},
                         **{f"multihead_{i}": heads for i in range(3)}})
    evals = study.by_arm(get_config("cpu"), pd.DataFrame(rows))
    audits = study.audit_arms(get_config("cpu"), evals).set_index(["answers", "reward model",
                                                                    "scorer"])
    agrees = audits["agrees with the gold"]
    assert set(audits.index.get_level_values("answers")) == {"single", "candidate min"}
    assert agrees.xs("full ensemble", level="reward model").eq(0.0).all()
    assert agrees.xs("multi-head", level="reward model").eq(1.0).all()
    # the candidate's members: its own answers only (late 2.0 below SFT 5.0: agree)
    assert agrees.xs("candidate (noise_0)", level="reward model").eq(1.0).all()
    assert "candidate (noise_0)" not in audits.loc["single"].index.get_level_values(0)
