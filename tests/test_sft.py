import pytest
import torch
from transformers import TrainerCallback

from rmens_utils import artifacts, get_config, models, sft, stages


def test_sft_pairs_are_chat_prompts_and_plain_answers():
    cfg = get_config("smoke")
    _, tok = models.load_policy(cfg)
    train, held_out = sft.sft_datasets(cfg, tok)
    assert len(train) + len(held_out) == cfg.sft.max_examples
    assert len(held_out) == round(cfg.sft.max_examples * cfg.sft.eval_fraction)
    row = train[0]
    assert row["prompt"].startswith("<|im_start|>system") and row["prompt"].endswith("assistant\n")
    assert tok.eos_token not in row["completion"]  # TRL appends it; twice would be wrong
    assert not set(train["prompt"]) & set(held_out["prompt"])


class StopAtSecondStep(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 2:  # step 1 has been checkpointed by now
            raise KeyboardInterrupt  # the user stops the notebook mid-run


def test_interrupted_sft_resumes_then_is_skipped(tmp_runs, monkeypatch, capsys):
    cfg = get_config("smoke")  # 2 steps, a checkpoint after every step
    real_make_trainer = sft.make_trainer

    def interrupted(*args, **kwargs):
        trainer = real_make_trainer(*args, **kwargs)
        trainer.add_callback(StopAtSecondStep)
        return trainer

    monkeypatch.setattr(sft, "make_trainer", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sft.run_sft(cfg)
    assert not artifacts.is_complete("smoke", "sft", stages.sft_params(cfg))
    assert not artifacts.stage_dir("smoke", "sft").exists()

    monkeypatch.setattr(sft, "make_trainer", real_make_trainer)
    result = sft.run_sft(cfg)
    assert "resuming from" in capsys.readouterr().out
    assert result.metrics["steps"] == 2
    assert result.log["loss"].notna().sum() >= 1
    assert result.metrics["eval_loss_after"] < result.metrics["eval_loss_before"]
    assert artifacts.is_complete("smoke", "sft", stages.sft_params(cfg))
    assert not (artifacts.runs_dir("smoke") / "_work" / "sft").exists()

    model, tok = models.load_sft_policy(cfg)
    assert tok.pad_token_id != tok.eos_token_id and model.config.pad_token_id == tok.pad_token_id

    again = sft.run_sft(cfg)  # same settings: skipped, same numbers
    assert "done for these settings" in capsys.readouterr().out
    assert again.metrics == result.metrics


def test_answer_token_nll_is_the_loss_on_the_answer_tokens_only():
    """Its mean is what the model's own loss gives when the prompt's labels are masked (-100)."""
    cfg = get_config("smoke")
    policy, tok = models.load_policy(cfg)
    prompt, answer = models.format_prompt(tok, "Name a primary colour."), "Red is a primary colour."
    table = sft.answer_token_nll(policy, tok, prompt, answer)
    prompt_ids = tok(prompt, add_special_tokens=False).input_ids
    answer_ids = tok(answer, add_special_tokens=False).input_ids + [tok.eos_token_id]
    assert list(table["token"]) == tok.convert_ids_to_tokens(answer_ids)
    assert table["token"].iloc[-1] == tok.eos_token
    ids = torch.tensor([prompt_ids + answer_ids])
    labels = ids.clone()
    labels[0, :len(prompt_ids)] = -100
    with torch.no_grad():
        loss = policy(input_ids=ids, labels=labels).loss
    assert table["nll"].mean() == pytest.approx(loss.item(), rel=1e-4)
