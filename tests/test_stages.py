import dataclasses
from pathlib import Path

import pytest

from rmens_utils import artifacts, get_config, pipeline, stages

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


def test_a_stage_made_with_other_settings_or_inputs_is_built_again(tmp_runs):
    cfg = get_config("smoke")
    folder = artifacts.stage_dir("smoke", "sft")
    folder.mkdir(parents=True)
    artifacts.write_record(folder, stages.sft_params(dataclasses.replace(cfg, seed=1)))
    assert [s.name for s in stages.missing(cfg, "sft")] == ["sft"]
    artifacts.write_record(folder, stages.sft_params(cfg))
    assert stages.missing(cfg, "sft") == []
    assert [s.name for s in stages.missing(cfg, "rm_multihead")] == ["labels", "rm_multihead"]
    labels = artifacts.stage_dir("smoke", "labels")
    labels.mkdir()
    artifacts.write_record(labels, stages.labels_params(cfg), stages.input_builds(cfg, "labels"))
    assert stages.is_made(cfg, "labels")
    (folder / "weights.bin").write_text("SFT made again, other bytes")
    artifacts.write_record(folder, stages.sft_params(cfg))  # a new build of the same settings
    assert not stages.is_made(cfg, "labels")  # made from the old build: not reused
    assert [s.name for s in stages.missing(cfg, "rm_single")] == ["labels", "rm_single"]
    with pytest.raises(artifacts.MissingArtifactError,
                       match=r"'rm_single' is not made.*02_gold_labels.*03_proxy_reward_model"
                             r".*pipeline.require\(cfg, 'rm_single'\)"):
        stages.folder(cfg, "rm_single")


def _fake_builders(monkeypatch, built):
    """Each builder stands for the notebook's function: it records its stage as made."""
    def build(cfg, name):
        built.append(name)
        folder = artifacts.stage_dir(cfg.profile, name)
        folder.mkdir(parents=True)
        artifacts.write_record(folder, stages.stage(cfg, name).params(cfg),
                               stages.input_builds(cfg, name))

    monkeypatch.setattr(pipeline, "BUILDERS", {kind: build for kind in pipeline.BUILDERS})


def test_require_says_what_it_will_build_then_builds_inputs_first(tmp_runs, monkeypatch, capsys):
    cfg, built = get_config("smoke"), []
    _fake_builders(monkeypatch, built)
    run = "ppo/beta0/single/seed0"
    folder = pipeline.require(cfg, run)
    assert built == ["sft", "labels", "rm_single", "rm_ensemble/member_0", "rm_ensemble/member_1",
                     "rm_ensemble/member_2", "rm_multihead", "ppo/eval_sft", run]
    assert folder == artifacts.stage_dir("smoke", run)
    out = capsys.readouterr().out
    assert "Not yet made with these settings in <runs>/smoke" in out
    assert "notebooks/02_gold_labels.ipynb" in out and "min" in out
    pipeline.require(cfg, run)  # now done: nothing more is built or said
    assert len(built) == 9 and capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="Unknown stage"):
        pipeline.require(cfg, "rm_singel")


def test_long_work_starts_only_when_asked(tmp_runs, monkeypatch, capsys):
    cfg, built = get_config("cpu"), []  # the cpu profile's minutes: labels alone take ~120
    _fake_builders(monkeypatch, built)
    monkeypatch.delenv(pipeline.ALLOW_LONG_ENV, raising=False)
    with pytest.raises(pipeline.LongWorkError, match=r"(?s)about 140 min.*RMENS_ALLOW_LONG=1.*"
                                                     r"prepare\(cfg, 'labels', allow_long=True\)"):
        pipeline.prepare(cfg, "labels")
    assert built == []
    pipeline.prepare(cfg, "sft")  # 20 min: built after saying so
    assert built == ["sft"]
    monkeypatch.setenv(pipeline.ALLOW_LONG_ENV, "1")
    pipeline.prepare(cfg, "labels")
    assert built == ["sft", "labels"]


def test_notebook_03_opened_alone_builds_what_it_needs(tmp_runs, tmp_path, monkeypatch):
    """As a student opening lesson 03 first: an empty runs folder, no earlier notebook run."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("RMENS_RESULTS", str(tmp_path / "results"))
    cfg = get_config("smoke")
    nb = nbformat.read(NOTEBOOKS / "03_proxy_reward_model.ipynb", as_version=4)
    NotebookClient(nb, timeout=1200, kernel_name="python3",  # inherits the folders above
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "Not yet made with these settings" in printed
    assert "notebooks/01_sft.ipynb" in printed and "notebooks/02_gold_labels.ipynb" in printed
    for name in ("sft", "labels", "rm_single", "bon_samples"):  # its inputs, then its own
        assert stages.is_made(cfg, name), name


def test_a_regime_sets_its_penalty_and_length_but_smoke_keeps_its_own_few_steps():
    from rmens_utils.stages import regime_config

    cpu, smoke = get_config("cpu"), get_config("smoke")
    assert regime_config(cpu, "confirm").ppo.steps == 40  # docs/study-plan.md §3
    assert regime_config(cpu, "beta0.003").ppo.beta == 0.003
    confirm_smoke = regime_config(smoke, "confirm").ppo
    assert confirm_smoke.steps == smoke.ppo.steps < 40 and confirm_smoke.beta == 0.0
