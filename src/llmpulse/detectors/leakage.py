"""System prompt leakage (OWASP LLM07): the answer repeats a long span of the system
instructions.

Pure; no I/O, no clock.  The system instructions are ``gen_ai.system_instructions`` and
any ``system`` message of the prompt.  Both texts are read as words (lower case,
punctuation and markdown dropped, so a copy reformatted as a list or a code block still
matches).  Spans of at least :data:`SHINGLE` words found in both are marked in the
instructions.  The call is labelled ``leak`` when one span reaches :data:`LEAK_SPAN_WORDS`
words or the answer repeats at least :data:`LEAK_SHARE` of the instructions; the value
(0..1) is the larger of the share repeated and the longest span over twice
:data:`LEAK_SPAN_WORDS`, so it reaches 0.5 exactly where the label turns to ``leak``.

Instructions of fewer than :data:`MIN_WORDS` words are not checked: a short span like
"you are a helpful assistant" is repeated by ordinary answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from llmpulse.detectors._base import make_signal
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

DETECTOR = "system-prompt-leak@1"
SIGNAL = "system_prompt_leak"
#: Words in a row that must match before a span counts at all.
SHINGLE = 6
#: One span this long is a leak whatever the instructions' length.
LEAK_SPAN_WORDS = 20
#: Or this share of the instructions' words repeated in spans.
LEAK_SHARE = 0.5
MIN_WORDS = 12
#: Words of one text read at most (instructions and answers longer than this are cut).
MAX_WORDS = 20_000

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


@dataclass(frozen=True, slots=True)
class LeakResult:
    share: float  # of the instructions' words repeated in spans of SHINGLE words or more
    longest: int  # words in the longest repeated span
    quote: str  # the longest span

    @property
    def value(self) -> float:
        return round(max(self.share, min(1.0, self.longest / (2 * LEAK_SPAN_WORDS))), 4)

    @property
    def leaked(self) -> bool:
        return self.longest >= LEAK_SPAN_WORDS or self.share >= LEAK_SHARE

    def explanation(self) -> str:
        if not self.longest:
            return ""
        quote = self.quote if len(self.quote) <= 160 else self.quote[:159] + "…"
        return (f"repeats {self.share:.0%} of the system instructions; longest span "
                f"{self.longest} words: '{quote}'")


def words(text: str) -> list[str]:
    return [w.replace("\u2019", "'") for w in _WORD.findall(text.lower())[:MAX_WORDS]]


def compare(instructions: str, answer: str) -> LeakResult | None:
    """How much of ``instructions`` ``answer`` repeats; None for instructions too short."""
    source = words(instructions)
    if len(source) < MIN_WORDS:
        return None
    target = words(answer)
    starts: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(source) - SHINGLE + 1):
        starts.setdefault(tuple(source[i:i + SHINGLE]), []).append(i)
    covered = bytearray(len(source))
    best, best_at = 0, 0
    j = 0
    while j <= len(target) - SHINGLE:
        hits = starts.get(tuple(target[j:j + SHINGLE]))
        if not hits:
            j += 1
            continue
        span, at = 0, 0
        for i in hits:  # the longest run from here over every place the words occur
            n = SHINGLE
            while (i + n < len(source) and j + n < len(target)
                   and source[i + n] == target[j + n]):
                n += 1
            covered[i:i + n] = b"\x01" * n
            if n > span:
                span, at = n, i
        if span > best:
            best, best_at = span, at
        j += max(1, span - SHINGLE + 1)
    share = sum(covered) / len(source)
    return LeakResult(round(share, 4), best, " ".join(source[best_at:best_at + best]))


def system_text(record: InferenceRecord) -> str:
    parts = [record.system_instructions or ""]
    parts += [m.content for m in record.input_messages if m.role == "system"]
    return "\n".join(p for p in parts if p)


def score_leakage(records: Sequence[InferenceRecord], now: datetime) -> list[Signal]:
    """``system_prompt_leak`` for each call with system instructions and an answer."""
    signals: list[Signal] = []
    for r in records:
        instructions = system_text(r)
        answer = "\n".join(m.content for m in r.output_messages if m.role == "assistant")
        if not instructions or not answer:
            continue
        result = compare(instructions, answer)
        if result is None:
            continue
        signals.append(make_signal(r, SIGNAL, result.value, now,
                                   label="leak" if result.leaked else "none",
                                   detector=DETECTOR, explanation=result.explanation()))
    return signals
