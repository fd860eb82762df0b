"""Stored calls read back as records for drift checks, and pinned drift baselines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from llmpulse.records import InferenceRecord
from llmpulse.schema import Message
from llmpulse.sinks.clickhouse import ClickHouseStore

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


def load_calls(store: ClickHouseStore, model: str, start: datetime, end: datetime,
               limit: int, first: bool = False) -> list[InferenceRecord]:
    """Calls of ``model`` (as asked for) in [start, end): a random sample of at most
    ``limit`` (deterministic per call), or with ``first`` the earliest ``limit``."""
    order = "call_time" if first else "cityHash64(request_id)"
    rows = store.query(
        f"SELECT {_SELECT} FROM inference_events FINAL WHERE request_model = {{m:String}} "
        f"AND {_ENDED_IN} ORDER BY {order} LIMIT {int(limit)}",
        {"m": model, "s": start, "e": end, "s0": start - MAX_CALL})
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


def first_call(store: ClickHouseStore, model: str) -> datetime | None:
    rows = store.query("SELECT min(call_time), count() FROM inference_events "
                       "WHERE request_model = {m:String}", {"m": model})
    return rows[0][0] if rows and rows[0][1] else None
