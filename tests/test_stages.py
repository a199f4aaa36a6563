import dataclasses
from pathlib import Path

import pytest

from rmens_utils import artifacts, get_config, stages

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_every_stage_depends_on_the_settings_of_its_inputs():
    cfg = get_config("smoke")
    other = dataclasses.replace(cfg, sft=dataclasses.replace(cfg.sft, learning_rate=1.0))
    for name in ("sft", "labels", "bon_samples", "rm_single", "rm_multihead",
                 "rm_ensemble/member_1", "ppo/eval_sft", "ppo/beta0/ensemble_min/seed0"):
        spec = stages.stage(cfg, name)
        assert spec.params(cfg) != spec.params(other), name  # an SFT change reaches every stage
    assert stages.reward_params(cfg, "rm_ensemble/member_1")["seed"] == cfg.seed + 2
    assert stages.reward_params(cfg, "rm_multihead")["num_heads"] == cfg.rm.num_members
    with pytest.raises(ValueError, match="Unknown stage"):
        stages.stage(cfg, "rm_singel")


def test_a_ppo_runs_seed_and_regime_are_its_identity():
    cfg = get_config("smoke")
    params = stages.stage(cfg, "ppo/beta0/single/seed0").params
    assert params(cfg) != stages.ppo_params(cfg, "single", seed=1)
    assert stages.ppo_params(cfg, "single", regime="beta0.01")["ppo"]["beta"] == 0.01
    assert stages.ppo_stage("gold", 2, "beta0.01") == "ppo/beta0.01/gold/seed2"
    assert stages.stage(cfg, "ppo/beta0.01/gold/seed2").needs == ("ppo/eval_sft",)
    with pytest.raises(ValueError, match="Unknown regime"):
        stages.ppo_params(cfg, "single", regime="beta1")
    with pytest.raises(ValueError, match="Unknown stage"):
        stages.stage(cfg, "ppo/beta1/single/seed0")


def test_a_stage_made_with_other_settings_is_built_again(tmp_runs):
    cfg = get_config("smoke")
    folder = artifacts.stage_dir("smoke", "sft")
    folder.mkdir(parents=True)
    artifacts.write_stage_config(folder, stages.sft_params(dataclasses.replace(cfg, seed=1)))
    assert [s.name for s in stages.missing(cfg, "sft")] == ["sft"]
    artifacts.write_stage_config(folder, stages.sft_params(cfg))
    assert stages.missing(cfg, "sft") == []
    assert [s.name for s in stages.missing(cfg, "rm_multihead")] == ["labels", "rm_multihead"]


def test_require_says_what_it_will_build_then_builds_inputs_first(tmp_runs, monkeypatch, capsys):
    cfg, built, real = get_config("smoke"), [], stages.stage

    def fake(cfg, name):
        spec = real(cfg, name)

        def build(c):  # stands for the notebook's function: records its settings as done
            built.append(name)
            artifacts.stage_dir(c.profile, name).mkdir(parents=True)
            artifacts.write_stage_config(artifacts.stage_dir(c.profile, name), spec.params(c))
        return dataclasses.replace(spec, build=build)

    monkeypatch.setattr(stages, "stage", fake)
    run = "ppo/beta0/single/seed0"
    folder = stages.require(cfg, run)
    assert built == ["sft", "labels", "rm_single", "rm_ensemble/member_0", "rm_ensemble/member_1",
                     "rm_ensemble/member_2", "rm_multihead", "ppo/eval_sft", run]
    assert folder == artifacts.stage_dir("smoke", run)
    out = capsys.readouterr().out
    assert f"'{run}' is not yet made with these settings in <runs>/smoke" in out
    assert "notebooks/02_gold_labels.ipynb" in out and "min" in out
    stages.require(cfg, run)  # now done: nothing more is built or said
    assert len(built) == 9 and capsys.readouterr().out == ""


def test_notebook_07_opened_alone_builds_what_it_needs():
    """As a student opening lesson 07 first: an empty runs folder, no earlier notebook run."""
    import nbformat
    from nbclient import NotebookClient

    cfg = get_config("smoke")
    assert not (artifacts.runs_root() / "smoke").exists(), "this test must run first"
    nb = nbformat.read(NOTEBOOKS / "07_calibration.ipynb", as_version=4)
    NotebookClient(nb, timeout=1200, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "is not yet made with these settings" in printed
    for name in ("sft", "labels", "rm_single", "rm_multihead", "rm_ensemble/member_2",
                 "ppo/eval_sft", "ppo/beta0/single/seed0", "ppo/beta0/ensemble_min/seed0",
                 "ppo/beta0/multihead_min/seed0"):
        assert artifacts.is_complete("smoke", name, stages.stage(cfg, name).params(cfg)), name
