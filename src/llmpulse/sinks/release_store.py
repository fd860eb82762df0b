"""Canary verdicts in ClickHouse (table ``release_verdicts``, read with FINAL), and the
reads a canary needs from the stored calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmpulse.release.from_store import COLUMN, By
from llmpulse.release.verdict import ReleaseVerdict
from llmpulse.sinks.clickhouse import ClickHouseStore

COLUMNS = ("id", "version", "canary", "model", "route", "selector", "baseline", "candidate",
           "verdict", "expired", "reason", "started_at", "created_at", "forward_failed",
           "forward_attempts", "next_forward_at", "payload")


@dataclass(frozen=True, slots=True)
class Forward:
    """The rollback webhook still to reach (none: reached, or none configured), after how
    many attempts, and when to try again (None: not again)."""

    failed: tuple[str, ...] = ()
    attempts: int = 0
    next_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    verdict: ReleaseVerdict
    forward: Forward


def write(store: ClickHouseStore, verdict: ReleaseVerdict, forward: Forward = Forward(),
          version: int = 0) -> None:
    v, f = verdict, forward
    row = [v.id, version, v.canary, v.model or "", v.route or "", v.selector, v.baseline,
           v.candidate, v.verdict, int(v.expired), v.reason, v.started_at, v.created_at,
           list(f.failed), f.attempts, f.next_at, v.to_wire().decode()]
    store.client.insert("release_verdicts", [row], column_names=list(COLUMNS))


def get(store: ClickHouseStore, verdict_id: str) -> ReleaseVerdict | None:
    rows = store.query("SELECT payload FROM release_verdicts FINAL WHERE id = {id:String}",
                       {"id": verdict_id})
    return ReleaseVerdict.from_wire(rows[0][0]) if rows else None


def ended(store: ClickHouseStore, canary: str, candidate: str) -> Stored | None:
    """The verdict that ended ``canary`` for ``candidate``, if one did."""
    rows = store.query("SELECT payload, forward_failed, forward_attempts, next_forward_at "
                       "FROM release_verdicts FINAL WHERE canary = {c:String} "
                       "AND candidate = {v:String} ORDER BY created_at LIMIT 1",
                       {"c": canary, "v": candidate})
    if not rows:
        return None
    payload, failed, attempts, next_at = rows[0]
    return Stored(ReleaseVerdict.from_wire(payload),
                  Forward(tuple(failed), int(attempts), next_at))


def listing(store: ClickHouseStore, canary: str | None = None, limit: int = 100
            ) -> list[ReleaseVerdict]:
    where = "WHERE canary = {c:String}" if canary else ""
    rows = store.query(f"SELECT payload FROM release_verdicts FINAL {where} "
                       f"ORDER BY created_at DESC LIMIT {int(limit)}", {"c": canary or ""})
    return [ReleaseVerdict.from_wire(r[0]) for r in rows]


def first_calls(store: ClickHouseStore, by: By, since: datetime, model: str | None,
                route: str | None, value: str | None = None, limit: int = 50,
                template: str | None = None) -> list[tuple[str, datetime, datetime]]:
    """Each selector value since ``since`` (only ``value`` when given), on ``model``,
    ``route`` and prompt template ``template`` when given: (value, when its first call
    ended, when its first call started), the latest first.  Which value is newest goes by
    the end (one long call started early does not make a value look older); a canary
    starts at the first start, so that it reads every call of its candidate."""
    where = ["call_time >= {since:DateTime64(6)}"]
    params: dict[str, Any] = {"since": since}
    if model is not None and by != "model":
        where.append("request_model = {model:String}")
        params["model"] = model
    if route is not None:
        where.append("route = {route:String}")
        params["route"] = route
    if template is not None:
        where.append("prompt_template_id = {template:String}")
        params["template"] = template
    if value is not None:
        where.append(f"{COLUMN[by]} = {{value:String}}")
        params["value"] = value
    rows = store.query(f"SELECT {COLUMN[by]} AS v, min(ifNull(end_time, call_time)) AS seen, "
                       f"min(call_time) AS first FROM inference_events "
                       f"WHERE {' AND '.join(where)} GROUP BY v ORDER BY seen DESC "
                       f"LIMIT {int(limit)}", params)
    return [(str(v), seen, first) for v, seen, first in rows]
