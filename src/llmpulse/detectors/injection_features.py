"""N-gram features of a text for the injection classifier.

Pure; no I/O.  The classifier reads the same normalised text as the rules
(:func:`llmpulse.detectors.injection.reading`: lower case, leetspeak, look-alike letters
and invisible characters undone, hidden and encoded payloads decoded, punctuation
collapsed to single spaces), and sees it as a set of n-grams:

- words and word pairs;
- character 3- to 5-grams, spaces included, which carry spellings,
  inflections and words of other languages that the word features split differently.

A feature counts once however often it occurs (a set, not counts): a repeated phrase adds
no evidence.  A text of up to :data:`WHOLE_WORDS` words is read whole; a longer one in
windows of :data:`WINDOW_WORDS` words, about the length of one or two sentences, starting
every :data:`WINDOW_STEP` words, each scored on its own, so a sentence addressed to a model
inside a long document is weighed with few words around it, not diluted by the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

#: Texts of at most this many words are read whole.
WHOLE_WORDS = 40
#: Words of one window of a longer text, and how far the next window starts: every run of
#: ``WINDOW_WORDS - WINDOW_STEP`` words lies whole in some window, and each word is read
#: in two windows.
WINDOW_WORDS = 24
WINDOW_STEP = 12
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


def windows(reading: str, *, whole: int = WHOLE_WORDS, size: int = WINDOW_WORDS,
            step: int = WINDOW_STEP) -> Iterator[str]:
    """The text itself when it has at most ``whole`` words, else windows of ``size`` words
    starting every ``step`` words, the last one ending with the text."""
    words = reading.split()
    if len(words) <= max(whole, size):
        yield " ".join(words)
        return
    last = len(words) - size
    starts = list(range(0, last, step))
    for start in [*starts, last]:
        yield " ".join(words[start:start + size])


def readable(feature: str) -> str:
    """A feature as quoted in an explanation."""
    return " ".join(feature.split()) if is_word(feature) else feature
