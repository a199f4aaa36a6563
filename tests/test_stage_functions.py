"""The stage functions of notebooks 02-04 and 07 on tiny data, with stand-in policies, gold
and rewards, each in its own throw-away runs folder (the ``tmp_runs`` fixture)."""
import dataclasses

import numpy as np
import pandas as pd
import torch
from datasets import Dataset

from rmens_utils import best_of_n, calibration, get_config, labels, models, proxy, stages
from conftest import TOPICS, easy_pairs, mark_made, write_labels
from rmens_utils.artifacts import stage_dir, stage_settings
from rmens_utils.config import PILOT_RUBRIC, BestOfNConfig
from rmens_utils.data import load_split, prompt_text
from rmens_utils.stages import labels_params, member_stage, reward_params, rm_params

class CharGold:
    """A stand-in gold: the number of characters (few ties, cheap)."""

    def score(self, prompts, responses):
        return torch.tensor([[float(len(r))] for r in responses])


class CountingReward:
    """A stand-in reward with k = 2 columns (words, characters) that counts its calls."""

    num_members = 2

    def __init__(self, params=None):
        self.params = params if params is not None else {"stand-in": "words, chars"}
        self.calls = 0

    def score(self, prompts, responses, progress=False):
        self.calls += 1
        return torch.tensor([[float(len(r.split())), float(len(r))] for r in responses])


class LookupReward:
    """A stand-in reward whose k scores of each answer are given by hand."""

    def __init__(self, table: dict):
        self.table, self.params = table, {"stand-in": "lookup"}

    def score(self, prompts, responses, progress=False):
        return torch.tensor([self.table[r] for r in responses], dtype=torch.float)


def counting(monkeypatch, module, name):
    """Replace ``module.name`` by a wrapper that counts its calls; returns the counter."""
    calls, real = [], getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def base_policy(monkeypatch, module):
    """Stand-ins in ``module``: the base policy for the SFT one, :class:`CharGold` for the gold."""
    loads = []

    def load(cfg, dtype=torch.float32):
        loads.append(1)
        return models.load_policy(cfg)

    monkeypatch.setattr(module, "load_sft_policy", load)
    monkeypatch.setattr(module, "load_gold", lambda cfg: CharGold())
    mark_made(get_config("smoke"), "sft")  # the stage the stand-in policy stands for
    return loads


# --- proxy.train_proxy_stage ---------------------------------------------------------------

def test_train_proxy_stage_saves_then_loads_and_retrains_on_other_settings(tmp_runs, monkeypatch,
                                                                            capsys):
    cfg = get_config("smoke")
    write_labels(cfg, easy_pairs(TOPICS[:8]), easy_pairs(TOPICS[8:12]))
    trainings = counting(monkeypatch, proxy, "train_reward_model")
    prompts, answers = ["Tell me about moss.", "Say hi."], ["Moss is a small green plant.", "Hi!"]

    reward, log = proxy.train_proxy_stage(cfg, "rm_test", epochs=1)
    assert len(trainings) == 1
    assert log["step"].tolist() == [1, 2]  # 8 pairs, batch 4, one epoch
    folder = stage_dir("smoke", "rm_test")
    assert stage_settings(folder) == rm_params(cfg, 1, cfg.seed, 1)
    assert reward.params == rm_params(cfg, 1, cfg.seed, 1)
    first = reward.score(prompts, answers)
    assert first.shape == (2, 1)

    again, log_again = proxy.train_proxy_stage(cfg, "rm_test", epochs=1)
    assert "rm_test: done for these settings" in capsys.readouterr().out
    assert len(trainings) == 1  # loaded, not retrained
    assert torch.allclose(again.score(prompts, answers), first, atol=1e-5)
    pd.testing.assert_frame_equal(log_again, log)

    other, _ = proxy.train_proxy_stage(cfg, "rm_test", seed=cfg.seed + 7, epochs=1)
    out = capsys.readouterr().out
    assert "was made with other settings or inputs (settings.seed)" in out and "done for" not in out
    assert len(trainings) == 2
    assert stage_settings(folder)["seed"] == cfg.seed + 7
    assert not torch.allclose(other.score(prompts, answers), first, atol=1e-3)


def test_trained_proxy_ranks_easy_held_out_pairs_above_chance(tmp_runs):
    cfg = get_config("smoke")
    cfg = dataclasses.replace(cfg, rm=dataclasses.replace(cfg.rm, learning_rate=1e-4))
    write_labels(cfg, easy_pairs(TOPICS[:16]), easy_pairs(TOPICS[16:]))
    validation = proxy.load_labels(cfg)["validation"]
    # With seed 0 the untrained head ranks "No." higher on almost every pair, so a high
    # accuracy afterwards comes from the training, not from the initialisation.
    untrained = proxy.ProxyReward(*proxy.new_reward_model(cfg, 1, seed=0))
    assert proxy.pair_accuracy(untrained, validation)["noisy"][0] < 0.5
    reward, log = proxy.train_proxy_stage(cfg, "rm_test", seed=0, epochs=2)
    assert len(log) == 8  # 16 pairs, batch 4, two epochs
    acc = proxy.pair_accuracy(reward, validation)
    assert acc["noisy"].shape == (1,) and acc["chosen"].shape == (8, 1)
    assert acc["noisy"][0] >= 7 / 8  # measured: 8 of 8, margins ~1.8 sd
    assert acc["clean"][0] == acc["noisy"][0]  # no label flipped


# --- proxy.train_ensemble_stage -------------------------------------------------------------

def test_train_ensemble_stage_makes_k_member_stages_that_differ(tmp_runs):
    cfg = get_config("smoke")
    k = cfg.rm.num_members
    assert k == 3
    write_labels(cfg, easy_pairs(TOPICS[:8]), easy_pairs(TOPICS[8:12]))
    ensemble, log = proxy.train_ensemble_stage(cfg)
    assert sorted(log["member"].unique().tolist()) == list(range(k))
    assert (log.groupby("member").size() == 2).all()  # 8 pairs, batch 4, 1 epoch each
    seeds = []
    for i in range(k):
        config = stage_settings(stage_dir("smoke", f"rm_ensemble/member_{i}"))
        assert config == reward_params(cfg, member_stage(i))
        seeds.append(config["seed"])
    assert seeds == [cfg.seed + 1, cfg.seed + 2, cfg.seed + 3]
    assert ensemble.num_members == k and ensemble.params == reward_params(cfg, "rm_ensemble")
    scores = ensemble.score(["Tell me about moss.", "Say hi.", "Name a colour."],
                            ["Moss is a small green plant.", "Hi!", "Blue."])
    assert scores.shape == (3, k)
    for a in range(k):
        for b in range(a + 1, k):
            assert not torch.allclose(scores[:, a], scores[:, b], atol=1e-3), (a, b)


def test_training_times_counts_every_member_from_the_logs(monkeypatch):
    logs = {"rm_single": [10.0, 20.0], "rm_multihead": [5.0, 7.0], "rm_ensemble/member_0": [3.0, 9.0],
            "rm_ensemble/member_1": [4.0, 8.0], "rm_ensemble/member_2": [1.0, 6.0]}
    monkeypatch.setattr(proxy, "training_log", lambda cfg, stage: pd.DataFrame(
        {"epoch": [0.5, 1.0], "seconds": logs[stage]}))
    times = proxy.training_times(get_config("smoke"))
    assert times["models"].tolist() == [1, 3, 1] and (times["epochs each"] == 1.0).all()
    assert times["training wall time (s)"].tolist() == [20.0, 9.0 + 8.0 + 6.0, 7.0]


# --- proxy.cached_scores --------------------------------------------------------------------

def test_cached_scores_scores_once_and_again_when_reward_or_params_change(tmp_runs):
    cfg = get_config("smoke")
    reward = CountingReward()
    prompts, answers = ["p", "q", "r"], ["one two three", "four", "five six"]
    expected = np.array([[3, 13], [1, 4], [2, 8]], dtype=float)  # words, characters
    out = proxy.cached_scores(cfg, "scores_test", {"answers": 1}, reward, prompts, answers)
    assert reward.calls == 1
    np.testing.assert_array_equal(out, expected)
    assert (stage_dir("smoke", "scores_test") / "scores.npy").is_file()
    again = proxy.cached_scores(cfg, "scores_test", {"answers": 1}, reward, prompts, answers)
    assert reward.calls == 1  # loaded from disk
    np.testing.assert_array_equal(again, expected)
    reward.params = {"stand-in": "retrained"}  # another reward model
    proxy.cached_scores(cfg, "scores_test", {"answers": 1}, reward, prompts, answers)
    assert reward.calls == 2
    proxy.cached_scores(cfg, "scores_test", {"answers": 2}, reward, prompts, answers)
    assert reward.calls == 3  # other answers
    proxy.cached_scores(cfg, "scores_test", {"answers": 2}, reward, prompts, answers)
    assert reward.calls == 3


# --- best_of_n ------------------------------------------------------------------------------

def test_run_bon_sampling_samples_each_prompt_n_times_with_its_gold(tmp_runs, monkeypatch, capsys):
    cfg = get_config("smoke")
    generation = dataclasses.replace(cfg.labels.generation, max_new_tokens=6)
    cfg = dataclasses.replace(cfg, bon=BestOfNConfig(n_prompts=2, n_samples=3),
                              labels=dataclasses.replace(cfg.labels, generation=generation))
    loads = base_policy(monkeypatch, best_of_n)
    df = best_of_n.run_bon_sampling(cfg)
    assert df.columns.tolist() == ["prompt_id", "prompt", "sample_idx", "text", "n_tokens",
                                   "finished", "gold"]
    assert len(df) == 2 * 3
    rows = load_split("eval", cfg).select(range(2))
    assert df["prompt_id"].tolist() == [rows[0]["id"]] * 3 + [rows[1]["id"]] * 3
    assert df["prompt"].tolist() == [prompt_text(rows[0])] * 3 + [prompt_text(rows[1])] * 3
    assert df["sample_idx"].tolist() == [0, 1, 2, 0, 1, 2]
    assert df["n_tokens"].between(1, 6).all()
    np.testing.assert_allclose(df["gold"], [float(len(t)) for t in df["text"]])
    assert df["text"].nunique() > 1  # sampled, not one answer copied
    again = best_of_n.run_bon_sampling(cfg)
    assert "bon_samples: done for these settings" in capsys.readouterr().out
    assert len(loads) == 1
    pd.testing.assert_frame_equal(again, df)


def test_score_samples_gives_one_column_per_member_and_is_cached(tmp_runs):
    cfg = get_config("smoke")
    samples = pd.DataFrame({"prompt": ["p", "p", "q"], "text": ["a b", "a b c", "xyz"]})
    reward = CountingReward()
    out = best_of_n.score_samples(cfg, "counting", reward, samples)
    assert out.shape == (3, 2)
    np.testing.assert_array_equal(out, [[2, 3], [3, 5], [1, 3]])
    assert (stage_dir("smoke", "bon_scores/counting") / "scores.npy").is_file()
    np.testing.assert_array_equal(best_of_n.score_samples(cfg, "counting", reward, samples), out)
    assert reward.calls == 1


# --- labels.run_labelling -------------------------------------------------------------------

def test_run_labelling_orders_pairs_by_gold_unless_flipped_and_splits(tmp_runs, monkeypatch,
                                                                     capsys):
    cfg = get_config("smoke")
    generation = dataclasses.replace(cfg.labels.generation, max_new_tokens=10)
    cfg = dataclasses.replace(cfg, labels=dataclasses.replace(
        cfg.labels, max_prompts=8, noise=0.5, validation_fraction=0.25, generation=generation))
    loads = base_policy(monkeypatch, labels)
    pairs = labels.run_labelling(cfg)
    # 8 prompts, a quarter held out: datasets takes ceil(0.25 * 8) = 2 for validation
    assert (len(pairs["train"]), len(pairs["validation"])) == (6, 2)
    df = pd.concat([pairs["train"].to_pandas(), pairs["validation"].to_pandas()])
    pref = {r["id"]: r for r in load_split("pref", cfg).select(range(8))}
    assert sorted(df["id"]) == sorted(pref)
    # each pair keeps the id and task of its own prompt
    assert df["prompt"].tolist() == [prompt_text(pref[i]) for i in df["id"]]
    assert df["task"].tolist() == [pref[i]["task"] for i in df["id"]]
    np.testing.assert_allclose(df["gold_chosen"], [float(len(t)) for t in df["chosen"]])
    np.testing.assert_allclose(df["gold_rejected"], [float(len(t)) for t in df["rejected"]])
    flipped = df["flipped"].to_numpy()
    assert flipped.any() and not flipped.all()  # both kinds of pair are tested
    gap = (df["gold_chosen"] - df["gold_rejected"]).to_numpy()
    assert (gap[~flipped] >= 0).all() and (gap[flipped] <= 0).all()
    untied = gap != 0
    assert untied.sum() >= 6
    assert ((gap[untied] > 0) == ~flipped[untied]).all()  # exactly the unflipped pairs
    assert set(df.columns) >= {"prompt", "chosen", "rejected", "task", "finished_chosen",
                               "finished_rejected"}
    again = labels.run_labelling(cfg)
    assert "labels: done for these settings" in capsys.readouterr().out
    assert len(loads) == 1  # no second sampling
    assert again["train"]["chosen"] == pairs["train"]["chosen"]


def test_pinned_labels_are_restored_on_a_new_runs_folder_and_force_relabels(tmp_runs, tmp_path,
                                                                           monkeypatch, capsys):
    monkeypatch.setenv("RMENS_RESULTS", str(tmp_path / "results"))
    cfg = get_config("smoke")
    generation = dataclasses.replace(cfg.labels.generation, max_new_tokens=10)
    cfg = dataclasses.replace(cfg, labels=dataclasses.replace(
        cfg.labels, max_prompts=8, validation_fraction=0.25, generation=generation))
    loads = base_policy(monkeypatch, labels)
    assert labels.pinned_labels(cfg) is None  # nothing pinned yet
    labelling = [stages.stage(cfg, "labels")]
    assert stages.minutes(cfg, labelling)[0] == stages.MINUTES["smoke"]["labels"]
    pairs = labels.run_labelling(cfg)
    labels.pin_labels(cfg)  # copies them to results/
    # and the estimate before building says so: restoring takes seconds, not a sampling's time
    assert stages.minutes(cfg, labelling)[0] == stages.PINNED_LABELS_MINUTES
    assert stage_settings(tmp_path / "results" / "smoke" / "labels") == labels_params(cfg)
    # a new machine: an empty runs folder restores the pinned pairs, sampling nothing
    new_runs = tmp_path / "new_runs"
    new_runs.mkdir()
    (new_runs / "_cache").symlink_to(tmp_runs / "_cache")
    monkeypatch.setenv("RMENS_RUNS", str(new_runs))
    mark_made(cfg, "sft")
    restored = labels.run_labelling(cfg)
    assert "restored from results/smoke/labels" in capsys.readouterr().out
    assert len(loads) == 1
    for split in ("train", "validation"):
        pd.testing.assert_frame_equal(restored[split].to_pandas(), pairs[split].to_pandas())
    # other settings are not restored from them, and force=True labels afresh
    other = dataclasses.replace(cfg, labels=dataclasses.replace(cfg.labels, noise=0.5))
    assert labels.pinned_labels(other) is None
    labels.run_labelling(cfg, force=True)
    assert len(loads) == 2


def test_answers_pinned_under_another_gold_are_labelled_by_this_one_without_sampling(
        tmp_runs, tmp_path, monkeypatch, capsys):
    """The study's gold labels the pilot's pinned answers: the same pairs, new gold labels."""
    monkeypatch.setenv("RMENS_RESULTS", str(tmp_path / "results"))
    cfg = get_config("smoke")
    generation = dataclasses.replace(cfg.labels.generation, max_new_tokens=10)
    cfg = dataclasses.replace(cfg, labels=dataclasses.replace(
        cfg.labels, max_prompts=8, validation_fraction=0.25, generation=generation))
    pilot = dataclasses.replace(cfg, rubric=PILOT_RUBRIC)
    loads = base_policy(monkeypatch, labels)
    before = labels.run_labelling(pilot)
    labels.pin_labels(pilot)
    assert labels.pinned_labels(cfg) is None and labels.pinned_answers(pilot) is None
    after = labels.run_labelling(cfg)
    assert "labelled by this gold" in capsys.readouterr().out and len(loads) == 1  # no sampling
    gold = labels.load_gold(cfg)  # (a stand-in here)
    for split in ("train", "validation"):
        b, a = before[split].to_pandas(), after[split].to_pandas()
        assert b["id"].tolist() == a["id"].tolist()  # the same pairs in the same split
        assert [{x, y} for x, y in zip(b["chosen"], b["rejected"])] == \
            [{x, y} for x, y in zip(a["chosen"], a["rejected"])]
        scores = gold.score(a["prompt"].tolist(), a["chosen"].tolist())[:, 0].numpy()
        np.testing.assert_allclose(a["gold_chosen"], scores, atol=1e-4)  # this gold's


# --- proxy.pair_accuracy --------------------------------------------------------------------

def test_pair_accuracy_against_hand_values(tmp_runs):
    reward = LookupReward({"a": [2, 0], "b": [1, 1], "c": [0, 3], "d": [1, 1],
                           "e": [5, 5], "f": [0, 0], "g": [1, 1], "h": [1, 2]})
    pairs = Dataset.from_dict({"prompt": ["p"] * 4, "chosen": ["a", "c", "e", "g"],
                               "rejected": ["b", "d", "f", "h"],
                               "flipped": [False, True, False, True]})
    acc = proxy.pair_accuracy(reward, pairs)
    # chosen > rejected, member 0: 2>1 yes, 0>1 no, 5>0 yes, 1>1 no (a tie is not a win)
    #                    member 1: 0>1 no,  3>1 yes, 5>0 yes, 1>2 no
    np.testing.assert_allclose(acc["noisy"], [0.5, 0.5])
    # the gold prefers rejected on the flipped pairs 1 and 3, so against it:
    # member 0 is right on all four pairs, member 1 on pairs 2 and 3 only
    np.testing.assert_allclose(acc["clean"], [1.0, 0.5])
    np.testing.assert_array_equal(acc["chosen"], [[2, 0], [0, 3], [5, 5], [1, 1]])
    np.testing.assert_array_equal(acc["rejected"], [[1, 1], [1, 1], [0, 0], [1, 2]])


# --- calibration ----------------------------------------------------------------------------

def toy_ppo_samples() -> pd.DataFrame:
    """Three runs' answers stacked run by run: the same steps and prompts in each."""
    return pd.DataFrame({
        "run": ["A"] * 3 + ["B"] * 3 + ["C"] * 3,
        "step": [0, 0, 1] * 3,
        "prompt": ["p", "q", "p"] * 3,
        "text": [" ".join(["w"] * (i + 1)) for i in range(9)],  # i + 1 words
        # rows:   A0p  A0q  A1p  B0p  B0q  B1p  C0p  C0q  C1p
        "gold": [1.0, 2.0, 4.0, 3.0, 2.0, 4.0, 0.5, 5.0, 1.0]})


def test_cross_run_pairs_against_hand_values(tmp_runs):
    pairs = calibration.cross_run_pairs(toy_ppo_samples())
    assert pairs.columns.tolist() == ["step", "prompt", "answer_a", "answer_b", "y"]
    # (0, p): rows 0, 3, 6 with gold 1, 3, 0.5; (0, q): rows 1, 4, 7 with gold 2, 2, 5
    # (a tie: 1-4 dropped); (1, p): rows 2, 5, 8 with gold 4, 4, 1 (a tie: 2-5 dropped)
    assert pairs.values.tolist() == [[0, "p", 0, 3, 0], [0, "p", 0, 6, 1], [0, "p", 3, 6, 1],
                                     [0, "q", 1, 7, 0], [0, "q", 4, 7, 0],
                                     [1, "p", 2, 8, 1], [1, "p", 5, 8, 1]]
    # matched on the prompt only: the answers to p of both steps pair (rows 0, 2, 3, 5, 6, 8)
    loose = calibration.cross_run_pairs(toy_ppo_samples(), by=["prompt"])
    assert loose.columns.tolist() == ["prompt", "answer_a", "answer_b", "y"]
    assert len(loose[loose["prompt"] == "p"]) == 15 - 2  # C(6, 2) pairs less the ties 0-8 and 2-5

