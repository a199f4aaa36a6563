"""Gold rewards: what stands in for human judgement.

Every reward in this package scores (prompt, response) *strings* and returns a
``(batch, k)`` tensor: ``k = 1`` for the gold and a single RM, ``k`` members or heads for
an ensemble. Aggregating over ``k`` is a separate, named step.

Offline (``smoke``/``cpu``) the gold is :class:`RubricGold`, a fixed, deterministic
rubric built from packaged assets only: counts, a frozen sentence encoder and a frozen
language model. ``gpu`` uses :class:`HubGold`, any trained
``AutoModelForSequenceClassification`` reward model from the Hugging Face Hub.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from .artifacts import in_chunks
from .config import PENALTIES, RubricWeights
from .hardware import Precision, precision_of
from .models import format_prompt, load_policy, load_rm_backbone
from .text import term_columns, word_count, words  # noqa: F401  (as gold.<name> in lessons)

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
RUBRIC_EXAMPLES["keyword stuffing"] = "Sky blue sky blue looks blue sky explain blue sky looks blue."
RUBRIC_EXAMPLES["word salad"] = ("Sky blue light scattering wavelengths atmosphere sunlight colour "
                                 "physics molecules Rayleigh spectrum eyes air nature science.")

# Hand-written pairs (prompt, a genuine answer, a degenerate one), each degenerate answer of the
# kind PPO finds against a proxy: the question's words repeated, a salad of on-topic words,
# one word looped in stock phrases. The gold must rank every genuine answer first (tested).
DEGENERATE_PAIRS = [
    ("Give two tips for better sleep.",
     "Keep a regular bedtime, and avoid screens and caffeine in the evening.",
     "Sleep sleep better better tips tips two two sleep tips better sleep."),
    ("Describe the food of Italy.",
     "Italian food is built on simple, fresh ingredients: pasta with tomato sauce, olive oil, "
     "cheeses such as parmesan and mozzarella, and regional dishes like risotto in the north "
     "and pizza in Naples.",
     "Italy food culinary tradition cherished rich heritage vibrant flavours timeless delight "
     "cherished tradition culinary journey Italy food heritage."),
    ("How can I become more resilient?",
     "Build routines that keep you steady, sleep and exercise regularly, talk problems through "
     "with people you trust, and treat setbacks as lessons rather than verdicts.",
     "Resilience, resilience, resilience is key. Become resilient, resilient mindset, "
     "resilience and strength, resilience always."),
    ("List three benefits of regular exercise.",
     "Regular exercise strengthens the heart and lungs, helps you keep a healthy weight, and "
     "improves mood and sleep.",
     "Exercise benefits regular exercise benefits health exercise regular benefits three "
     "exercise benefits."),
    ("Explain how vaccines work.",
     "A vaccine shows the immune system a harmless piece or weakened form of a germ, so it "
     "learns to make antibodies and memory cells; if the real germ arrives later, the body "
     "recognises it and fights it off quickly.",
     "Vaccines immune antibodies germs protection body cells memory injection health doctors "
     "disease prevention science immunity vaccines work."),
    ("Suggest a name for a bakery and explain it.",
     "Call it \"Rise & Shine\": it points to dough rising and to an early-morning visit for "
     "fresh bread.",
     "Bakery name bakery bread name suggest bakery explain name bread bakery name."),
]


# Hand-written pairs (prompt, a short direct answer that does what is asked, fluent on-topic text
# that does not): a careful rater prefers the answer, while relevance, and the pilot's coverage,
# distinct words and length terms, favour the longer filler. The gold was designed on these (and
# on data/gold_pairs.jsonl); data/gold_pairs_2.jsonl is its held-out test.
DIRECT_PAIRS = [
    ("Suggest five names for a children's bookshop.",
     "1. Story Nook 2. Little Readers 3. Page Turners 4. The Reading Tree 5. Once Upon a Shelf",
     "A children's bookshop offers a curated selection of stories for each age group. It is "
     "designed to provide a rich and inspiring reading experience for young readers and their "
     "families."),
    ("What is the capital of Australia?",
     "The capital of Australia is Canberra.",
     "Australia is a vast and diverse country with many important cities, each with its own "
     "history, culture and role in the life of the nation."),
    ("Convert 5 kilometres to miles.",
     "5 kilometres is about 3.1 miles, since one kilometre is about 0.62 miles.",
     "Converting between kilometres and miles is a common task that helps people understand "
     "distances in the different measurement systems used around the world."),
    ("Give three synonyms for 'happy'.",
     "Joyful, cheerful and content.",
     "Happiness is a positive emotional state that people experience in many ways, and the "
     "words we use to describe it can vary widely from one person to another."),
    ("Translate 'good morning' into Spanish.",
     "\"Good morning\" in Spanish is \"buenos días\".",
     "Spanish is a beautiful language spoken by millions of people, and learning common "
     "greetings is a wonderful way to connect with its rich culture."),
    ("Name the largest planet in the solar system.",
     "Jupiter is the largest planet in the solar system.",
     "The solar system contains a fascinating variety of planets, each with unique features "
     "that scientists continue to study with great interest."),
    ("Write a haiku about autumn.",
     "Crisp leaves drift and fall,\namber light on quiet paths,\nthe year breathes out slow.",
     "Autumn is a season of change and reflection, and poetry about it often captures the "
     "beauty of nature in a thoughtful and evocative way."),
    ("List the three primary colours of paint.",
     "Red, yellow and blue.",
     "Colours play an important role in art and design, and understanding them helps people "
     "create work that is balanced, expressive and visually appealing."),
    ("How many days are there in a leap year?",
     "A leap year has 366 days.",
     "Leap years are an interesting part of our calendar system, which has developed over "
     "centuries to keep track of time as accurately as possible."),
    ("Suggest a title for a blog post about saving money.",
     "\"Small Habits, Big Savings: Ten Easy Ways to Keep More of Your Money\"",
     "Saving money is an important goal for many people, and a good blog post about it can "
     "offer practical advice and encouragement to its readers."),
    ("Rewrite this sentence in the past tense: 'She walks to school.'",
     "She walked to school.",
     "Changing the tense of a sentence is a useful skill in writing, as it helps express when "
     "events happen and keeps a text consistent and clear."),
    ("What is the boiling point of water at sea level in degrees Celsius?",
     "Water boils at 100 degrees Celsius at sea level.",
     "The boiling point of water is an important concept in science and cooking, and it "
     "depends on several conditions that are worth understanding."),
]

def content_tokens(text: str) -> list[str]:
    """Lower-cased words that are not function words, crudely stemmed (plural 's'), in
    order and with repeats."""
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in words(text) if w not in STOPWORDS and len(w) > 1]


def content_words(text: str) -> set[str]:
    """The distinct :func:`content_tokens`."""
    return set(content_tokens(text))


def repetition(text: str, n: int = 3) -> float:
    """Share of word n-grams that repeat an earlier one: 0 for fresh text, →1 for loops."""
    w = words(text)
    grams = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def word_repetition(text: str) -> float:
    """Share of content words that repeat an earlier one: keyword stuffing ("sleep sleep
    better tips sleep") scores high where :func:`repetition`'s trigrams see nothing.
    Written answers repeat a few key words: the SFT demonstrations have a median of 0.08."""
    tokens = content_tokens(text)
    return 1 - len(set(tokens)) / len(tokens) if tokens else 0.0


def length_score(n_words: int, bounds: tuple[int, int, int, int] = (1, 3, 60, 120)) -> float:
    """``bounds = (zero, low, high, zero_at)``: 1 inside [low, high] words; rises linearly
    from 0 at ``zero`` words to ``low``; past ``high`` keeps falling (0 at ``zero_at``,
    negative beyond): padding costs."""
    zero, low, high, zero_at = bounds
    if n_words < low:
        return max(0.0, (n_words - zero) / (low - zero))
    if n_words <= high:
        return 1.0
    return (zero_at - n_words) / (zero_at - high)


def unit(x: torch.Tensor, low_high: tuple[float, float]) -> torch.Tensor:
    """``x`` mapped linearly to [0, 1]: 0 at or below ``low``, 1 at or above ``high``."""
    low, high = low_high
    return ((x - low) / (high - low)).clamp(0, 1)


class FrozenLM:
    """A fixed language model (SmolLM2-135M-Instruct as packaged, never fine-tuned) that says
    how likely a text is: the mean log-probability of its tokens, in nats a token.

    Two readings, both terms of the gold: an answer as a reply to its own prompt
    (:meth:`answer_logprob`: is it a fluent reply? Word salad and stuffed keywords are
    improbable, ≈ −5.5 to −8; the SFT demonstrations have a median of −2.7, 5th percentile
    −3.85) and the same minus its log-probability as a reply to a generic request, ``"Write a
    short text."`` (*specificity*: generic text about a topic is about as likely whatever was
    asked, an answer that does the task is not: on :data:`DIRECT_PAIRS` every direct answer
    scores higher than its filler; the demonstrations' median is +0.45 nats a token, 75th
    percentile +0.96).
    :meth:`text_logprob` reads a text with no prompt at all (the pilot gold's fluency)."""

    def __init__(self, model, tokenizer, batch_size: int = 16):
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        # (context, text) tokens -> mean log-probability: golds that share this model (the
        # pilot's and the study's, one rubric with other weights) read each text once
        self.memo: dict[tuple[tuple[int, ...], tuple[int, ...]], float] = {}

    def _mean_logprob(self, contexts: list[list[int]], texts: list[list[int]]) -> torch.Tensor:
        """Mean log-probability of each token list ``texts[i]`` after ``contexts[i]``; 0 for
        an empty text. What this model has read before is not read again (:attr:`memo`)."""
        keys = [(tuple(c), tuple(t)) for c, t in zip(contexts, texts)]
        new = list(dict.fromkeys(k for k in keys if k not in self.memo))
        if new:
            values = self._read([list(c) for c, _ in new], [list(t) for _, t in new])
            self.memo.update(zip(new, values.tolist()))
        return torch.tensor([self.memo[k] for k in keys], dtype=torch.float32)

    @torch.no_grad()
    def _read(self, contexts: list[list[int]], texts: list[list[int]]) -> torch.Tensor:
        """:meth:`_mean_logprob` computed: batched by length (padding costs as much as text),
        padded right."""
        pad = self.tokenizer.pad_token_id
        pad = self.tokenizer.eos_token_id if pad is None else pad
        out = torch.zeros(len(texts))
        order = sorted(range(len(texts)), key=lambda i: len(contexts[i]) + len(texts[i]))
        batches = range(0, len(order), self.batch_size)  # a bar only when it takes minutes
        for start in tqdm(batches, desc="gold: language model", disable=len(texts) < 1000):
            idx = order[start:start + self.batch_size]
            lengths = torch.tensor([len(contexts[i]) + len(texts[i]) for i in idx])
            ids = torch.full((len(idx), int(lengths.max())), pad)
            scored = torch.zeros(len(idx), ids.shape[1] - 1)  # which next-token predictions count
            for row, i in enumerate(idx):
                c, t = contexts[i], texts[i]
                ids[row, :len(c) + len(t)] = torch.tensor(c + t)
                scored[row, max(len(c) - 1, 0):len(c) + len(t) - 1] = 1
            attention = (torch.arange(ids.shape[1]) < lengths[:, None]).long()
            logits = self.model(input_ids=ids.to(self.model.device),
                                attention_mask=attention.to(self.model.device)).logits[:, :-1]
            logp = -F.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:].to(logits.device),
                                    reduction="none").cpu()
            out[idx] = (logp * scored).sum(1) / scored.sum(1).clamp(min=1)
        return out

    def _tokens(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"][:256]

    def answer_logprob(self, prompts: list[str], answers: list[str]) -> torch.Tensor:
        """Mean log-probability of each answer's tokens after its prompt in the model's chat
        template, ``(len(answers),)``."""
        contexts = [self.tokenizer(format_prompt(self.tokenizer, p),
                                   add_special_tokens=False)["input_ids"] for p in prompts]
        return self._mean_logprob(contexts, [self._tokens(a) for a in answers])

    def text_logprob(self, texts: list[str]) -> torch.Tensor:
        """Mean log-probability of each text read alone (its first token, which has no
        context, unscored), ``(len(texts),)``; a text of one token or none gets −20."""
        tokens = [self._tokens(t) for t in texts]
        out = self._mean_logprob([[]] * len(texts), tokens)
        return torch.where(torch.tensor([len(t) > 1 for t in tokens]), out,
                           torch.full_like(out, -20.0))


class RubricGold:
    """The offline gold: a weighted rubric a careful rater would broadly agree with.

    score = relevance + 2·specificity + 2·fluency − 3·repetition − 3·word_repetition
            + length + 0.5·complete            (the weights: :class:`config.RubricWeights`)

    Two frozen models: a sentence encoder (all-MiniLM-L6-v2, mean-pooled) for relevance, and a
    language model (:class:`FrozenLM`) for specificity and fluency; the other terms are counts.
    The proxies, in contrast, are the encoder *fine-tuned* on a few thousand noisy
    gold-labelled pairs: a different form and far less information than the rubric itself.
    Without ``lm`` the language-model terms are left out (tests on tiny stand-in models). A
    term whose weight is 0 is not computed.
    """

    num_members = 1

    def __init__(self, encoder, tokenizer, weights: RubricWeights = RubricWeights(),
                 batch_size: int = 64, lm: FrozenLM | None = None):
        self.encoder, self.tokenizer = encoder.eval(), tokenizer
        self.weights, self.batch_size, self.lm = weights, batch_size, lm

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
        """Each rubric term with a weight, ``(batch,)`` each, before weighting."""
        w = self.weights
        as_tensor = lambda xs: torch.tensor(xs, dtype=torch.float32)  # noqa: E731
        terms = {"relevance": (self.embed(prompts) * self.embed(responses)).sum(-1)}
        if self.lm is not None:
            replies = None  # log p(answer | its prompt), the base of both terms
            if w.specificity or not w.fluency_alone:
                replies = self.lm.answer_logprob(prompts, responses)
            if w.specificity:
                generic = self.lm.answer_logprob([w.generic_prompt] * len(responses), responses)
                terms["specificity"] = unit(replies - generic, w.specificity_range)
            if w.fluency:
                logp = self.lm.text_logprob(responses) if w.fluency_alone else replies
                terms["fluency"] = unit(logp, w.fluency_range)
        asked = [content_words(p.split("\n\n")[0]) - TASK_WORDS  # the instruction, not a
                 for p in prompts]                                # text to summarise
        said = [content_words(r) for r in responses]
        counts = {
            "coverage": lambda: [len(a & s) / max(1, len(a)) for a, s in zip(asked, said)],
            "information": lambda: [min(1.0, len(s) / w.saturation) for s in said],
            "repetition": lambda: [repetition(r) for r in responses],
            "word_repetition": lambda: [word_repetition(r) for r in responses],
            "length": lambda: [length_score(len(words(r)), w.length_words) for r in responses],
            "complete": lambda: [float(r.rstrip().endswith((".", "!", "?", '"', ")")))
                                 for r in responses],
        }
        terms.update({name: as_tensor(count()) for name, count in counts.items()
                      if getattr(w, name)})
        return terms

    def table(self, prompts: list[str], responses: list[str], index=None,
              decimals: int | None = 3):
        """A ``pandas`` table of every rubric term and the gold score, one row per answer."""
        c = self.components(prompts, responses)
        df = pd.DataFrame({k: v.numpy() for k, v in c.items()}, index=index)
        df["gold"] = self.total(c).numpy()
        return df if decimals is None else df.round(decimals)

    def total(self, c: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of :meth:`components` ``c``, ``(batch,)``."""
        return sum((-1 if name in PENALTIES else 1) * getattr(self.weights, name) * term
                   for name, term in c.items())

    def score(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        """Gold reward, ``(batch, 1)``."""
        return self.total(self.components(prompts, responses)).unsqueeze(-1)


def pairs_table(gold, pairs=DEGENERATE_PAIRS):
    """Each (prompt, genuine, degenerate) pair with both gold scores and the margin."""
    prompts, genuine, degenerate = (list(x) for x in zip(*pairs))
    scores = gold.score(prompts * 2, genuine + degenerate)[:, 0].numpy()
    n = len(prompts)
    return pd.DataFrame({"prompt": prompts, "genuine": genuine, "degenerate": degenerate,
                         "gold genuine": scores[:n], "gold degenerate": scores[n:],
                         "margin": scores[:n] - scores[n:]}).round(2)


def held_out_pairs(kind: str, name: str = "gold_pairs_2.jsonl") -> list[tuple[str, str, str]]:
    """The (prompt, better, worse) pairs of one ``kind`` ("answer vs filler" or "genuine vs
    degenerate") of a hand-written set in ``data/`` (data/README.md): held out from the
    gold's design, which :data:`DIRECT_PAIRS` and :data:`DEGENERATE_PAIRS` served."""
    from .data import data_dir, read_jsonl

    return [(r["prompt"], r["better"], r["worse"]) for r in read_jsonl(data_dir() / name)
            if r["kind"] == kind]


def pair_margins(golds: dict, sets: dict):
    """Every (prompt, better, worse) pair of every set in ``sets`` (name → pairs) scored by
    every gold in ``golds`` (name → gold), each gold in one call: a row per gold, set and pair,
    with both scores and the margin (better − worse)."""
    rows = [(name, *pair) for name, pairs in sets.items() for pair in pairs]
    names, prompts, better, worse = (list(x) for x in zip(*rows))
    n, tables = len(rows), []
    for who, gold in golds.items():
        scores = gold.score(prompts * 2, better + worse)[:, 0].numpy()
        tables.append(pd.DataFrame({"gold": who, "set": names, "prompt": prompts,
                                    "better": better, "worse": worse,
                                    "score better": scores[:n], "score worse": scores[n:],
                                    "margin": scores[:n] - scores[n:]}))
    return pd.concat(tables, ignore_index=True)


def wins(margins):
    """From :func:`pair_margins`: in how many pairs of each set each gold scores the better
    answer higher, as "k of n"; a row per set, a column per gold, in their given order."""
    won = margins.groupby(["set", "gold"])["margin"].agg(lambda m: f"{(m > 0).sum()} of {len(m)}")
    return won.unstack("gold").reindex(index=margins["set"].unique(),
                                       columns=margins["gold"].unique())


def with_gold(df, gold, work=None, chunk_size: int = 1000):
    """``df`` (answers: ``prompt``, ``text``) with each one's gold score (``gold``) and, when
    the gold is the rubric, every term it adds up (``gold_<term>``): what the gold saw, kept
    with the answers so that no one scores them again to ask *what* an optimiser picked.

    With ``work`` (a stage's work folder) the answers are scored ``chunk_size`` at a time and
    each chunk's scores kept there, so a stage interrupted while its gold runs (a Hub gold on
    the best-of-n answers takes most of an hour) resumes from its last chunk."""
    if work is None:
        return _joined(df, _gold_columns(df["prompt"].tolist(), df["text"].tolist(), gold))
    chunks = [df.iloc[start:start + chunk_size] for start in range(0, len(df), chunk_size)]
    scores = in_chunks(Path(work) / "gold", chunks, lambda c, rows: _gold_columns(
        rows["prompt"].tolist(), rows["text"].tolist(), gold), "gold.parquet", "gold in chunks")
    return _joined(df, scores)


def _gold_columns(prompts: list[str], texts: list[str], gold) -> pd.DataFrame:
    """``gold`` and, for the rubric, ``gold_<term>`` of each answer, a row each in order."""
    if isinstance(gold, RubricGold):
        terms = gold.table(prompts, texts, decimals=None)
        return pd.DataFrame({"gold": terms.pop("gold")}).join(terms.add_prefix("gold_"))
    return pd.DataFrame({"gold": gold.score(prompts, texts)[:, 0].numpy()})


def _joined(df: pd.DataFrame, columns: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``columns`` beside it, row by row in order (``df``'s index may repeat)."""
    return df.assign(**{name: columns[name].to_numpy() for name in columns})


class HubGold:
    """A trained reward model from the Hub as gold (``gpu``): any sequence classifier
    with one output, given the prompt and response as a text pair or a chat."""

    num_members = 1

    def __init__(self, name: str, device: str = "cpu", batch_size: int = 16, precision=None):
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name)
            self.model = AutoModelForSequenceClassification.from_pretrained(name).to(device).eval()
        except OSError as e:
            raise RuntimeError(f"Could not load the gold reward model '{name}' from the Hugging "
                               f"Face Hub ({e}). Without Hub access use RMENS_PROFILE=cpu.") from e
        self.batch_size = batch_size
        self.precision = precision or Precision("fp32", device)  # the run's autocast

    def _encode(self, prompts: list[str], responses: list[str]):
        if self.tokenizer.chat_template:
            texts = [self.tokenizer.apply_chat_template(
                [{"role": "user", "content": a}, {"role": "assistant", "content": b}],
                tokenize=False) for a, b in zip(prompts, responses)]
            return self.tokenizer(texts, padding=True, truncation=True, max_length=1024,
                                  return_tensors="pt", add_special_tokens=False)
        return self.tokenizer(prompts, responses, padding=True, truncation=True, max_length=1024,
                              return_tensors="pt")

    @torch.no_grad()
    def score(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        """Gold reward, ``(batch, 1)``, in the input's order; read in batches of similar length
        (little padding: a large gold's cost is mostly its longest answers)."""
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(responses[i]))
        out = torch.empty(len(prompts), 1)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            enc = self._encode([prompts[i] for i in idx], [responses[i] for i in idx])
            with self.precision.autocast():
                logits = self.model(**enc.to(self.model.device)).logits
            out[idx] = logits[:, :1].float().cpu()
        return out


def load_gold(cfg):
    """The profile's gold reward, on ``cfg.device``: the offline rubric, or a Hub reward
    model by name."""
    if cfg.gold_name == "offline:rubric":
        encoder, tokenizer = load_rm_backbone(cfg)  # the frozen, untrained encoder
        lm, lm_tokenizer = load_policy(cfg)  # the packaged LM itself, not the SFT policy
        return RubricGold(encoder, tokenizer, cfg.rubric, lm=FrozenLM(lm, lm_tokenizer))
    return HubGold(cfg.gold_name, device=cfg.device, precision=precision_of(cfg))
