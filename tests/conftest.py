import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict


def load_script(relative: str):
    """A script of the repository that is not in the package (``scripts/``, ``benchmarks/``),
    imported from its file."""
    path = Path(__file__).resolve().parent.parent / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tmp_runs(tmp_path, monkeypatch):
    """An empty, throw-away runs folder sharing only the converted base policy."""
    from rmens_utils import artifacts, get_config, models

    models.load_policy(get_config("smoke"))  # converted once into the session's _cache
    shared = artifacts.runs_root() / "_cache"
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "_cache").symlink_to(shared)
    monkeypatch.setenv("RMENS_RUNS", str(runs))
    return runs


def mark_made(cfg, *names) -> None:
    """Record stages ``names`` (and the stages they need) as made with ``cfg``'s settings, from
    the builds of their inputs: a test's stand-in for the notebooks that make them. The files
    a stage holds are the test's to write."""
    from rmens_utils import artifacts, stages

    for name in names:
        spec = stages.stage(cfg, name)
        mark_made(cfg, *(need for need in spec.needs if not stages.is_made(cfg, need)))
        folder = artifacts.stage_dir(cfg.profile, name)
        folder.mkdir(parents=True, exist_ok=True)
        artifacts.write_record(folder, spec.params(cfg), stages.input_builds(cfg, name))


TOPICS = ["rain", "bread", "tides", "volcanoes", "bees", "stars", "coffee", "glass",
          "maps", "rivers", "owls", "copper", "clouds", "salt", "bridges", "ferns",
          "deserts", "whales", "candles", "bicycles", "tea", "moss", "comets", "paper"]


def easy_pairs(topics) -> dict:
    """Chosen: a long answer that names the topic; rejected: "No."; no label flipped."""
    return {"prompt": [f"Tell me about {t}." for t in topics],
            "chosen": [f"{t.capitalize()} is a fascinating subject with a long and "
                       "interesting history." for t in topics],
            "rejected": ["No."] * len(topics), "flipped": [False] * len(topics)}


def write_labels(cfg, train: dict, validation: dict) -> None:
    """A stand-in for notebook 02's labels stage, complete for ``cfg``'s settings."""
    from rmens_utils.artifacts import stage_dir

    folder = stage_dir(cfg.profile, "labels")
    DatasetDict({"train": Dataset.from_dict(train),
                 "validation": Dataset.from_dict(validation)}).save_to_disk(str(folder / "pairs"))
    mark_made(cfg, "labels")  # as if made by 02


class LengthReward:
    """A stand-in proxy with k = 2 members that disagree about length."""

    num_members = 2

    def __init__(self):
        self.params = {"stand-in": "length"}

    def score(self, prompts, responses, progress=False):
        n = torch.tensor([len(r.split()) for r in responses], dtype=torch.float)
        return torch.stack([n / 10, 1 - n / 10], 1)


class WordCountGold:
    def score(self, prompts, responses):
        from rmens_utils.text import word_count

        return torch.tensor(word_count(responses), dtype=torch.float32)[:, None]


@pytest.fixture
def stand_ins(tmp_runs, monkeypatch):
    """PPO on the base policy with stand-in rewards, in a throw-away root."""
    from rmens_utils import artifacts, get_config, models, rlhf, stages

    monkeypatch.setattr(rlhf, "load_sft_policy", lambda cfg: models.load_policy(cfg))
    monkeypatch.setattr(rlhf, "load_reward", lambda cfg, stage: LengthReward())
    monkeypatch.setattr(rlhf, "load_gold", lambda cfg: WordCountGold())
    cfg = get_config("smoke")
    # 3 steps, a checkpoint after step 2, evaluations at steps 0, 2 and 3 (the end)
    cfg = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, steps=3, save_every=2,
                                                           eval_every=2))
    # the control standardises the gold on the labelled answers: here two pairs, 12 against 8
    folder = artifacts.stage_dir("smoke", stages.LABELS)
    pairs = Dataset.from_dict({"gold_chosen": [12.0, 12.0], "gold_rejected": [8.0, 8.0]})
    DatasetDict({"train": pairs}).save_to_disk(str(folder / "pairs"))
    # the SFT evaluation needs no trained stage here: mark its inputs as made
    mark_made(cfg, *stages.stage(cfg, stages.PPO_EVAL).needs)
    return cfg
