"""Helpers shared by detectors."""

from __future__ import annotations

from datetime import datetime

from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal


def make_signal(
    record: InferenceRecord,
    name: str,
    value: float,
    now: datetime,
    *,
    label: str = "",
    detector: str,
    explanation: str = "",
) -> Signal:
    return Signal(
        name=name,
        value=value,
        request_id=record.request_id,
        time=record.event_time or now,
        model=record.model,
        provider=record.provider,
        route=record.route,
        tenant=record.tenant,
        label=label,
        detector=detector,
        explanation=explanation,
    )
