"""Gold rewards: what stands in for human judgement.

Every reward in this package scores (prompt, response) *strings* and returns a
``(batch, k)`` tensor: ``k = 1`` for the gold and a single RM, ``k`` members or heads for
an ensemble. Aggregating over ``k`` is a separate, named step.

Offline (``smoke``/``cpu``) the gold is :class:`RubricGold`, a fixed, deterministic
rubric built from packaged assets only. ``gpu`` uses :class:`HubGold`, any trained
``AutoModelForSequenceClassification`` reward model from the Hugging Face Hub.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Function words carry no content: they count neither as coverage nor as information.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each either else
ever every few for from further get gets give had has have having he her here hers herself
him himself his how i if in into is it its itself just let like may me might more most must
my myself no nor not now of off on once one only or other our ours ourselves out over own
per please same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up upon us very was we were what
when where which while who whom why will with within without would you your yours yourself
yourselves two three four five six seven eight nine ten etc using use used make makes made
""".split())

# Words that say what to do, not what about: they do not count as the instruction's topic.
TASK_WORDS = frozenset("""
explain describe list give name suggest summarise summarize summary passage text paragraph
sentence rewrite classify category compare contrast difference differences define definition
term mean meaning tip tips way ways idea ideas short simple simply word words brief briefly
following answer step steps write main point points pro pros con cons good bad best help
want tell know need example examples kind kinds thing things
""".split())


# Hand-picked answers to one prompt, one per flaw the rubric is meant to punish.
RUBRIC_EXAMPLES_PROMPT = "Explain why the sky looks blue."
RUBRIC_EXAMPLES = {
    "good": "Sunlight contains all colours. Air molecules scatter short blue wavelengths far "
            "more than red ones (Rayleigh scattering), so blue light reaches our eyes from "
            "every part of the sky, which therefore looks blue.",
    "off-topic": "Bananas are rich in potassium and make a quick, healthy snack before exercise.",
    "repetitive": "The sky is blue because the sky is blue because the sky is blue because the "
                  "sky is blue because the sky is blue.",
    "too short": "Scattering.",
}
RUBRIC_EXAMPLES["padded"] = RUBRIC_EXAMPLES["good"] + " " + " ".join(
    ["In addition, it is worth noting that many people have wondered about this for a very "
     "long time indeed."] * 6)
RUBRIC_EXAMPLES["cut off"] = RUBRIC_EXAMPLES["good"][:97]  # mid-word, as at a token limit


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """Lower-cased words that are not function words, crudely stemmed (plural 's')."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in words(text) if w not in STOPWORDS and len(w) > 1}


def repetition(text: str, n: int = 3) -> float:
    """Share of word n-grams that repeat an earlier one: 0 for fresh text, →1 for loops."""
    w = words(text)
    grams = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def length_score(n_words: int, low: int = 12, high: int = 50, zero_at: int = 100) -> float:
    """1 inside [low, high] words; falls linearly to 0 at 3 words and past ``high`` keeps
    falling (0 at ``zero_at``, negative beyond): padding costs."""
    if n_words < low:
        return max(0.0, (n_words - 3) / (low - 3))
    if n_words <= high:
        return 1.0
    return (zero_at - n_words) / (zero_at - high)


@dataclass(frozen=True)
class RubricWeights:
    relevance: float = 2.0  # cosine of prompt and answer embeddings (MiniLM)
    coverage: float = 1.0  # share of the instruction's content words the answer uses
    information: float = 1.0  # distinct content words, saturating at ``saturation``
    saturation: int = 20
    repetition: float = 3.0  # penalty: repeated trigrams
    length: float = 1.0  # length_score: too short or padded answers lose
    complete: float = 0.5  # ends like a finished sentence (not cut off)


class RubricGold:
    """The offline gold: a weighted rubric a careful rater would broadly agree with.

    score = 2·relevance + coverage + information − 3·repetition + length + 0.5·complete

    It uses a frozen sentence encoder (all-MiniLM-L6-v2, mean-pooled) only for the
    relevance term; the other terms are counts. The proxies, in contrast, are the same
    encoder *fine-tuned* on a few thousand noisy gold-labelled pairs: a different form
    and far less information than the rubric itself.
    """

    num_members = 1

    def __init__(self, encoder, tokenizer, weights: RubricWeights = RubricWeights(),
                 batch_size: int = 64):
        self.encoder, self.tokenizer = encoder.eval(), tokenizer
        self.weights, self.batch_size = weights, batch_size

    @torch.no_grad()
    def embed(self, texts: list[str]) -> torch.Tensor:
        """Mean-pooled, L2-normalised sentence embeddings, ``(len(texts), hidden)``."""
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(texts[i:i + self.batch_size], padding=True, truncation=True,
                                 max_length=256, return_tensors="pt").to(self.encoder.device)
            hidden = self.encoder(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).cpu())
        return torch.cat(out)

    def components(self, prompts: list[str], responses: list[str]) -> dict[str, torch.Tensor]:
        """Each rubric term, ``(batch,)`` each, before weighting."""
        relevance = (self.embed(prompts) * self.embed(responses)).sum(-1)
        coverage, information, rep, length, complete = [], [], [], [], []
        for prompt, response in zip(prompts, responses):
            instruction = prompt.split("\n\n")[0]  # the instruction, not a text to summarise
            asked = content_words(instruction) - TASK_WORDS
            said = content_words(response)
            coverage.append(len(asked & said) / max(1, len(asked)))
            information.append(min(1.0, len(said) / self.weights.saturation))
            rep.append(repetition(response))
            length.append(length_score(len(words(response))))
            complete.append(float(response.rstrip().endswith((".", "!", "?", '"', ")"))))
        as_tensor = lambda xs: torch.tensor(xs, dtype=torch.float32)  # noqa: E731
        return {"relevance": relevance, "coverage": as_tensor(coverage),
                "information": as_tensor(information), "repetition": as_tensor(rep),
                "length": as_tensor(length), "complete": as_tensor(complete)}

    def table(self, prompts: list[str], responses: list[str], index=None):
        """A ``pandas`` table of every rubric term and the gold score, one row per answer."""
        import pandas as pd

        df = pd.DataFrame({k: v.numpy() for k, v in self.components(prompts, responses).items()},
                          index=index)
        df["gold"] = self.score(prompts, responses)[:, 0].numpy()
        return df.round(3)

    def score(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        """Gold reward, ``(batch, 1)``."""
        c, w = self.components(prompts, responses), self.weights
        total = (w.relevance * c["relevance"] + w.coverage * c["coverage"]
                 + w.information * c["information"] - w.repetition * c["repetition"]
                 + w.length * c["length"] + w.complete * c["complete"])
        return total.unsqueeze(-1)


def answer_features(gold, prompts: list[str], responses: list[str]):
    """What each answer is like: its length in words and, when the gold is the rubric,
    every rubric term. One row per answer; for asking *what* an optimiser picks."""
    import pandas as pd

    df = pd.DataFrame({"words": [len(words(r)) for r in responses]})
    if isinstance(gold, RubricGold):
        df = df.join(gold.table(prompts, responses).drop(columns="gold"))
    return df


class HubGold:
    """A trained reward model from the Hub as gold (``gpu``): any sequence classifier
    with one output, given the prompt and response as a text pair or a chat."""

    num_members = 1

    def __init__(self, name: str, device: str = "cpu", batch_size: int = 16):
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name)
            self.model = AutoModelForSequenceClassification.from_pretrained(name).to(device).eval()
        except OSError as e:
            raise RuntimeError(f"Could not load the gold reward model '{name}' from the Hugging "
                               f"Face Hub ({e}). Without Hub access use RMENS_PROFILE=cpu.") from e
        self.batch_size = batch_size

    @torch.no_grad()
    def score(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        """Gold reward, ``(batch, 1)``."""
        out = []
        for i in range(0, len(prompts), self.batch_size):
            p, r = prompts[i:i + self.batch_size], responses[i:i + self.batch_size]
            if self.tokenizer.chat_template:
                texts = [self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": a}, {"role": "assistant", "content": b}],
                    tokenize=False) for a, b in zip(p, r)]
                enc = self.tokenizer(texts, padding=True, truncation=True, max_length=1024,
                                     return_tensors="pt", add_special_tokens=False)
            else:
                enc = self.tokenizer(p, r, padding=True, truncation=True, max_length=1024,
                                     return_tensors="pt")
            out.append(self.model(**enc.to(self.model.device)).logits[:, :1].float().cpu())
        return torch.cat(out)


def load_gold(cfg):
    """The profile's gold reward, on ``cfg.device``: the offline rubric, or a Hub reward
    model by name."""
    if cfg.gold_name == "offline:rubric":
        from .models import load_rm_backbone

        encoder, tokenizer = load_rm_backbone(cfg)  # the frozen, untrained encoder
        return RubricGold(encoder, tokenizer)
    return HubGold(cfg.gold_name, device=cfg.device)
