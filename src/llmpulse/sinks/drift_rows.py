"""Stored calls read back as records for drift checks, and pinned drift baselines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from llmpulse.records import InferenceRecord
from llmpulse.schema import Message
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import PROMPT_VERSION_SQL

#: What a drift check needs of a call (no system prompt, no context documents).
COLUMNS = ("request_id", "join_status", "provider", "request_model", "response_model",
           "operation", "start_time", "end_time", "tenant", "route", "input_tokens",
           "output_tokens", "finish_reasons", "time_to_first_chunk", "error_type",
           "prompt_template_id", "prompt_template_version", "input_messages",
           "output_messages")
_SELECT = ", ".join(c if c != "time_to_first_chunk" else "ttft_s AS time_to_first_chunk"
                    for c in COLUMNS)
SCORE_NAMES = ("toxicity", "groundedness")
#: Windows place a call at its end (a lone request at its start); the start bounds the
#: partitions read, for calls up to MAX_CALL long.
MAX_CALL = timedelta(hours=1)
_ENDED_IN = ("call_time >= {s0:DateTime64(6)} AND call_time < {e:DateTime64(6)} AND "
             "ifNull(end_time, call_time) >= {s:DateTime64(6)} AND "
             "ifNull(end_time, call_time) < {e:DateTime64(6)}")


def _messages(raw: str) -> tuple[Message, ...]:
    if not raw:
        return ()
    items: list[dict[str, Any]] = orjson.loads(raw)
    return tuple(Message(role=i.get("role", "user"), content=str(i.get("content", "")))
                 for i in items)


def _record(row: tuple[Any, ...]) -> InferenceRecord:
    v = dict(zip(COLUMNS, row, strict=True))
    return InferenceRecord(
        request_id=v["request_id"], join_status=v["join_status"], provider=v["provider"],
        request_model=v["request_model"], response_model=v["response_model"] or None,
        operation=v["operation"], start_time=v["start_time"], end_time=v["end_time"],
        tenant=v["tenant"], route=v["route"], input_tokens=v["input_tokens"],
        output_tokens=v["output_tokens"], finish_reasons=tuple(v["finish_reasons"]),
        time_to_first_chunk=v["time_to_first_chunk"], error_type=v["error_type"] or None,
        prompt_template_id=v["prompt_template_id"] or None,
        prompt_template_version=v["prompt_template_version"] or None,
        input_messages=_messages(v["input_messages"]),
        output_messages=_messages(v["output_messages"]))


def _scope(route: str | None, version: str | None) -> tuple[str, dict[str, Any]]:
    """The SQL condition (``AND ...``) and parameters of a route and prompt version."""
    sql, params = "", {}
    if route is not None:
        sql += " AND route = {r:String}"
        params["r"] = route
    if version is not None:
        sql += f" AND {PROMPT_VERSION_SQL} = {{v:String}}"
        params["v"] = version
    return sql, params


def load_calls(store: ClickHouseStore, model: str, start: datetime, end: datetime,
               limit: int, first: bool = False, *, route: str | None = None,
               version: str | None = None) -> list[InferenceRecord]:
    """Calls of ``model`` (as asked for) in [start, end), of ``route`` and prompt
    ``version`` when given: a random sample of at most ``limit`` (deterministic per call),
    or with ``first`` the earliest ``limit``."""
    order = "call_time" if first else "cityHash64(request_id)"
    scope, params = _scope(route, version)
    rows = store.query(
        f"SELECT {_SELECT} FROM inference_events FINAL WHERE request_model = {{m:String}} "
        f"AND {_ENDED_IN}{scope} ORDER BY {order} LIMIT {int(limit)}",
        {"m": model, "s": start, "e": end, "s0": start - MAX_CALL, **params})
    return [_record(r) for r in rows]


def load_scores(store: ClickHouseStore, request_ids: list[str]) -> dict[str, dict[str, float]]:
    """The latest toxicity and groundedness scores of these calls."""
    if not request_ids:
        return {}
    rows = store.query(
        "SELECT request_id, name, argMax(value, version) FROM signals "
        "WHERE request_id IN {ids:Array(String)} AND name IN {names:Array(String)} "
        "GROUP BY request_id, name", {"ids": request_ids, "names": list(SCORE_NAMES)})
    out: dict[str, dict[str, float]] = {}
    for rid, name, value in rows:
        out.setdefault(rid, {})[name] = float(value)
    return out


def busy_models(store: ClickHouseStore, start: datetime, end: datetime, min_calls: int
                ) -> list[tuple[str, int]]:
    rows = store.query(
        f"SELECT request_model, count() AS n FROM inference_events WHERE {_ENDED_IN} "
        "GROUP BY request_model HAVING n >= {k:UInt64} ORDER BY request_model",
        {"s": start, "e": end, "s0": start - MAX_CALL, "k": min_calls})
    return [(str(m), int(n)) for m, n in rows]


def busy_routes(store: ClickHouseStore, model: str, start: datetime, end: datetime,
                min_calls: int) -> list[tuple[str, int]]:
    """The model's routes with at least ``min_calls`` calls in [start, end), busiest first."""
    rows = store.query(
        f"SELECT route, count() AS n FROM inference_events WHERE request_model = {{m:String}} "
        f"AND {_ENDED_IN} GROUP BY route HAVING n >= {{k:UInt64}} ORDER BY n DESC, route",
        {"m": model, "s": start, "e": end, "s0": start - MAX_CALL, "k": min_calls})
    return [(str(r), int(n)) for r, n in rows]


def version_counts(store: ClickHouseStore, model: str, start: datetime, end: datetime,
                   route: str | None = None) -> list[tuple[str, int]]:
    """Calls per prompt version of the model (and route) in [start, end), most first."""
    scope, params = _scope(route, None)
    rows = store.query(
        f"SELECT {PROMPT_VERSION_SQL} AS v, count() AS n FROM inference_events "
        f"WHERE request_model = {{m:String}} AND {_ENDED_IN}{scope} "
        "GROUP BY v ORDER BY n DESC, v",
        {"m": model, "s": start, "e": end, "s0": start - MAX_CALL, **params})
    return [(str(v), int(n)) for v, n in rows]


def checked(store: ClickHouseStore, check_id: str) -> bool:
    """Whether a drift check (its overall ``drift`` signal) is stored already."""
    rows = store.query("SELECT count() FROM signals WHERE request_id = {r:String} "
                       "AND name = 'drift'", {"r": check_id})
    return bool(rows[0][0])


def set_baseline(store: ClickHouseStore, model: str, start: datetime, end: datetime,
                 now: datetime) -> None:
    store.client.insert("drift_baselines", [[model, start, end, now]],
                        column_names=["model", "start", "end", "set_at"])


def baseline(store: ClickHouseStore, model: str) -> tuple[datetime, datetime] | None:
    rows = store.query("SELECT start, end FROM drift_baselines FINAL WHERE model = {m:String}",
                       {"m": model})
    return (rows[0][0], rows[0][1]) if rows else None


def first_call(store: ClickHouseStore, model: str, *, route: str | None = None,
               version: str | None = None) -> datetime | None:
    """When the model's (route's, prompt version's) first stored call started."""
    return first_calls(store, model, None, route=route, version=version)[0]


def first_calls(store: ClickHouseStore, model: str, before: datetime | None, *,
                route: str | None = None, version: str | None = None
                ) -> tuple[datetime | None, int]:
    """The first call's time of the model (route, prompt version) and how many of its
    calls ended before ``before`` (all of them without)."""
    scope, params = _scope(route, version)
    ended = ("countIf(ifNull(end_time, call_time) < {b:DateTime64(6)})" if before is not None
             else "count()")
    rows = store.query(f"SELECT min(call_time), {ended}, count() FROM inference_events "
                       f"WHERE request_model = {{m:String}}{scope}",
                       {"m": model, **params, **({"b": before} if before is not None else {})})
    if not rows or not rows[0][2]:
        return None, 0
    return rows[0][0], int(rows[0][1])
