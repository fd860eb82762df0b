"""Helpers shared by detectors."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

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


Finding = TypeVar("Finding")


def strongest_per_kind(findings: Iterable[Finding], kind: Callable[[Finding], str],
                       weight: Callable[[Finding], float]) -> tuple[float, tuple[Finding, ...]]:
    """The strongest finding of each kind, strongest first, and their noisy-or score
    (``1 - prod(1 - weight)``, rounded to 4 places): independent pieces of evidence add
    up, repeats of one kind do not."""
    best: dict[str, Finding] = {}
    for f in findings:
        if kind(f) not in best or weight(f) > weight(best[kind(f)]):
            best[kind(f)] = f
    kept = tuple(sorted(best.values(), key=lambda f: -weight(f)))
    miss = 1.0
    for f in kept:
        miss *= 1.0 - weight(f)
    return round(1.0 - miss, 4), kept
