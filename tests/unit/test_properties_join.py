"""Model-based property tests of the join: any interleaving of request halves, response
halves, whole-call events, redeliveries, sweeps and stores records each call once (plus at
most one late upgrade of a timed-out half), as the pipeline drives it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmpulse import join
from llmpulse.records import InferenceRecord
from llmpulse.schema import EVENT_ADAPTER
from tests.unit.factories import inference, request, response

TIMEOUT = 30.0
HORIZON = 10**9  # done marks are never forgotten here: every redelivery is a duplicate
IDS = ("a", "b", "c")
#: Each call arrives in one shape: as a whole-call event, or as halves.
SHAPES = {"a": "halves", "b": "halves", "c": "inference"}
BUILD = {"request": request, "response": response, "inference": inference}

Op = tuple[str, str, float]  # (what, request_id or "", seconds to advance first)

deliveries = st.tuples(st.sampled_from(["deliver"]), st.sampled_from(IDS),
                       st.sampled_from([0.0, 1.0, 10.0, 29.0, 31.0]))
other_ops = st.tuples(st.sampled_from(["sweep", "store"]), st.just(""),
                      st.sampled_from([0.0, 5.0, 31.0]))
ops = st.lists(st.one_of(deliveries, deliveries, other_ops), max_size=25)


@dataclass
class Recorded:
    status: str
    late: bool
    at: int  # index of the operation that produced it


@dataclass
class Model:
    """The pipeline's use of the join: records go in flight, a store writes done marks."""

    table: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_flight: dict[str, join.Halves] = field(default_factory=dict)
    batch: list[InferenceRecord] = field(default_factory=list)
    now: float = 1000.0
    records: dict[str, list[Recorded]] = field(default_factory=lambda: defaultdict(list))
    delivered: dict[str, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))

    def deliver(self, kind: str, rid: str, at: int) -> None:
        event = EVENT_ADAPTER.validate_python(BUILD[kind](rid))
        self.delivered[rid].append((kind, at))
        result = join.on_event(self.table, event, self.now, self.in_flight)
        assert not (result.duplicate and result.record is not None)
        if result.record is not None:
            self._add(result.record, result.late, at)
        for state in self.table.values():  # never a finished call (see llmpulse.join)
            assert state["k"] == "d" or (state["req"] is None) != (state["resp"] is None)

    def sweep(self, at: int) -> None:
        expired = join.sweep(self.table, self.now, TIMEOUT, HORIZON, self.in_flight)
        for record in expired.records:
            self._add(record, False, at)
        for rid in expired.forget:
            del self.table[rid]

    def store(self) -> None:
        for record in self.batch:
            self.table[record.request_id] = join.done_marker(record, self.now)
        self.batch.clear()
        self.in_flight.clear()

    def _add(self, record: InferenceRecord, late: bool, at: int) -> None:
        self.in_flight[record.request_id] = join.halves_of(record)
        self.batch.append(record)
        self.records[record.request_id].append(Recorded(record.join_status, late, at))


def _kind(rid: str, draw_response: bool) -> str:
    if SHAPES[rid] == "inference":
        return "inference"
    return "response" if draw_response else "request"


def run(script: list[tuple[Op, bool]]) -> Model:
    model = Model()
    for at, ((what, rid, advance), flag) in enumerate(script):
        model.now += advance
        if what == "deliver":
            model.deliver(_kind(rid, flag), rid, at)
        elif what == "sweep":
            model.sweep(at)
        else:
            model.store()
    end = len(script)
    model.now += TIMEOUT + 1  # finally every lone half times out and is stored
    model.sweep(end)
    model.store()
    return model


def _first_delivery(model: Model, rid: str, kind: str) -> int | None:
    return next((at for k, at in model.delivered[rid] if k == kind), None)


def check(model: Model) -> None:
    for rid in model.delivered:
        records = model.records[rid]
        assert records, f"{rid} delivered but never recorded"
        first, rest = records[0], records[1:]
        assert not first.late, (rid, records)
        if SHAPES[rid] == "inference":
            assert [r.status for r in records] == ["inference"], (rid, records)
            continue
        req = _first_delivery(model, rid, "request")
        resp = _first_delivery(model, rid, "response")
        if first.status == "joined":
            assert req is not None and resp is not None
            assert not rest, (rid, records)  # no redelivery records it again
            continue
        assert first.status in ("request_only", "response_only"), (rid, records)
        lone, other = (req, resp) if first.status == "request_only" else (resp, req)
        assert lone is not None and lone < first.at
        assert other is None or other > first.at, "timed out although both halves came"
        if other is None:
            assert not rest, (rid, records)
        else:  # the other half came after the timeout: exactly one late upgrade
            assert [(r.status, r.late) for r in rest] == [("joined", True)], (rid, records)


flags = st.booleans()


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.one_of(deliveries, deliveries, other_ops), flags), max_size=25))
@example([(("deliver", "a", 0.0), False), (("sweep", "", 31.0), False),
          (("deliver", "a", 0.0), True), (("deliver", "a", 0.0), True)])
def test_each_call_is_recorded_once_then_upgraded_at_most_once(
        script: list[tuple[Op, bool]]) -> None:
    check(run(script))
