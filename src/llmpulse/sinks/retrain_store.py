"""Retraining triggers in ClickHouse (table ``retrain_triggers``, read with FINAL)."""

from __future__ import annotations

from datetime import datetime

from llmpulse.retrain.trigger import FILTER_COLUMNS, RetrainTrigger
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import PROMPT_VERSION_SQL

COLUMNS = ("id", "version", "status", "policy", "model", "route", "tenant", "created_at",
           "window_start", "window_end", "reason", "evidence", "dataset_query", "approved_by",
           "payload", "prompt_version")
#: Statuses that start a cooldown (a suppressed trigger does not).
LIVE = ("triggered", "pending_approval", "approved")


def write(store: ClickHouseStore, trigger: RetrainTrigger, version: int) -> None:
    """Store a trigger; erased request ids in its evidence are not stored."""
    from llmpulse.sinks.alert_store import without_erased

    t = without_erased(store, trigger)
    row = [t.id, version, t.status, t.policy, t.model, t.route, t.tenant, t.created_at,
           t.window_start, t.window_end, t.reason, [e.request_id for e in t.evidence],
           t.dataset.query, t.approved_by or "", t.to_wire().decode(), t.prompt_version]
    store.client.insert("retrain_triggers", [row], column_names=list(COLUMNS))


def get(store: ClickHouseStore, trigger_id: str) -> RetrainTrigger | None:
    rows = store.query("SELECT payload FROM retrain_triggers FINAL WHERE id = {id:String}",
                       {"id": trigger_id})
    return RetrainTrigger.from_wire(rows[0][0]) if rows else None


def last_live(store: ClickHouseStore, trigger: RetrainTrigger) -> datetime | None:
    """When the policy last fired for this group (another incident), if it did."""
    rows = store.query(
        "SELECT max(created_at), count() FROM retrain_triggers FINAL "
        "WHERE policy = {p:String} AND model = {m:String} AND route = {r:String} "
        "AND tenant = {t:String} AND prompt_version = {v:String} AND id != {id:String} "
        "AND status IN {live:Array(String)}",
        {"p": trigger.policy, "m": trigger.model, "r": trigger.route, "t": trigger.tenant,
         "v": trigger.prompt_version, "id": trigger.id, "live": list(LIVE)})
    when, n = rows[0]
    return when if n else None


def prompt_versions(store: ClickHouseStore, start: datetime, end: datetime,
                    filters: dict[str, str], limit: int = 20) -> tuple[str, ...]:
    """The prompt versions seen in the range (``records.prompt_version_key``, busiest first)."""
    where = ["call_time >= {start:DateTime64(6)}", "call_time < {end:DateTime64(6)}"]
    params: dict[str, object] = {"start": start, "end": end}
    for i, (dim, value) in enumerate(sorted(filters.items())):
        where.append(f"{FILTER_COLUMNS[dim]} = {{f{i}:String}}")
        params[f"f{i}"] = value
    rows = store.query(
        f"SELECT {PROMPT_VERSION_SQL} AS v, count() AS n "
        f"FROM inference_events WHERE {' AND '.join(where)} GROUP BY v ORDER BY n DESC "
        f"LIMIT {int(limit)}", params)
    return tuple(str(r[0]) for r in rows)


def listing(store: ClickHouseStore, status: str | None = None, limit: int = 100
            ) -> list[RetrainTrigger]:
    where = "WHERE status = {s:String}" if status else ""
    rows = store.query(f"SELECT payload FROM retrain_triggers FINAL {where} "
                       f"ORDER BY created_at DESC LIMIT {int(limit)}", {"s": status or ""})
    return [RetrainTrigger.from_wire(r[0]) for r in rows]


def forwards_due(store: ClickHouseStore, now: datetime, limit: int = 100
                 ) -> list[RetrainTrigger]:
    """Released triggers with webhooks still to reach whose retry time has come."""
    rows = store.query(
        "SELECT payload FROM retrain_triggers FINAL "
        "WHERE status IN ('triggered', 'approved') "
        "AND JSONLength(payload, 'forward_failed') > 0 "
        "AND parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'next_forward_at'), 3) "
        "<= {now:DateTime64(3)} ORDER BY created_at LIMIT {n:UInt32}",
        {"now": now, "n": limit})
    return [RetrainTrigger.from_wire(r[0]) for r in rows]
