"""Everything that touches a device, on tiny stand-in models built from configs (no download).

They run wherever ``setup()`` would compute: the CPU here and in CI, a GPU with
``RMENS_DEVICE=cuda`` (and ``RMENS_PRECISION=fp16`` for a T4's float16 path on a newer GPU).
"""
import dataclasses

import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast, LlamaConfig, LlamaForCausalLM

from rmens_utils import get_config, hardware, rlhf
from rmens_utils.config import GenerationConfig
from rmens_utils.gold import RubricGold
from rmens_utils.hardware import Precision, precision_of
from rmens_utils.ppo import PolicyWithValue, rollout
from rmens_utils.reward_model import MultiHeadRewardModel
from rmens_utils.sampling import sample
from rmens_utils.training import score, train_reward_model

CFG = get_config("smoke")
WORDS = ("the a is are to of and in it you yes no hi hello name colour red blue sky why "
         "because light sun short answer good bad long story cat dog say one two . , ! ?").split()


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    vocab = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]))
    tok = BertTokenizerFast(vocab_file=str(vocab))
    tok.eos_token = "[SEP]"  # the policy ends its answers with it
    tok.model_input_names = ["input_ids", "attention_mask"]  # a causal LM takes no segment ids
    return tok


def tiny_policy(tok):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return LlamaForCausalLM(config).to(CFG.device)


def tiny_encoder(tok):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                        num_hidden_layers=2, num_attention_heads=4)
    return BertModel(config).to(CFG.device)


def precisions():
    """The configured precision, plus the float16 + scaler path wherever a GPU is used."""
    names = [CFG.precision] + (["fp16"] if CFG.device.startswith("cuda") else [])
    return sorted(set(names))


def test_setup_picks_a_device_and_says_why_it_picked_the_precision(monkeypatch, capsys):
    from rmens_utils import setup

    setup("smoke")
    out = capsys.readouterr().out
    assert f"device: {CFG.device}" in out and f"precision: {CFG.precision} (" in out
    monkeypatch.setenv(hardware.PRECISION_ENV, "fp32")
    assert get_config("smoke").precision == "fp32"
    monkeypatch.setenv(hardware.PRECISION_ENV, "float8")
    with pytest.raises(ValueError, match="use one of bf16, fp16, fp32"):
        get_config("smoke")


def test_cpu_precision_follows_the_measurement():
    fp32_ms, bf16_ms = hardware.measure_cpu_bf16()
    name, why = hardware._pick_precision("cpu", None)
    assert name == ("bf16" if bf16_ms < fp32_ms else "fp32") and "measured" in why


def test_a_run_checkpointed_in_one_precision_resumes_in_another():
    """The scaler's state of a float16 run and the empty one of a bfloat16 or float32 run each
    load into the other's scaler (a run may resume on another machine)."""
    fp16, bf16 = Precision("fp16", CFG.device), Precision("bf16", CFG.device)
    saved_fp16 = fp16.scaler().state_dict()
    assert saved_fp16 and bf16.scaler().state_dict() == {}
    assert fp16.scaler(bf16.scaler().state_dict()).get_scale() == saved_fp16["scale"]  # fresh
    assert not bf16.scaler(saved_fp16).is_enabled()
    grown = dict(saved_fp16, scale=1024.0)
    assert fp16.scaler(grown).get_scale() == 1024.0  # the same precision: the scale it reached


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_asking_for_cuda_without_a_gpu_names_the_fix(monkeypatch):
    monkeypatch.setenv(hardware.DEVICE_ENV, "cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU is visible"):
        get_config("smoke")


@pytest.mark.parametrize("name", precisions())
def test_reward_model_trains_and_scores_on_the_device(tokenizer, name):
    model = MultiHeadRewardModel.from_backbone(tiny_encoder(tokenizer), num_heads=3, seed=0)
    model = model.to(CFG.device)
    pairs = {"prompt": ["say hello", "name a colour", "why is the sky blue"] * 4,
             "chosen": ["hello !", "red .", "because of the sun light ."] * 4,
             "rejected": ["no", "no", "no"] * 4}
    log = train_reward_model(model, tokenizer, pairs, epochs=12, learning_rate=3e-3,
                             batch_size=4, seed=0, precision=Precision(name, CFG.device),
                             progress=False)
    assert log["loss"].tail(3).mean() < log["loss"].head(3).mean()
    assert torch.isfinite(torch.tensor(log["loss"].to_numpy())).all()
    assert {p.device.type for p in model.parameters()} == {torch.device(CFG.device).type}
    out = score(model, tokenizer, pairs["prompt"][:3], pairs["chosen"][:3])
    assert out.shape == (3, 3) and out.device.type == "cpu" and out.dtype == torch.float32


def test_gold_rubric_scores_on_the_device(tokenizer):
    gold = RubricGold(tiny_encoder(tokenizer), tokenizer)
    out = gold.score(["why is the sky blue"] * 2, ["because of the sun light .", "cat cat cat"])
    assert out.shape == (2, 1) and out.device.type == "cpu"


def test_sampling_on_the_device(tokenizer):
    gen = GenerationConfig(max_new_tokens=6, temperature=1.0, top_p=0.9, batch_size=2)
    out = sample(tiny_policy(tokenizer), tokenizer, ["say hello", "name a colour", "why"], gen,
                 progress=False)
    assert len(out) == 3 and (out["n_tokens"] <= 6).all()


class LengthReward:
    """A stand-in proxy with k = 2 members, scoring on the CPU as every reward does."""

    num_members, params = 2, {}

    def score(self, prompts, responses, progress=False):
        n = torch.tensor([len(r.split()) for r in responses], dtype=torch.float)
        return torch.stack([n / 10, 1 - n / 10], 1)


@pytest.mark.parametrize("name", precisions())
def test_a_ppo_step_runs_on_the_device(tokenizer, name):
    from peft import LoraConfig, get_peft_model

    cfg = dataclasses.replace(CFG, precision=name)
    policy = get_peft_model(tiny_policy(tokenizer), LoraConfig(
        r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    model = PolicyWithValue(policy, precision_of(cfg))
    assert model.value_head.weight.device.type == torch.device(cfg.device).type
    batch = rollout(model, tokenizer, ["say hello", "name a colour"],
                    GenerationConfig(max_new_tokens=5, temperature=1.0, top_p=1.0, batch_size=2))
    assert batch["input_ids"].device.type == torch.device(cfg.device).type
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    row, samples = rlhf.ppo_step(cfg, model, None, tokenizer, optimizer, LengthReward(), "min",
                                 LengthReward(), ["say hello", "name a colour", "why", "hi"],
                                 step=0, scaler=precision_of(cfg).scaler())
    assert row["kl"] == pytest.approx(0, abs=1e-3)  # step 0: the policy is its reference
    for key in ("policy_loss", "value_loss", "entropy"):
        assert torch.isfinite(torch.tensor(row[key])), key
    assert any(not torch.equal(a, b) for a, b in zip(before, trainable))  # it learned
    assert len(samples) == 4
