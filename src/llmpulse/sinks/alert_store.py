"""ClickHouse side of windows and alerts: stored windows, alert states, notifications.

Stored windows are computed by ClickHouse from the stored calls (``FINAL``), so
they do not depend on the in-stream view (a restart, a replay), and each is
recomputed for a while after it closes so that calls stored late count too:
counts, sums and ``quantilesDD`` (DDSketch, the same relative accuracy as in
the stream).  Recomputing a window replaces its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from llmpulse.alerting.engine import RuleStatus
from llmpulse.alerting.message import AlertMessage
from llmpulse.alerting.notifiers import DeliveryResult
from llmpulse.alerting.rules import RulesFile
from llmpulse.alerting.state import dedup_key
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import PROMPT_VERSION_SQL
from llmpulse.windows import RELATIVE_ACCURACY

#: A message with evidence (``AlertMessage``, ``RetrainTrigger``).
WithEvidence = TypeVar("WithEvidence", bound=BaseModel)

#: Widths of the stored windows: 1 minute rolled up into 5 minutes and 1 hour.
STORED_WIDTHS = (60, 300, 3600)
#: Closed windows recomputed again with each new one (per width), so calls stored
#: after a window first closed (a join timeout, a backlog after a restart) count too.
RECOMPUTE_WINDOWS = {60: 10, 300: 2, 3600: 1}

_QUANTILES = "0.5, 0.95, 0.99"
_DD = f"quantilesDD({RELATIVE_ACCURACY}, {_QUANTILES})"
# Aliases are prefixed: an alias named like a column (cost_usd) would shadow it.
_WINDOW_SELECT = f"""
SELECT toStartOfInterval(t, INTERVAL {{width:UInt32}} SECOND) AS w_start,
       request_model AS w_model, {{route}} AS w_route, {{tenant}} AS w_tenant,
       {{prompt}} AS w_prompt,
       count() AS w_calls, sum(is_error) AS w_errors,
       countIf(positionCaseInsensitive(error_type, 'timeout') > 0) AS w_timeouts,
       countIf(has(finish_reasons, 'length')) AS w_length,
       countIf(has(finish_reasons, 'content_filter')) AS w_filtered,
       sum(ifNull(input_tokens, 0)) AS w_in, sum(ifNull(output_tokens, 0)) AS w_out,
       sum(ifNull(cost_usd, 0)) AS w_cost, countIf(cost_usd IS NULL) AS w_unpriced,
       {_DD}(greatest(duration_s, 0)) AS d, count(duration_s) AS n_d,
       {_DD}(greatest(ttft_s, 0)) AS f, count(ttft_s) AS n_f,
       {_DD}(greatest(tpot_s, 0)) AS o, count(tpot_s) AS n_o
FROM (SELECT *, coalesce(end_time, start_time) AS t FROM inference_events FINAL
      WHERE call_time >= {{since:DateTime64(6)}} - INTERVAL 1 HOUR
        AND call_time < {{until:DateTime64(6)}} + INTERVAL 1 HOUR
        AND t >= {{since:DateTime64(6)}} AND t < {{until:DateTime64(6)}})
GROUP BY w_start, w_model, w_route, w_tenant, w_prompt
"""
_WINDOW_INSERT = """
INSERT INTO windows
SELECT {width:UInt32}, w_start, w_model, w_route, w_tenant, w_calls, w_errors, w_timeouts,
       w_length, w_filtered, w_in, w_out, w_cost, w_unpriced,
       if(n_d > 0, d[1], NULL), if(n_d > 0, d[2], NULL), if(n_d > 0, d[3], NULL),
       if(n_f > 0, f[1], NULL), if(n_f > 0, f[2], NULL), if(n_f > 0, f[3], NULL),
       if(n_o > 0, o[1], NULL), if(n_o > 0, o[2], NULL), if(n_o > 0, o[3], NULL),
       {now:DateTime64(3)}, w_prompt
FROM (%s)
"""


def write_windows(store: ClickHouseStore, width: int, since: datetime, until: datetime,
                  now: datetime) -> None:
    """(Re)compute the stored windows of ``width`` seconds in [since, until)."""
    params = {"width": width, "since": since, "until": until, "now": now}
    for route, tenant, prompt in _STORED_GROUPINGS:
        select = (_WINDOW_SELECT.replace("{route}", route).replace("{tenant}", tenant)
                  .replace("{prompt}", prompt))
        store.client.command(_WINDOW_INSERT % select, parameters=params)


#: (route, tenant, prompt version) of each stored grouping, all per model: the fine
#: groups, per prompt version, then the model overall (the in-stream standard groupings).
_STORED_GROUPINGS = (("route", "tenant", "'*'"), ("'*'", "'*'", PROMPT_VERSION_SQL),
                     ("'*'", "'*'", "'*'"))


def last_window_end(store: ClickHouseStore, width: int) -> datetime | None:
    rows = store.query("SELECT max(start) FROM windows WHERE width_s = {w:UInt32} "
                       "HAVING count() > 0", {"w": width})
    if not rows or rows[0][0] is None:
        return None
    start: datetime = rows[0][0]
    return (start if start.tzinfo else start.replace(tzinfo=UTC)) + timedelta(seconds=width)


ALERT_STATE_COLUMNS = ("dedup_key", "rule", "severity", "model", "route", "tenant", "state",
                       "value", "threshold", "since", "updated", "prompt_version", "scorer")


def write_states(store: ClickHouseStore, rules: RulesFile, statuses: Sequence[RuleStatus],
                 now: datetime, budgets: Sequence[RuleStatus] = (),
                 canaries: Sequence[RuleStatus] = ()) -> int:
    severity = {r.name: r.severity for r in rules.rules}
    rows = [[dedup_key(rs.rule, rs.group.labels()), rs.rule, severity.get(rs.rule, ""),
             rs.group.model, rs.group.route, rs.group.tenant, rs.status.state.value,
             rs.status.last_value, rs.threshold,
             datetime.fromtimestamp(rs.status.since, UTC), now, rs.group.prompt_version,
             rs.scorer or ""]
            for rs in statuses]
    rows += _budget_rows(rules, budgets, now)
    rows += _canary_rows(rules, canaries, now)
    if rows:
        store.client.insert("alert_state", rows, column_names=list(ALERT_STATE_COLUMNS))
    return len(rows)


def _budget_rows(rules: RulesFile, statuses: Sequence[RuleStatus], now: datetime
                 ) -> list[list[Any]]:
    """Budget statuses are named ``budget|group``: one row each, the group in its column."""
    by_name = {b.name: b for b in rules.budgets}
    rows = []
    for rs in statuses:
        name, _, group = rs.rule.partition("|")
        budget = by_name.get(name)
        if budget is None:
            continue
        route, tenant = (group, "*") if budget.group_by == "route" else ("*", group)
        rows.append([dedup_key(name, {budget.group_by: group}), name, budget.severity, "*",
                     route, tenant, rs.status.state.value, rs.status.last_value, rs.threshold,
                     datetime.fromtimestamp(rs.status.since, UTC), now, "*", ""])
    return rows


def _canary_rows(rules: RulesFile, statuses: Sequence[RuleStatus], now: datetime
                 ) -> list[list[Any]]:
    """Canary statuses are named by the canary: one row each, its model and route."""
    by_name = {c.name: c for c in rules.canaries}
    rows = []
    for rs in statuses:
        canary = by_name.get(rs.rule)
        if canary is None:
            continue
        rows.append([dedup_key(canary.name, {"canary": canary.name}), canary.name,
                     canary.severity, canary.model or "*", canary.route or "*", "*",
                     rs.status.state.value, rs.status.last_value, rs.threshold,
                     datetime.fromtimestamp(rs.status.since, UTC), now, "*", ""])
    return rows


NOTIFICATION_COLUMNS = ("id", "channel", "dedup_key", "kind", "state", "rule", "severity",
                        "summary", "value", "threshold", "time", "ok", "attempts",
                        "http_status", "error", "message", "delivered_at")


def without_erased(store: ClickHouseStore, message: WithEvidence) -> WithEvidence:
    """``message`` (an alert, a retraining trigger) with the erased request ids of its
    evidence replaced by ``[erased]``."""
    from llmpulse.governance.erase import ERASED

    erased = store.guard.current()
    evidence = message.evidence  # type: ignore[attr-defined]
    ids = [e.request_id for e in evidence]
    if not erased:
        return message
    gone = erased.request_ids.intersection(ids) | store.guard.tenant_calls(ids)
    if not gone:
        return message
    return message.model_copy(update={"evidence": tuple(
        e.model_copy(update={"request_id": ERASED if e.request_id in gone else e.request_id})
        for e in evidence)})


def write_notifications(store: ClickHouseStore, alert: AlertMessage,
                        results: Sequence[DeliveryResult], now: datetime) -> int:
    """One row per channel (a message for no channel is kept as channel ''); erased request
    ids in its evidence (a re-notification of an older incident) are not stored."""
    alert = without_erased(store, alert)
    message = alert.model_dump_json()
    outcomes: Sequence[DeliveryResult | None] = results or [None]
    rows = [[alert.id, r.channel if r else "", alert.dedup_key, alert.kind, alert.state,
             alert.rule, alert.severity, alert.summary, alert.value, alert.threshold,
             alert.time, int(r.ok) if r else 1, r.attempts if r else 0,
             r.status if r else None, (r.error or "") if r else "", message, now]
            for r in outcomes]
    store.client.insert("alert_notifications", rows, column_names=list(NOTIFICATION_COLUMNS))
    return len(rows)


def current_alerts(store: ClickHouseStore, include_ok: bool = False) -> list[tuple[Any, ...]]:
    """(rule, severity, model, route, tenant, prompt_version, state, value, threshold, since,
    dedup_key, scorer)."""
    where = "" if include_ok else "WHERE state IN ('pending', 'firing')"
    return store.query(
        "SELECT rule, severity, model, route, tenant, prompt_version, state, value, threshold, "
        f"since, dedup_key, scorer FROM alert_state FINAL {where} ORDER BY state = 'firing' DESC, "
        "rule, model, route, tenant, prompt_version")
