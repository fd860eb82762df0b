"""Realistic LLM traffic for ``llmpulse demo``, ``llmpulse simulate`` and tests.

Generation is pure and deterministic: :class:`TrafficModel` draws from a seeded
``random.Random`` and is handed the clock value of each call, and
:func:`malformed` builds invalid payloads for dead-letter tests.  Sending is
separate: :class:`Simulator` paces a model through an :class:`EventSink` (an
:class:`~llmpulse.sdk.LlmPulseClient`) with an injected clock and sleep.

Traffic: six models (five priced by genai-prices, one self-hosted ``vllm`` model
it does not know), four routes, five tenants with a skewed share, lognormal
latencies where duration = TTFT + TPOT x (output tokens - 1), ~1% errors,
finish reasons, prompt caching, RAG context documents, feedback on earlier
calls, and labelled :class:`Incident` windows that hit only the targeted traffic.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from llmpulse.schema import FeedbackEvent, InferenceEvent, Message, RequestEvent, ResponseEvent
from llmpulse.sdk import Event, hash_user
from llmpulse.simdata import (
    COMMENTS,
    ERROR_TYPES,
    FACTS,
    MALFORMED_KINDS,
    MODELS,
    ROUTES,
    TENANTS,
    UNPRICED_MODELS,
    Content,
    ModelSpec,
    RouteSpec,
    content,
    malformed,
)

__all__ = ["MALFORMED_KINDS", "MODELS", "ONCALL_SCHEDULE_S", "ROUTES", "TENANTS",
           "UNPRICED_MODELS", "EventSink", "Incident", "ModelSpec", "RouteSpec", "SimulatedCall",
           "SimulationStats", "Simulator", "TrafficModel", "default_incidents", "malformed",
           "oncall_drills", "oncall_incidents", "simulate"]
IncidentKind = Literal["latency_spike", "cost_spike", "prompt_bloat", "errors", "ungrounded",
                       "toxic", "malformed", "unpriced", "rollout", "release"]
INPUT_ROLES = ("requests", "responses", "inference", "feedback")


@dataclass(frozen=True, slots=True)
class Incident:
    """A labelled fault injected into the targeted traffic for a time window.

    ``start_s`` is the offset from the model's origin.  Targets left ``None``
    match anything.  ``factor`` multiplies latency (``latency_spike``), token
    counts and max_tokens (``cost_spike``) or input tokens only (``prompt_bloat``:
    a prompt that grew); for ``errors``, ``ungrounded`` and ``toxic`` it is the
    probability that a targeted call fails, gives a RAG answer its documents do
    not support, or gives a rude chat answer; for ``malformed`` the share of all
    sends replaced by an invalid payload (a producer deployed with a bug; targets
    do not apply).  ``unpriced`` sends the targeted calls to a new version of their
    model the price table does not know (``<model>-preview``).  ``rollout`` moves the
    share ``factor`` of the targeted calls to the next version of their route's prompt
    template (``rag-answer-prompt@4`` after ``@3``), one that is slower
    (:data:`ROLLOUT_SLOWDOWN`), less grounded and fails more often: a bad release for a
    canary to roll back; ``release`` does the same with a version as good as the one
    before it (a release a canary should let through).
    """

    kind: IncidentKind
    start_s: float
    duration_s: float
    model: str | None = None
    route: str | None = None
    tenant: str | None = None
    factor: float = 5.0

    @property
    def name(self) -> str:
        targets = ",".join(f"{k}={v}" for k, v in
                           (("model", self.model), ("route", self.route), ("tenant", self.tenant))
                           if v is not None)
        return f"{self.kind}[{targets or 'all'}]@{self.start_s:g}s"

    def applies(self, offset_s: float, model: str, route: str, tenant: str) -> bool:
        return (self.start_s <= offset_s < self.start_s + self.duration_s
                and self.model in (None, model) and self.route in (None, route)
                and self.tenant in (None, tenant))


#: Incidents that move calls to a new prompt version.
NEW_VERSION = ("rollout", "release")
#: How a ``rollout`` incident's new prompt version is worse than the one before it.
ROLLOUT_SLOWDOWN = 2.0
ROLLOUT_UNGROUNDED = 0.6
ROLLOUT_ERRORS = 0.08

#: Runs at least this long get :func:`oncall_incidents`: incidents long enough for the
#: shipped Prometheus rules (whose ``for`` is 5-10 minutes) to fire and resolve.
ONCALL_SCHEDULE_S = 1800.0


def default_incidents(duration_s: float) -> list[Incident]:
    """One incident of each kind, placed at fixed fractions of a run of ``duration_s``;
    from :data:`ONCALL_SCHEDULE_S` on, :func:`oncall_incidents`."""
    if duration_s >= ONCALL_SCHEDULE_S:
        return oncall_incidents(duration_s)
    d = duration_s
    return [
        Incident("latency_spike", 0.15 * d, 0.2 * d, model="claude-sonnet-4-5", factor=5.0),
        Incident("cost_spike", 0.45 * d, 0.2 * d, tenant="globex", factor=4.0),
        Incident("errors", 0.75 * d, 0.15 * d, model="gpt-4o-mini", factor=0.3),
        Incident("ungrounded", 0.3 * d, 0.25 * d, model="acme-llama-3-70b-ft", factor=0.8),
        Incident("toxic", 0.55 * d, 0.2 * d, model="gpt-4o-mini", factor=0.5),
        # half of gpt-4o's RAG answers on a new prompt version from a fifth of the run on
        Incident("rollout", 0.2 * d, 0.8 * d, model="gpt-4o", route="rag-answer", factor=0.5),
    ]


def oncall_incidents(duration_s: float) -> list[Incident]:
    """Incidents for a run of at least 30 minutes, each long enough for the alert meant
    for it (Prometheus rules and default engine rules) to fire, scaled with the run.
    The first 40 % (12 minutes) is normal traffic, the history the relative alerts
    compare with; the incidents take the next 8 minutes; the store drill of
    :func:`oncall_drills` follows, when the traffic incidents are over."""
    k = duration_s / ONCALL_SCHEDULE_S
    start, length = 720 * k, 480 * k  # minutes 12-20 of a 30-minute run
    return [
        Incident("latency_spike", start, length, model="claude-sonnet-4-5", factor=5.0),
        Incident("errors", start, length, model="gpt-4o-mini", route="classify", factor=0.6),
        Incident("prompt_bloat", start, length, tenant="acme", factor=10.0),
        Incident("malformed", start, length, factor=0.05),
        Incident("unpriced", start, length, model="gemini-2.0-flash"),
        Incident("ungrounded", start, length, model="acme-llama-3-70b-ft", factor=0.8),
        Incident("toxic", start, length, model="gpt-4o-mini", route="chat", factor=0.5),
    ]


def oncall_drills(duration_s: float, origin: float) -> str:
    """The ``LLMPULSE_DRILLS`` of a run of :func:`oncall_incidents` starting at epoch
    ``origin``: the scorer slowed with the traffic incidents (minutes 12-21 of a
    30-minute run), then the store down (minutes 21-29.5; the workers stop, so
    nothing else can be seen meanwhile)."""
    k = duration_s / ONCALL_SCHEDULE_S
    slow, down = origin + 720 * k, origin + 1260 * k
    return (f"scorer_slow@{slow:.0f}+{540 * k:.0f},"
            f"store_down@{down:.0f}+{510 * k:.0f}")


@dataclass(frozen=True, slots=True)
class SimulatedCall:
    """One LLM call: its events (plus any feedback on earlier calls) and its labels."""

    request_id: str
    model: str
    route: str
    tenant: str
    events: tuple[Event, ...]
    incidents: tuple[str, ...] = ()
    error: bool = False


@dataclass(slots=True)
class _Outcome:
    input_tokens: int | None
    output_tokens: int | None
    max_tokens: int
    duration_s: float
    ttft_s: float | None = None
    finish: str = "error"
    error_type: str | None = None
    cache_read: int = 0
    cache_creation: int = 0


class TrafficModel:
    """Seeded generator of realistic calls; :meth:`call` takes the clock value to use.

    ``split_ratio`` of calls are sent as a request + a response event (the
    response first in ``response_first_ratio`` of those), the rest as one
    inference event; ``feedback_ratio`` of calls carry feedback on an earlier
    call.  Incident offsets count from ``origin`` (modulo ``repeat_s`` when set).
    ``run_id`` is mixed into the request and feedback ids (not into the draws: the
    traffic's shape stays the seed's), so two runs of one seed do not share ids.
    """

    def __init__(self, seed: int = 7, *, origin: float, incidents: Sequence[Incident] = (),
                 split_ratio: float = 0.2, response_first_ratio: float = 0.3,
                 feedback_ratio: float = 0.05, error_rate: float = 0.01,
                 repeat_s: float | None = None, run_id: str | None = None) -> None:
        self.rng = random.Random(seed)
        self._salt = 0 if run_id is None else int.from_bytes(
            hashlib.blake2b(run_id.encode(), digest_size=16).digest(), "big")
        self.origin = origin
        self.incidents = tuple(incidents)
        self.split_ratio, self.response_first_ratio = split_ratio, response_first_ratio
        self.feedback_ratio, self.error_rate, self.repeat_s = feedback_ratio, error_rate, repeat_s
        self._recent: deque[tuple[str, bool]] = deque(maxlen=2000)
        self._users: dict[str, str] = {}

    def call(self, now: float) -> SimulatedCall:
        """The next call, ending at clock value ``now`` (epoch seconds)."""
        rng = self.rng
        route = rng.choices(ROUTES, [r.weight for r in ROUTES])[0]
        tenant = rng.choices([t for t, _ in TENANTS], [w for _, w in TENANTS])[0]
        spec = MODELS[rng.choices([m for m, _ in route.models], [w for _, w in route.models])[0]]
        offset = self._offset(now)
        active = [i for i in self.incidents if i.kind != "malformed"
                  and i.applies(offset, spec.model, route.name, tenant)]
        rollout = next((i for i in active if i.kind in NEW_VERSION), None)
        if rollout is not None and rng.random() >= rollout.factor:
            active.remove(rollout)  # this call stays on the current version
            rollout = None
        if rollout is not None:
            route = replace(route, template_version=next_version(route.template_version))
        if any(i.kind == "unpriced" for i in active):
            spec = replace(spec, model=f"{spec.model}-preview",
                           response_model=f"{spec.model}-preview")
        outcome = self._outcome(route, spec, active)
        rid = self._id()
        text = content(rng, route.name, *_quality_odds(active))
        req, resp = self._fields(rid, now, route, spec, tenant, outcome, text)
        events = self._shape(req, resp) + self._feedback(now)
        bad = outcome.finish != "stop" or text.ungrounded or bool(active)
        self._recent.append((rid, bad))
        return SimulatedCall(rid, spec.model, route.name, tenant, events,
                             tuple(i.name for i in active), outcome.error_type is not None)

    def _id(self) -> str:
        return _new_id(self.rng, self._salt)

    def _offset(self, now: float) -> float:
        offset = now - self.origin
        return offset % self.repeat_s if self.repeat_s else offset

    def malformed_ratio(self, now: float, base: float) -> float:
        """Share of sends to replace by an invalid payload at ``now``."""
        offset = self._offset(now)
        return max([base] + [i.factor for i in self.incidents
                             if i.kind == "malformed" and i.applies(offset, "", "", "")])

    def _outcome(self, route: RouteSpec, spec: ModelSpec, active: list[Incident]) -> _Outcome:
        rng = self.rng
        slow = math.prod(i.factor for i in active if i.kind == "latency_spike")
        rollout = any(i.kind == "rollout" for i in active)
        slow *= ROLLOUT_SLOWDOWN if rollout else 1.0
        tok = math.prod(i.factor for i in active if i.kind == "cost_spike")
        err_p = max([self.error_rate] + [i.factor for i in active if i.kind == "errors"]
                    + [ROLLOUT_ERRORS] * rollout)
        bloat = math.prod(i.factor for i in active if i.kind == "prompt_bloat")
        max_tokens = int(route.max_tokens * tok)
        inp = max(1, int(_lognormal(rng, route.input_tokens, 0.5) * tok * bloat))
        if rng.random() < err_p:
            return self._error(max_tokens, slow)
        out = max(1, int(_lognormal(rng, route.output_tokens * tok, 0.6)))
        draw = rng.random()
        finish = "content_filter" if draw < 0.005 else "length" if draw < 0.045 else "stop"
        out = max_tokens if finish == "length" else min(out, max(1, max_tokens - 1))
        out = max(1, out // 3) if finish == "content_filter" else out
        ttft = _lognormal(rng, spec.ttft_s * (1 + inp / 8000), 0.35) * slow
        tpot = _lognormal(rng, spec.tpot_s, 0.2) * slow
        o = _Outcome(inp, out, max_tokens, ttft + tpot * (out - 1), ttft, finish)
        if spec.provider != "vllm" and inp >= 1024 and rng.random() < 0.35:
            o.cache_read = int(inp * rng.uniform(0.3, 0.9))
            if spec.provider == "anthropic" and rng.random() < 0.3:
                o.cache_creation = int((inp - o.cache_read) * rng.uniform(0.1, 0.9))
        if rng.random() < 0.1:
            o.ttft_s = None  # not streamed
        return o

    def _error(self, max_tokens: int, slow: float) -> _Outcome:
        """A failed call: no usage reported, finish reason "error"."""
        rng = self.rng
        kind = rng.choices([k for k, _ in ERROR_TYPES], [w for _, w in ERROR_TYPES])[0]
        duration = {"timeout": 30.0 + rng.uniform(0, 0.5),
                    "rate_limited": _lognormal(rng, 0.08, 0.5),
                    "server_error": _lognormal(rng, 1.5, 0.6) * slow}[kind]
        return _Outcome(None, None, max_tokens, duration, error_type=kind)

    def _fields(self, rid: str, now: float, route: RouteSpec, spec: ModelSpec, tenant: str,
                o: _Outcome, text: Content) -> tuple[dict[str, Any], dict[str, Any]]:
        """Request and response fields of one call, by Python name."""
        rng = self.rng
        with_text = rng.random() < route.content_share
        req: dict[str, Any] = {
            "request_id": rid, "start_time": _utc(now - o.duration_s), "provider": spec.provider,
            "request_model": spec.model, "server_address": spec.server,
            "max_tokens": o.max_tokens, "temperature": route.temperature, "tenant": tenant,
            "route": route.name, "environment": "staging" if rng.random() < 0.05 else "production",
            "prompt_template_id": f"{route.name}-prompt",
            "prompt_template_version": route.template_version,
            "model_version": spec.model_version, "user_hash": self._user(tenant),
            "conversation_id": f"{tenant}-conv-{rng.randrange(500)}"
                               if route.name == "chat" else None,
        }
        if with_text:
            req |= {"system_instructions": text.system, "context_documents": text.documents,
                    "input_messages": (Message(role="user", content=text.question),)}
        resp: dict[str, Any] = {
            "request_id": rid, "end_time": _utc(now), "input_tokens": o.input_tokens,
            "output_tokens": o.output_tokens, "cache_read_tokens": o.cache_read,
            "cache_creation_tokens": o.cache_creation, "finish_reasons": (o.finish,),
            "time_to_first_chunk": o.ttft_s, "error_type": o.error_type,
        }
        if o.error_type is None:
            resp |= {"response_model": spec.response_model,
                     "response_id": spec.id_prefix + self._id()[:24]}
            if with_text:
                resp["output_messages"] = (Message(role="assistant", content=text.answer),)
        return req, resp

    def _shape(self, req: dict[str, Any], resp: dict[str, Any]) -> tuple[Event, ...]:
        """One inference event, or a request + a response event (in either order)."""
        rng = self.rng
        if rng.random() >= self.split_ratio:
            return (InferenceEvent.model_validate(req | resp),)
        with_start = {"start_time": req["start_time"]} if rng.random() < 0.5 else {}
        request = RequestEvent.model_validate(req)
        response = ResponseEvent.model_validate(resp | with_start)
        if rng.random() < self.response_first_ratio:
            return (response, request)
        return (request, response)

    def _feedback(self, now: float) -> tuple[Event, ...]:
        """Feedback on an earlier call; bad answers get more thumbs down and low ratings."""
        rng = self.rng
        if not self._recent or rng.random() >= self.feedback_ratio:
            return ()
        rid, bad = rng.choice(self._recent)
        fields: dict[str, Any] = {"request_id": rid, "feedback_id": self._id(),
                                  "time": _utc(now)}
        kind = rng.random()
        if kind < 0.6:
            fields["thumbs"] = "down" if rng.random() < (0.7 if bad else 0.1) else "up"
        elif kind < 0.9:
            fields["rating"] = rng.randint(1, 2) if bad else rng.choices((3, 4, 5), (1, 3, 4))[0]
        else:
            fields["flags"] = ("incorrect",) if bad else (rng.choice(("irrelevant", "other")),)
            if bad:
                topic = rng.choice(tuple(FACTS))
                fields["correction"] = f"The documented answer: {rng.choice(FACTS[topic])}"
                fields["given_by"] = "annotator"
        if rng.random() < 0.2:
            fields["comment"] = rng.choice(COMMENTS)
        return (FeedbackEvent.model_validate(fields),)

    def _user(self, tenant: str) -> str:
        user_id = f"{tenant}-user-{self.rng.randrange(300)}"
        if user_id not in self._users:
            self._users[user_id] = hash_user(user_id, "llmpulse-simulator")
        return self._users[user_id]


def _quality_odds(active: list[Incident]) -> tuple[float, float]:
    """(ungrounded, toxic) probabilities of a call under the active incidents."""
    return (max([0.08] + [i.factor for i in active if i.kind == "ungrounded"]
                + [ROLLOUT_UNGROUNDED for i in active if i.kind == "rollout"]),
            max([0.002] + [i.factor for i in active if i.kind == "toxic"]))


def next_version(version: str) -> str:
    """The version after ``version``: the next number, else ``version`` + ``-next``."""
    return str(int(version) + 1) if version.isdigit() else f"{version}-next"


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def _new_id(rng: random.Random, salt: int = 0) -> str:
    return uuid.UUID(int=rng.getrandbits(128) ^ salt, version=4).hex


def _utc(clock_value: float) -> datetime:
    return datetime.fromtimestamp(clock_value, UTC)


# -- sending ------------------------------------------------------------------

class EventSink(Protocol):
    """Where the simulator sends to; :class:`~llmpulse.sdk.LlmPulseClient` is one."""

    def send(self, event: Event) -> str: ...

    def produce_raw(self, topic_role: str, key: bytes | None, value: bytes) -> None: ...

    def flush(self, timeout: float = 30.0) -> int: ...


@dataclass(slots=True)
class SimulationStats:
    """What a run sent; ``incidents`` counts the calls each incident hit."""

    calls: int = 0
    errors: int = 0
    malformed: int = 0
    events: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    incidents: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    unflushed: int = 0
    interrupted: bool = False
    request_ids: list[str] | None = None

    def add(self, call: SimulatedCall) -> None:
        self.calls += 1
        self.errors += call.error
        self.models[call.model] += 1
        self.routes[call.route] += 1
        self.events.update(event.event_type for event in call.events)
        self.incidents.update(call.incidents)
        if self.request_ids is not None:
            self.request_ids.append(call.request_id)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in values.items()}


#: Called now and then during a run with what was sent so far and the seconds elapsed.
Progress = Callable[[SimulationStats, float], None]


class Simulator:
    """Sends a :class:`TrafficModel`'s calls through a sink at a steady rate.

    ``rate`` counts LLM calls per second (each call is one or two events, plus
    occasional feedback); ``None`` sends as fast as possible.  ``malformed_ratio``
    of the calls are replaced by an invalid payload on a random input topic.
    ``clock`` gives the timestamps (epoch seconds) and, with ``sleep``, the pacing.
    """

    def __init__(self, sink: EventSink, model: TrafficModel, *,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 malformed_ratio: float = 0.0, keep_request_ids: bool = False) -> None:
        if not 0.0 <= malformed_ratio <= 1.0:
            raise ValueError("malformed_ratio must be within [0, 1]")
        self.sink, self.model = sink, model
        self.clock, self.sleep = clock, sleep
        self.malformed_ratio = malformed_ratio
        self.keep_request_ids = keep_request_ids

    def run(self, rate: float | None = None, duration: float | None = None,
            count: int | None = None, *, stop: Callable[[], bool] | None = None,
            flush_timeout: float = 30.0, progress: Progress | None = None,
            progress_every_s: float = 1.0) -> SimulationStats:
        """Send until ``duration`` s passed, ``count`` calls were sent, ``stop()`` or Ctrl-C;
        ``progress(stats, elapsed_s)`` is called every ``progress_every_s`` meanwhile."""
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (or None for no pacing)")
        stats = SimulationStats(request_ids=[] if self.keep_request_ids else None)
        start = self.clock()
        reported = start
        sent = 0
        try:
            while count is None or sent < count:
                now = self.clock()
                if (duration is not None and now - start >= duration) or (stop and stop()):
                    break
                if progress is not None and now - reported >= progress_every_s:
                    reported = now
                    progress(stats, now - start)
                due = start + sent / rate if rate is not None else now
                if now < due:
                    self.sleep(due - now)
                    continue
                self._emit(now, stats)
                sent += 1
        except KeyboardInterrupt:
            stats.interrupted = True
        stats.elapsed_s = self.clock() - start
        stats.unflushed = self.sink.flush(flush_timeout)
        return stats

    def _emit(self, now: float, stats: SimulationStats) -> None:
        rng = self.model.rng
        ratio = self.model.malformed_ratio(now, self.malformed_ratio)
        if ratio and rng.random() < ratio:
            key = _new_id(rng).encode() if rng.random() < 0.8 else None
            self.sink.produce_raw(rng.choice(INPUT_ROLES), key, malformed(rng))
            stats.malformed += 1
            return
        call = self.model.call(now)
        for event in call.events:
            self.sink.send(event)
        stats.add(call)


def simulate(sink: EventSink, *, rate: float | None = 200.0, duration: float | None = None,
             count: int | None = None, seed: int = 7, malformed_ratio: float = 0.0,
             incidents: Sequence[Incident] | None = None,
             clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
             stop: Callable[[], bool] | None = None, origin: float | None = None,
             run_id: str | None = None, progress: Progress | None = None,
             progress_every_s: float = 1.0) -> SimulationStats:
    """A run with the default incidents scaled to its length (``duration``, else
    ``count / rate``); an open-ended run repeats a 600 s schedule.  Incident offsets
    count from ``origin`` (default: now), e.g. the start the drills were set from.
    The same seed sends the same request ids, unless a ``run_id`` is mixed in."""
    length = duration if duration is not None else (
        count / rate if count is not None and rate else None)
    schedule = default_incidents(length or 600.0) if incidents is None else incidents
    model = TrafficModel(seed, origin=clock() if origin is None else origin,
                         incidents=schedule,
                         repeat_s=None if length else 600.0, run_id=run_id)
    runner = Simulator(sink, model, clock=clock, sleep=sleep, malformed_ratio=malformed_ratio)
    return runner.run(rate, duration, count, stop=stop, progress=progress,
                      progress_every_s=progress_every_s)
