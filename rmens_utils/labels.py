"""Gold-labelled preference pairs (notebook 02), after Coste et al. 2023.

Two answers per ``pref`` prompt from the SFT policy, both scored by the gold reward; the
higher-scoring one is *chosen*; then each label is flipped with probability ``noise``
(25 % in Coste et al., about the disagreement between human annotators).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict, load_from_disk

from . import stages
from .artifacts import atomic_dir, canonical, read_record, results_dir, stage_settings, write_record
from .data import load_split, prompt_text
from .gold import load_gold
from .hardware import precision_of
from .models import load_sft_policy
from .sampling import sample_cached
from .stages import LABELS as STAGE
from .stages import labels_params
from .text import word_count


def label_pairs(prompts: list[str], answers_a: list[str], answers_b: list[str],
                gold_a: np.ndarray, gold_b: np.ndarray, noise: float, seed: int) -> pd.DataFrame:
    """One row per prompt: ``prompt, chosen, rejected, gold_chosen, gold_rejected, flipped,
    chosen_is_a``.

    ``chosen`` is the answer the (noisy) label prefers; with ``flipped`` False it is also
    the gold-better one. Exact gold ties are broken at random.
    """
    rng = np.random.default_rng(seed)
    gold_a, gold_b = np.asarray(gold_a, float), np.asarray(gold_b, float)
    a_better = np.where(gold_a == gold_b, rng.random(len(gold_a)) < 0.5, gold_a > gold_b)
    flipped = rng.random(len(gold_a)) < noise
    a_chosen = a_better ^ flipped
    answers_a, answers_b = np.asarray(answers_a, dtype=object), np.asarray(answers_b, dtype=object)
    return pd.DataFrame({
        "prompt": list(prompts),
        "chosen": np.where(a_chosen, answers_a, answers_b).tolist(),
        "rejected": np.where(a_chosen, answers_b, answers_a).tolist(),
        "gold_chosen": np.where(a_chosen, gold_a, gold_b),
        "gold_rejected": np.where(a_chosen, gold_b, gold_a),
        "flipped": flipped,
        "chosen_is_a": a_chosen,
    })


def gold_labelled(cfg, ids, tasks, prompts, answers_a, answers_b, finished_a, finished_b
                  ) -> pd.DataFrame:
    """Both answers of each prompt scored by ``cfg``'s gold and labelled (:func:`label_pairs`),
    with each pair's ``id`` and ``task`` and whether each answer ended (EOS) or was cut off."""
    gold = load_gold(cfg)
    gold_a = gold.score(prompts, list(answers_a))[:, 0].numpy()
    gold_b = gold.score(prompts, list(answers_b))[:, 0].numpy()
    pairs = label_pairs(prompts, answers_a, answers_b, gold_a, gold_b, cfg.labels.noise,
                        cfg.seed)
    pairs.insert(0, "id", list(ids))
    pairs["task"] = list(tasks)
    is_a = pairs.pop("chosen_is_a")
    pairs["finished_chosen"] = np.where(is_a, finished_a, finished_b)
    pairs["finished_rejected"] = np.where(is_a, finished_b, finished_a)
    return pairs


def run_labelling(cfg, force: bool = False):
    """Sample two answers per ``pref`` prompt, gold-label them with noise, and save a
    ``DatasetDict`` (train/validation) to ``<runs>/<profile>/labels``. Skipped when done;
    sampling resumes chunk by chunk after an interrupt. Pairs pinned in ``results/`` for these
    settings are restored instead; answers pinned for these settings but another gold are
    labelled anew by this one (no sampling)."""
    def build(out, work):
        if not force and (pinned := pinned_labels(cfg)) is not None:
            print(f"labels: the study's own pairs, restored from results/{cfg.profile}/{STAGE} "
                  "(sampling on another machine would label differently; force=True relabels)")
            pinned.save_to_disk(str(out / "pairs"))
            return
        if not force and (earlier := pinned_answers(cfg)) is not None:
            where, df = earlier
            print(f"labels: the answers pinned in results/{where}/{STAGE}, sampled with these "
                  "settings, labelled by this gold (force=True samples anew)")
            pairs = gold_labelled(cfg, df["id"], df["task"], df["prompt"].tolist(),
                                  df["chosen"], df["rejected"], df["finished_chosen"],
                                  df["finished_rejected"])
            DatasetDict({s: Dataset.from_pandas(pairs[(df["split"] == s).to_numpy()],
                                                preserve_index=False)
                         for s in ("train", "validation")}).save_to_disk(str(out / "pairs"))
            return
        lc = cfg.labels
        pref = load_split("pref", cfg)
        if lc.max_prompts:
            pref = pref.select(range(min(lc.max_prompts, len(pref))))
        prompts = [prompt_text(r) for r in pref]
        policy, tokenizer = load_sft_policy(cfg, dtype=precision_of(cfg).sample_dtype)
        samples = sample_cached(policy, tokenizer, prompts, 2, lc.generation, cfg.seed, work,
                                lc.chunk_size)
        del policy
        a = samples[samples["sample_idx"] == 0].set_index("prompt_idx").sort_index()
        b = samples[samples["sample_idx"] == 1].set_index("prompt_idx").sort_index()
        pairs = gold_labelled(cfg, pref["id"], pref["task"], prompts, a["text"], b["text"],
                              a["finished"].to_numpy(), b["finished"].to_numpy())
        split = Dataset.from_pandas(pairs, preserve_index=False).train_test_split(
            test_size=lc.validation_fraction, seed=cfg.seed)
        DatasetDict(train=split["train"], validation=split["test"]).save_to_disk(str(out / "pairs"))

    return stages.run(cfg, STAGE, build, lambda folder: load_from_disk(str(folder / "pairs")),
                      force)


def pin_labels(cfg) -> None:
    """Copy the labels stage to ``results/<profile>/labels`` (one parquet file, ~0.6 MB on
    ``cpu``, with its settings), where :func:`run_labelling` restores them from. Sampling
    4,000 answers on another machine flips a few tokens, so its labels, and the reward models
    trained on them, come out different; with these pairs every machine trains on the same."""
    folder = stages.folder(cfg, STAGE)
    pairs = load_from_disk(str(folder / "pairs"))
    with atomic_dir(results_dir(cfg.profile) / STAGE) as tmp:
        pd.concat([pairs[s].to_pandas().assign(split=s) for s in pairs], ignore_index=True
                  ).to_parquet(tmp / "pairs.parquet", index=False)
        write_record(tmp, labels_params(cfg), read_record(folder)["inputs"])


def pinned_labels(cfg) -> DatasetDict | None:
    """The pairs :func:`pin_labels` saved for ``cfg``'s settings, or None."""
    if not stages.labels_pinned(cfg):
        return None
    df = pd.read_parquet(results_dir(cfg.profile) / STAGE / "pairs.parquet")
    return DatasetDict({s: Dataset.from_pandas(df[df["split"] == s].drop(columns="split"),
                                               preserve_index=False)
                        for s in df["split"].unique()})


def pinned_answers(cfg) -> tuple[str, pd.DataFrame] | None:
    """Pairs pinned in ``results/<other>/labels`` whose settings are ``cfg``'s but for the gold
    (e.g. the pilot's, for the study's gold): the same answers, to be labelled by ``cfg``'s gold.
    ``(other, its pairs)``, or None."""
    ours = canonical(labels_params(cfg))
    for folder in sorted(results_dir(cfg.profile).parent.glob(f"*/{STAGE}")):
        theirs = stage_settings(folder)
        if theirs is not None and theirs != ours and {**theirs, "gold": ours["gold"]} == ours:
            return folder.parent.name, pd.read_parquet(folder / "pairs.parquet")
    return None


def label_stats(df: pd.DataFrame, tie: float = 0.1) -> pd.Series:
    """Summary of labelled pairs (a ``pandas`` view of the data set): size, realised flip
    rate, near-ties, completion and length of the answers."""
    gap = (df["gold_chosen"] - df["gold_rejected"]).abs()
    answers = pd.concat([df["chosen"], df["rejected"]])
    finished = pd.concat([df["finished_chosen"], df["finished_rejected"]])
    better = np.where(df["flipped"], df["rejected"], df["chosen"])  # by gold, before flips
    worse = np.where(df["flipped"], df["chosen"], df["rejected"])
    return pd.Series({
        "pairs": len(df),
        "realised flip rate": df["flipped"].mean(),
        f"pairs within {tie} of a gold tie": (gap < tie).mean(),
        "mean gold gap within a pair": gap.mean(),
        "answers finished (EOS) within the budget": finished.mean(),
        "mean answer length (words)": word_count(answers).mean(),
        "gold-better answer is the longer one": (word_count(better) > word_count(worse)).mean(),
    }).round(3)
