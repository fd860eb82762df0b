"""On-call overview (Prometheus): traffic, errors, latency, cost, alerts, pipeline health."""

from __future__ import annotations

from llmpulse.dashboards.model import (
    JSON,
    PROMETHEUS,
    Grid,
    Look,
    alarm,
    dashboard,
    datasource_variable,
    prom_target,
    query_variable,
    rising,
    stat,
    timeseries,
)

UID = "llmpulse-oncall"
#: The GenAI metrics' model and route labels, filtered by the dashboard's variables.
SEL = 'gen_ai_request_model=~"$model", llmpulse_route=~"$route"'
RATE = "$__rate_interval"
QUANTILES = (0.5, 0.95, 0.99)


def _rate(metric: str, by: str = "", selector: str = SEL) -> str:
    head = f"sum by ({by}) " if by else "sum"
    return f"{head}(rate({metric}{{{selector}}}[{RATE}]))"


def _quantiles(histogram: str, by: str = "") -> list[JSON]:
    """p50/p95/p99 of a histogram over the selected models and routes."""
    labels = ", ".join(x for x in ("le", by) if x)
    out = []
    for ref, q in zip("ABC", QUANTILES, strict=True):
        expr = f"histogram_quantile({q}, {_rate(histogram + '_bucket', labels)})"
        legend = f"p{round(q * 100)}" + (f" {{{{{by}}}}}" if by else "")
        out.append(prom_target(expr, legend, ref))
    return out


def _error_ratio(by: str = "") -> str:
    """Failed over all calls; 0 (not "no data") where no call has failed yet."""
    calls = _rate("llmpulse_calls_total", by)
    return f"({_rate('llmpulse_call_errors_total', by)} or {calls} * 0) / {calls}"


ERROR_RATIO = _error_ratio()
ERROR_RATIO_BY_MODEL = _error_ratio("gen_ai_request_model")
COST_PER_HOUR = f"{_rate('llmpulse_cost_usd_total')} * 3600"
COST_PER_HOUR_BY_MODEL = f"{_rate('llmpulse_cost_usd_total', 'gen_ai_request_model')} * 3600"

CALLS = Look("reqps", decimals=2)
RATIO = Look("percentunit", rising(0.01, 0.05), minimum=0)
SECONDS = Look("s", rising(10, 20), minimum=0)
USD_PER_HOUR = Look("currencyUSD", rising(20, 50), minimum=0)
PER_SECOND = Look("ops", minimum=0)


def _headline(grid: Grid) -> None:
    grid.add(stat("Calls/s", [prom_target(_rate("llmpulse_calls_total"), "calls/s")], CALLS),
             4, 4)
    grid.add(stat("Error ratio", [prom_target(ERROR_RATIO, "errors")], RATIO), 4, 4)
    grid.add(stat("p95 latency", [_quantiles("gen_ai_client_operation_duration_seconds")[1]],
                  SECONDS), 4, 4)
    grid.add(stat("Cost per hour", [prom_target(COST_PER_HOUR, "USD/h")], USD_PER_HOUR), 4, 4)
    grid.add(stat("Alerts firing", [prom_target("sum(llmpulse_alerts_firing)", "firing")],
                  Look("none", alarm(1), minimum=0)), 4, 4)
    grid.add(stat("Consumer lag", [prom_target("sum(llmpulse_consumer_lag)", "messages")],
                  Look("short", rising(1000, 10000), minimum=0)), 4, 4)


def _traffic(grid: Grid) -> None:
    grid.row("Traffic and errors")
    grid.add(timeseries("Calls/s by model", [prom_target(
        _rate("llmpulse_calls_total", "gen_ai_request_model"), "{{gen_ai_request_model}}")],
        CALLS), 8, 8)
    grid.add(timeseries("Error ratio by model", [prom_target(
        ERROR_RATIO_BY_MODEL, "{{gen_ai_request_model}}")], RATIO,
        "Failed calls over all calls.", show_thresholds=True), 8, 8)
    grid.add(timeseries("Errors/s by error.type", [prom_target(
        _rate("llmpulse_call_errors_total", "error_type"), "{{error_type}}")], PER_SECOND),
        8, 8)


def _latency(grid: Grid) -> None:
    grid.row("Latency")
    grid.add(timeseries("End-to-end duration", _quantiles(
        "gen_ai_client_operation_duration_seconds"), SECONDS,
        "gen_ai.client.operation.duration, from the histogram buckets.",
        show_thresholds=True), 8, 8)
    grid.add(timeseries("Time to first token", _quantiles(
        "gen_ai_server_time_to_first_token_seconds"), Look("s", rising(2, 5), minimum=0)),
        8, 8)
    grid.add(timeseries("Time per output token", _quantiles(
        "gen_ai_server_time_per_output_token_seconds"),
        Look("s", rising(0.1, 0.25), minimum=0)), 8, 8)
    grid.add(timeseries("p95 duration by model", [prom_target(
        "histogram_quantile(0.95, "
        f"{_rate('gen_ai_client_operation_duration_seconds_bucket', 'le, gen_ai_request_model')})",
        "{{gen_ai_request_model}}")], SECONDS), 12, 8)
    grid.add(timeseries("p95 duration by route", [prom_target(
        "histogram_quantile(0.95, "
        f"{_rate('gen_ai_client_operation_duration_seconds_bucket', 'le, llmpulse_route')})",
        "{{llmpulse_route}}")], SECONDS), 12, 8)


def _cost(grid: Grid) -> None:
    grid.row("Cost and tokens")
    grid.add(timeseries("Cost per hour by model", [prom_target(
        COST_PER_HOUR_BY_MODEL, "{{gen_ai_request_model}}")], USD_PER_HOUR,
        "Spend rate projected to an hour (USD)."), 8, 8)
    grid.add(timeseries("Tokens/s by type", [prom_target(
        _rate("llmpulse_tokens_total", "gen_ai_token_type"), "{{gen_ai_token_type}}")],
        Look("short", minimum=0)), 8, 8)
    grid.add(timeseries("Calls without a known price", [prom_target(
        _rate("llmpulse_unknown_price_calls_total", "gen_ai_request_model"),
        "{{gen_ai_request_model}}")], Look("reqps", alarm(0.001), minimum=0),
        "Their cost is not counted: add a price override."), 8, 8)


def _pipeline(grid: Grid) -> None:
    grid.row("Alerts and pipeline health")
    grid.add(timeseries("Alerts firing by rule", [prom_target(
        "sum by (rule, severity) (llmpulse_alerts_firing)", "{{rule}} ({{severity}})")],
        Look("none", alarm(1), minimum=0)), 8, 8)
    grid.add(timeseries("Consumer lag by topic", [prom_target(
        "sum by (topic) (llmpulse_consumer_lag)", "{{topic}}")],
        Look("short", rising(1000, 10000), minimum=0), show_thresholds=True), 8, 8)
    grid.add(timeseries("Dead-lettered events/s", [prom_target(
        f"sum by (topic, reason) (rate(llmpulse_dlq_events_total[{RATE}]))",
        "{{topic}}: {{reason}}")], Look("ops", rising(0.01, 1), minimum=0)), 8, 8)
    grid.add(timeseries("Pending joins", [prom_target(
        "sum(llmpulse_pending_joins)", "pending")], Look("short", minimum=0),
        "Requests or responses waiting for their other half."), 6, 8)
    grid.add(timeseries("Join timeouts/s", [prom_target(
        f"sum by (join_status) (rate(llmpulse_join_timeouts_total[{RATE}]))",
        "{{join_status}}")], PER_SECOND), 6, 8)
    grid.add(timeseries("Sink failures/s", [prom_target(
        f"sum by (sink) (rate(llmpulse_sink_failures_total[{RATE}]))", "{{sink}}")],
        Look("ops", rising(0.001, 0.1), minimum=0), "Failed batch writes (retried)."), 6, 8)
    grid.add(timeseries("Sink batch p95 by table", [prom_target(
        "histogram_quantile(0.95, sum by (le, table) "
        f"(rate(llmpulse_sink_batch_seconds_bucket[{RATE}])))", "{{table}}")],
        Look("s", rising(1, 5), minimum=0)), 6, 8)


def build() -> JSON:
    grid = Grid()
    _headline(grid)
    _traffic(grid)
    _latency(grid)
    _cost(grid)
    _pipeline(grid)
    model_query = "label_values(llmpulse_calls_total, gen_ai_request_model)"
    route_query = 'label_values(llmpulse_calls_total{gen_ai_request_model=~"$model"}, ' \
                  "llmpulse_route)"
    variables = [datasource_variable(PROMETHEUS, "Prometheus"),
                 query_variable("model", "Model", PROMETHEUS, model_query),
                 query_variable("route", "Route", PROMETHEUS, route_query)]
    return dashboard(UID, "llmpulse / On-call overview",
                     "Call rate, errors, latency quantiles, cost and pipeline health of the "
                     "llmpulse workers.", variables, grid)
