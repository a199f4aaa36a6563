"""Words: the one definition of an answer's length in words, shared by the gold, the sampling
tables and the plots (and light to import: no model library)."""
from __future__ import annotations

import re

import numpy as np

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased: runs of letters and digits ("don't" is one)."""
    return WORD.findall(text.lower())


def word_count(texts) -> np.ndarray:
    """The number of :func:`words` of each text: the one definition of an answer's length
    in words everywhere in this package (the gold's length term uses it too)."""
    return np.array([len(words(t)) for t in texts], dtype=int)


def term_columns(df) -> list[str]:
    """The rubric gold's ``gold_<term>`` columns of a table (:func:`gold.with_gold` fills
    them)."""
    return [c for c in df.columns if c.startswith("gold_")]
