from __future__ import annotations

from typing import Any

from llmpulse import join
from llmpulse.records import NO_RESPONSE_ERROR
from llmpulse.schema import EVENT_ADAPTER
from tests.unit.factories import inference, request, response


def ev(data: dict[str, Any]) -> Any:
    return EVENT_ADAPTER.validate_python(data)


def test_inference_completes_at_once_and_duplicates_after_done() -> None:
    table: dict[str, dict[str, Any]] = {}
    flight: dict[str, join.Halves] = {}
    first = join.on_event(table, ev(inference()), 100.0, flight)
    assert first.record is not None and first.record.join_status == "inference"
    flight["r1"] = "all"
    assert join.on_event(table, ev(inference()), 101.0, flight).duplicate
    flight.clear()
    table["r1"] = join.done_marker(first.record, 102.0)
    assert join.on_event(table, ev(inference()), 103.0, flight).duplicate


def test_replay_before_done_marker_is_processed_again() -> None:
    table: dict[str, dict[str, Any]] = {}
    assert join.on_event(table, ev(inference()), 1.0, {}).record is not None
    # crash before the store: no done marker, the same message comes again
    assert join.on_event(table, ev(inference()), 2.0, {}).record is not None


def test_request_then_response_join_either_order() -> None:
    for order in ((request(), response()), (response(), request())):
        table: dict[str, dict[str, Any]] = {}
        assert join.on_event(table, ev(order[0]), 1.0, {}).pending
        assert join.on_event(table, ev(order[0]), 1.5, {}).duplicate
        result = join.on_event(table, ev(order[1]), 2.0, {})
        record = result.record
        assert record is not None and record.join_status == "joined"
        assert record.provider == "anthropic" and record.output_tokens == 201
        assert record.route == "rag" and record.start_time is not None


def test_completing_half_redelivered_while_its_call_is_stored_is_a_duplicate() -> None:
    for order in ((request(), response()), (response(), request())):
        table: dict[str, dict[str, Any]] = {}
        flight: dict[str, join.Halves] = {}
        join.on_event(table, ev(order[0]), 1.0, flight)
        assert join.on_event(table, ev(order[1]), 2.0, flight).record is not None
        flight["r1"] = "all"  # being stored
        again = join.on_event(table, ev(order[1]), 2.5, flight)
        assert again.duplicate and again.record is None


def test_sweep_records_lonely_halves_after_timeout() -> None:
    table: dict[str, dict[str, Any]] = {}
    join.on_event(table, ev(request("a")), 0.0, {})
    join.on_event(table, ev(response("b", start_time="2026-11-01T12:00:00Z")), 0.0, {})
    assert join.sweep(table, 5.0, 10.0, 100.0, {}).records == []
    expired = join.sweep(table, 11.0, 10.0, 100.0, {})
    records = {r.request_id: r for r in expired.records}
    assert records["a"].join_status == "request_only"
    assert records["a"].error_type == NO_RESPONSE_ERROR
    assert records["b"].join_status == "response_only"
    assert records["b"].model == "claude-sonnet-4-5"


def test_late_response_completes_a_request_only_call() -> None:
    table: dict[str, dict[str, Any]] = {}
    join.on_event(table, ev(request()), 0.0, {})
    [lonely] = join.sweep(table, 100.0, 10.0, 1000.0, {}).records
    table["r1"] = join.done_marker(lonely, 100.0)
    late = join.on_event(table, ev(response()), 200.0, {})
    assert late.late and late.record is not None
    assert late.record.join_status == "joined" and late.record.provider == "anthropic"
    # a repeated request is still a duplicate
    assert join.on_event(table, ev(request()), 201.0, {}).duplicate


def test_done_markers_forgotten_after_horizon() -> None:
    table: dict[str, dict[str, Any]] = {}
    record = join.on_event(table, ev(inference()), 0.0, {}).record
    assert record is not None
    table["r1"] = join.done_marker(record, 0.0)
    assert join.sweep(table, 50.0, 10.0, 100.0, {}).forget == []
    assert join.sweep(table, 150.0, 10.0, 100.0, {}).forget == ["r1"]
    assert join.pending_count(table) == 0


def test_sweep_leaves_entries_of_partitions_this_worker_lost() -> None:
    table: dict[str, dict[str, Any]] = {}
    join.on_event(table, ev(request("mine")), 0.0, {})
    join.on_event(table, ev(request("theirs")), 0.0, {})
    expired = join.sweep(table, 100.0, 10.0, 1000.0, {}, owns=lambda rid: rid == "mine")
    assert [r.request_id for r in expired.records] == ["mine"]


def test_incremental_sweep_reads_only_pending_entries() -> None:
    table = join.MemoryJoinTable()
    join.on_event(table, ev(request("p")), 0.0, {})
    record = join.on_event(table, ev(inference("d")), 0.0, {}).record
    assert record is not None
    table["d"] = join.done_marker(record, 0.0)
    assert table.pending == {"p"}
    light = join.sweep(table, 5000.0, 10.0, 100.0, {}, full=False)
    assert [r.request_id for r in light.records] == ["p"] and light.forget == []
    heavy = join.sweep(table, 5000.0, 10.0, 100.0, {}, full=True)
    assert heavy.forget == ["d"]
    assert join.pending_count(table) == 1  # still pending until the caller stores it


def test_completing_a_call_leaves_only_its_pending_half_in_the_table() -> None:
    """A burst persisted while the call is stored must not make the finished call
    durable: after a crash the replayed completing half has to complete it again."""
    for order in ((request(), response()), (response(), request())):
        table: dict[str, dict[str, Any]] = {}
        join.on_event(table, ev(order[0]), 1.0, {})
        before = dict(table["r1"])
        assert join.on_event(table, ev(order[1]), 2.0, {}).record is not None
        assert table["r1"] == before
        # crash: the finished call (in flight) is lost, the table is as persisted
        replay = join.on_event(table, ev(order[1]), 3.0, {})
        assert replay.record is not None and replay.record.join_status == "joined"


def test_late_half_while_the_timed_out_half_is_stored_upgrades_it_once() -> None:
    table: dict[str, dict[str, Any]] = {}
    join.on_event(table, ev(request()), 0.0, {})
    [lonely] = join.sweep(table, 100.0, 10.0, 1000.0, {}).records
    flight: dict[str, join.Halves] = {"r1": join.halves_of(lonely)}
    assert join.on_event(table, ev(request()), 101.0, flight).duplicate
    late = join.on_event(table, ev(response()), 101.0, flight)
    assert late.late and late.record is not None and late.record.join_status == "joined"
    flight["r1"] = join.halves_of(late.record)
    assert join.on_event(table, ev(response()), 102.0, flight).duplicate
