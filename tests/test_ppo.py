import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from rmens_utils.ppo import (PolicyWithValue, gae, kl_penalised_rewards, policy_loss,
                             ppo_update, value_loss, whiten)


def test_kl_penalty_and_score_on_the_last_real_token():
    logp = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, 0.0]])
    ref = torch.tensor([[-1.5, -1.0, -0.5], [-2.0, -1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    r = kl_penalised_rewards(logp, ref, torch.tensor([2.0, -1.0]), mask, beta=0.1)
    expected = torch.tensor([[-0.05, 0.1, 0.0 + 2.0],
                             [-0.1, 0.0 - 1.0, 0.0]])
    assert torch.allclose(r, expected)


def test_gae_against_hand_values():
    # one sequence of 3 tokens, the third is padding; gamma 1, lambda 0.5
    rewards = torch.tensor([[0.0, 1.0, 5.0]])
    values = torch.tensor([[0.5, 0.25, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    d1 = 1.0 + 0.0 - 0.25  # last real token: the value after it is 0
    d0 = 0.0 + 0.25 - 0.5
    assert torch.allclose(adv, torch.tensor([[d0 + 0.5 * d1, d1, 0.0]]))
    assert torch.allclose(ret, adv + values * mask)


def test_whiten_gives_zero_mean_unit_variance_on_the_mask():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    w = whiten(x, mask)
    assert w[0, 3] == 0 and torch.allclose(w[0, :3].mean(), torch.tensor(0.0), atol=1e-6)
    assert torch.allclose((w[0, :3] ** 2).mean(), torch.tensor(1.0), atol=1e-4)


def test_policy_loss_pushes_log_prob_up_for_positive_advantage_and_clips():
    logp = torch.zeros(1, 2, requires_grad=True)
    adv = torch.tensor([[1.0, -1.0]])
    loss, _ = policy_loss(logp, torch.zeros(1, 2), adv, torch.ones(1, 2))
    loss.backward()
    assert logp.grad[0, 0] < 0 < logp.grad[0, 1]  # descent raises the first, lowers the second
    far = torch.full((1, 2), 0.5, requires_grad=True)  # ratio e^0.5 > 1.2: clipped
    loss, frac = policy_loss(far, torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 2))
    loss.backward()
    assert frac == 1.0 and torch.all(far.grad == 0)


def test_value_loss_is_clipped_around_the_old_values():
    old, ret, mask = torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1)
    assert value_loss(torch.full((1, 1), 0.5), old, ret, mask).item() == pytest.approx(0.5 * 0.8 ** 2)
    assert value_loss(torch.ones(1, 1), old, ret, mask).item() == pytest.approx(0.5 * 0.8 ** 2)


def tiny_policy():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4)
    return PolicyWithValue(LlamaForCausalLM(config))


def test_one_update_raises_the_log_prob_of_a_high_advantage_response():
    model = tiny_policy()
    prompt = torch.tensor([[0, 5, 6], [0, 5, 6]])
    responses = torch.tensor([[7, 8, 9], [10, 11, 12]])
    input_ids = torch.cat([prompt, responses], 1)
    attention_mask = torch.ones_like(input_ids)
    with torch.no_grad():
        old_logp, _, old_values = model(input_ids, attention_mask, n_prompt=3)
    mask = torch.ones(2, 3)
    advantages = torch.tensor([[1.0] * 3, [-1.0] * 3])
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "mask": mask,
             "old_logp": old_logp, "old_values": old_values, "advantages": advantages,
             "returns": advantages + old_values}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    stats = ppo_update(model, optimizer, batch, n_prompt=3, epochs=4, minibatch_size=2)
    with torch.no_grad():
        new_logp, _, _ = model(input_ids, attention_mask, n_prompt=3)
    assert new_logp[0].sum() > old_logp[0].sum()  # the good response became likelier
    assert new_logp[1].sum() < old_logp[1].sum()  # the bad one less likely
    assert set(stats) == {"policy_loss", "value_loss", "clip_fraction", "entropy"}


def test_left_padding_does_not_change_the_response_log_probs():
    model = tiny_policy()
    ids = torch.tensor([[0, 5, 6, 7, 8]])
    padded = torch.tensor([[1, 0, 5, 6, 7, 8]])  # one pad token in front
    with torch.no_grad():
        a, _, _ = model(ids, torch.ones_like(ids), n_prompt=3)
        b, _, _ = model(padded, torch.tensor([[0, 1, 1, 1, 1, 1]]), n_prompt=4)
    assert torch.allclose(a, b, atol=1e-5)


def test_rollout_masks_the_response_up_to_the_first_eos():
    from rmens_utils import get_config, models
    from rmens_utils.config import GenerationConfig
    from rmens_utils.ppo import rollout

    policy, tok = models.load_policy(get_config("smoke"))
    model = PolicyWithValue(policy)
    torch.manual_seed(0)
    gen = GenerationConfig(max_new_tokens=24, temperature=1.0, top_p=1.0, batch_size=4)
    out = rollout(model, tok, ["Say yes.", "Name one colour.", "Write a long story about a cat."], gen)
    response = out["input_ids"][:, out["n_prompt"]:]
    assert out["mask"].shape == response.shape
    for i, finished in enumerate(out["finished"]):
        n = int(out["mask"][i].sum())
        assert n == out["n_tokens"][i]
        if finished:  # the last unmasked token is the EOS, nothing after it counts
            assert response[i, n - 1] == tok.eos_token_id
            assert not out["mask"][i, n:].any()
    logp, entropy, values = model(out["input_ids"], out["attention_mask"], out["n_prompt"])
    assert logp.shape == values.shape == out["mask"].shape and (logp <= 0).all()
