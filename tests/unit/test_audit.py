"""The audit log: an action is recorded with its outcome, failed ones included, and read
back by time and action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import pytest

from llmpulse.cli.audit import parse_since
from llmpulse.governance.audit import actor_or_user, audited, read, record
from llmpulse.sinks.clickhouse import ClickHouseStore

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_an_action_is_recorded_with_its_outcome(store: ClickHouseStore) -> None:
    with audited(store, "alice", "erase", "tenant=acme", {"dry_run": False}) as audit:
        audit.details["deleted"] = {"inference_events": 2}
    [entry] = read(store)
    assert (entry.actor, entry.action, entry.target, entry.outcome) == (
        "alice", "erase", "tenant=acme", "ok")
    assert entry.details == {"dry_run": False, "deleted": {"inference_events": 2}}


def test_a_failed_action_is_recorded_and_still_fails(store: ClickHouseStore) -> None:
    with pytest.raises(click.ClickException), audited(store, "bob", "retrain approve", "t1"):
        raise click.ClickException("no retraining trigger t1")
    with pytest.raises(SystemExit), audited(store, "bob", "retrain resend", "t1"):
        raise SystemExit(1)
    assert [(e.action, e.outcome) for e in read(store)] == [
        ("retrain approve", "failed: no retraining trigger t1"),
        ("retrain resend", "failed: exit status 1")]


def test_entries_are_read_by_time_and_action(store: ClickHouseStore) -> None:
    for age, action in ((3, "erase"), (2, "dashboards push"), (1, "erase")):
        record(store, "carol", action, f"x{age}", {}, "ok", now=NOW - timedelta(days=age))
    assert [e.target for e in read(store)] == ["x3", "x2", "x1"]
    assert [e.target for e in read(store, action="erase")] == ["x3", "x1"]
    assert [e.target for e in read(store, since=NOW - timedelta(days=2, hours=1))] == [
        "x2", "x1"]
    assert [e.target for e in read(store, limit=1)] == ["x1"]  # the newest


def test_since_is_a_time_or_a_duration_back() -> None:
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("2026-11-30T00:00:00", NOW) == datetime(2026, 11, 30, tzinfo=UTC)
    with pytest.raises(click.BadParameter):
        parse_since("last week", NOW)


def test_the_actor_defaults_to_the_os_user() -> None:
    assert actor_or_user("dana") == "dana"
    assert actor_or_user(None)
