import dataclasses

import pandas as pd
import pytest
import torch

from conftest import LengthReward, WordCountGold
from rmens_utils import artifacts, get_config, rlhf
from rmens_utils.config import GenerationConfig
from rmens_utils.ppo import rollout


def test_reference_is_the_policy_with_its_adapters_off(stand_ins):
    model, reference, tok = rlhf.new_policy(stand_ins)
    assert reference is None  # LoRA: no second copy of the model
    base = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    gen = GenerationConfig(max_new_tokens=8, temperature=1.0, top_p=1.0, batch_size=2)
    out = rollout(model, tok, ["Name a colour.", "Say hello."], gen)
    args = out["input_ids"], out["attention_mask"], out["n_prompt"]
    with torch.no_grad():
        logp = model(*args)[0]
    assert torch.equal(logp, rlhf.reference_logprobs(model, None, *args))  # KL 0 at the start
    with torch.no_grad():  # move the adapters: the policy changes, the reference does not
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.05)
        moved = model(*args)[0]
    assert not torch.allclose(moved, logp, atol=1e-3)
    assert torch.equal(rlhf.reference_logprobs(model, None, *args), logp)
    rollout(model, tok, ["Name a colour."], gen)  # samples from a merged copy
    for name, p in model.named_parameters():
        if name in base:
            assert torch.equal(p, base[name]), name


def test_full_fine_tune_keeps_a_frozen_copy_as_reference(stand_ins):
    cfg = dataclasses.replace(stand_ins, ppo=dataclasses.replace(stand_ins.ppo, use_lora=False))
    model, reference, tok = rlhf.new_policy(cfg)
    assert reference is not None and not any(p.requires_grad for p in reference.parameters())
    ids = tok(["Hello there, friend."], return_tensors="pt")["input_ids"]
    args = ids, torch.ones_like(ids), 2
    with torch.no_grad():
        assert torch.equal(model(*args)[0], rlhf.reference_logprobs(model, reference, *args))


def test_one_step_logs_everything_and_penalises_unfinished_answers(stand_ins, monkeypatch):
    cfg = stand_ins
    model, reference, tok = rlhf.new_policy(cfg)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    prompts = rlhf.prompt_schedule(cfg)[0]
    row, samples = rlhf.ppo_step(cfg, model, reference, tok, optimizer, LengthReward(), "min",
                                 WordCountGold(), prompts, step=0)
    assert len(samples) == cfg.ppo.batch_size and samples["prompt"].tolist() == prompts
    expected_proxy = samples[["proxy_0", "proxy_1"]].min(1)
    assert samples["proxy"].to_numpy() == pytest.approx(expected_proxy.to_numpy())
    penalty = cfg.ppo.unfinished_penalty * (~samples["finished"]).mean()
    assert row["score"] == pytest.approx(row["proxy"] - penalty, abs=1e-5)
    assert row["gold"] == pytest.approx(samples["words"].mean())
    assert row["kl"] == 0 and row["kl_half_sq"] == 0  # step 0: policy = reference
    for key in ("entropy", "clip_fraction", "value_loss", "generation_s", "scoring_s",
                "update_s", "tokens", "finished"):
        assert key in row
    assert row["threads"] == torch.get_num_threads()


def test_prompt_schedule_is_the_same_for_every_run_and_cycles():
    cfg = get_config("smoke")
    schedule = rlhf.prompt_schedule(cfg)
    assert schedule == rlhf.prompt_schedule(cfg)
    assert len(schedule) == cfg.ppo.steps and all(len(b) == cfg.ppo.batch_size for b in schedule)
    assert len({p for batch in schedule for p in batch}) == cfg.ppo.steps * cfg.ppo.batch_size


def test_interrupted_run_resumes_to_the_same_result(stand_ins, monkeypatch, capsys):
    cfg = stand_ins  # 3 steps, a checkpoint after step 2
    straight = rlhf.train_ppo_stage(cfg, "multihead_min")
    assert straight.log["step"].tolist() == [0, 1, 2]
    assert len(straight.samples) == 3 * cfg.ppo.batch_size
    assert (straight.folder / "policy" / "adapter_config.json").is_file()
    # held-out evaluations at step 0 (the SFT policy), every eval_every steps and at the end
    assert straight.evals["step"].unique().tolist() == [0, 2, 3]

    import shutil
    shutil.rmtree(straight.folder)
    real_step = rlhf.ppo_step

    def interrupted(*args, **kwargs):
        if args[-1] == 2:  # the step
            raise KeyboardInterrupt  # the user stops the notebook
        return real_step(*args, **kwargs)

    monkeypatch.setattr(rlhf, "ppo_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rlhf.train_ppo_stage(cfg, "multihead_min")
    assert not straight.folder.exists()
    monkeypatch.setattr(rlhf, "ppo_step", real_step)
    resumed = rlhf.train_ppo_stage(cfg, "multihead_min")
    assert ("resuming 'ppo/beta0/multihead_min/seed0' from its checkpoint at step 2"
            in capsys.readouterr().out)
    # Steps before the checkpoint are the saved rows; the step after it is the same step.
    same = [c for c in straight.log.columns if not c.endswith("_s")]  # all but the timings
    pd.testing.assert_frame_equal(resumed.log[same], straight.log[same])
    assert resumed.samples["text"].tolist() == straight.samples["text"].tolist()
    assert resumed.log["gold"].tolist() == straight.log["gold"].tolist()
    pd.testing.assert_frame_equal(resumed.evals, straight.evals)
    assert not (artifacts.runs_dir("smoke") / "_work" / straight.folder.relative_to(
        artifacts.runs_dir("smoke"))).exists()
    rlhf.train_ppo_stage(cfg, "multihead_min")
    assert "done for these settings" in capsys.readouterr().out  # loaded, not re-run


def test_bad_names_are_refused_and_missing_inputs_are_planned(tmp_runs):
    from rmens_utils import stages

    cfg = get_config("smoke")
    with pytest.raises(ValueError, match="Valid: single"):
        rlhf.train_ppo_stage(cfg, "singel")
    plan = [s.name for s in stages.missing(cfg, "ppo/beta0.01/ensemble_min/seed1")]
    assert plan == ["sft", "labels", "rm_single", "rm_ensemble/member_0", "rm_ensemble/member_1",
                    "rm_ensemble/member_2", "rm_multihead", "ppo/eval_sft",
                    "ppo/beta0.01/ensemble_min/seed1"]
    assert [s.notebook for s in stages.missing(cfg, "rm_single")] == [
        "01_sft", "02_gold_labels", "03_proxy_reward_model"]


def test_held_out_evaluation_is_the_same_for_the_same_policy(stand_ins):
    cfg = stand_ins
    model, reference, tok = rlhf.new_policy(cfg, seed=3)
    rewards = {"rm_single": LengthReward(), "rm_multihead": LengthReward()}
    first = rlhf.evaluate(cfg, model, reference, tok, rewards, WordCountGold(), step=0)
    assert len(first) == cfg.ppo.eval_prompts and (first["kl"] == 0).all()  # π = π_SFT
    assert first["prompt"].tolist() == rlhf.eval_prompts(cfg)
    assert {"gold", "single_0", "single_1", "multihead_0", "multihead_1"} <= set(first)
    assert first["gold"].tolist() == first["words"].astype(float).tolist()
    torch.manual_seed(123)  # whatever the training did before: the same answers
    pd.testing.assert_frame_equal(
        first, rlhf.evaluate(cfg, model, reference, tok, rewards, WordCountGold(), step=0))
    with torch.no_grad():  # a moved policy has a positive KL on its own samples
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.05)
    moved = rlhf.evaluate(cfg, model, reference, tok, rewards, WordCountGold(), step=1)
    assert moved["kl_half_sq"].gt(0).all() and moved["kl"].mean() != 0


def test_seeds_change_prompts_and_adapters(stand_ins):
    """(The gold control's run, at another seed and regime, is made in test_study.)"""
    cfg = stand_ins
    assert rlhf.prompt_schedule(cfg, seed=0) != rlhf.prompt_schedule(cfg, seed=1)
    a = {n: p for n, p in rlhf.new_policy(cfg, seed=0)[0].named_parameters() if "lora_A" in n}
    b = {n: p for n, p in rlhf.new_policy(cfg, seed=1)[0].named_parameters() if "lora_A" in n}
    assert not torch.equal(next(iter(a.values())), next(iter(b.values())))


def test_the_refreshed_sampler_is_exactly_a_fresh_merged_copy(stand_ins):
    import copy

    from rmens_utils.ppo import sampling_copy

    model, _, _ = rlhf.new_policy(stand_ins)
    first = sampling_copy(model)
    with torch.no_grad():  # as an update would: the adapters move (B starts at zero)
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    # in the sampling dtype, as the sampler is (bf16 where the CPU computes it natively)
    fresh = copy.deepcopy(model.policy).merge_and_unload().to(model.precision.sample_dtype)
    refreshed = sampling_copy(model)
    assert refreshed is first and "_sampler" not in dict(model.named_modules())
    fresh_weights = fresh.state_dict()
    assert refreshed.state_dict().keys() == fresh_weights.keys()
    for name, weight in refreshed.state_dict().items():
        assert torch.equal(weight, fresh_weights[name]), name  # bit for bit
    base = model.policy.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight
    assert not torch.equal(refreshed.get_submodule("model.layers.0.self_attn.q_proj").weight,
                           base)  # the adapters' update is in
