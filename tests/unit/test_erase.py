"""Erasure: the plan per subject, the guard that keeps erased data out, and on the
embedded store that no table returns an erased request, user or tenant afterwards."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from llmpulse.governance.erase import ERASED, Subject, erase, id_pattern, plan
from llmpulse.governance.guard import Erased, ErasureGuard
from llmpulse.sinks.clickhouse import ClickHouseStore
from tests.harness.governance import holding, seed

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_every_plan_deletes_the_calls_last() -> None:
    for kind in ("request_id", "user_hash", "tenant"):
        steps = plan(Subject(kind, "x"))  # type: ignore[arg-type]
        assert steps[-1].table == "inference_events"
        assert steps[-1].where == f"{kind} = {{subject:String}}"
        assert [s.table for s in steps].count("inference_events") == 1


def test_a_user_plan_covers_their_calls_and_the_feedback_they_gave() -> None:
    steps = {s.table: s for s in plan(Subject("user_hash", "u"))}
    assert set(steps) == {"signals", "feedback", "inference_events"}
    assert "user_hash = {subject:String}" in steps["feedback"].where
    assert "SELECT request_id FROM inference_events WHERE user_hash" in steps["signals"].where


def test_a_tenant_plan_covers_its_groups() -> None:
    tables = [s.table for s in plan(Subject("tenant", "t"))]
    assert tables == ["signals", "feedback", "alert_notifications", "alert_state", "windows",
                      "retrain_triggers", "inference_events"]
    # notifications are found by their alert state's key, so they go before the states
    assert tables.index("alert_notifications") < tables.index("alert_state")


def test_the_id_pattern_matches_ids_literally() -> None:
    pattern = id_pattern(["a.b", "c+d"])
    assert re.fullmatch(pattern, "a.b") and re.fullmatch(pattern, "c+d")
    assert not re.fullmatch(pattern, "axb")


def test_a_redaction_never_touches_a_longer_id(store: ClickHouseStore) -> None:
    store.client.insert(
        "retrain_triggers",
        [["tr", ["r1", "r10"], '{"evidence":[{"request_id":"r1"},{"request_id":"r10"}]}',
          "calls r1 and r10 failed"]],
        column_names=["id", "evidence", "payload", "reason"])
    erase(store, Subject("request_id", "r1"), sleep=lambda s: None)
    assert store.query("SELECT evidence, payload, reason FROM retrain_triggers") == [(
        [ERASED, "r10"], '{"evidence":[{"request_id":"[erased]"},{"request_id":"r10"}]}',
        "calls [erased] and r10 failed")]


def test_erased_request_ids_stay_erased_users_and_tenants_up_to_the_erasure() -> None:
    erased = Erased.of([("request_id", "r1", NOW), ("user_hash", "u1", NOW),
                        ("tenant", "t1", NOW.replace(tzinfo=None))])
    later = NOW + timedelta(seconds=1)
    assert erased.drops("r1", later)
    assert erased.drops("r2", NOW, user_hash="u1") and not erased.drops("r2", later, "u1")
    assert erased.drops("r2", NOW, tenant="t1") and not erased.drops("r2", later, None, "t1")
    assert not erased.drops("r2", NOW, "u2", "t2")
    assert not Erased()


def test_the_guard_rereads_the_erasures_only_when_stale() -> None:
    reads: list[str] = []
    rows: list[tuple[Any, ...]] = []
    clock = [0.0]

    def query(sql: str) -> list[tuple[Any, ...]]:
        reads.append(sql)
        return list(rows)

    guard = ErasureGuard(query, clock=lambda: clock[0], refresh_s=5)
    assert not guard.current()
    rows.append(("request_id", "r1", NOW))
    clock[0] = 4.9
    assert not guard.current() and len(reads) == 1
    clock[0] = 5.0
    assert guard.current().request_ids == {"r1"} and len(reads) == 2


def test_a_dry_run_counts_and_changes_nothing(store: ClickHouseStore) -> None:
    seed(store, NOW)
    report = erase(store, Subject("user_hash", "u1"), dry_run=True)
    assert report.deleted == {"signals": 2, "feedback": 2, "inference_events": 2}
    assert report.redacted == {"retrain_triggers": 2, "alert_notifications": 2}
    assert store.query("SELECT count() FROM erasures") == [(0,)]
    assert holding(store, "r1", "r3")["inference_events"] == 2


def test_erasing_a_user_leaves_no_trace(store: ClickHouseStore) -> None:
    seed(store, NOW)
    assert holding(store, "u1", "r1", "r3")
    report = erase(store, Subject("user_hash", "u1"), sleep=lambda s: None)
    assert report.deleted == {"signals": 2, "feedback": 2, "inference_events": 2}
    assert holding(store, "u1", "r1", "r3") == {}
    # others' data stays; evidence names the erased calls no more
    assert store.query("SELECT request_id FROM inference_events ORDER BY request_id") == [
        ("r2",), ("r4",)]
    assert store.query("SELECT evidence FROM retrain_triggers ORDER BY id") == [
        ([ERASED, "r2"],), ([ERASED, "r4"],)]
    assert store.query("SELECT feedback_id FROM feedback") == [("f3",)]
    # the erasure is recorded with the user's request ids, for workers to drop late data
    assert sorted(store.query("SELECT kind, value FROM erasures")) == [
        ("request_id", "r1"), ("request_id", "r3"), ("user_hash", "u1")]


def test_erasing_a_request_leaves_no_trace(store: ClickHouseStore) -> None:
    seed(store, NOW)
    report = erase(store, Subject("request_id", "r4"), sleep=lambda s: None)
    assert report.deleted == {"signals": 1, "feedback": 2, "inference_events": 1}
    assert holding(store, "r4") == {}
    assert store.query("SELECT count() FROM inference_events") == [(3,)]


def test_erasing_a_tenant_leaves_no_trace(store: ClickHouseStore) -> None:
    seed(store, NOW)
    report = erase(store, Subject("tenant", "acme"), sleep=lambda s: None)
    assert report.deleted == {"signals": 2, "feedback": 1, "alert_notifications": 1,
                              "alert_state": 1, "windows": 1, "retrain_triggers": 1,
                              "inference_events": 2}
    assert holding(store, "acme", "r1", "r2", "k-acme") == {}
    assert store.query("SELECT tenant FROM windows") == [("beta",)]


def test_rows_of_an_erased_subject_written_later_are_dropped(store: ClickHouseStore) -> None:
    from llmpulse.schema import FeedbackEvent

    erase(store, Subject("request_id", "late"), sleep=lambda s: None)
    store.guard = ErasureGuard(store.query)  # as a worker's guard after REFRESH_S
    feedback = [FeedbackEvent(request_id=rid, feedback_id=f"f-{rid}", time=NOW,
                              thumbs="down", given_by="user")
                for rid in ("late", "kept")]
    assert store.insert_feedback(feedback, NOW) == 1
    assert store.query("SELECT request_id FROM feedback") == [("kept",)]


def test_feedback_and_signals_of_an_erased_tenants_calls_written_later_are_dropped(
        store: ClickHouseStore) -> None:
    """Feedback names no tenant and its call is gone: the tenant's request ids recorded
    at the erasure drop it, without any worker reading them all."""
    from llmpulse.schema import FeedbackEvent
    from llmpulse.signals import Signal

    seed(store, NOW)
    dry = erase(store, Subject("tenant", "acme"), dry_run=True)
    assert dry.recorded == 2 and dry.as_json()["recorded_request_ids"] == 2
    report = erase(store, Subject("tenant", "acme"), sleep=lambda s: None)
    assert report.recorded == 2
    assert sorted(store.query("SELECT kind, value FROM erasures")) == [
        ("tenant", "acme"), ("tenant_call", "r1"), ("tenant_call", "r2")]
    reads: list[str] = []

    def query(sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        reads.append(sql)
        return store.query(sql, parameters)

    store.guard = ErasureGuard(query)  # as a worker's guard after REFRESH_S
    assert not store.guard.current().request_ids  # the tenant's calls are not read whole
    later = NOW + timedelta(days=1)  # after the erasure: no tenant, no date to drop it by
    feedback = [FeedbackEvent(request_id=rid, feedback_id=f"late-{rid}", time=later,
                              thumbs="down", given_by="user") for rid in ("r1", "r3")]
    assert store.insert_feedback(feedback, later) == 1
    assert store.query("SELECT request_id FROM feedback WHERE feedback_id LIKE 'late-%'") == [
        ("r3",)]
    signals = [Signal(name="judge.score", value=0.2, request_id=rid, time=later, model="m",
                      provider="openai", route="", tenant="")
               for rid in ("r2", "r4")]
    assert store.insert_signals(signals, {}, later) == 1
    assert holding(store, "acme", "r1", "r2") == {}
    assert sum("tenant_call" in sql and "IN {ids" in sql for sql in reads) == 2


def test_without_a_tenant_erasure_no_lookup_is_made() -> None:
    reads: list[str] = []

    def query(sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        reads.append(sql)
        return [("request_id", "r1", NOW)]

    guard = ErasureGuard(query)
    assert guard.tenant_calls(["r1", "r2"]) == set() and len(reads) == 1


@pytest.mark.parametrize("kind", ["request_id", "user_hash", "tenant"])
def test_erasing_nothing_is_harmless(store: ClickHouseStore, kind: str) -> None:
    report = erase(store, Subject(kind, "nobody"), sleep=lambda s: None)  # type: ignore[arg-type]
    assert not any(report.deleted.values()) and not any(report.redacted.values())


async def test_a_worker_drops_a_request_of_an_erased_user_that_completes_later(
        store: ClickHouseStore) -> None:
    """The user is erased while their request waits in the join: the lone half stored at
    the timeout, the late response and feedback, and the signals of each leave no row."""
    from tests.unit.factories import feedback, request, response
    from tests.unit.test_pipeline import feed, make

    pipe, _, acked, clock = make(store, LLMPULSE_JOIN_TIMEOUT_S="30")
    await feed(pipe, "requests", [request("gone", user_hash="u-gone"),
                                  request("kept", user_hash="u-kept")])
    await pipe.flush()
    erase(store, Subject("user_hash", "u-gone"), sleep=lambda s: None)
    store.guard = ErasureGuard(store.query)  # as every worker's guard after REFRESH_S
    clock.now += 31
    pipe.sweep()  # both joins time out: lone requests
    await pipe.flush()
    await feed(pipe, "responses", [response("gone"), response("kept")], start=2)
    await feed(pipe, "feedback", [feedback("gone"), feedback("kept")], start=4)
    await pipe.flush()
    assert len(acked) == 6
    assert holding(store, "gone", "u-gone") == {}
    assert store.query("SELECT DISTINCT request_id FROM inference_events") == [("kept",)]
    assert store.query("SELECT DISTINCT request_id FROM signals") == [("kept",)]
    assert store.query("SELECT request_id FROM feedback") == [("kept",)]
    assert ("request_id", "gone") in store.query("SELECT kind, value FROM erasures")


def test_alerts_and_triggers_written_after_an_erasure_do_not_name_erased_calls(
        store: ClickHouseStore) -> None:
    """A worker's in-memory alert (a re-notification) still holds the erased call."""
    from llmpulse.alerting.notifiers import DeliveryResult
    from llmpulse.retrain.trigger import build_trigger
    from llmpulse.sinks import alert_store, retrain_store
    from tests.unit.test_retrain import alert, rules

    erase(store, Subject("request_id", "bad1"), sleep=lambda s: None)
    store.guard = ErasureGuard(store.query)
    message = alert()
    alert_store.write_notifications(store, message, [DeliveryResult("hook", True, 1, 200, None,
                                                                    0.1)], NOW)
    trigger = build_trigger(message, rules().rule("grounding_drop"), "triggered", NOW)
    retrain_store.write(store, trigger, 1)
    assert holding(store, "bad1") == {}
    assert store.query("SELECT evidence FROM retrain_triggers") == [([ERASED, "bad2"],)]
    stored = retrain_store.get(store, trigger.id)
    assert stored is not None and stored.evidence[0].request_id == ERASED


@pytest.mark.parametrize(("args", "error"), [
    ([], "exactly one of"),
    (["--tenant", "a", "--user-hash", "b"], "exactly one of"),
    (["--request-id", " "], "must not be empty"),
    (["--tenant", "*"], "every tenant's aggregate"),
])
def test_the_command_names_exactly_one_subject(args: list[str], error: str) -> None:
    from click.testing import CliRunner

    from llmpulse.cli import cli

    result = CliRunner().invoke(cli, ["erase", *args])
    assert result.exit_code == 2 and error in result.output
