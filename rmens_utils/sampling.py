"""Sampling answers from the policy."""
from __future__ import annotations

import pandas as pd
import torch
from tqdm.auto import tqdm

from .models import format_prompt


@torch.no_grad()
def sample(model, tokenizer, user_texts: list[str], gen, seed: int = 0,
           progress: bool = True) -> pd.DataFrame:
    """Sample one answer per user text (``gen``: a ``GenerationConfig`` of ours).

    Returns one row per text: ``text`` (decoded without special tokens), ``n_tokens``
    (answer tokens, EOS included) and ``finished`` (the policy emitted EOS within the
    ``max_new_tokens`` budget, i.e. the answer was not cut off). Batched, left-padded.
    """
    model.eval()
    torch.manual_seed(seed)
    tokenizer.padding_side = "left"  # generation continues from the right end
    prompts = [format_prompt(tokenizer, t) for t in user_texts]
    # Batch prompts of similar length together: padding costs as much compute as text.
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(prompts)), key=lengths.__getitem__)
    rows = [None] * len(prompts)
    batches = range(0, len(prompts), gen.batch_size)
    for start in tqdm(batches, desc="sampling", disable=not progress):
        idx = order[start:start + gen.batch_size]
        enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                        add_special_tokens=False).to(model.device)
        out = model.generate(
            **enc, do_sample=True, temperature=gen.temperature, top_p=gen.top_p,
            max_new_tokens=gen.max_new_tokens, pad_token_id=tokenizer.pad_token_id)
        new_tokens = out[:, enc["input_ids"].shape[1]:]
        is_eos = new_tokens == tokenizer.eos_token_id
        finished = is_eos.any(dim=1)
        # up to and including the first EOS; the rest is padding
        n_tokens = torch.where(finished, is_eos.int().argmax(dim=1) + 1,
                               (new_tokens != tokenizer.pad_token_id).sum(dim=1))
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        for i, t, n, f in zip(idx, texts, n_tokens, finished):
            rows[i] = {"text": t.strip(), "n_tokens": int(n), "finished": bool(f)}
    return pd.DataFrame(rows, columns=["text", "n_tokens", "finished"])


def generate_answers(model, tokenizer, user_texts: list[str], gen, seed: int = 0,
                     progress: bool = True) -> list[str]:
    """Just the answer texts of :func:`sample`."""
    return sample(model, tokenizer, user_texts, gen, seed, progress)["text"].tolist()


def answer_stats(samples: pd.DataFrame) -> dict:
    """Summary of :func:`sample` output: how long answers are and how often they finish."""
    return {"answers": len(samples),
            "finished within budget (%)": round(100 * samples["finished"].mean(), 1),
            "mean tokens": round(samples["n_tokens"].mean(), 1),
            "mean words": round(samples["text"].str.split().str.len().mean(), 1)}


def sample_cached(model, tokenizer, user_texts: list[str], n: int, gen, seed: int,
                  folder, chunk_size: int = 256) -> pd.DataFrame:
    """``n`` samples for each user text, generated chunk by chunk into ``folder``.

    Each finished chunk is saved atomically, so an interrupted run resumes where it
    stopped, and each chunk has its own seed, so the result is the same either way.
    Returns columns ``prompt_idx, sample_idx`` plus those of :func:`sample`.
    """
    from pathlib import Path

    from .artifacts import atomic_dir

    folder = Path(folder)
    jobs = [(p, s) for p in range(len(user_texts)) for s in range(n)]
    chunks = [jobs[i:i + chunk_size] for i in range(0, len(jobs), chunk_size)]
    parts = []
    for c, chunk in enumerate(tqdm(chunks, desc=f"sampling {len(jobs)} answers in chunks")):
        path = folder / f"chunk-{c:05d}"
        if not (path / "samples.parquet").is_file():
            df = sample(model, tokenizer, [user_texts[p] for p, _ in chunk], gen,
                        seed=seed * 100_003 + c, progress=False)
            df.insert(0, "prompt_idx", [p for p, _ in chunk])
            df.insert(1, "sample_idx", [s for _, s in chunk])
            with atomic_dir(path) as tmp:
                df.to_parquet(tmp / "samples.parquet", index=False)
        parts.append(pd.read_parquet(path / "samples.parquet"))
    return pd.concat(parts, ignore_index=True)
