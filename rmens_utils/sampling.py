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
    rows = []
    batches = range(0, len(user_texts), gen.batch_size)
    for start in tqdm(batches, desc="sampling", disable=not progress):
        prompts = [format_prompt(tokenizer, t) for t in user_texts[start:start + gen.batch_size]]
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = enc.to(model.device)
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
        rows += [{"text": t.strip(), "n_tokens": int(n), "finished": bool(f)}
                 for t, n, f in zip(texts, n_tokens, finished)]
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
