"""The scorer's messages: a task per call (``llm.scoring``) and its result (``llm.scores``).

Both are keyed by request_id, so a result lands on the partition of the call
it belongs to and is stored by the worker that owns that call.  Texts in a
task are already cleaned of personal data (see :mod:`llmpulse.redaction`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from llmpulse.errors import InvalidEvent
from llmpulse.records import InferenceRecord
from llmpulse.scoring.sampling import response_text
from llmpulse.signals import Signal

MAX_TEXT_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class CallRef:
    """What a score is about: the call and its group keys."""

    request_id: str
    call_time: float  # epoch seconds (event time of the call)
    model: str  # the model that answered, else the one asked for (InferenceRecord.model)
    provider: str
    route: str
    tenant: str
    request_model: str = ""  # the model asked for: the windows' group key
    response_id: str = ""
    prompt_version: str = "none"  # records.prompt_version_key: a group key too


def call_ref(record: InferenceRecord, now: float | None = None) -> CallRef:
    """The keys of a call (its event time; ``now`` when it has none)."""
    when = record.event_time
    return CallRef(record.request_id, when.timestamp() if when else (now or 0.0), record.model,
                   record.provider, record.route, record.tenant, record.request_model,
                   record.response_id or "", record.prompt_version)


@dataclass(frozen=True, slots=True)
class ScoringTask:
    call: CallRef
    reason: str  # sampled, flagged, new_version, feedback
    enqueued_at: float
    response: str
    contexts: tuple[str, ...] = ()
    prompt: str = ""

    @classmethod
    def of(cls, record: InferenceRecord, reason: str, now: float) -> ScoringTask:
        call = call_ref(record, now)
        prompt = next((m.content for m in reversed(record.input_messages) if m.role == "user"),
                      "")
        return cls(call, reason, now, response_text(record)[:MAX_TEXT_CHARS],
                   tuple(d.content[:MAX_TEXT_CHARS] for d in record.context_documents),
                   prompt[:MAX_TEXT_CHARS])

    @property
    def mandatory(self) -> bool:
        return self.reason != "sampled"

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, raw: bytes | None) -> ScoringTask:
        data = _object(raw)
        try:
            return cls(CallRef(**data["call"]), str(data["reason"]),
                       float(data["enqueued_at"]), str(data["response"]),
                       tuple(str(c) for c in data.get("contexts", ())), str(data.get("prompt", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidEvent("invalid", f"not a scoring task: {exc}") from None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One ``gen_ai.evaluation.result``: name, score, label, explanation, and its scorer."""

    name: str
    value: float
    label: str = ""
    explanation: str = ""
    scorer: str = ""
    source: str = "detector"  # detector or judge


@dataclass(frozen=True, slots=True)
class ScoreResult:
    call: CallRef
    reason: str
    scored_at: float
    evaluations: tuple[Evaluation, ...] = field(default=())

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, raw: bytes | None) -> ScoreResult:
        data = _object(raw)
        try:
            evaluations = data["evaluations"]
            if not isinstance(evaluations, list):
                raise TypeError("evaluations must be a list")
            return cls(_call(data["call"]), _text(data["reason"], "reason"),
                       _number(data["scored_at"], "scored_at"),
                       tuple(_evaluation(e) for e in evaluations))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidEvent("invalid", f"not a score result: {exc}") from None

    def value(self, name: str) -> Evaluation | None:
        return next((e for e in self.evaluations if e.name == name), None)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    return float(value)


def _fields(data: Any, kind: str, known: frozenset[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError(f"{kind} must be an object")
    extra = set(data) - known
    if extra:
        raise ValueError(f"unknown {kind} fields {sorted(extra)}")
    return data


_CALL_FIELDS = frozenset(CallRef.__dataclass_fields__)
_EVALUATION_FIELDS = frozenset(Evaluation.__dataclass_fields__)


def _call(data: Any) -> CallRef:
    """A strictly typed :class:`CallRef`: a wrong type is a dead letter, not a stuck batch."""
    d = _fields(data, "call", _CALL_FIELDS)
    texts = {k: _text(v, k) for k, v in d.items() if k != "call_time"}
    return CallRef(call_time=_number(d.get("call_time"), "call_time"), **texts)


def _evaluation(data: Any) -> Evaluation:
    d = _fields(data, "evaluation", _EVALUATION_FIELDS)
    texts = {k: _text(v, k) for k, v in d.items() if k != "value"}
    return Evaluation(value=_number(d.get("value"), "value"), **texts)


def _object(raw: bytes | None) -> dict[str, Any]:
    try:
        data = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("not_json", str(exc)) from None
    if not isinstance(data, dict):
        raise InvalidEvent("not_object", "expected a JSON object")
    return data


def evaluation_of(signal: Signal) -> Evaluation:
    return Evaluation(signal.name, signal.value, signal.label, signal.explanation,
                      signal.detector, signal.source)


def wire_evaluation(result: ScoreResult, e: Evaluation) -> dict[str, Any]:
    """The OTel ``gen_ai.evaluation.result`` attributes plus llmpulse's keys; empty (unknown)
    values are left out.  ``gen_ai.request.model`` is the model asked for,
    ``gen_ai.response.model`` the one that answered (:attr:`CallRef.model`)."""
    c = result.call
    out: dict[str, Any] = {
        "gen_ai.evaluation.name": e.name, "gen_ai.evaluation.score.value": e.value,
        "gen_ai.evaluation.score.label": e.label, "gen_ai.evaluation.explanation": e.explanation,
        "gen_ai.response.id": c.response_id, "request_id": c.request_id, "scorer": e.scorer,
        "source": e.source, "gen_ai.request.model": c.request_model,
        "gen_ai.response.model": c.model, "route": c.route, "tenant": c.tenant,
        "reason": result.reason,
    }
    return {k: v for k, v in out.items() if v != ""}
