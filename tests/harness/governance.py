"""Stored data of two users in two tenants, and a search of every table for a subject."""

from __future__ import annotations

from datetime import datetime

from llmpulse.sinks.clickhouse import ClickHouseStore

#: Tables that keep an erased subject on purpose (what was erased, by whom) or hold none.
KEEPING = {"erasures", "audit_log", "schema_migrations", "retention_applied"}


def seed(store: ClickHouseStore, t: datetime) -> None:
    """Two users in two tenants; alerts and a trigger whose evidence names their calls."""
    store.client.insert(
        "inference_events",
        [["r1", t, "u1", "acme", "secret one"], ["r2", t, "u2", "acme", "two"],
         ["r3", t, "u1", "beta", "three"], ["r4", t, "u3", "beta", "four"]],
        column_names=["request_id", "call_time", "user_hash", "tenant", "input_messages"])
    store.client.insert(
        "signals", [[t, "latency", 1.0, rid, tenant] for rid, tenant in
                    (("r1", "acme"), ("r2", "acme"), ("r3", "beta"), ("r4", "beta"))],
        column_names=["time", "name", "value", "request_id", "tenant"])
    store.client.insert(
        "feedback", [["f1", "r1", t, "u9", "better answer"], ["f2", "r4", t, "u1", "meh"],
                     ["f3", "r4", t, "u3", "ok"]],
        column_names=["feedback_id", "request_id", "time", "user_hash", "comment"])
    store.client.insert("windows", [[60, t, "m", "*", "acme", 2], [60, t, "m", "*", "beta", 2]],
                        column_names=["width_s", "start", "model", "route", "tenant", "calls"])
    store.client.insert("alert_state", [["k-acme", "acme", "firing"], ["k-beta", "beta", "ok"]],
                        column_names=["dedup_key", "tenant", "state"])
    message = '{"evidence":[{"request_id":"%s","value":1.0},{"request_id":"%s"}]}'
    store.client.insert(
        "alert_notifications",
        [["n1", "hook", "k-acme", message % ("r1", "r2"), "r1 slow", t],
         ["n2", "hook", "k-beta", message % ("r3", "r4"), "slow", t]],
        column_names=["id", "channel", "dedup_key", "message", "summary", "time"])
    store.client.insert(
        "retrain_triggers",
        [["tr1", "acme", ["r1", "r2"], '{"evidence":[{"request_id":"r1"},{"request_id":"r2"}]}'],
         ["tr2", "*", ["r3", "r4"], '{"evidence":[{"request_id":"r3"},{"request_id":"r4"}]}']],
        column_names=["id", "tenant", "evidence", "payload"])


def holding(store: ClickHouseStore, *needles: str) -> dict[str, int]:
    """Rows of every table (but those keeping erasures on purpose) naming a needle."""
    tables = [str(r[0]) for r in store.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree'")]
    found: dict[str, int] = {}
    for table in sorted(set(tables) - KEEPING):
        for row in store.query(f"SELECT * FROM {table}"):
            text = repr(row)
            if any(f"'{n}'" in text or f'"{n}"' in text for n in needles):
                found[table] = found.get(table, 0) + 1
    return found
