"""Claims of an answer and clauses of a sentence, the units groundedness checks.

Pure; no I/O, no clock.  A claim is an answer sentence with content words (greetings and
"I hope this helps" are not claims).  A clause is the part of a sentence between
punctuation and conjunctions, where negation, antonyms and added details are judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmpulse.detectors.text_facts import content_words, split_sentences, stem

__all__ = ["Claim", "Clause", "clauses_of", "split_claims"]


@dataclass(frozen=True, slots=True)
class Claim:
    text: str
    weight: int  # content words, for averaging


def split_claims(answer: str) -> list[Claim]:
    """The answer's sentences that say something checkable, each without an attribution
    that opens it (:func:`without_attribution`)."""
    claims = []
    for sentence in split_sentences(answer):
        text = without_attribution(sentence)
        claims.append(Claim(text, len(content_words(text))))
    return [c for c in claims if c.weight > 0]


_SOURCE = (r"(?:documentation|docs|documents?|context|article|policy|policies|manual|guide"
           r"|handbook|faq|page|sources?|text|passage|knowledge base|help cent(?:er|re)|terms"
           r"|contract|report|notes?|records?|website|site)")
#: An opening that says where the answer read what follows ("According to the
#: documentation:", "Per the docs,", "The policy states that", "Based on the context,"):
#: not a fact of its own, so it is not checked against the context.
_ATTRIBUTION = re.compile(
    r"^\s*(?:(?:(?:according to|as (?:stated|described|explained|noted|mentioned|written) in"
    r"|based on)\s+(?:(?:the|your|our|this|these)\s+)?|(?:per|from|in)\s+(?:the|your|our"
    r"|this|these)\s+)(?:[a-z-]+\s+){0,2}?" + _SOURCE + r"\s*(?:[,:\u2014]|\s-\s)\s*"
    r"|(?:the|your|our|this)\s+(?:[a-z-]+\s+){0,2}?" + _SOURCE +
    r"\s+(?:says|states|notes|explains|mentions|indicates|shows|specifies)"
    r"(?:\s+that)?\s*[,:]?\s*)",
    re.IGNORECASE)


def without_attribution(sentence: str) -> str:
    """``sentence`` without an opening attribution ("According to the documentation:
    Large exports are emailed." -> "Large exports are emailed."); as it was when nothing
    would be left."""
    rest = _ATTRIBUTION.sub("", sentence, count=1)
    return rest if rest.strip() else sentence


_SPLIT = re.compile(
    r"[,;:()!?]|\.(?!\d)|\s[-\u2013\u2014]\s"
    r"|\b(?:but|while|whereas|although|though|unless|which|because|plus|including"
    r"|except|so|whichever|then|and|or)\b"
    r"|\band\s+(?=(?:the|a|an|it|its|they|you|we|he|she|this|that|these|those|there|is|are"
    r"|was|were|can|cannot|must|may|will|should|has|have|does|do|any|each|every|no|not|only"
    r"|all|more|less|is|gets?|takes?|keeps?|stays?|goes|went|holds?|costs?|lasts?)\b)",
    re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Clause:
    text: str
    words: tuple[str, ...]  # lower-case tokens
    stems: frozenset[str]  # content-word stems


def clauses_of(sentence: str) -> list[Clause]:
    """Clauses with at least one content word."""
    found = []
    for part in _SPLIT.split(sentence.replace("\u2019", "'")):
        text = part.strip()
        words = tuple(re.findall(r"[a-z][\w'-]*|\d[\d.,]*", text.lower()))
        stems = frozenset(stem(w) for w in content_words(text))
        if stems:
            found.append(Clause(text, words, stems))
    return found
