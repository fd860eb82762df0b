"""Text lengths of calls that carry their content: prompt and response characters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from llmpulse.detectors._base import make_signal
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

DETECTOR = "lengths@1"


def score_lengths(records: Sequence[InferenceRecord], now: datetime) -> list[Signal]:
    signals: list[Signal] = []
    for r in records:
        if r.input_messages or r.system_instructions:
            chars = sum(len(m.content) for m in r.input_messages) + len(
                r.system_instructions or "")
            signals.append(make_signal(r, "length.prompt_chars", chars, now, detector=DETECTOR))
        if r.output_messages:
            chars = sum(len(m.content) for m in r.output_messages)
            signals.append(make_signal(r, "length.response_chars", chars, now,
                                       detector=DETECTOR))
    return signals
