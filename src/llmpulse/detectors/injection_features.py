"""N-gram features of a text for the injection classifier.

Pure; no I/O.  The classifier reads the same normalised text as the rules
(:func:`llmpulse.detectors.injection.reading`: lower case, leetspeak, look-alike letters
and invisible characters undone, hidden and encoded payloads decoded, punctuation
collapsed to single spaces), and sees it as a set of n-grams:

- words and word pairs;
- character 3- to 5-grams, spaces included, which carry spellings,
  inflections and words of other languages that the word features split differently.

A feature counts once however often it occurs (a set, not counts): a repeated phrase adds
no evidence.  Long texts are read in windows of :data:`WINDOW_WORDS` words (overlapping by
a third), each scored on its own, so an injected paragraph in a long document is not
diluted by the rest of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

#: Words of one window of a long text, and how far the next window starts.
WINDOW_WORDS = 60
WINDOW_STEP = 40
CHAR_SIZES = (3, 4, 5)


def ngrams(reading: str) -> frozenset[str]:
    """The features of one (normalised) window of text: each word with a space either
    side (``" setup "``), each pair of words two spaces apart (``"your  setup"``), and the
    character 3- to 5-grams of the words with a space either side (``"tup "``).  The kinds
    cannot be confused: no character n-gram holds two spaces, and one that is a whole
    word with its spaces is that word's feature."""
    words = reading.split()
    out = {f" {w} " for w in words}
    out.update([f"{a}  {b}" for a, b in pairwise(words)])
    padded = f" {' '.join(words)} "
    n = len(padded)
    for size in CHAR_SIZES:
        out.update([padded[i:i + size] for i in range(n - size + 1)])
    return frozenset(out)


def is_word(feature: str) -> bool:
    """Whether ``feature`` is a word or a pair of words (not a part of one)."""
    return "  " in feature or (feature[:1] == " " and feature[-1:] == " "
                               and " " not in feature[1:-1])


def windows(reading: str) -> Iterator[str]:
    """The text itself when it is short, else overlapping windows of its words."""
    words = reading.split()
    if len(words) <= WINDOW_WORDS:
        yield " ".join(words)
        return
    for start in range(0, len(words) - WINDOW_WORDS + WINDOW_STEP, WINDOW_STEP):
        yield " ".join(words[start:start + WINDOW_WORDS])


def readable(feature: str) -> str:
    """A feature as quoted in an explanation."""
    return " ".join(feature.split()) if is_word(feature) else feature
