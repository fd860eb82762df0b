"""Token counts and the error flag."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from llmpulse.detectors._base import make_signal
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

DETECTOR = "usage@1"


def is_error(record: InferenceRecord) -> bool:
    return record.error_type is not None or "error" in record.finish_reasons


def score_usage(records: Sequence[InferenceRecord], now: datetime) -> list[Signal]:
    signals: list[Signal] = []
    for record in records:
        if record.input_tokens is not None:
            signals.append(make_signal(record, "tokens.input", record.input_tokens, now,
                                       detector=DETECTOR))
        if record.output_tokens is not None:
            signals.append(make_signal(record, "tokens.output", record.output_tokens, now,
                                       detector=DETECTOR))
        error = is_error(record)
        signals.append(make_signal(record, "error", 1.0 if error else 0.0, now,
                                   label=record.error_type or ("error" if error else ""),
                                   detector=DETECTOR))
    return signals
