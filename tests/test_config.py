import dataclasses

import pytest

from rmens_utils import PROFILES, get_config, setup
from rmens_utils.config import PILOT_RUBRIC


def test_profiles_exist_and_default_is_cpu(monkeypatch):
    assert set(PROFILES) == {"smoke", "cpu", "gpu", "pilot"}
    monkeypatch.delenv("RMENS_PROFILE", raising=False)
    assert get_config().profile == "cpu"


def test_the_pilot_is_the_cpu_profile_on_the_pilots_gold():
    cpu, pilot = PROFILES["cpu"], PROFILES["pilot"]
    assert pilot.rubric == PILOT_RUBRIC and cpu.rubric != PILOT_RUBRIC
    assert dataclasses.replace(pilot, profile="cpu", rubric=cpu.rubric) == cpu


def test_profile_chosen_by_environment_variable(monkeypatch):
    monkeypatch.setenv("RMENS_PROFILE", "gpu")
    assert get_config().profile == "gpu"


def test_unknown_profile_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv("RMENS_PROFILE", "laptop")
    with pytest.raises(ValueError) as err:
        get_config()
    for name in ("smoke", "cpu", "gpu", "laptop", "RMENS_PROFILE"):
        assert name in str(err.value)


def test_smoke_is_smaller_than_cpu():
    smoke, cpu = PROFILES["smoke"], PROFILES["cpu"]
    assert smoke.sft.max_examples < 100 and cpu.sft.max_examples is None
    assert 0 < smoke.sft.max_steps and cpu.sft.max_steps == -1
    assert smoke.generation.max_new_tokens < cpu.generation.max_new_tokens


def test_config_is_frozen_and_serialisable():
    cfg = get_config("cpu", seed=3)
    assert cfg.seed == 3 and '"seed": 3' in cfg.to_json()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 4


def test_bookkeeping_settings_are_left_out_of_the_result_settings():
    from rmens_utils.config import PPOConfig, SFTConfig, result_settings

    ppo = result_settings(PPOConfig())
    assert "save_every" not in ppo and ppo["eval_every"] == 10 and ppo["beta"] == 0.0
    assert "save_steps" not in result_settings(SFTConfig())
    labels = result_settings(get_config("cpu").labels)  # nested configs too
    assert labels["generation"]["top_p"] == 0.95 and labels["chunk_size"] == 256


def test_setup_seeds_and_returns_config(capsys):
    import torch

    cfg = setup("smoke")
    a = torch.rand(3)
    setup("smoke")
    assert torch.equal(a, torch.rand(3))
    out = capsys.readouterr().out
    assert "profile: smoke" in out and "transformers" in out and "device: cpu" in out
    assert cfg.profile == "smoke"


def test_setup_of_the_pilot_swaps_only_the_cpu_profile():
    assert setup("cpu", pilot=True, verbose=False).profile == "pilot"
    assert setup("smoke", pilot=True, verbose=False).profile == "smoke"  # no pilot of its own
