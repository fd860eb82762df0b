"""The report's reads from the store: one function per section, each returning plain data.

Times go in as epoch microseconds and come back as epoch milliseconds, so no time zone
is converted on either side.  The model filter is on the model as requested; an empty
``{m}`` means every model.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from llmpulse.report.data import (
    AlertEvent,
    DriftCheck,
    Period,
    Point,
    Releases,
    ReportData,
    RetrainEvent,
    Totals,
    WorstCall,
)
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import PROMPT_VERSION_SQL
from llmpulse.sinks.scorer_versions import Choice, newest, versions_in

#: Bucket widths (seconds) of the time series: the smallest giving at most MAX_BUCKETS.
BUCKETS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
           43200, 86400)
MAX_BUCKETS = 120
#: Quality and feedback are rates of a sample: fewer buckets, each with more answers.
MAX_TREND_BUCKETS = 30
DAY = 86400
#: Lines (models, prompt versions) and stacks (tenant / model) drawn; the rest is "other".
MAX_GROUPS = 8
WORST_LIMIT = 10
PROMPT_CHARS = 160
#: Feedback arrives after its call: calls this much older than the period are joined.
FEEDBACK_LAG = timedelta(days=7)
RELEASES_TABLE = "release_verdicts"
RELEASE_ROWS = 200

_CALLS = ("call_time >= fromUnixTimestamp64Micro({t1:Int64}, 'UTC') AND "
          "call_time < fromUnixTimestamp64Micro({t2:Int64}, 'UTC') AND "
          "({m:String} = '' OR request_model = {m:String})")


def _between(column: str) -> str:
    return (f"{column} >= fromUnixTimestamp64Micro({{t1:Int64}}, 'UTC') AND "
            f"{column} < fromUnixTimestamp64Micro({{t2:Int64}}, 'UTC')")


def _micros(value: datetime) -> int:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _params(period: Period, **extra: Any) -> dict[str, Any]:
    return {"t1": _micros(period.start), "t2": _micros(period.end), "m": period.model or "",
            **extra}


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def bucket_for(span_s: float, most: int = MAX_BUCKETS) -> int:
    """The bucket width for a time series over ``span_s`` seconds."""
    return next((b for b in BUCKETS if span_s / b <= most), BUCKETS[-1])


def cost_bucket_for(span_s: float, bucket_s: int) -> int:
    """Cost per day, unless the period is shorter than two days: then per hour, or per
    series bucket below two hours (a single day's bar says little)."""
    if span_s > 2 * DAY:
        return DAY
    if span_s > 7200:
        return 3600
    return bucket_for(span_s, MAX_TREND_BUCKETS) if bucket_s < 3600 else bucket_s


def load(store: ClickHouseStore, period: Period, now: datetime) -> ReportData:
    """Everything the report shows for ``period``."""
    totals, first, last = _totals(store, period)
    events = (_alerts(store, period), _retrains(store, period), _drift(store, period))
    times = [t for t in (first, last) if t is not None]
    times += [e.at for group in events for e in group]
    x_range = (min(times), max(times)) if times else None
    span = (x_range[1] - x_range[0]) if x_range else 0.0
    bucket = bucket_for(span)
    trend = bucket_for(span, MAX_TREND_BUCKETS)
    cost_bucket = cost_bucket_for(span, bucket)
    if x_range is not None:  # whole buckets, so the first and last points are inside
        x_range = (math.floor(x_range[0] / bucket) * bucket,
                   max(math.ceil(x_range[1] / bucket) * bucket, x_range[0] + bucket))
    data = ReportData(period=period, generated=now, bucket_s=bucket, trend_bucket_s=trend,
                      cost_bucket_s=cost_bucket, x_range=x_range, totals=totals)
    data.alerts, data.retrains, data.drift = events
    if totals.calls:
        data.traffic = _traffic(store, period, bucket)
        data.latency = _latency(store, period, bucket)
        data.cost = _cost(store, period, cost_bucket)
        data.quality = _quality(store, period, trend)
        data.feedback = _feedback(store, period, trend)
        data.worst = worst_calls(store, period)
    data.releases = releases(store, period)
    return data


def _totals(store: ClickHouseStore, period: Period) -> tuple[Totals, float | None, float | None]:
    calls, errors, cost, unpriced, models, tenants, p50, p95, first, last = store.query(
        "SELECT count(), sum(is_error), sum(ifNull(cost_usd, 0)), "
        "countIf(cost_source = 'unknown'), uniqExact(request_model), uniqExact(tenant), "
        "quantileExactIf(0.5)(duration_s, duration_s IS NOT NULL), "
        "quantileExactIf(0.95)(duration_s, duration_s IS NOT NULL), "
        "min(toUnixTimestamp64Milli(call_time)), max(toUnixTimestamp64Milli(call_time)) "
        f"FROM inference_events FINAL WHERE {_CALLS}", _params(period))[0]
    scorers = scorer_choice(store, period)
    only, only_params = scorers.condition()
    quality = store.query(
        "SELECT countIf(s.name = 'toxicity'), countIf(s.name = 'toxicity' AND s.label = "
        "'toxic'), countIf(s.name = 'groundedness'), avgIf(s.value, s.name = 'groundedness') "
        "FROM (SELECT request_id, name, value, label FROM signals FINAL WHERE name IN "
        f"('toxicity', 'groundedness') AND {only} AND {_between('time')}) AS s "
        f"INNER JOIN (SELECT request_id FROM inference_events FINAL WHERE {_CALLS}) AS e "
        "ON e.request_id = s.request_id", _params(period, **only_params))[0]
    feedback = store.query(
        "SELECT count(), countIf(f.thumbs != ''), countIf(f.thumbs = 'down'), "
        "countIf(f.rating IS NOT NULL), avgIf(f.rating, f.rating IS NOT NULL) "
        f"FROM (SELECT request_id, thumbs, rating FROM feedback FINAL WHERE {_between('time')}"
        ") AS f INNER JOIN (SELECT request_id FROM inference_events FINAL WHERE "
        f"{_CALLS.replace('{t1:Int64}', '{t0:Int64}')}) AS e ON e.request_id = f.request_id",
        _params(period, t0=_micros(period.start - FEEDBACK_LAG)))[0]
    n = int(calls)
    totals = Totals(
        calls=n, errors=int(errors or 0), cost_usd=float(cost or 0), unpriced=int(unpriced or 0),
        models=int(models or 0), tenants=int(tenants or 0),
        p50_s=_float(p50) if n else None, p95_s=_float(p95) if n else None,
        tox_scored=int(quality[0]), toxic=int(quality[1]), ground_scored=int(quality[2]),
        groundedness=_float(quality[3]) if quality[2] else None,
        feedback=int(feedback[0]), thumbs=int(feedback[1]), thumbs_down=int(feedback[2]),
        ratings=int(feedback[3]), rating=_float(feedback[4]) if feedback[3] else None,
        scorers=scorers.describe())
    if not n:
        return totals, None, None
    return totals, int(first) / 1000, int(last) / 1000


def _bucket(column: str, width: int) -> str:
    return f"intDiv(toUnixTimestamp64Milli({column}), {int(width) * 1000}) * {int(width)}"


def _traffic(store: ClickHouseStore, period: Period, bucket: int) -> list[Point]:
    rows = store.query(
        f"SELECT {_bucket('call_time', bucket)} AS t, count(), sum(is_error) "
        f"FROM inference_events FINAL WHERE {_CALLS} GROUP BY t ORDER BY t", _params(period))
    return [Point(float(t), "", (float(n), float(e))) for t, n, e in rows]


def _latency(store: ClickHouseStore, period: Period, bucket: int) -> list[Point]:
    rows = store.query(
        f"SELECT {_bucket('call_time', bucket)} AS t, request_model, "
        "quantileExact(0.5)(duration_s), quantileExact(0.95)(duration_s) "
        f"FROM inference_events FINAL WHERE {_CALLS} AND duration_s IS NOT NULL "
        "GROUP BY t, request_model ORDER BY t", _params(period))
    return [Point(float(t), str(m), (_float(p50), _float(p95))) for t, m, p50, p95 in rows]


def _cost(store: ClickHouseStore, period: Period, bucket: int) -> list[Point]:
    rows = store.query(
        f"SELECT {_bucket('call_time', bucket)} AS t, tenant, request_model, "
        f"sum(ifNull(cost_usd, 0)) FROM inference_events FINAL WHERE {_CALLS} "
        "GROUP BY t, tenant, request_model ORDER BY t", _params(period))
    return [Point(float(t), f"{tenant or '(none)'} / {model}", (float(usd),))
            for t, tenant, model, usd in rows]


def scorer_choice(store: ClickHouseStore, period: Period) -> Choice:
    """The scorer version whose quality scores the report reads, per signal: the one that
    scored last in the period (two versions' scores are never averaged together)."""
    return newest(versions_in(store, _between("time"), _params(period)))


def _quality(store: ClickHouseStore, period: Period, bucket: int) -> list[Point]:
    only, only_params = scorer_choice(store, period).condition()
    rows = store.query(
        f"SELECT {_bucket('s.time', bucket)} AS t, e.pv, "
        "countIf(s.name = 'toxicity'), countIf(s.name = 'toxicity' AND s.label = 'toxic'), "
        "avgIf(s.value, s.name = 'groundedness'), countIf(s.name = 'groundedness') "
        "FROM (SELECT request_id, time, name, value, label FROM signals FINAL WHERE name IN "
        f"('toxicity', 'groundedness') AND {only} AND {_between('time')}) AS s "
        f"INNER JOIN (SELECT request_id, {PROMPT_VERSION_SQL} AS pv FROM inference_events "
        f"FINAL WHERE {_CALLS}) AS e ON e.request_id = s.request_id "
        "GROUP BY t, e.pv ORDER BY t", _params(period, **only_params))
    return [Point(float(t), str(pv), (int(toxic) / int(scored) if scored else None,
                                      _float(ground) if grounded else None))
            for t, pv, scored, toxic, ground, grounded in rows]


def _feedback(store: ClickHouseStore, period: Period, bucket: int) -> list[Point]:
    rows = store.query(
        f"SELECT {_bucket('f.time', bucket)} AS t, e.pv, countIf(f.thumbs != ''), "
        "countIf(f.thumbs = 'down'), avgIf(f.rating, f.rating IS NOT NULL), "
        "countIf(f.rating IS NOT NULL) "
        "FROM (SELECT request_id, time, thumbs, rating FROM feedback FINAL WHERE "
        f"{_between('time')}) AS f INNER JOIN (SELECT request_id, {PROMPT_VERSION_SQL} AS pv "
        f"FROM inference_events FINAL WHERE {_CALLS.replace('{t1:Int64}', '{t0:Int64}')}) "
        "AS e ON e.request_id = f.request_id GROUP BY t, e.pv ORDER BY t",
        _params(period, t0=_micros(period.start - FEEDBACK_LAG)))
    return [Point(float(t), str(pv), (int(down) / int(thumbs) if thumbs else None,
                                      _float(rating) if rated else None))
            for t, pv, thumbs, down, rating, rated in rows]


def _drift(store: ClickHouseStore, period: Period) -> list[DriftCheck]:
    rows = store.query(
        "SELECT request_id, toUnixTimestamp64Milli(any(time)), any(model), any(route), "
        "maxIf(value, name != 'drift'), countIf(name != 'drift'), maxIf(value, name = 'drift'), "
        "anyIf(explanation, name = 'drift') FROM signals FINAL "
        f"WHERE (name = 'drift' OR startsWith(name, 'drift.')) AND {_between('time')} "
        "AND ({m:String} = '' OR model = {m:String}) GROUP BY request_id ORDER BY 2",
        _params(period))
    return [DriftCheck(int(ms) / 1000, str(model), str(route),
                       _float(severity) if features else None, bool(drifted), str(note))
            for _, ms, model, route, severity, features, drifted, note in rows]


def _alerts(store: ClickHouseStore, period: Period) -> list[AlertEvent]:
    rows = store.query(
        "SELECT DISTINCT toUnixTimestamp64Milli(time) AS ms, kind, rule, severity, summary, "
        "dedup_key FROM alert_notifications FINAL "
        f"WHERE kind != 'test' AND {_between('time')} AND ({{m:String}} = '' OR dedup_key IN "
        "(SELECT dedup_key FROM alert_state FINAL WHERE model IN ({m:String}, '*'))) "
        "ORDER BY ms, kind DESC", _params(period))
    return [AlertEvent(int(ms) / 1000, str(kind), str(rule), str(severity), str(summary),
                       str(key)) for ms, kind, rule, severity, summary, key in rows]


def _retrains(store: ClickHouseStore, period: Period) -> list[RetrainEvent]:
    rows = store.query(
        "SELECT toUnixTimestamp64Milli(created_at) AS ms, status, policy, model, reason, id "
        f"FROM retrain_triggers FINAL WHERE {_between('created_at')} "
        "AND ({m:String} = '' OR model = {m:String}) ORDER BY ms", _params(period))
    return [RetrainEvent(int(ms) / 1000, str(status), str(policy), str(model), str(reason),
                         str(tid)) for ms, status, policy, model, reason, tid in rows]


def worst_calls(store: ClickHouseStore, period: Period) -> dict[str, list[WorstCall]]:
    """The slowest and costliest calls, the least grounded and most toxic answers."""
    call = (f"SELECT request_id, toUnixTimestamp64Milli(call_time), request_model, tenant, "
            f"route, {{value}}, input_messages, '' FROM inference_events FINAL WHERE {_CALLS} "
            f"AND {{value}} IS NOT NULL ORDER BY {{value}} DESC, request_id LIMIT {WORST_LIMIT}")
    scored = ("SELECT e.request_id, toUnixTimestamp64Milli(e.call_time), e.request_model, "
              "e.tenant, e.route, s.value, e.input_messages, s.explanation FROM "
              "(SELECT request_id, value, explanation FROM signals FINAL WHERE name = "
              f"{{name:String}} AND {_between('time')}) AS s INNER JOIN (SELECT request_id, "
              "call_time, request_model, tenant, route, input_messages FROM inference_events "
              f"FINAL WHERE {_CALLS}) AS e ON e.request_id = s.request_id "
              f"ORDER BY s.value {{order}}, e.request_id LIMIT {WORST_LIMIT}")
    queries = {
        "slowest": (call.replace("{value}", "duration_s"), {}),
        "costliest": (call.replace("{value}", "cost_usd"), {}),
        "least_grounded": (scored.replace("{order}", "ASC"), {"name": "groundedness"}),
        "most_toxic": (scored.replace("{order}", "DESC"), {"name": "toxicity"}),
    }
    out = {}
    for kind, (sql, extra) in queries.items():
        rows = store.query(sql, _params(period, **extra))
        out[kind] = [WorstCall(str(rid), int(ms) / 1000, str(model), str(tenant), str(route),
                               float(value), prompt_excerpt(str(messages)), str(note))
                     for rid, ms, model, tenant, route, value, messages, note in rows]
    return out


def prompt_excerpt(raw: str, size: int = PROMPT_CHARS) -> str:
    """The last user message of a stored ``input_messages`` (JSON), shortened."""
    if not raw:
        return ""
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:size]
    if not isinstance(items, list):
        return ""
    texts = [str(i.get("content", "")) for i in items
             if isinstance(i, dict) and i.get("role", "user") == "user"]
    last = " ".join((texts[-1] if texts else "").split())
    return last if len(last) <= size else last[: size - 1] + "…"


#: The verdict columns the report shows (migration 0010), in this order.
RELEASE_COLUMNS = ("created_at", "canary", "model", "selector", "baseline", "candidate",
                   "verdict", "reason")


def releases(store: ClickHouseStore, period: Period) -> Releases:
    """The canary verdicts decided in the period (``release_verdicts``; a store created
    before that table existed has none)."""
    exists = store.query("SELECT count() FROM system.tables WHERE database = currentDatabase() "
                         "AND name = {t:String}", {"t": RELEASES_TABLE})[0][0]
    if not exists:
        return Releases(note=f"No {RELEASES_TABLE} table in this store: canary and release "
                             "verdicts are not recorded here.")
    where = [_between("created_at")]
    if period.model:
        where.append("model = {m:String}")
    columns, rows = store.query_columns(
        f"SELECT {', '.join(RELEASE_COLUMNS)} FROM {RELEASES_TABLE} FINAL "
        f"WHERE {' AND '.join(where)} ORDER BY created_at DESC LIMIT {RELEASE_ROWS}",
        _params(period))
    if not rows:
        return Releases(tuple(columns), note="No release verdicts in this period.")
    return Releases(tuple(columns), tuple(reversed(rows)), "", "created_at", "verdict")
