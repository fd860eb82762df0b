"""Traffic simulator: schema-valid events, realistic mix, targeted incidents, determinism."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Iterable

import orjson
import pytest
from genai_prices import Usage, calc_price
from pydantic import ValidationError

from llmpulse.detectors.cost import PROVIDER_IDS
from llmpulse.errors import InvalidEvent
from llmpulse.ingest import INPUT_ROLES, decode
from llmpulse.schema import EVENT_ADAPTER, InferenceEvent, RequestEvent, to_wire
from llmpulse.sdk import Event
from llmpulse.simulator import (
    MALFORMED_KINDS,
    MODELS,
    ROUTES,
    TENANTS,
    UNPRICED_MODELS,
    Incident,
    SimulatedCall,
    Simulator,
    TrafficModel,
    default_incidents,
    malformed,
    simulate,
)

ORIGIN = 1_760_000_000.0


def generate(model: TrafficModel, calls: int, seconds: float) -> list[SimulatedCall]:
    return [model.call(ORIGIN + i * seconds / calls) for i in range(calls)]


def events_of(calls: Iterable[SimulatedCall]) -> list[Event]:
    return [event for call in calls for event in call.events]


@pytest.fixture(scope="module")
def default_traffic() -> list[SimulatedCall]:
    model = TrafficModel(11, origin=ORIGIN, incidents=default_incidents(100.0))
    return generate(model, 6000, 100.0)


def test_every_event_validates_against_the_wire_schema(
    default_traffic: list[SimulatedCall],
) -> None:
    for event in events_of(default_traffic):
        wire = orjson.loads(orjson.dumps(to_wire(event)))
        assert EVENT_ADAPTER.validate_python(wire) == event


def test_traffic_mix_is_realistic(default_traffic: list[SimulatedCall]) -> None:
    events = events_of(default_traffic)
    kinds = Counter(e.event_type for e in events)
    assert kinds["inference"] > kinds["request"] > 0
    assert kinds["request"] == kinds["response"]
    assert 0 < kinds["feedback"] < 0.1 * len(default_traffic)
    assert {c.model for c in default_traffic} == set(MODELS)
    assert {c.route for c in default_traffic} == {r.name for r in ROUTES}
    tenants = Counter(c.tenant for c in default_traffic)
    assert set(tenants) == {t for t, _ in TENANTS}
    assert tenants["acme"] > 3 * tenants["hooli"]
    finishes = Counter(r for e in events if e.event_type in ("inference", "response")
                       for r in e.finish_reasons)
    assert finishes["stop"] > 0.85 * len(default_traffic)
    assert finishes["length"] > 0 and finishes["content_filter"] > 0
    assert any(e.event_type == "inference" and e.cache_read_tokens > 0 for e in events)
    rag = [e for e in events
           if isinstance(e, InferenceEvent | RequestEvent) and e.route == "rag-answer"]
    assert rag and all(e.context_documents and e.input_messages for e in rag)


def test_response_sometimes_arrives_before_its_request(
    default_traffic: list[SimulatedCall],
) -> None:
    orders = Counter(tuple(e.event_type for e in c.events if e.event_type != "feedback")
                     for c in default_traffic)
    assert orders[("request", "response")] > orders[("response", "request")] > 0


def test_feedback_references_earlier_calls(default_traffic: list[SimulatedCall]) -> None:
    seen: set[str] = set()
    feedback = 0
    for call in default_traffic:
        for event in call.events:
            if event.event_type == "feedback":
                assert event.request_id in seen
                feedback += 1
        seen.add(call.request_id)
    assert feedback > 0


def test_errors_are_rare_and_carry_no_output(default_traffic: list[SimulatedCall]) -> None:
    quiet = [c for c in default_traffic if not c.incidents]
    assert 0.003 < sum(c.error for c in quiet) / len(quiet) < 0.025
    for event in events_of(default_traffic):
        if event.event_type in ("inference", "response") and event.error_type:
            assert event.error_type in {"timeout", "rate_limited", "server_error"}
            assert event.finish_reasons == ("error",)
            assert not event.output_tokens and not event.output_messages


def test_ttft_and_tpot_are_consistent(default_traffic: list[SimulatedCall]) -> None:
    checked = 0
    for call in default_traffic:
        event = call.events[0]
        if (call.incidents or not isinstance(event, InferenceEvent) or event.error_type
                or event.time_to_first_chunk is None or (event.output_tokens or 0) < 20):
            continue
        duration = (event.end_time - event.start_time).total_seconds()
        tpot = (duration - event.time_to_first_chunk) / ((event.output_tokens or 1) - 1)
        assert 0 < event.time_to_first_chunk < duration
        assert 0.001 < tpot < 0.1, (call.model, tpot)
        checked += 1
    assert checked > 1000


def test_genai_prices_knows_every_model_but_the_self_hosted_one() -> None:
    for spec in MODELS.values():
        provider = PROVIDER_IDS.get(spec.provider, spec.provider)
        usage = Usage(input_tokens=1000, output_tokens=100)
        if spec.model in UNPRICED_MODELS:
            with pytest.raises(LookupError):
                calc_price(usage, model_ref=spec.model, provider_id=provider)
        else:
            assert calc_price(usage, model_ref=spec.model, provider_id=provider).total_price > 0


def _window(calls: list[SimulatedCall], start: float, end: float) -> list[SimulatedCall]:
    return [c for c in calls
            if start <= _end_time(c) - ORIGIN < end]


def _end_time(call: SimulatedCall) -> float:
    for event in call.events:
        if event.event_type in ("inference", "response"):
            return event.end_time.timestamp()
    raise AssertionError("call without an end")


def _p50_latency(calls: Iterable[SimulatedCall]) -> float:
    durations = [(e.end_time - e.start_time).total_seconds()
                 for c in calls for e in c.events
                 if isinstance(e, InferenceEvent) and not e.error_type]
    assert len(durations) > 30
    return statistics.median(durations)


def _incident_traffic(incident: Incident) -> tuple[list[SimulatedCall], list[SimulatedCall]]:
    """(inside the window, outside it) for a 100 s run with ``incident`` at 40-60 s."""
    calls = generate(TrafficModel(5, origin=ORIGIN, incidents=[incident]), 12000, 100.0)
    inside = _window(calls, 40.0, 60.0)
    outside = _window(calls, 0.0, 40.0) + _window(calls, 60.0, 100.0)
    return inside, outside


def test_latency_spike_hits_only_the_target() -> None:
    incident = Incident("latency_spike", 40.0, 20.0, model="claude-sonnet-4-5", factor=5.0)
    inside, outside = _incident_traffic(incident)
    hit = [c for c in inside if c.model == "claude-sonnet-4-5"]
    assert all(c.incidents == (incident.name,) for c in hit)
    assert not any(c.incidents for c in outside)
    assert not any(c.incidents for c in inside if c.model != "claude-sonnet-4-5")
    sonnet_out = [c for c in outside if c.model == "claude-sonnet-4-5"]
    assert _p50_latency(hit) / _p50_latency(sonnet_out) > 3
    others_in = [c for c in inside if c.model != "claude-sonnet-4-5"]
    others_out = [c for c in outside if c.model != "claude-sonnet-4-5"]
    assert 0.75 < _p50_latency(others_in) / _p50_latency(others_out) < 1.33


def _median_tokens(calls: Iterable[SimulatedCall]) -> float:
    return statistics.median(e.input_tokens for c in calls for e in c.events
                             if isinstance(e, InferenceEvent) and e.input_tokens)


def test_cost_spike_multiplies_tokens_of_the_target_only() -> None:
    incident = Incident("cost_spike", 40.0, 20.0, tenant="globex", factor=4.0)
    inside, outside = _incident_traffic(incident)
    target_in = [c for c in inside if c.tenant == "globex"]
    target_out = [c for c in outside if c.tenant == "globex"]
    assert _median_tokens(target_in) / _median_tokens(target_out) > 3
    others_in = [c for c in inside if c.tenant != "globex"]
    others_out = [c for c in outside if c.tenant != "globex"]
    assert 0.8 < _median_tokens(others_in) / _median_tokens(others_out) < 1.25


def test_error_incident_raises_the_error_rate_of_the_target_only() -> None:
    incident = Incident("errors", 40.0, 20.0, model="gpt-4o-mini", route="chat", factor=0.3)
    inside, outside = _incident_traffic(incident)
    target = [c for c in inside if c.model == "gpt-4o-mini" and c.route == "chat"]
    others = [c for c in inside if c not in target]
    assert 0.2 < sum(c.error for c in target) / len(target) < 0.4
    assert sum(c.error for c in others) / len(others) < 0.03
    assert sum(c.error for c in outside) / len(outside) < 0.03


def test_default_incidents_scale_with_the_run() -> None:
    short, long = default_incidents(60.0), default_incidents(600.0)
    assert [i.kind for i in short] == ["latency_spike", "cost_spike", "errors", "ungrounded",
                                       "toxic", "rollout"]
    for a, b in zip(short, long, strict=True):
        assert b.start_s == pytest.approx(10 * a.start_s)
        assert a.start_s + a.duration_s <= 60.0


def test_incident_schedule_repeats_when_asked() -> None:
    incident = Incident("errors", 10.0, 5.0, factor=1.0)
    model = TrafficModel(1, origin=ORIGIN, incidents=[incident], repeat_s=100.0)
    assert model.call(ORIGIN + 112.0).error
    assert model.call(ORIGIN + 212.0).incidents == (incident.name,)


def _wire(calls: Iterable[SimulatedCall]) -> list[bytes]:
    return [orjson.dumps(to_wire(e)) for e in events_of(calls)]


def test_generation_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[bytes]:
        return _wire(generate(TrafficModel(seed, origin=ORIGIN,
                                           incidents=default_incidents(30.0)), 500, 30.0))

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_a_run_id_gives_new_ids_to_the_same_traffic() -> None:
    """Issue 20: a re-run of the demo with one seed sent the ids the store already had."""
    def run(run_id: str | None) -> list[SimulatedCall]:
        return generate(TrafficModel(3, origin=ORIGIN, incidents=default_incidents(30.0),
                                     run_id=run_id), 500, 30.0)

    def shape(calls: list[SimulatedCall]) -> list[tuple[object, ...]]:
        return [(c.model, c.route, c.tenant, c.incidents, c.error, len(c.events),
                 [e.event_type for e in c.events]) for c in calls]

    def ids(calls: list[SimulatedCall]) -> set[str]:
        return {c.request_id for c in calls} | {
            e.feedback_id for c in calls for e in c.events if e.event_type == "feedback"}

    first, second, plain = run("a"), run("b"), run(None)
    assert shape(first) == shape(second) == shape(plain)  # the seed's traffic
    assert not ids(first) & ids(second) and not ids(first) & ids(plain)
    assert _wire(run("a")) == _wire(first)  # a run id is deterministic too
    # feedback still names calls of its own run
    sent = {c.request_id for c in second}
    assert all(e.request_id in sent for c in second for e in c.events)


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_malformed_payloads_fail_validation_on_every_topic(kind: str) -> None:
    rng = random.Random(kind)
    for _ in range(30):
        payload = malformed(rng, kind)
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        if data is not None:
            with pytest.raises(ValidationError):
                EVENT_ADAPTER.validate_python(data)
        for role in INPUT_ROLES:
            with pytest.raises(InvalidEvent):
                decode(role, payload)


def test_random_malformed_kinds_vary() -> None:
    rng = random.Random(1)
    assert len({malformed(rng) for _ in range(200)}) > 50


class FakeClock:
    def __init__(self, start: float = ORIGIN) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.raw: list[tuple[str, bytes | None, bytes]] = []

    def send(self, event: Event) -> str:
        self.events.append(event)
        return event.request_id

    def produce_raw(self, topic_role: str, key: bytes | None, value: bytes) -> None:
        self.raw.append((topic_role, key, value))

    def flush(self, timeout: float = 30.0) -> int:
        return 0


def _run(seed: int, **kwargs: float) -> tuple[RecordingSink, Simulator, FakeClock]:
    clock, sink = FakeClock(), RecordingSink()
    model = TrafficModel(seed, origin=clock(), incidents=default_incidents(20.0))
    malformed_ratio = kwargs.pop("malformed_ratio", 0.0)
    simulator = Simulator(sink, model, clock=clock, sleep=clock.sleep,
                          malformed_ratio=malformed_ratio, keep_request_ids=True)
    return sink, simulator, clock


def test_simulator_paces_calls_with_the_injected_clock() -> None:
    sink, simulator, clock = _run(2, malformed_ratio=0.1)
    stats = simulator.run(rate=50.0, duration=20.0)
    assert stats.calls + stats.malformed == 1000
    assert 60 < stats.malformed < 140
    assert len(sink.raw) == stats.malformed
    assert all(role in INPUT_ROLES for role, _, _ in sink.raw)
    assert stats.elapsed_s == pytest.approx(20.0, abs=0.05)
    assert sum(stats.events.values()) == len(sink.events)
    assert stats.request_ids is not None and len(stats.request_ids) == stats.calls
    assert set(stats.incidents) == {i.name for i in default_incidents(20.0)}
    ends = [e.end_time.timestamp() for e in sink.events if e.event_type == "inference"]
    assert min(ends) >= ORIGIN and max(ends) < clock.now
    assert ends == sorted(ends)


def test_simulator_is_deterministic_and_stops_at_count() -> None:
    first, second = _run(9)[0:2], _run(9)[0:2]
    stats_a = first[1].run(rate=100.0, count=321)
    stats_b = second[1].run(rate=100.0, count=321)
    assert stats_a.calls == 321
    assert stats_a.as_dict() == stats_b.as_dict()
    assert [to_wire(e) for e in first[0].events] == [to_wire(e) for e in second[0].events]


def test_simulator_stops_when_asked() -> None:
    sink, simulator, _ = _run(1)
    stats = simulator.run(rate=None, stop=lambda: len(sink.events) >= 50)
    assert 50 <= len(sink.events) <= 53 and stats.calls >= 30


def test_ctrl_c_ends_the_run_with_its_stats() -> None:
    _, simulator, clock = _run(1)

    def interrupt(seconds: float) -> None:
        if clock.now - ORIGIN > 1.0:
            raise KeyboardInterrupt
        clock.sleep(seconds)

    simulator.sleep = interrupt
    stats = simulator.run(rate=100.0)
    assert stats.interrupted and 100 <= stats.calls <= 102


def test_simulate_uses_a_default_schedule_scaled_to_the_run() -> None:
    clock, sink = FakeClock(), RecordingSink()
    stats = simulate(sink, rate=40.0, count=2000, seed=4, clock=clock, sleep=clock.sleep)
    assert stats.calls == 2000
    assert set(stats.incidents) == {i.name for i in default_incidents(50.0)}
    assert orjson.loads(orjson.dumps(stats.as_dict()))["calls"] == 2000


def test_simulator_rejects_bad_arguments() -> None:
    sink = RecordingSink()
    model = TrafficModel(1, origin=ORIGIN)
    with pytest.raises(ValueError):
        Simulator(sink, model, malformed_ratio=1.5)
    with pytest.raises(ValueError):
        Simulator(sink, model).run(rate=0.0, count=1)


def test_prompt_bloat_multiplies_input_tokens_of_the_target_only() -> None:
    incident = Incident("prompt_bloat", 40.0, 20.0, tenant="acme", factor=6.0)
    inside, outside = _incident_traffic(incident)
    target_in = [c for c in inside if c.tenant == "acme"]
    target_out = [c for c in outside if c.tenant == "acme"]
    assert _median_tokens(target_in) / _median_tokens(target_out) > 4.5
    others_in = [c for c in inside if c.tenant != "acme"]
    others_out = [c for c in outside if c.tenant != "acme"]
    assert 0.8 < _median_tokens(others_in) / _median_tokens(others_out) < 1.25
    # the answers do not grow (unlike cost_spike's): latency stays near its usual
    assert _p50_latency(target_in) / _p50_latency(target_out) < 1.6


def test_unpriced_sends_the_target_to_a_model_genai_prices_does_not_know() -> None:
    incident = Incident("unpriced", 40.0, 20.0, model="gemini-2.0-flash")
    inside, outside = _incident_traffic(incident)
    preview = {c.model for c in inside if c.incidents}
    assert preview == {"gemini-2.0-flash-preview"}
    assert "gemini-2.0-flash-preview" not in {c.model for c in outside}
    with pytest.raises(LookupError):
        calc_price(Usage(input_tokens=1000, output_tokens=100),
                   model_ref="gemini-2.0-flash-preview", provider_id=PROVIDER_IDS["gcp.gemini"])


class _Sink:
    def __init__(self) -> None:
        self.raw: list[tuple[str, bytes]] = []
        self.sent = 0

    def send(self, event: Event) -> str:
        self.sent += 1
        return ""

    def produce_raw(self, topic_role: str, key: bytes | None, value: bytes) -> None:
        self.raw.append((topic_role, value))

    def flush(self, timeout: float = 30.0) -> int:
        return 0


def test_malformed_incident_raises_the_share_of_invalid_payloads_for_its_window() -> None:
    clock = [ORIGIN]
    sink = _Sink()
    model = TrafficModel(3, origin=ORIGIN, incidents=[Incident("malformed", 50.0, 50.0,
                                                               factor=0.1)])
    runner = Simulator(sink, model, clock=lambda: clock[0], malformed_ratio=0.002,
                       sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    before = runner.run(rate=100.0, duration=50.0)
    during = runner.run(rate=100.0, duration=50.0)
    assert before.malformed / 5000 < 0.006
    assert 0.08 < during.malformed / 5000 < 0.12


def test_runs_of_half_an_hour_get_the_oncall_schedule() -> None:
    schedule = default_incidents(1800.0)
    kinds = {i.kind for i in schedule}
    assert {"latency_spike", "errors", "prompt_bloat", "malformed", "unpriced"} <= kinds
    # normal traffic first (the history relative alerts compare with), then 8 minutes
    assert all(i.start_s == 720.0 and i.duration_s == 480.0 for i in schedule)
    assert all(i.start_s == 1440.0 for i in default_incidents(3600.0))
    assert default_incidents(1799.0)[0].duration_s < 480.0  # the short demo's schedule


def test_a_run_reports_its_progress_every_second() -> None:
    _, simulator, _ = _run(3)
    seen: list[tuple[int, float]] = []
    stats = simulator.run(rate=50.0, duration=10.0,
                          progress=lambda sent, elapsed: seen.append((sent.calls, elapsed)))
    assert [round(elapsed) for _, elapsed in seen] == list(range(1, 10))
    assert [calls for calls, _ in seen] == [50 * s for s in range(1, 10)]
    assert stats.calls == 500


def test_the_progress_line_updates_in_place_on_a_terminal_and_is_sparse_when_piped() -> None:
    import io

    from llmpulse.progress import ProgressLine

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    now = [0.0]
    for stream, every in ((Terminal(), 1.0), (io.StringIO(), 10.0)):
        now[0] = 0.0
        line = ProgressLine(stream, clock=lambda: now[0])
        assert line.every_s == every
        for second in range(1, 31):
            now[0] = float(second)
            line.update(f"{second}s sent")
        line.close()
        text = stream.getvalue()
        if isinstance(stream, Terminal):  # one line, rewritten every second
            assert text.count("\r") == 30 and text.count("\n") == 1
            assert text.endswith("\r30s sent\n")
        else:  # a line every 10 s, no control characters
            assert text.splitlines() == ["1s sent", "11s sent", "21s sent"]
            assert "\r" not in text
