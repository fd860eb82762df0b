"""Offline scoring: the stream's detectors over a JSONL file of events, without Kafka.

Lines are events in the wire schema (``inference``, or ``request`` and
``response`` halves joined by request_id within the file; ``feedback`` lines are
counted and skipped).  A bad line is reported with its line number and the rest
are still scored.  Personal data is cleaned first, as in the stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from llmpulse.detectors import cheap_path_detectors
from llmpulse.detectors.cost import CostDetector
from llmpulse.detectors.injection import CONTEXT_SIGNAL as INJECTION_CONTEXT
from llmpulse.detectors.injection import SIGNAL as INJECTION
from llmpulse.detectors.insecure_output import SIGNAL as INSECURE
from llmpulse.detectors.leakage import SIGNAL as LEAK
from llmpulse.errors import InvalidEvent
from llmpulse.ingest import ROLE_EVENT_TYPE, decode
from llmpulse.records import InferenceRecord, from_inference, from_parts
from llmpulse.redaction import Redactor, total
from llmpulse.schema import FeedbackEvent, InferenceEvent, RequestEvent, ResponseEvent
from llmpulse.scoring.scorer import QualityScorer
from llmpulse.scoring.tasks import wire_evaluation
from llmpulse.signals import Signal

ROLE_OF = {v: k for k, v in ROLE_EVENT_TYPE.items()}
CHUNK = 256
#: Signals written with their label and explanation (the evaluations of each output line).
EVALUATED = ("toxicity", "groundedness", "judge.groundedness", INJECTION, INJECTION_CONTEXT,
             LEAK, INSECURE)
#: Their labels that count as found in the summary.
FLAGGED_LABELS = frozenset({"injection", "leak", "insecure"})


@dataclass
class Report:
    lines: int = 0
    scored: int = 0
    feedback_skipped: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    toxic: int = 0
    tox_scored: int = 0
    ground_sum: float = 0.0
    ground_scored: int = 0
    pii: dict[str, int] = field(default_factory=dict)
    screened: int = 0  # calls whose user messages were checked for prompt injection
    flagged: dict[str, int] = field(default_factory=dict)  # security signal -> calls flagged

    def summary(self) -> dict[str, Any]:
        return {
            "lines": self.lines, "scored": self.scored, "bad_lines": len(self.bad),
            "feedback_skipped": self.feedback_skipped,
            "toxicity_rate": self.toxic / self.tox_scored if self.tox_scored else None,
            "groundedness_mean": (self.ground_sum / self.ground_scored
                                  if self.ground_scored else None),
            "pii_found": self.pii,
            "injection_rate": (self.flagged.get(INJECTION, 0) / self.screened
                               if self.screened else None),
            "security_flagged": {name: self.flagged.get(name, 0)
                                 for name in (INJECTION, INJECTION_CONTEXT, LEAK, INSECURE)},
        }


def parse_line(raw: bytes) -> InferenceEvent | RequestEvent | ResponseEvent | FeedbackEvent:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("not_json", str(exc)) from None
    kind = data.get("event_type", "inference") if isinstance(data, dict) else None
    role = ROLE_OF.get(kind) if isinstance(kind, str) else None
    if role is None:
        raise InvalidEvent("invalid", f"unknown event_type {kind!r}" if kind else
                           "expected a JSON object")
    return decode(role, raw)


def read_records(lines: Iterator[bytes], report: Report) -> Iterator[InferenceRecord]:
    """Records in file order; request/response halves pair up, lone halves come last."""
    requests: dict[str, RequestEvent] = {}
    responses: dict[str, ResponseEvent] = {}
    for number, raw in enumerate(lines, start=1):
        report.lines += 1
        if not raw.strip():
            continue
        try:
            event = parse_line(raw)
        except InvalidEvent as bad:
            report.bad.append((number, f"{bad.reason}: {bad.detail}"))
            continue
        if isinstance(event, FeedbackEvent):
            report.feedback_skipped += 1
        elif isinstance(event, InferenceEvent):
            yield from_inference(event)
        elif isinstance(event, RequestEvent):
            if (response := responses.pop(event.request_id, None)) is not None:
                yield from_parts(event, response)
            else:
                requests[event.request_id] = event
        elif (request := requests.pop(event.request_id, None)) is not None:
            yield from_parts(request, event)
        else:
            responses[event.request_id] = event
    for request in requests.values():
        yield from_parts(request, None)
    for response in responses.values():
        yield from_parts(None, response)


def score_file(source: IO[bytes], out: IO[bytes], scorer: QualityScorer, redactor: Redactor,
               now: datetime | None = None, progress: Callable[[int], None] | None = None,
               cost: CostDetector | None = None) -> Report:
    """Score every call of ``source``; ``cost`` prices them as the worker does (with the
    operator's price overrides), default genai-prices only."""
    report = Report()
    when = now or datetime.now(UTC)
    cheap = cheap_path_detectors(cost)
    chunk: list[InferenceRecord] = []
    pii: dict[str, dict[str, int]] = {}

    def flush() -> None:
        signals: list[Signal] = []
        for detector in cheap.values():
            signals += detector(chunk, when)
        signals += scorer.signals(chunk, when.timestamp())
        _write(out, chunk, signals, pii, report)
        if progress:
            progress(len(chunk))
        chunk.clear()
        pii.clear()

    for record in read_records(iter(source), report):
        cleaned, found = redactor.record(record)
        if found:
            pii[cleaned.request_id] = total(found)
        chunk.append(cleaned)
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    return report


def _write(out: IO[bytes], records: list[InferenceRecord], signals: list[Signal],
           pii: dict[str, dict[str, int]], report: Report) -> None:
    by_request: dict[str, list[Signal]] = {}
    for s in signals:
        by_request.setdefault(s.request_id, []).append(s)
    for r in records:
        mine = by_request.get(r.request_id, [])
        evaluations = [s for s in mine if s.name in EVALUATED]
        line = {
            "request_id": r.request_id, "model": r.model, "route": r.route,
            "tenant": r.tenant, "join_status": r.join_status,
            "signals": {s.name: s.value for s in mine},
            "evaluations": [_evaluation(r, s) for s in evaluations],
            "pii": pii.get(r.request_id, {}),
        }
        out.write(orjson.dumps(line) + b"\n")
        report.scored += 1
        _tally(report, evaluations, pii.get(r.request_id, {}))


def _evaluation(record: InferenceRecord, s: Signal) -> dict[str, Any]:
    from llmpulse.scoring.tasks import CallRef, Evaluation, ScoreResult

    call = CallRef(record.request_id, 0.0, record.model, record.provider, record.route,
                   record.tenant, record.request_model, record.response_id or "",
                   record.prompt_version)
    e = Evaluation(s.name, s.value, s.label, s.explanation, s.detector, s.source)
    return wire_evaluation(ScoreResult(call, "offline", 0.0, (e,)), e)


def _tally(report: Report, evaluations: list[Signal], pii: dict[str, int]) -> None:
    for s in evaluations:
        if s.name == "toxicity":
            report.tox_scored += 1
            report.toxic += s.label == "toxic"
        elif s.name == "groundedness":
            report.ground_scored += 1
            report.ground_sum += s.value
        elif s.name in EVALUATED:
            report.screened += s.name == INJECTION
            if s.label in FLAGGED_LABELS:
                report.flagged[s.name] = report.flagged.get(s.name, 0) + 1
    for kind, n in pii.items():
        report.pii[kind] = report.pii.get(kind, 0) + n
