import numpy as np
import pytest
import torch

from rmens_utils.aggregation import (
    aggregate,
    max_reward,
    mean_reward,
    min_reward,
    uwo_reward,
)

SCORES = torch.tensor([[1.0, 2.0, 6.0],
                       [0.0, 0.0, 0.0],
                       [-1.0, 3.0, 1.0]])


def test_mean_min_max_against_hand_values():
    assert torch.allclose(mean_reward(SCORES), torch.tensor([3.0, 0.0, 1.0]))
    assert torch.equal(min_reward(SCORES), torch.tensor([1.0, 0.0, -1.0]))
    assert torch.equal(max_reward(SCORES), torch.tensor([6.0, 0.0, 3.0]))


def test_uwo_subtracts_lambda_times_population_variance():
    # row 0: mean 3, var ((−2)² + (−1)² + 3²)/3 = 14/3; row 2: mean 1, var (4 + 4 + 0)/3 = 8/3
    expected = torch.tensor([3 - 0.5 * 14 / 3, 0.0, 1 - 0.5 * 8 / 3])
    assert torch.allclose(uwo_reward(SCORES), expected)
    assert torch.allclose(uwo_reward(SCORES, lam=0.1), torch.tensor([3 - 1.4 / 3, 0.0, 1 - 0.8 / 3]))


def test_one_member_aggregates_to_itself():
    one = torch.tensor([[0.3], [-2.0]])
    for name in ["mean", "min", "max", "uwo"]:
        assert torch.allclose(aggregate(one, name), one[:, 0])


def test_numpy_input_and_bad_inputs():
    assert torch.allclose(min_reward(SCORES.numpy()), min_reward(SCORES))
    with pytest.raises(ValueError, match="batch, k"):
        mean_reward(np.zeros(3))
    with pytest.raises(ValueError, match="Valid: mean, min, max, uwo"):
        aggregate(SCORES, "median")


def test_a_member_alone_is_its_own_column():
    assert torch.equal(aggregate(SCORES, "member_2"), torch.tensor([6.0, 0.0, 1.0]))
    with pytest.raises(IndexError):
        aggregate(SCORES, "member_3")
    with pytest.raises(ValueError, match="Valid"):
        aggregate(SCORES, "member_x")


def test_aggregate_passes_lambda_to_uwo_only():
    assert torch.allclose(aggregate(SCORES, "uwo", lam=0.1), uwo_reward(SCORES, lam=0.1))
    assert torch.allclose(aggregate(SCORES, "uwo"), uwo_reward(SCORES))  # best-of-n λ
    assert torch.equal(aggregate(SCORES, "min", lam=0.1), min_reward(SCORES))


def test_matched_uwo_lambda_removes_what_the_min_removes_on_average():
    from rmens_utils.aggregation import matched_uwo_lambda

    scores = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0], [0.0, 0.0, 3.0]])
    # mean − min: 1, 0, 1 (mean 2/3); population variance: 2/3, 0, 2 (mean 8/9)
    lam = matched_uwo_lambda(scores)
    assert lam == pytest.approx((2 / 3) / (8 / 9))
    penalty = scores.mean(1) - aggregate(scores, "uwo", lam)
    assert penalty.mean() == pytest.approx((scores.mean(1) - scores.min(1).values).mean())
