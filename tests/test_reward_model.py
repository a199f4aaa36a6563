import numpy as np
import pandas as pd
import pytest
import torch

from rmens_utils import get_config, models
from rmens_utils.reward_model import MultiHeadRewardModel
from rmens_utils.training import (
    bootstrap_weights,
    bradley_terry_loss,
    encode,
    score,
    train_reward_model,
)


@pytest.fixture(scope="module")
def backbone():
    return models.load_rm_backbone(get_config("smoke"))


def test_bradley_terry_loss_against_hand_values():
    chosen = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    rejected = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    import math
    sp = lambda x: math.log1p(math.exp(-x))  # noqa: E731  -log sigmoid(x)
    expected = (sp(1) + sp(2)) / 2 + (sp(0) + sp(-1)) / 2
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(expected, rel=1e-5)
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # head 0 sees pair 0, head 1 sees pair 1
    assert bradley_terry_loss(chosen, rejected, w).item() == pytest.approx(sp(1) + sp(-1), rel=1e-5)


def test_bootstrap_weights_resample_each_head_differently():
    w = bootstrap_weights(1000, 3, seed=0)
    assert w.shape == (1000, 3) and (w.sum(0) == 1000).all()
    assert not torch.equal(w[:, 0], w[:, 1])
    assert 0.55 < (w[:, 0] > 0).float().mean() < 0.7  # ~63 % of pairs drawn at least once


def test_forward_gives_one_score_per_head_and_heads_differ(backbone):
    model = MultiHeadRewardModel.from_backbone(backbone[0], num_heads=3, seed=0)
    enc = encode(backbone[1], ["Say hi.", "Say hi."], ["Hi!", "Hello there."], 64)
    out = model(**enc)
    assert out.shape == (2, 3)
    assert not torch.allclose(out[:, 0], out[:, 1])


def test_head_init_depends_on_the_seed_only(backbone):
    a = MultiHeadRewardModel.from_backbone(backbone[0], 2, seed=1).heads.weight
    b = MultiHeadRewardModel.from_backbone(backbone[0], 2, seed=1).heads.weight
    c = MultiHeadRewardModel.from_backbone(backbone[0], 2, seed=2).heads.weight
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_backbone_weights_survive_wrapping(backbone):
    before = backbone[0].embeddings.word_embeddings.weight.clone()
    model = MultiHeadRewardModel.from_backbone(backbone[0], 1)
    assert torch.equal(model.backbone.embeddings.word_embeddings.weight, before)


def test_save_and_load_round_trip(backbone, tmp_path):
    model = MultiHeadRewardModel.from_backbone(backbone[0], num_heads=2, seed=0)
    model.save_pretrained(tmp_path)
    again = MultiHeadRewardModel.from_pretrained(tmp_path)
    assert again.config.num_heads == 2 and again.config.pooling == "mean"
    prompts, answers = ["What is rain?"], ["Water falling from clouds."]
    assert torch.allclose(score(model, backbone[1], prompts, answers),
                          score(again, backbone[1], prompts, answers), atol=1e-5)


def test_training_learns_a_simple_preference_in_every_head(backbone):
    """Chosen answers mention the topic, rejected ones do not: the loss must fall, and
    every head must be pushed (non-zero gradient) towards ranking them right."""
    topics = ["rain", "bread", "tides", "volcanoes", "bees", "stars", "coffee", "glass"]
    pairs = pd.DataFrame({
        "prompt": [f"Tell me about {t}." for t in topics],
        "chosen": [f"{t.capitalize()} are a fascinating subject with a long history." for t in topics],
        "rejected": ["I do not know anything, sorry."] * len(topics)})
    model = MultiHeadRewardModel.from_backbone(
        models.load_rm_backbone(get_config("smoke"))[0], num_heads=2, seed=0)
    tok = backbone[1]
    heads_before = model.heads.weight.detach().clone()
    log = train_reward_model(model, tok, pairs, epochs=6, learning_rate=1e-4, batch_size=4,
                             seed=0, progress=False)
    assert log["loss"].iloc[-4:].mean() < log["loss"].iloc[:2].mean()
    moved = (model.heads.weight.detach() - heads_before).abs().sum(1)
    assert (moved > 0).all()
    r_c = score(model, tok, list(pairs["prompt"]), list(pairs["chosen"]))
    r_r = score(model, tok, list(pairs["prompt"]), list(pairs["rejected"]))
    assert ((r_c > r_r).float().mean(0) >= 0.75).all()
    assert not torch.allclose(model.heads.weight[0], model.heads.weight[1])  # heads differ


def test_length_grouped_batches_cover_each_item_once_with_similar_lengths():
    from rmens_utils.training import length_grouped_batches
    lengths = torch.randint(10, 500, (1000,))
    batches = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(0), group=4)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat)) == 1000 and all(len(b) == 8 for b in batches)
    spread = sum(lengths[b].max() - lengths[b].min() for b in batches) / len(batches)
    assert spread < 0.25 * (lengths.max() - lengths.min())  # random batches: ~0.8
    again = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(0), group=4)
    assert again == batches and batches[:5] != sorted(batches[:5])


def test_standardise_makes_each_head_mean_zero_sd_one_and_survives_saving(backbone, tmp_path):
    model = MultiHeadRewardModel.from_backbone(backbone[0], num_heads=2, seed=0)
    prompts = ["Say hi.", "Name a colour.", "What is rain?", "Count to three."]
    answers = ["Hi!", "Blue.", "Water falling from clouds.", "One, two, three."]
    model.standardise(score(model, backbone[1], prompts, answers))
    model.standardise(score(model, backbone[1], prompts, answers))  # idempotent
    after = score(model, backbone[1], prompts, answers)
    assert torch.allclose(after.mean(0), torch.zeros(2), atol=1e-4)
    assert torch.allclose(after.std(0), torch.ones(2), atol=1e-4)
    model.save_pretrained(tmp_path)
    again = MultiHeadRewardModel.from_pretrained(tmp_path)
    assert torch.allclose(score(again, backbone[1], prompts, answers), after, atol=1e-5)
    # back on the Bradley-Terry scale: margins are the raw heads' margins
    from rmens_utils.proxy import ProxyReward
    raw = MultiHeadRewardModel.from_backbone(backbone[0], num_heads=2, seed=0)
    raw_scores = score(raw, backbone[1], prompts, answers)
    scale = torch.tensor(ProxyReward(again, backbone[1]).bt_scale, dtype=torch.float32)
    assert torch.allclose((after[0] - after[1]) * scale, raw_scores[0] - raw_scores[1], atol=1e-4)


def test_ensemble_scores_one_column_per_member(backbone):
    from rmens_utils.proxy import EnsembleReward, ProxyReward
    members = [ProxyReward(MultiHeadRewardModel.from_backbone(backbone[0], k, seed=s), backbone[1])
               for k, s in [(1, 1), (2, 2)]]
    out = EnsembleReward(members).score(["Say hi."] * 3, ["Hi!", "Hello.", "Go away."])
    assert out.shape == (3, 3) and EnsembleReward(members).num_members == 3
    assert torch.allclose(out[:, :1], members[0].score(["Say hi."] * 3, ["Hi!", "Hello.", "Go away."]))
    assert EnsembleReward(members).bt_scale.tolist() == [1.0, 1.0, 1.0]  # not standardised


def test_accuracy_table_and_disagreement_against_hand_values():
    from rmens_utils.proxy import accuracy_table, disagreement, pair_accuracy

    by_hand = {"c0": [1.0, 1.0], "c1": [1.0, -1.0], "c2": [0.0, 0.0],
               "r0": [0.0, 0.0], "r1": [0.0, 0.0], "r2": [1.0, 1.0]}

    class HandScores:  # a stand-in reward: the k = 2 scores of each answer, given by hand
        def score(self, prompts, responses, progress=False):
            return torch.tensor([by_hand[r] for r in responses])

    flipped = np.array([False, False, True])  # the third label was flipped: gold agrees with r
    pairs = {"prompt": ["p"] * 3, "chosen": ["c0", "c1", "c2"],
             "rejected": ["r0", "r1", "r2"], "flipped": flipped.tolist()}
    acc = pair_accuracy(HandScores(), pairs)
    # chosen > rejected: head 0 on pairs 0, 1 (1 > 0, 1 > 0, not 0 > 1); head 1 on pair 0 only
    # (1 > 0, -1 < 0, 0 < 1). Against the clean labels pair 2 counts the other way round:
    # head 0 right on 0, 1, 2; head 1 right on 0 and 2.
    np.testing.assert_allclose(acc["noisy"], [2 / 3, 1 / 3])
    np.testing.assert_allclose(acc["clean"], [1.0, 2 / 3])
    table = accuracy_table(acc, flipped, member="head")
    assert list(table.index) == ["head 0", "head 1", "mean", "min", "max", "uwo"]
    # Aggregates of chosen vs rejected, pair by pair, and the pairs they win (noisy; clean:
    # pair 2 flipped):
    # mean (1, 0, 0) vs (0, 0, 1): pair 0 only → 1/3; clean pairs 0, 2 → 2/3
    # min (1, -1, 0) vs (0, 0, 1): pair 0 only → 1/3; 2/3
    # max (1, 1, 0) vs (0, 0, 1): pairs 0, 1 → 2/3; clean all three → 1
    # uwo, λ = 0.5, population variance: (1 - 0, 0 - 0.5·1, 0 - 0) vs (0, 0, 1) → 1/3; 2/3
    expected = {"head 0": (2 / 3, 1.0), "head 1": (1 / 3, 2 / 3), "mean": (1 / 3, 2 / 3),
                "min": (1 / 3, 2 / 3), "max": (2 / 3, 1.0), "uwo": (1 / 3, 2 / 3)}
    for row, (noisy, clean) in expected.items():
        assert table.loc[row, "accuracy vs noisy labels"] == pytest.approx(noisy), row
        assert table.loc[row, "accuracy vs clean labels"] == pytest.approx(clean), row
    # the heads split on pair 1 only (one says chosen, the other rejected): 1 of 3 pairs
    assert disagreement(acc) == pytest.approx(1 / 3)


def test_mean_correlation_of_identical_and_reversed_columns():
    from rmens_utils.proxy import mean_correlation
    x = np.arange(10.0)
    assert mean_correlation(np.stack([x, x, x], 1)) == pytest.approx(1.0)
    assert mean_correlation(np.stack([x, -x], 1)) == pytest.approx(-1.0)
    # pairs (x, x) = 1, (x, −x) = −1, (x, −x) = −1 → mean −1/3
    assert mean_correlation(np.stack([x, x, -x], 1)) == pytest.approx(-1 / 3)


def test_a_reward_model_on_the_policy_recomputes_activations_with_the_same_gradients():
    """The screen's member on SmolLM2 checkpoints its layers (memory); its gradients are those
    of the same model without checkpointing, bit for bit."""
    import copy

    from rmens_utils import proxy

    model, tokenizer = proxy.new_reward_model(get_config("smoke"), 2, seed=0, backbone="policy")
    assert model.backbone.is_activation_checkpointing
    plain = copy.deepcopy(model)
    plain.backbone.activation_checkpointing_disable()
    enc = tokenizer(["Name a fruit. An apple.", "Name a fruit. Pears are sweet and juicy."],
                    padding=True, return_tensors="pt")
    for m in (model, plain):
        m.train()
        m(enc["input_ids"], enc["attention_mask"]).sum().backward()
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(model.parameters(), plain.parameters()))
