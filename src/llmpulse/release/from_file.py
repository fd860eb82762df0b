"""One side of a comparison from a JSONL file of events (what ``llmpulse score`` reads):
the stream's cheap detectors and quality scorer over its calls, and its feedback lines
joined to them by request id."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from llmpulse.detectors import cheap_path_detectors
from llmpulse.detectors.cost import CostDetector
from llmpulse.errors import InvalidEvent
from llmpulse.offline import CHUNK, Report, parse_line, read_records
from llmpulse.records import InferenceRecord
from llmpulse.redaction import Redactor
from llmpulse.release.signals import Sample
from llmpulse.schema import FeedbackEvent
from llmpulse.scoring.scorer import QualityScorer
from llmpulse.signals import Signal

#: Detector signal -> the argument of :meth:`Sample.add_call` it fills.
CALL_SIGNALS = {"latency.duration_s": "duration", "latency.ttft_s": "ttft",
                "latency.tpot_s": "tpot", "tokens.input": "input_tokens",
                "tokens.output": "output_tokens", "cost.usd": "cost"}
QUALITY = ("toxicity", "groundedness")


@dataclass
class FileSide:
    sample: Sample = field(default_factory=Sample)
    report: Report = field(default_factory=Report)
    feedback_unmatched: int = 0  # feedback on a call not in the file


def read_side(source: IO[bytes], scorer: QualityScorer, redactor: Redactor,
              cost: CostDetector | None = None, now: datetime | None = None) -> FileSide:
    """Every call of ``source`` with its signals; bad lines are in ``report.bad``."""
    side = FileSide()
    when = now or datetime.now(UTC)
    detectors = cheap_path_detectors(cost)
    feedback: list[FeedbackEvent] = []
    chunk: list[InferenceRecord] = []

    def flush() -> None:
        signals: list[Signal] = []
        for detector in detectors.values():
            signals += detector(chunk, when)
        signals += scorer.signals(chunk, when.timestamp())
        _add(side.sample, chunk, signals)
        chunk.clear()

    for record in read_records(_keeping_feedback(iter(source), feedback), side.report):
        chunk.append(redactor.record(record)[0])
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    calls = set(side.sample.request_ids)
    for event in feedback:
        if event.request_id in calls:
            side.sample.add_feedback(event.thumbs, event.rating, event.correction is not None)
        else:
            side.feedback_unmatched += 1
    return side


def _keeping_feedback(lines: Iterator[bytes], into: list[FeedbackEvent]) -> Iterator[bytes]:
    """The lines unchanged (``read_records`` counts and numbers them), feedback kept aside."""
    for raw in lines:
        if b"feedback" in raw:
            try:
                event = parse_line(raw)
            except InvalidEvent:
                pass  # reported with its line number by read_records
            else:
                if isinstance(event, FeedbackEvent):
                    into.append(event)
        yield raw


def _add(sample: Sample, records: list[InferenceRecord], signals: list[Signal]) -> None:
    by_request: dict[str, list[Signal]] = {}
    for s in signals:
        by_request.setdefault(s.request_id, []).append(s)
    for r in records:
        mine = by_request.get(r.request_id, [])
        values = {CALL_SIGNALS[s.name]: s.value for s in mine if s.name in CALL_SIGNALS}
        error = any(s.name == "error" and s.value > 0 for s in mine)
        sample.add_call(r.request_id, error=error, error_type=r.error_type,
                        finish_reasons=r.finish_reasons, **values)
        for s in mine:
            if s.name in QUALITY:
                sample.add_score(s.name, s.value, s.label)
