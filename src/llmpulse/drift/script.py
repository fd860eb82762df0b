"""Which writing system a text is mostly in: a cheap stand-in for its language.

Counts letters by Unicode block over the first characters of the text; no model, no data
files.  ``latin``, ``cyrillic``, ``cjk`` (Han, kana, Hangul), ``arabic``, ``other`` (any
other letters: Greek, Hebrew, Devanagari ...) and ``none`` (no letters at all).
"""

from __future__ import annotations

import re

SCRIPTS = ("latin", "cyrillic", "cjk", "arabic", "other", "none")
#: Characters looked at: enough to tell the script, bounded cost per text.
PREFIX = 400

_PATTERNS = {
    "latin": re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]"),
    "cyrillic": re.compile(r"[\u0400-\u052f]"),
    "cjk": re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]"),
    "arabic": re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]"),
}
_LETTER = re.compile(r"[^\W\d_]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")


def script_of(text: str) -> str:
    """The script most of the text's letters are written in."""
    head = text[:PREFIX]
    if head.isascii():  # the common case, decided in C
        return "latin" if _ASCII_LETTER.search(head) else "none"
    counts = {name: len(pattern.findall(head)) for name, pattern in _PATTERNS.items()}
    letters = len(_LETTER.findall(head))
    counts["other"] = max(0, letters - sum(counts.values()))
    best = max(counts, key=lambda name: counts[name])
    return best if counts[best] > 0 else "none"
