"""ClickHouse drill-down: the stored calls, feedback, alerts, retraining and drift rows.

Raw SQL for the ``grafana-clickhouse-datasource`` plugin, over the tables of
``sinks/migrations``; ``$__timeFilter(column)`` is the plugin's time-range macro
and ``${model:singlequote}`` the selected models, quoted.  Tables that are
ReplacingMergeTree are read with ``FINAL`` so a replaced row counts once.
"""

from __future__ import annotations

from llmpulse.dashboards.model import (
    CLICKHOUSE,
    JSON,
    Grid,
    Look,
    dashboard,
    datasource_variable,
    query_variable,
    rising,
    sql_target,
    table,
    timeseries,
)

UID = "llmpulse-clickhouse"
MODELS = "model IN (${model:singlequote})"

MODEL_VARIABLE_SQL = ("SELECT DISTINCT model FROM inference_events "
                      "WHERE $__timeFilter(call_time) ORDER BY model")

SPEND_PER_HOUR = f"""SELECT toStartOfHour(call_time) AS time, model, sum(cost_usd) AS cost_usd
FROM inference_events FINAL
WHERE $__timeFilter(call_time) AND {MODELS}
GROUP BY time, model
ORDER BY time"""

SLOWEST_CALLS = f"""SELECT call_time, request_id, model, route, tenant, duration_s, ttft_s,
       output_tokens, error_type, prompt_template_version
FROM inference_events FINAL
WHERE $__timeFilter(call_time) AND {MODELS} AND duration_s IS NOT NULL
ORDER BY duration_s DESC
LIMIT 100"""

COSTLIEST_MODELS = f"""SELECT toDate(call_time) AS day, model, count() AS calls,
       sum(cost_usd) AS cost_usd, sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens, countIf(cost_source = 'unknown') AS unpriced_calls
FROM inference_events FINAL
WHERE $__timeFilter(call_time) AND {MODELS}
GROUP BY day, model
ORDER BY day DESC, cost_usd DESC"""

THUMBS_DOWN = """SELECT e.model AS model, e.prompt_template_id AS prompt_template,
       e.prompt_template_version AS prompt_version,
       countIf(f.thumbs IN ('up', 'down')) AS thumbs,
       countIf(f.thumbs = 'down') / nullIf(countIf(f.thumbs IN ('up', 'down')), 0)
           AS thumbs_down_rate,
       avgIf(f.rating, f.rating IS NOT NULL) AS rating_mean,
       countIf(f.correction != '') AS corrections
FROM (SELECT request_id, thumbs, rating, correction FROM feedback FINAL
      WHERE $__timeFilter(time)) AS f
INNER JOIN (SELECT request_id, model, prompt_template_id, prompt_template_version
            FROM inference_events FINAL
            WHERE model IN (${model:singlequote})) AS e ON e.request_id = f.request_id
GROUP BY model, prompt_template, prompt_version
ORDER BY thumbs_down_rate DESC NULLS LAST, thumbs DESC"""

RECENT_ALERTS = """SELECT time, rule, severity, state, kind, channel, ok, attempts, value,
       threshold, summary, error
FROM alert_notifications FINAL
WHERE $__timeFilter(time)
ORDER BY time DESC
LIMIT 200"""

RETRAIN_TRIGGERS = f"""SELECT created_at, id, status, policy, model, route, tenant, reason,
       length(evidence) AS evidence_calls, approved_by
FROM retrain_triggers FINAL
WHERE $__timeFilter(created_at) AND {MODELS}
ORDER BY created_at DESC
LIMIT 100"""

TRAINING_PAIRS = f"""SELECT corrected_at, model, route, prompt_template_id, prompt_template_version,
       request_id, substring(prompt, 1, 300) AS prompt,
       substring(bad_answer, 1, 300) AS rejected_answer,
       substring(corrected_answer, 1, 300) AS corrected_answer
FROM training_pairs
WHERE $__timeFilter(corrected_at) AND {MODELS}
ORDER BY corrected_at DESC
LIMIT 100"""

DRIFT_SIGNALS = f"""SELECT time, model, route,
       if(name = 'drift', 'overall', substring(name, 7)) AS feature,
       value AS severity, label AS status, explanation
FROM signals FINAL
WHERE detector = 'drift@1' AND (name = 'drift' OR startsWith(name, 'drift.'))
  AND $__timeFilter(time) AND {MODELS}
ORDER BY time DESC, severity DESC
LIMIT 200"""

#: Every panel's query, by title (tests run each against a real ClickHouse).
QUERIES = {
    "Spend per hour by model": SPEND_PER_HOUR,
    "Slowest calls": SLOWEST_CALLS,
    "Costliest models per day": COSTLIEST_MODELS,
    "Thumbs down per model and prompt version": THUMBS_DOWN,
    "Recent alert notifications": RECENT_ALERTS,
    "Retraining triggers": RETRAIN_TRIGGERS,
    "Training pairs (corrections)": TRAINING_PAIRS,
    "Drift checks": DRIFT_SIGNALS,
}


def build() -> JSON:
    grid = Grid()
    grid.row("Calls")
    grid.add(timeseries("Spend per hour by model", [sql_target(SPEND_PER_HOUR, table=False)],
                        Look("currencyUSD", minimum=0)), 24, 8)
    grid.add(table("Slowest calls", [sql_target(SLOWEST_CALLS)], Look("s", rising(10, 20))),
             12, 10)
    grid.add(table("Costliest models per day", [sql_target(COSTLIEST_MODELS)]), 12, 10)
    grid.row("Feedback")
    grid.add(table("Thumbs down per model and prompt version", [sql_target(THUMBS_DOWN)],
                   description="Feedback given in the time range, joined to its call."), 12, 10)
    grid.add(table("Training pairs (corrections)", [sql_target(TRAINING_PAIRS)]), 12, 10)
    grid.row("Alerts, retraining and drift")
    grid.add(table("Recent alert notifications", [sql_target(RECENT_ALERTS)],
                   description="Every delivery and its outcome (ok = 0: failed)."), 24, 10)
    grid.add(table("Retraining triggers", [sql_target(RETRAIN_TRIGGERS)]), 12, 10)
    grid.add(table("Drift checks", [sql_target(DRIFT_SIGNALS)],
                   description="Per-feature severity of each check (>= 1: drifted)."), 12, 10)
    model_query: JSON = {"rawSql": MODEL_VARIABLE_SQL, "editorType": "sql", "format": 1,
                         "queryType": "table", "refId": "model"}
    variables = [datasource_variable(CLICKHOUSE, "ClickHouse"),
                 query_variable("model", "Model", CLICKHOUSE, model_query, all_value=None)]
    return dashboard(UID, "llmpulse / ClickHouse drill-down",
                     "The stored calls behind the metrics: slowest and costliest calls, "
                     "feedback per prompt version, alerts, retraining triggers, drift.",
                     variables, grid, time_from="now-24h", refresh="")
