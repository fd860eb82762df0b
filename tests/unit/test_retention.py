"""Retention settings become ClickHouse TTLs: the clauses, what changes, and on the
embedded store that expired rows (and bodies) go at a merge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from llmpulse.config import Settings, load_settings
from llmpulse.governance.retention import (
    TARGETS,
    alter_statement,
    apply_retention,
    changes,
    migrated,
    settings_days,
    ttl_clause,
    wanted,
)
from llmpulse.sinks.clickhouse import ClickHouseStore


def target(name: str) -> Any:
    return next(t for t in TARGETS if t.name == name)


def test_a_table_ttl_and_its_removal() -> None:
    calls = target("inference_events")
    assert ttl_clause(calls, 0) is None
    clause = ttl_clause(calls, 90)
    assert clause == "toDateTime(call_time) + INTERVAL 90 DAY"
    assert alter_statement(calls, clause) == (
        "ALTER TABLE inference_events MODIFY TTL toDateTime(call_time) + INTERVAL 90 DAY")
    assert alter_statement(calls, None) == "ALTER TABLE inference_events REMOVE TTL"


def test_message_bodies_get_a_column_ttl() -> None:
    body = target("inference_events.input_messages")
    assert alter_statement(body, ttl_clause(body, 7)) == (
        "ALTER TABLE inference_events MODIFY COLUMN input_messages "
        "TTL toDateTime(call_time) + INTERVAL 7 DAY")
    assert alter_statement(body, None) == (
        "ALTER TABLE inference_events MODIFY COLUMN input_messages REMOVE TTL")
    assert {t.name for t in TARGETS if t.setting == "retention_messages_days"} == {
        "inference_events.system_instructions", "inference_events.input_messages",
        "inference_events.output_messages", "inference_events.context_documents",
        "signals.explanation"}


def test_open_alerts_are_never_expired() -> None:
    assert ttl_clause(target("alert_state"), 30) == (
        "toDateTime(updated) + INTERVAL 30 DAY WHERE NOT (state IN ('pending', 'firing'))")


def test_the_defaults_are_what_the_migrations_set() -> None:
    defaults = settings_days(Settings())
    assert defaults["retention_messages_days"] == 30
    assert all(days == 0 for name, days in defaults.items() if name != "retention_messages_days")
    assert wanted(defaults) == migrated()
    assert changes(wanted(defaults), {}) == []


def test_only_changed_targets_are_altered() -> None:
    days = {**settings_days(Settings()), "retention_calls_days": 90}
    assert [(t.name, c) for t, c in changes(wanted(days), {})] == [
        ("inference_events", "toDateTime(call_time) + INTERVAL 90 DAY")]
    applied = {"inference_events": "toDateTime(call_time) + INTERVAL 90 DAY"}
    assert changes(wanted(days), applied) == []
    # back to for ever: the recorded TTL is removed
    assert [(t.name, c) for t, c in changes(wanted(settings_days(Settings())), applied)] == [
        ("inference_events", None)]


@pytest.fixture
def retained(store: ClickHouseStore) -> Iterator[ClickHouseStore]:
    """The session store, its retention back to the defaults afterwards."""
    yield store
    apply_retention(store, Settings())


def create_query(store: ClickHouseStore, table: str) -> str:
    return str(store.query("SELECT create_table_query FROM system.tables "
                           "WHERE database = currentDatabase() AND name = {t:String}",
                           {"t": table})[0][0])


def test_expired_rows_and_bodies_are_gone_after_a_merge(retained: ClickHouseStore) -> None:
    store = retained
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=20), now - timedelta(days=2)
    settings = load_settings({"LLMPULSE_RETENTION_CALLS_DAYS": "10",
                              "LLMPULSE_RETENTION_MESSAGES_DAYS": "1",
                              "LLMPULSE_RETENTION_FEEDBACK_DAYS": "10"})
    assert set(apply_retention(store, settings)) == {
        "inference_events", "feedback", "signals.explanation",
        *(f"inference_events.{c}" for c in ("system_instructions", "input_messages",
                                            "output_messages", "context_documents"))}
    assert apply_retention(store, settings) == []  # recorded: no second ALTER
    store.client.insert("inference_events", [["old", old, "hi"], ["recent", recent, "hello"]],
                        column_names=["request_id", "call_time", "input_messages"])
    store.client.insert("feedback", [["f-old", "old", old], ["f-new", "recent", recent]],
                        column_names=["feedback_id", "request_id", "time"])
    for table in ("inference_events", "feedback"):
        store.client.command(f"OPTIMIZE TABLE {table} FINAL")
    assert store.query("SELECT request_id, input_messages FROM inference_events") == [
        ("recent", "")]  # the recent call kept, its bodies (older than a day) cleared
    assert store.query("SELECT feedback_id FROM feedback") == [("f-new",)]
    assert "TTL toDateTime(call_time) + toIntervalDay(10)" in create_query(
        store, "inference_events")


def test_a_changed_setting_is_applied_at_the_next_start(retained: ClickHouseStore) -> None:
    store = retained
    apply_retention(store, load_settings({"LLMPULSE_RETENTION_WINDOWS_DAYS": "400"}))
    assert "toIntervalDay(400)" in create_query(store, "windows")
    # the next start with another value alters it; with 0 the TTL is removed
    assert apply_retention(store, load_settings({"LLMPULSE_RETENTION_WINDOWS_DAYS": "200"})
                           ) == ["windows"]
    assert "toIntervalDay(200)" in create_query(store, "windows")
    assert apply_retention(store, Settings()) == ["windows"]
    assert " TTL " not in create_query(store, "windows")
    # and the message bodies' TTL can go, and come back as the migrations had it
    apply_retention(store, load_settings({"LLMPULSE_RETENTION_MESSAGES_DAYS": "0"}))
    assert "TTL" not in create_query(store, "inference_events")
    apply_retention(store, Settings())
    assert create_query(store, "inference_events").count(
        "TTL toDateTime(call_time) + toIntervalDay(30)") == 4


def test_two_processes_applying_at_once_both_succeed(retained: ClickHouseStore) -> None:
    """Both read the recorded state before either applied: the second repeats the ALTERs,
    a removal of a TTL already removed included."""
    store = retained
    days = load_settings({"LLMPULSE_RETENTION_ALERTS_DAYS": "5"})
    apply_retention(store, days)
    store.client.command("TRUNCATE TABLE retention_applied")  # as if read before the first
    apply_retention(store, days)
    apply_retention(store, Settings())
    store.client.insert("retention_applied", [["alert_state", "x", datetime.now(UTC)]],
                        column_names=["target", "clause", "applied_at"])
    assert apply_retention(store, Settings()) == ["alert_state"]  # removing a removed TTL
    # and a column TTL removed twice
    bodies = load_settings({"LLMPULSE_RETENTION_MESSAGES_DAYS": "0"})
    apply_retention(store, bodies)
    store.client.command("TRUNCATE TABLE retention_applied")
    assert len(apply_retention(store, bodies)) == 5
