"""Sampling answers from the policy."""
from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from .artifacts import in_chunks
from .text import word_count
from .models import format_prompt

TOP_K = 64  # candidates kept before the top-p cut; see GumbelTopPSampler


def gumbel_like(x: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel noise of ``x``'s shape: −log(−log U), U uniform on (0, 1]."""
    return -torch.log(-torch.log(torch.rand_like(x).clamp(1e-10, 1.0)))


class GumbelTopPSampler:
    """Top-p sampling done as a logits processor for *greedy* ``generate``.

    Keep the ``TOP_K`` most likely tokens, cut them to the top-p nucleus, then add Gumbel
    noise: the argmax of (logits/T + Gumbel noise) is an exact sample of softmax(logits/T)
    (the Gumbel-max trick), so greedy decoding of the processed scores samples. Why not
    ``do_sample=True``: on a CPU, ``torch.multinomial`` and the sort over the whole
    49k-token vocabulary cost ~40 % of each decoding step at batch 128; this costs ~nothing.
    """

    def __init__(self, temperature: float, top_p: float, top_k: int = TOP_K):
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.float() / self.temperature
        if self.top_p >= 1.0:  # plain sampling at temperature T over the whole vocabulary
            return scores + gumbel_like(scores)
        top, idx = scores.topk(min(self.top_k, scores.shape[-1]), dim=-1)  # sorted
        probs = top.softmax(-1)
        outside = probs.cumsum(-1) - probs >= self.top_p  # mass before this token ≥ p
        top = top.masked_fill(outside, float("-inf"))
        out = torch.full_like(scores, float("-inf"))
        return out.scatter(-1, idx, top + gumbel_like(top))


def generation_kwargs(gen, tokenizer) -> dict:
    """``model.generate`` arguments that sample with our ``GenerationConfig``."""
    from transformers import LogitsProcessorList

    return {"do_sample": False, "max_new_tokens": gen.max_new_tokens,
            "pad_token_id": tokenizer.pad_token_id,
            "logits_processor": LogitsProcessorList([GumbelTopPSampler(gen.temperature, gen.top_p)])}


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
        out = model.generate(**enc, **generation_kwargs(gen, tokenizer))
        for i, row in zip(idx, answer_rows(out[:, enc["input_ids"].shape[1]:], tokenizer)):
            rows[i] = row
    return pd.DataFrame(rows, columns=["text", "n_tokens", "finished"])


def response_mask(new_tokens: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """1 on the answer's tokens, up to and including the first EOS; 0 on the padding
    ``generate`` adds after it. ``(batch, new)``."""
    is_eos = (new_tokens == eos_token_id).long()
    return ((is_eos.cumsum(1) - is_eos) == 0).float()  # no EOS before this position


def answer_rows(new_tokens: torch.Tensor, tokenizer) -> list[dict]:
    """``text, n_tokens, finished`` for each row of generated tokens ``(batch, new)``."""
    finished = (new_tokens == tokenizer.eos_token_id).any(dim=1)
    n_tokens = response_mask(new_tokens, tokenizer.eos_token_id).sum(1)
    texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [{"text": t.strip(), "n_tokens": int(n), "finished": bool(f)}
            for t, n, f in zip(texts, n_tokens, finished)]


@torch.no_grad()
def sample_one_prompt(model, tokenizer, user_text: str, n: int, gen, seed: int = 0) -> pd.DataFrame:
    """``n`` answers to one prompt (columns as :func:`sample`), in batches of
    ``gen.batch_size``. The prompt is run through the model once and its key/value cache
    copied to every sample, instead of being recomputed n times."""
    from transformers import DynamicCache

    model.eval()
    torch.manual_seed(seed)
    ids = tokenizer(format_prompt(tokenizer, user_text), return_tensors="pt",
                    add_special_tokens=False)["input_ids"].to(model.device)
    prefix = DynamicCache(config=model.config)
    model(ids[:, :-1], cache=prefix, use_cache=True)  # all but the last token
    rows = []
    for start in range(0, n, gen.batch_size):
        b = min(gen.batch_size, n - start)
        cache = copy.deepcopy(prefix)
        cache.batch_repeat_interleave(b)
        out = model.generate(
            input_ids=ids.repeat(b, 1), attention_mask=torch.ones_like(ids).repeat(b, 1),
            cache=cache, **generation_kwargs(gen, tokenizer))
        rows += answer_rows(out[:, ids.shape[1]:], tokenizer)
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
            "mean words": round(word_count(samples["text"]).mean(), 1)}


def sample_cached(model, tokenizer, user_texts: list[str], n: int, gen, seed: int,
                  folder, chunk_size: int = 256) -> pd.DataFrame:
    """``n`` samples for each user text, generated chunk by chunk into ``folder``.

    Each finished chunk is saved atomically, so an interrupted run resumes where it
    stopped, and each chunk has its own seed, so the result is the same either way.
    With many samples per prompt (``n >= 8``) a chunk is one prompt, sampled with a
    shared prompt cache (:func:`sample_one_prompt`). Returns columns
    ``prompt_idx, sample_idx`` plus those of :func:`sample`.
    """
    folder = Path(folder)
    jobs = [(p, s) for p in range(len(user_texts)) for s in range(n)]
    size = n if n >= 8 else chunk_size
    chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]

    def make(c, chunk):
        chunk_seed = seed * 100_003 + c
        if n >= 8:
            df = sample_one_prompt(model, tokenizer, user_texts[chunk[0][0]], n, gen, chunk_seed)
        else:
            df = sample(model, tokenizer, [user_texts[p] for p, _ in chunk], gen, chunk_seed,
                        progress=False)
        df.insert(0, "prompt_idx", [p for p, _ in chunk])
        df.insert(1, "sample_idx", [s for _, s in chunk])
        return df

    return in_chunks(folder, chunks, make, "samples.parquet",
                     f"sampling {len(jobs)} answers in chunks")
