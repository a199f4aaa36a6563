"""The screen's candidates (stages.SCREEN, docs/study-plan.md): their settings, the pairs each
member sees, heads that learn, other representations, and one candidate made end to end."""
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from datasets import Dataset

from rmens_utils import get_config, pipeline, proxy, stages
from rmens_utils.artifacts import stage_dir, stage_settings
from rmens_utils.training import train_reward_model
from conftest import TOPICS, easy_pairs, write_labels

KNOBS = {"head_lr_factor", "shard", "max_pairs", "noise", "pooling", "backbone"}


def test_every_candidate_is_declared_with_known_settings_and_leaves_the_series_alone():
    cfg = get_config("smoke")
    for name, spec in stages.SCREEN.items():
        specs = spec if isinstance(spec, list) else [spec]
        assert all(set(s) <= KNOBS for s in specs), name
        for s in stages.trained_stages(cfg, f"rm_screen/{name}"):
            declared = stages.stage(cfg, s)
            assert declared.kind in pipeline.BUILDERS and declared.needs == ("labels",)
            assert all(declared.kind in table for table in stages.MINUTES.values())
            assert stages.reward_params(cfg, s)["screen"] in specs
    # a member of a list is member i of notebook 04 (its seed and epochs) but for its settings
    member = stages.reward_params(cfg, "rm_screen/pairs_600/member_1")
    assert {**member, "screen": None} == {**stages.reward_params(cfg, "rm_ensemble/member_1"),
                                          "screen": None}
    heads = stages.reward_params(cfg, "rm_screen/heads_lr30")
    assert {k: v for k, v in heads.items() if k != "screen"} == \
        stages.reward_params(cfg, "rm_multihead")
    assert "screen" not in stages.reward_params(cfg, "rm_single")
    assert stages.parse_screen_stage("rm_screen/mixed") is None  # a list: only its members
    assert stages.parse_screen_stage("rm_screen/mixed/member_3") is None
    with pytest.raises(ValueError, match="Valid: heads_lr30"):
        stages.screen_params(cfg, "lora")


def test_each_member_sees_the_pairs_its_settings_say():
    n = 30
    rng = np.random.default_rng(0)
    gold_a, gold_b = rng.normal(size=n), rng.normal(size=n)
    flipped = rng.random(n) < 0.25
    better_is_a = gold_a > gold_b
    chosen_is_a = better_is_a ^ flipped
    pairs = Dataset.from_dict({
        "prompt": [f"p{i}" for i in range(n)],
        "chosen": [f"a{i}" if c else f"b{i}" for i, c in enumerate(chosen_is_a)],
        "rejected": [f"b{i}" if c else f"a{i}" for i, c in enumerate(chosen_is_a)],
        "gold_chosen": np.where(chosen_is_a, gold_a, gold_b),
        "gold_rejected": np.where(chosen_is_a, gold_b, gold_a), "flipped": flipped})
    assert len(proxy.training_pairs(pairs, {"max_pairs": 12}, 0)) == 12
    thirds = [list(proxy.training_pairs(pairs, {"shard": [i, 3]}, 0)["prompt"]) for i in range(3)]
    assert sorted(sum(thirds, [])) == sorted(pairs["prompt"]) and len(thirds[0]) == 10
    clean = proxy.training_pairs(pairs, {"noise": 0.0}, 0).to_pandas()
    assert (clean["gold_chosen"] > clean["gold_rejected"]).all() and not clean["flipped"].any()
    assert clean["prompt"].tolist() == list(pairs["prompt"])  # the same pairs, in order
    noisy = proxy.training_pairs(pairs, {"noise": 0.4}, 1).to_pandas()
    assert ((noisy["gold_chosen"] < noisy["gold_rejected"]) == noisy["flipped"]).all()
    assert 0 < noisy["flipped"].mean() < 1


def test_heads_at_a_higher_rate_move_further_from_their_start(tmp_runs):
    cfg = get_config("smoke")
    write_labels(cfg, easy_pairs(TOPICS[:8]), easy_pairs(TOPICS[8:12]))
    moved = {}
    for factor in (1.0, 100.0):
        model, tokenizer = proxy.new_reward_model(cfg, 2, seed=0)
        start = model.heads.weight.detach().clone()
        train_reward_model(model, tokenizer, proxy.load_labels(cfg)["train"], epochs=1,
                           learning_rate=1e-4, batch_size=4, seed=0, head_lr_factor=factor,
                           progress=False)
        moved[factor] = (model.heads.weight - start).norm().item()
    assert moved[100.0] > 10 * moved[1.0]


def test_other_representations_score_and_round_trip(tmp_path):
    cfg = get_config("smoke")
    prompts, answers = ["Name a fruit."] * 2, ["An apple.", "Pears are sweet."]
    first, tokenizer = proxy.new_reward_model(cfg, 1, seed=0, pooling="first")
    assert first.config.pooling == "first"
    policy, policy_tokenizer = proxy.new_reward_model(cfg, 1, seed=0, backbone="policy")
    assert policy.config.pooling == "last" and policy.config.backbone_config.model_type == "llama"
    for model, tok in ((first, tokenizer), (policy, policy_tokenizer)):
        before = proxy.ProxyReward(model, tok).score(prompts, answers)
        model.save_pretrained(tmp_path / model.config.pooling)
        tok.save_pretrained(tmp_path / model.config.pooling)
        again = proxy.ProxyReward.load(tmp_path / model.config.pooling).score(prompts, answers)
        assert torch.allclose(before, again, atol=1e-5)


def test_a_candidate_of_members_is_made_member_by_member_and_loads_as_one(tmp_runs):
    cfg = get_config("smoke")
    write_labels(cfg, easy_pairs(TOPICS[:12]), easy_pairs(TOPICS[12:15]))
    with pytest.raises(ValueError, match="fewer than one batch of 4"):
        train_reward_model(*proxy.new_reward_model(cfg, 1, seed=0),
                           proxy.load_labels(cfg)["train"].select(range(3)), epochs=1,
                           learning_rate=1e-4, batch_size=4, seed=0, progress=False)
    pipeline.prepare(cfg, "rm_screen/disjoint_thirds")  # all its members
    for i in range(3):
        folder = stage_dir("smoke", f"rm_screen/disjoint_thirds/member_{i}")
        assert stage_settings(folder)["screen"] == {"shard": [i, 3]}
    reward = proxy.load_reward(cfg, "rm_screen/disjoint_thirds")
    assert reward.score(["Tell me about moss."], ["Moss is green."]).shape == (1, 3)
    assert stages.is_made(cfg, "rm_screen/disjoint_thirds/member_2")


def test_the_screen_scores_the_bank_once_keeps_each_candidate_and_outlives_the_runs_folder(
        tmp_runs, tmp_path, monkeypatch, capsys):
    from rmens_utils import screen

    monkeypatch.setenv("RMENS_RESULTS", str(tmp_path / "results"))
    cfg = get_config("smoke")
    write_labels(cfg, easy_pairs(TOPICS[:8]), easy_pairs(TOPICS[8:12]))
    rows = [{"regime": "beta0", "run": "single", "seed": 0, "step": step, "prompt_idx": i,
             "prompt": f"Tell me about {topic}.", "text": text}
            for i, topic in enumerate(TOPICS[:4])
            for step, text in ((0, f"{topic.capitalize()} are studied by many people."),
                               (40, f"{topic} {topic} {topic} {topic} {topic}"))]
    pairs, answers = screen.load_bank(cfg, pd.DataFrame(rows))
    assert len(pairs) == 4 * 4 and len(answers) == 4 * 5  # one late and 3 damaged copies each
    assert {"gold", "gold_repetition"} <= set(answers.columns)
    assert screen.load_bank(cfg, evals=None)[1].equals(answers)  # kept: not built again

    scores = screen.candidate_scores(cfg, "heads_lr30")  # trains it first
    assert scores.shape == (len(answers), cfg.rm.num_members)
    assert screen.is_scored(cfg, "heads_lr30") and not screen.is_scored(cfg, "noise_0")
    table = screen.screen_table(cfg)
    assert table.index.tolist() == ["heads_lr30"]
    assert screen.load_screen(cfg, make_missing=False).equals(table)  # what results/ holds
    assert "not screened" in capsys.readouterr().out
    assert screen.save_table(cfg).equals(table)
    saved = pd.read_csv(screen.folder(cfg) / "table.csv", index_col=0)
    assert saved.index.tolist() == ["heads_lr30"] and (screen.folder(cfg) / "screen.png").is_file()
    assert table.loc["heads_lr30", "pairs"] == len(screen.exploit_pairs(cfg)) > 0
    # results/ holds the scores: read back with the reward model's stage gone
    shutil.rmtree(stage_dir("smoke", "rm_screen/heads_lr30"))
    np.testing.assert_array_equal(screen.candidate_scores(cfg, "heads_lr30"), scores)
    assert not stages.is_made(cfg, "rm_screen/heads_lr30")
