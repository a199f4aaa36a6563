"""Notebook 08's cheap ensembles (stages.VARIANTS) and what is measured on them."""
import numpy as np
import pandas as pd
import pytest
import torch

from rmens_utils import diversity, get_config, proxy, stages
from rmens_utils.artifacts import stage_dir, stage_settings
from rmens_utils.reward_model import head_cosines, head_drift, initial_heads
from rmens_utils.training import bradley_terry_loss, train_reward_model
from conftest import TOPICS, easy_pairs, write_labels

PROMPTS = ["Tell me about moss.", "Say hi.", "Name a colour."]
ANSWERS = ["Moss is a small green plant.", "Hi!", "Blue."]


def test_head_drift_is_zero_at_initialisation_and_sees_a_moved_head():
    cfg = get_config("smoke")
    model, _ = proxy.new_reward_model(cfg, 3, seed=5)
    assert torch.equal(model.heads.weight, initial_heads(384, 3, seed=5).weight)
    drift = head_drift(model, seed=5)
    assert drift["relative change"].tolist() == [0, 0, 0]
    assert drift["cosine with initial"].to_numpy() == pytest.approx(1.0)
    with torch.no_grad():
        model.heads.weight[1] *= 2  # head 1 doubled: relative change 1, same direction
    drift = head_drift(model, seed=5)
    assert drift["relative change"].to_numpy() == pytest.approx([0, 1, 0], abs=1e-6)
    assert head_drift(model, seed=6)["cosine with initial"].abs().max() < 0.3  # other seed
    with torch.no_grad():
        model.heads.weight[2] = -model.heads.weight[0]
    cosines = head_cosines(model)
    assert np.diag(cosines) == pytest.approx(1.0)
    assert cosines.loc["head 0", "head 2"] == pytest.approx(-1.0)


def test_bootstrap_weights_keep_a_heads_gradient_off_the_pairs_it_did_not_draw():
    chosen = torch.zeros(4, 2, requires_grad=True)
    weights = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    bradley_terry_loss(chosen, torch.zeros(4, 2), weights).backward()
    # -log σ(x) has slope -1/2 at 0; each head averages over its own draws (4 of them)
    assert chosen.grad[:, 0].tolist() == pytest.approx([-0.25, -0.125, 0.0, -0.125])
    assert chosen.grad[:, 1].tolist() == pytest.approx([0.0, -0.125, -0.375, 0.0])


def test_a_frozen_backbone_stays_frozen_while_its_heads_learn(tmp_runs):
    cfg = get_config("smoke")
    write_labels(cfg, easy_pairs(TOPICS[:8]), easy_pairs(TOPICS[8:12]))
    model, tokenizer = proxy.new_reward_model(cfg, 2, seed=0)
    backbone = {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
    heads = model.heads.weight.detach().clone()
    train_reward_model(model, tokenizer, proxy.load_labels(cfg)["train"], epochs=1,
                       learning_rate=1e-3, batch_size=4, seed=0, freeze_backbone=True,
                       progress=False)
    assert all(torch.equal(p, backbone[n]) for n, p in model.backbone.named_parameters())
    assert not torch.allclose(model.heads.weight, heads)


def test_variant_settings_leave_the_series_stages_alone_and_name_every_variant():
    cfg = get_config("smoke")
    assert stages.reward_params(cfg, "rm_multihead")["lora_r"] == 0  # no LoRA: the whole model
    p = stages.reward_params(cfg, "rm_variants/multihead_k5")
    assert p == {**stages.reward_params(cfg, "rm_multihead"), "num_heads": 5}
    frozen = stages.variant_params(cfg, "frozen_k3")
    assert frozen["freeze_backbone"] and frozen["rm"]["learning_rate"] == 3e-3
    lora = stages.variant_params(cfg, "lora_k3")["members"]
    assert [m["seed"] for m in lora] == [cfg.seed + 1, cfg.seed + 2, cfg.seed + 3]
    assert lora[0] == stages.reward_params(cfg, "rm_variants/lora_k3/member_0")
    assert {m["lora_r"] for m in lora} == {16}
    assert stages.reward_params(cfg, "rm_variants/lora_k3") == {"members": lora}  # PPO's reward
    # PPO with each one's min: its scores are the evaluations' <name>_<j> columns
    assert stages.PPO_RUNS["lora_k3_min"] == ("rm_variants/lora_k3", "min")
    assert [stages.eval_prefix(s) for s in ("rm_multihead", "rm_variants/lora_k3")] == [
        "multihead", "lora_k3"]
    assert stages.stage(cfg, "rm_variants/lora_k3/member_2").notebook == "08_head_diversity"
    for bad in ("rm_variants/lora_k3", "rm_variants/multihead_k5/member_0", "rm_variants/k4"):
        with pytest.raises(ValueError, match="Unknown stage"):
            stages.stage(cfg, bad)
    with pytest.raises(ValueError, match="Valid: multihead_k5"):
        stages.variant_params(cfg, "dropout_k3")


def test_lora_members_differ_are_merged_and_load_as_trained(tmp_runs):
    cfg = get_config("smoke")
    write_labels(cfg, easy_pairs(TOPICS[:8]), easy_pairs(TOPICS[8:12]))
    ensemble, log = diversity.train_variant_stage(cfg, "lora_k3")
    assert sorted(log["member"].unique()) == [0, 1, 2]
    scores = ensemble.score(PROMPTS, ANSWERS)
    assert scores.shape == (3, 3)
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert not torch.allclose(scores[:, a], scores[:, b], atol=1e-3)
    pretrained, _ = proxy.new_reward_model(cfg, 1, seed=0)
    base = dict(pretrained.backbone.named_parameters())
    member = ensemble.members[0].model
    # merged: a plain backbone again, whose linear weights the adapters changed
    assert set(dict(member.backbone.named_parameters())) == set(base)
    name = "encoder.layer.0.attention.self.query.weight"
    assert not torch.allclose(member.backbone.get_parameter(name), base[name])
    again = proxy.load_reward(cfg, "rm_variants/lora_k3")
    assert torch.allclose(again.score(PROMPTS, ANSWERS), scores, atol=1e-5)
    assert stage_settings(stage_dir("smoke", "rm_variants/lora_k3/member_1"))["lora_r"] == 16


def test_summary_against_hand_values():
    # validation: 4 pairs, k = 2; the mean gets pair 3 wrong (margins -1 and 0.5), the
    # min gets it right (0 > -0.5), and its margins disagree most
    acc = {"chosen": np.array([[1.0, 1.0], [2.0, 2.0], [1.0, 1.0], [0.0, 0.0]]),
           "rejected": np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, -0.5]]),
           "clean": np.array([0.75, 0.75])}
    flipped = [False, False, False, False]
    sft = np.array([[0.0, 0.0], [1.0, 3.0]])
    late = np.array([[0.0, 2.0], [1.0, 1.0], [4.0, 0.0]])
    pairs = pd.DataFrame({"answer_a": [0, 0], "answer_b": [1, 2], "y": [1, 0]})
    row = diversity.summary(acc, flipped, sft, late, pairs)
    assert row["k"] == 2
    assert row["clean accuracy, mean"] == 0.75
    assert row["clean accuracy, min"] == 1.0
    assert row["AUROC of spread, in distribution"] == 1.0
    assert row["spread, SFT answers"] == pytest.approx(0.5)  # sds 0 and 1
    assert row["spread, late PPO answers"] == pytest.approx(1.0)  # sds 1, 0, 2
    assert row["spread growth (late / SFT)"] == pytest.approx(2.0)
    # off distribution: means 1 vs 1 (a tie counts as wrong for y = 1), 1 vs 2 (right, y = 0)
    assert row["error of mean, off distribution"] == 0.5
    assert row["mean − min gap, late PPO answers"] == pytest.approx((1 + 0 + 2) / 3)
    assert row["correlation of estimates"] == pytest.approx(1.0)


def test_late_answers_keep_each_runs_last_evaluation_and_pair_runs():
    evals = pd.DataFrame({"regime": "beta0", "seed": 0,
                          "run": ["a", "a", "a", "b", "b", "b"], "step": [0, 2, 4, 0, 2, 2],
                          "prompt": ["p", "p", "p", "p", "p", "q"],
                          "gold": [0.0, 1.0, 2.0, 0.0, 3.0, 1.0]})
    late = diversity.late_answers(evals)
    assert late[["run", "step"]].values.tolist() == [["a", 4], ["b", 2], ["b", 2]]
    late = late.assign(step=4)  # as if both ended at step 4
    pairs = diversity.late_pairs(late)
    assert pairs[["answer_a", "answer_b", "y"]].values.tolist() == [[0, 1, 0]]


def test_training_wall_times_take_the_references_from_their_logs_and_sum_lora_members(
        monkeypatch):
    made = pd.DataFrame({"training wall time (s)": [10.0, 30.0, 5.0]},
                        index=["single RM (03)", "full ensemble (04)", "multi-head (05)"])
    monkeypatch.setattr(proxy, "training_times", lambda cfg: made)
    logs = {"multihead_k5": pd.DataFrame({"seconds": [1.0, 6.0]}),
            "lora_k3": pd.DataFrame({"member": [0, 0, 1, 1], "seconds": [1.0, 2.0, 1.5, 4.0]})}
    times = diversity.training_wall_times(get_config("smoke"), logs)
    assert times.to_dict() == {"multihead_k3": 5.0, "full_ensemble": 30.0, "multihead_k5": 6.0,
                               "lora_k3": 6.0}
