"""Sampling answers from the policy."""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from .models import format_prompt


@torch.no_grad()
def generate_answers(model, tokenizer, user_texts: list[str], gen, seed: int = 0,
                     progress: bool = True) -> list[str]:
    """Sample one answer per user text (``gen``: a ``GenerationConfig`` of ours).

    Batched with left padding; the answer is decoded without special tokens.
    """
    model.eval()
    torch.manual_seed(seed)
    tokenizer.padding_side = "left"  # generation continues from the right end
    answers = []
    batches = range(0, len(user_texts), gen.batch_size)
    for start in tqdm(batches, desc="sampling", disable=not progress):
        prompts = [format_prompt(tokenizer, t) for t in user_texts[start:start + gen.batch_size]]
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = enc.to(model.device)
        out = model.generate(
            **enc, do_sample=True, temperature=gen.temperature, top_p=gen.top_p,
            max_new_tokens=gen.max_new_tokens, pad_token_id=tokenizer.pad_token_id)
        new_tokens = out[:, enc["input_ids"].shape[1]:]
        answers += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [a.strip() for a in answers]
