"""Latency signals: end-to-end duration, time to first token, time per output token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from llmpulse.detectors._base import make_signal
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

DETECTOR = "latency@1"


def duration_s(record: InferenceRecord) -> float | None:
    if record.start_time is None or record.end_time is None:
        return None
    return max(0.0, (record.end_time - record.start_time).total_seconds())


def tpot_s(record: InferenceRecord) -> float | None:
    """(duration - TTFT) / (output tokens - 1); needs both and at least 2 output tokens."""
    duration = duration_s(record)
    ttft = record.time_to_first_chunk
    out = record.output_tokens
    if duration is None or ttft is None or out is None or out < 2:
        return None
    return max(0.0, duration - ttft) / (out - 1)


def score_latency(records: Sequence[InferenceRecord], now: datetime) -> list[Signal]:
    signals: list[Signal] = []
    for record in records:
        duration = duration_s(record)
        if duration is not None:
            signals.append(make_signal(record, "latency.duration_s", duration, now,
                                       detector=DETECTOR))
        if record.time_to_first_chunk is not None:
            signals.append(make_signal(record, "latency.ttft_s", record.time_to_first_chunk,
                                       now, detector=DETECTOR))
        tpot = tpot_s(record)
        if tpot is not None:
            signals.append(make_signal(record, "latency.tpot_s", tpot, now, detector=DETECTOR))
    return signals
