"""Windowed aggregates per group on event time: pure, mergeable, clock-free.

A :class:`WindowAggregate` holds counts, sums and DDSketch quantile sketches
(relative accuracy 0.5 %), and merges across windows and partitions, so 1-minute
windows roll up into 5-minute and 1-hour ones without keeping samples.
:class:`TumblingWindows` assigns calls to fixed windows by event time and
closes a window once the watermark (the newest event time seen, less the
allowed lateness) has passed its end; events for a closed window are counted
as late, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ddsketch import DDSketch

from llmpulse.detectors.latency import duration_s, tpot_s
from llmpulse.detectors.usage import is_error
from llmpulse.records import InferenceRecord

RELATIVE_ACCURACY = 0.005
QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True, slots=True, order=True)
class GroupKey:
    """What an aggregate is about; ``tenant``/``route`` "*" means all of them."""

    model: str
    route: str = "*"
    tenant: str = "*"


def groups_of(record: InferenceRecord) -> tuple[GroupKey, GroupKey]:
    """The fine group (model, route, tenant) and the model overall."""
    return (GroupKey(record.request_model, record.route, record.tenant),
            GroupKey(record.request_model))


def _sketch() -> DDSketch:
    return DDSketch(relative_accuracy=RELATIVE_ACCURACY)


@dataclass
class WindowAggregate:
    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    finish_length: int = 0
    finish_content_filter: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0
    duration: DDSketch = field(default_factory=_sketch)
    ttft: DDSketch = field(default_factory=_sketch)
    tpot: DDSketch = field(default_factory=_sketch)

    def add(self, record: InferenceRecord, cost_usd: float | None) -> None:
        self.calls += 1
        self.errors += is_error(record)
        self.timeouts += record.error_type is not None and "timeout" in record.error_type
        self.finish_length += "length" in record.finish_reasons
        self.finish_content_filter += "content_filter" in record.finish_reasons
        self.tokens_in += record.input_tokens or 0
        self.tokens_out += record.output_tokens or 0
        if cost_usd is None:
            self.unpriced += 1
        else:
            self.cost_usd += cost_usd
        for sketch, value in ((self.duration, duration_s(record)),
                              (self.ttft, record.time_to_first_chunk),
                              (self.tpot, tpot_s(record))):
            if value is not None:
                sketch.add(max(value, 0.0))

    def merge(self, other: WindowAggregate) -> None:
        for name in ("calls", "errors", "timeouts", "finish_length", "finish_content_filter",
                     "tokens_in", "tokens_out", "cost_usd", "unpriced"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("duration", "ttft", "tpot"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs.count:
                mine.merge(theirs)

    def summary(self) -> dict[str, Any]:
        """Rates and percentiles, as stored and exported."""
        out: dict[str, Any] = {
            "calls": self.calls, "errors": self.errors, "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out, "cost_usd": self.cost_usd, "unpriced": self.unpriced,
            "error_rate": self.errors / self.calls if self.calls else 0.0,
            "timeout_rate": self.timeouts / self.calls if self.calls else 0.0,
            "length_rate": self.finish_length / self.calls if self.calls else 0.0,
            "content_filter_rate": (self.finish_content_filter / self.calls
                                    if self.calls else 0.0),
        }
        for name in ("duration", "ttft", "tpot"):
            sketch: DDSketch = getattr(self, name)
            for q in QUANTILES:
                key = f"{name}_p{round(q * 100)}"
                out[key] = sketch.get_quantile_value(q) if sketch.count else None
        return out


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    start: float
    width_s: float
    group: GroupKey
    aggregate: WindowAggregate


class TumblingWindows:
    """Fixed windows on event time with an allowed lateness; the caller passes time in."""

    def __init__(self, width_s: float = 60.0, lateness_s: float = 30.0) -> None:
        self.width_s = width_s
        self.lateness_s = lateness_s
        self.watermark = float("-inf")
        self.closed_before = float("-inf")
        self.late = 0
        self._open: dict[tuple[float, GroupKey], WindowAggregate] = {}

    def add(self, record: InferenceRecord, cost_usd: float | None,
            event_time: datetime | None = None) -> bool:
        """Add a call; False if its window has already closed (it is counted as late)."""
        when = event_time or record.event_time
        if when is None:
            return False
        t = when.timestamp()
        start = t - t % self.width_s
        if start < self.closed_before:
            self.late += 1
            return False
        self.watermark = max(self.watermark, t - self.lateness_s)
        for group in groups_of(record):
            self._open.setdefault((start, group), WindowAggregate()).add(record, cost_usd)
        return True

    def close_ready(self) -> list[ClosedWindow]:
        """Windows whose end the watermark has passed, oldest first."""
        ready = sorted(key for key in self._open if key[0] + self.width_s <= self.watermark)
        if ready:
            self.closed_before = max(self.closed_before, ready[-1][0] + self.width_s)
        return [ClosedWindow(start, self.width_s, group, self._open.pop((start, group)))
                for start, group in ready]


def roll_up(windows: Iterable[ClosedWindow], width_s: float) -> list[ClosedWindow]:
    """Merge closed windows into wider ones (e.g. 1 min into 5 min) per group."""
    merged: dict[tuple[float, GroupKey], WindowAggregate] = {}
    for window in windows:
        start = window.start - window.start % width_s
        merged.setdefault((start, window.group), WindowAggregate()).merge(window.aggregate)
    return [ClosedWindow(start, width_s, group, agg)
            for (start, group), agg in sorted(merged.items(), key=lambda kv: kv[0])]
