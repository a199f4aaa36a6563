import shutil

import pytest

from rmens_utils import get_config, models
from rmens_utils.config import GenerationConfig
from rmens_utils.sampling import sample, sample_cached, sample_one_prompt

GREEDY = GenerationConfig(max_new_tokens=8, temperature=1.0, top_p=1e-9, batch_size=2)
SAMPLED = GenerationConfig(max_new_tokens=6, temperature=1.0, top_p=0.95, batch_size=4)


@pytest.fixture(scope="module")
def policy():
    return models.load_policy(get_config("smoke"))


# a deprecated argument (past_key_values) printed a warning for every prompt in notebook 03
@pytest.mark.filterwarnings("error::FutureWarning")
def test_shared_prompt_cache_gives_the_same_answers_as_plain_generation(policy):
    model, tok = policy
    prompt = "Name a large animal."
    shared = sample_one_prompt(model, tok, prompt, 3, GREEDY)  # batches of 2 and 1
    plain = sample(model, tok, [prompt], GREEDY, progress=False)
    assert len(shared) == 3 and shared["text"].nunique() == 1
    assert shared.loc[0, "text"] == plain.loc[0, "text"]
    assert shared.loc[0, "n_tokens"] == plain.loc[0, "n_tokens"]


def test_length_sorted_batches_keep_answers_in_prompt_order(policy):
    model, tok = policy
    prompts = ["Summarise this: " + "the cat sat on the mat. " * 8, "Hi", "Name a colour."]
    together = sample(model, tok, prompts, GREEDY, progress=False)["text"].tolist()
    alone = [sample(model, tok, [p], GREEDY, progress=False).loc[0, "text"] for p in prompts]
    assert together == alone


@pytest.mark.parametrize("n", [2, 8])  # many prompts per chunk / one prompt per chunk
def test_cached_sampling_resumes_to_the_same_result(policy, tmp_path, n):
    model, tok = policy
    prompts = ["Name a fruit.", "Name a city."]
    first = sample_cached(model, tok, prompts, n, SAMPLED, seed=0, folder=tmp_path, chunk_size=2)
    assert len(first) == 2 * n
    assert sorted(zip(first["prompt_idx"], first["sample_idx"])) == \
        [(p, s) for p in range(2) for s in range(n)]
    chunks = sorted(tmp_path.iterdir())
    shutil.rmtree(chunks[-1])  # as if interrupted before the last chunk was saved
    again = sample_cached(model, tok, prompts, n, SAMPLED, seed=0, folder=tmp_path, chunk_size=2)
    assert again.equals(first)


def test_gumbel_sampler_matches_the_top_p_distribution():
    """Frequencies of greedy picks after the processor = top-p renormalised softmax."""
    import torch

    from rmens_utils.sampling import GumbelTopPSampler

    torch.manual_seed(0)
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, -3.0]])
    T, p = 0.8, 0.9
    probs = (logits / T).softmax(-1)[0]
    # nucleus: smallest prefix of sorted probs whose mass before each token is < p
    keep = (probs.cumsum(0) - probs) < p
    target = torch.where(keep, probs, 0.0) / probs[keep].sum()
    sampler = GumbelTopPSampler(T, p, top_k=6)
    picks = torch.stack([sampler(None, logits).argmax(-1)[0] for _ in range(20_000)])
    freq = torch.bincount(picks, minlength=6).float() / len(picks)
    assert torch.allclose(freq, target, atol=0.012)
    assert freq[~keep].sum() == 0


def test_gumbel_sampler_without_top_p_samples_the_full_softmax():
    """PPO needs samples of π itself: top_p = 1 keeps every token, even beyond top_k."""
    import torch

    from rmens_utils.sampling import GumbelTopPSampler

    torch.manual_seed(0)
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, -3.0]])
    sampler = GumbelTopPSampler(1.0, 1.0, top_k=2)
    picks = torch.stack([sampler(None, logits).argmax(-1)[0] for _ in range(20_000)])
    freq = torch.bincount(picks, minlength=6).float() / len(picks)
    assert torch.allclose(freq, logits.softmax(-1)[0], atol=0.012)


def test_response_mask_keeps_tokens_up_to_the_first_eos():
    import torch

    from rmens_utils.sampling import response_mask
    eos, pad = 2, 0
    tokens = torch.tensor([[5, 6, eos, pad, pad], [5, eos, 7, eos, pad], [5, 6, 7, 8, 9]])
    assert response_mask(tokens, eos).tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1] * 5]
