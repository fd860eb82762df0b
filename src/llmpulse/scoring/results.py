"""Where scoring meets the cheap path: which feedback forces a score, scores as
signals, PII counts as signals, and tasks rebuilt from stored calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from llmpulse.schema import FeedbackEvent
from llmpulse.scoring.tasks import MAX_TEXT_CHARS, CallRef, ScoreResult, ScoringTask
from llmpulse.signals import Signal
from llmpulse.sinks.rows import PROMPT_VERSION_SQL, StoredCall
from llmpulse.windows import GroupKey, WindowAggregate

#: Columns :func:`task_from_row` reads, in order (``ClickHouseStore.scoring_rows``).
SCORING_COLUMNS = ("request_id", "call_time", "model", "provider", "route", "tenant",
                   "request_model", "response_id", "output_messages", "context_documents",
                   "input_messages", PROMPT_VERSION_SQL)


def is_negative(event: FeedbackEvent) -> bool:
    """Thumbs down, a rating of 1 or 2, a flag or a correction: always worth a score."""
    return (event.thumbs == "down" or (event.rating is not None and event.rating <= 2)
            or bool(event.flags) or event.correction is not None)


def result_signals(result: ScoreResult) -> list[Signal]:
    c = result.call
    when = datetime.fromtimestamp(c.call_time, UTC)
    return [Signal(name=e.name, value=e.value, request_id=c.request_id, time=when,
                   model=c.model, provider=c.provider, route=c.route, tenant=c.tenant,
                   label=e.label, detector=e.scorer, source=e.source,
                   explanation=e.explanation)
            for e in result.evaluations]


def pii_signals(calls: Sequence[StoredCall], found: Mapping[str, Mapping[str, int]]
                ) -> list[Signal]:
    """``pii.redacted``: personal data items found in a call, by kind in the label."""
    out = []
    for call in calls:
        kinds = found.get(call.record.request_id)
        if not kinds:
            continue
        r = call.record
        label = ",".join(f"{kind}={n}" for kind, n in sorted(kinds.items()))
        out.append(Signal(name="pii.redacted", value=float(sum(kinds.values())),
                          request_id=r.request_id, time=r.event_time or datetime.now(UTC),
                          model=r.model, provider=r.provider, route=r.route, tenant=r.tenant,
                          label=label, detector="pii@1"))
    return out


def merge_partials(into: dict[tuple[GroupKey, float], WindowAggregate],
                   more: Mapping[tuple[GroupKey, float], WindowAggregate]) -> None:
    for key, agg in more.items():
        if key in into:
            into[key].merge(agg)
        else:
            into[key] = agg


def _texts(raw: str, key: str) -> list[tuple[str, str]]:
    """(role, text) pairs of a stored JSON list of messages or documents."""
    if not raw:
        return []
    items: list[dict[str, Any]] = orjson.loads(raw)
    return [(str(i.get("role", "")), str(i.get(key, ""))) for i in items]


def task_from_row(row: Sequence[Any], now: float) -> ScoringTask:
    """A ``feedback`` task from a stored call (texts were cleaned before storage)."""
    values = dict(zip(SCORING_COLUMNS, row, strict=True))
    when: datetime = values["call_time"]
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    call = CallRef(values["request_id"], when.timestamp(), values["model"], values["provider"],
                   values["route"], values["tenant"], values["request_model"],
                   values["response_id"], values[PROMPT_VERSION_SQL])
    outputs = _texts(values["output_messages"], "content")
    prompts = [t for role, t in _texts(values["input_messages"], "content") if role == "user"]
    return ScoringTask(call, "feedback", now,
                       "\n".join(t for _, t in outputs if t)[:MAX_TEXT_CHARS],
                       tuple(t[:MAX_TEXT_CHARS] for _, t in
                             _texts(values["context_documents"], "content")),
                       prompts[-1][:MAX_TEXT_CHARS] if prompts else "")
