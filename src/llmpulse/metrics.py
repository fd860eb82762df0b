"""Every Prometheus metric llmpulse exports, declared in one place.

GenAI metrics follow the OpenTelemetry GenAI semantic conventions (names with
dots turned to underscores, unit suffix ``_seconds``; the spec's explicit
bucket boundaries).  Labels are low-cardinality only: provider, model, route,
operation, error type and small closed sets — never request ids; tenants only
in the window gauges, bounded by ``LLMPULSE_PROMETHEUS_TENANTS``.  Metrics
live in a registry the caller passes in, never the global one.

Each metric belongs to the process that updates it (:data:`SPECS`): a worker's or a
scorer's registry holds its own metrics only; the others exist as objects that are
registered nowhere, so shared code can update them without exporting them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from llmpulse.config import Process

#: gen_ai.client.operation.duration (seconds), OTel GenAI advisory buckets.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)
#: gen_ai.server.time_to_first_token (seconds).
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0)
#: gen_ai.server.time_per_output_token (seconds).
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
#: gen_ai.client.token.usage ({token}).
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864)
SINK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

WINDOW_LABELS = ("model", "route", "tenant", "prompt_version")
#: The quality window gauges are per scorer version too (at most 4 per group and window).
SCORED_WINDOW_LABELS = (*WINDOW_LABELS, "scorer")
#: Latency percentiles of the window gauges (label ``percentile``: 50, 95, 99).
WINDOW_PERCENTILES = ("50", "95", "99")
GENAI_LABELS = ("gen_ai_provider_name", "gen_ai_request_model", "gen_ai_operation_name",
                "llmpulse_route")


@dataclass(frozen=True)
class Metrics:
    """The worker's metric objects, bound to one registry."""

    registry: CollectorRegistry
    duration: Histogram
    ttft: Histogram
    tpot: Histogram
    token_usage: Histogram
    tokens: Counter
    cost: Counter
    unknown_price: Counter
    calls: Counter
    errors: Counter
    events_in: Counter
    dlq: Counter
    duplicates: Counter
    join_timeouts: Counter
    feedback: Counter
    feedback_unjoined: Counter
    retrain_triggers: Counter
    release_verdicts: Counter
    sink_batch: Histogram
    sink_rows: Counter
    sink_failures: Counter
    consumer_lag: Gauge
    read_lag: Gauge
    broker_up: Gauge
    pending_joins: Gauge
    store_up: Gauge
    window_calls: Gauge
    window_error_ratio: Gauge
    window_latency: Gauge
    window_cost: Gauge
    window_tokens: Gauge
    late_calls: Counter
    old_calls: Counter
    otlp_spans: Counter
    sanitized_fields: Counter
    alerts_firing: Gauge
    alert_notifications: Counter
    pii_findings: Counter
    scoring_sent: Counter
    scoring_skipped: Counter
    scorer_tasks: Counter
    scorer_batch: Histogram
    scorer_task_age: Gauge
    quality_evaluations: Counter
    quality_score: Histogram
    window_toxicity_rate: Gauge
    window_groundedness: Gauge
    window_thumbs_down: Gauge
    window_rating: Gauge
    window_injection_rate: Gauge
    drift_score: Gauge
    drift_detected: Gauge


Kind = Literal["counter", "gauge", "histogram"]
WORKER: frozenset[Process] = frozenset({"worker"})
SCORER: frozenset[Process] = frozenset({"scorer"})
BOTH: frozenset[Process] = WORKER | SCORER
_TYPES: dict[Kind, Any] = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its :class:`Metrics` field, type, name, help, labels, and the
    processes that export it."""

    attr: str
    kind: Kind
    name: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None
    processes: frozenset[Process] = field(default=WORKER)

    @property
    def exposed_name(self) -> str:
        """The name in the exposition (counters get ``_total``)."""
        return f"{self.name}_total" if self.kind == "counter" else self.name

    def create(self, registry: CollectorRegistry | None) -> Any:
        extra: dict[str, Any] = {} if self.buckets is None else {"buckets": self.buckets}
        return _TYPES[self.kind](self.name, self.help, self.labels, registry=registry, **extra)


SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("duration", "histogram", "gen_ai_client_operation_duration_seconds",
               "End-to-end duration of LLM calls (error_type empty for successful calls).",
               (*GENAI_LABELS, "error_type"), DURATION_BUCKETS),
    MetricSpec("ttft", "histogram", "gen_ai_server_time_to_first_token_seconds",
               "Time to the first output chunk.", GENAI_LABELS, TTFT_BUCKETS),
    MetricSpec("tpot", "histogram", "gen_ai_server_time_per_output_token_seconds",
               "Time per output token after the first.", GENAI_LABELS, TPOT_BUCKETS),
    MetricSpec("token_usage", "histogram", "gen_ai_client_token_usage",
               "Tokens per LLM call, by type (input, output).",
               (*GENAI_LABELS, "gen_ai_token_type"), TOKEN_BUCKETS),
    MetricSpec("tokens", "counter", "llmpulse_tokens",
               "Tokens used, by type (input, output, cache_read, cache_creation, reasoning).",
               (*GENAI_LABELS, "gen_ai_token_type")),
    MetricSpec("cost", "counter", "llmpulse_cost_usd",
               "Cost of LLM calls in USD, by price source.", (*GENAI_LABELS, "source")),
    MetricSpec("unknown_price", "counter", "llmpulse_unknown_price_calls",
               "Calls whose model has no known price (cost not counted).", GENAI_LABELS),
    MetricSpec("calls", "counter", "llmpulse_calls",
               "LLM calls recorded, by how they were joined.", (*GENAI_LABELS, "join_status")),
    MetricSpec("errors", "counter", "llmpulse_call_errors",
               "LLM calls that failed, by error.type.", (*GENAI_LABELS, "error_type")),
    MetricSpec("events_in", "counter", "llmpulse_events_in",
               "Events read from input topics.", ("topic",)),
    MetricSpec("dlq", "counter", "llmpulse_dlq_events",
               "Invalid events sent to the dead-letter topic, by input topic and reason.",
               ("topic", "reason")),
    MetricSpec("duplicates", "counter", "llmpulse_duplicate_events",
               "Redelivered events dropped as duplicates (same request_id), by input topic; "
               "topic stored = replays already in the store, feedback = repeated feedback_id, "
               "scores = repeated scores.", ("topic",)),
    MetricSpec("join_timeouts", "counter", "llmpulse_join_timeouts",
               "Requests or responses recorded alone after the join timeout "
               "(join_status request_only or response_only).", ("join_status",)),
    MetricSpec("feedback", "counter", "llmpulse_feedback_events",
               "Feedback events stored, by kind.", ("kind",)),
    MetricSpec("feedback_unjoined", "counter", "llmpulse_feedback_unjoined",
               "Feedback stored but not in the windows, by reason (unknown_request: no such "
               "call stored; too_late: past LLMPULSE_FEEDBACK_HORIZON_S).", ("reason",)),
    MetricSpec("retrain_triggers", "counter", "llmpulse_retrain_triggers",
               "Retraining policy triggers by outcome (triggered, pending_approval, approved, "
               "suppressed by cooldown, duplicate; forward_failed, forward_resent, "
               "forward_abandoned for the forward webhooks).", ("policy", "outcome")),
    MetricSpec("release_verdicts", "counter", "llmpulse_release_verdicts",
               "Canary verdicts published on llm.releases by canary and verdict (promote, "
               "hold, rollback, insufficient_data; duplicate: already published; "
               "forward_failed, forward_resent for the rollback webhook).",
               ("canary", "verdict")),
    MetricSpec("sink_batch", "histogram", "llmpulse_sink_batch_seconds",
               "Time to write one batch.", ("sink", "table"), SINK_BUCKETS),
    MetricSpec("sink_rows", "counter", "llmpulse_sink_rows", "Rows written.", ("sink", "table")),
    MetricSpec("sink_failures", "counter", "llmpulse_sink_failures",
               "Failed batch writes (retried), by sink (clickhouse, kafka).", ("sink",)),
    MetricSpec("consumer_lag", "gauge", "llmpulse_consumer_lag",
               "Messages behind the end of each assigned input partition, from the group's "
               "committed offset (what Kafka tools and lag-based autoscalers see).",
               ("topic", "partition")),
    MetricSpec("read_lag", "gauge", "llmpulse_consumer_read_lag",
               "Messages behind the end of each assigned input partition, from the last "
               "message read (the committed offset follows once its batch is stored).",
               ("topic", "partition")),
    MetricSpec("broker_up", "gauge", "llmpulse_broker_up",
               "1 while the Kafka broker answers metadata requests, 0 while it does not "
               "(processing pauses then).", processes=BOTH),
    MetricSpec("pending_joins", "gauge", "llmpulse_pending_joins",
               "Requests or responses waiting for their other half."),
    MetricSpec("store_up", "gauge", "llmpulse_store_up",
               "1 when the ClickHouse store is open; 0 while the worker waits for it at "
               "start-up (see LLMPULSE_STORE_WAIT_S)."),
    MetricSpec("window_calls", "gauge", "llmpulse_window_calls",
               "Calls in the last closed 1-minute window (a label '*' is not grouped on: "
               "route, tenant and prompt_version '*' = the model overall; tenant per "
               "LLMPULSE_PROMETHEUS_TENANTS).", WINDOW_LABELS),
    MetricSpec("window_error_ratio", "gauge", "llmpulse_window_error_ratio",
               "Share of failed calls in the last closed 1-minute window.", WINDOW_LABELS),
    MetricSpec("window_latency", "gauge", "llmpulse_window_latency_seconds",
               "Latency percentiles (DDSketch, 0.5% relative error) of the last closed "
               "1-minute window; signal is duration, ttft or tpot, percentile 50, 95 or 99.",
               (*WINDOW_LABELS, "signal", "percentile")),
    MetricSpec("window_cost", "gauge", "llmpulse_window_cost_usd",
               "Spend in the last closed 1-minute window.", WINDOW_LABELS),
    MetricSpec("window_tokens", "gauge", "llmpulse_window_tokens",
               "Tokens in the last closed 1-minute window, by direction (input, output).",
               (*WINDOW_LABELS, "direction")),
    MetricSpec("late_calls", "counter", "llmpulse_window_late_calls",
               "Calls stored but left out of the in-stream windows: reason late (their window "
               "had closed) or future (dated more than 5 min ahead).", ("reason",)),
    MetricSpec("otlp_spans", "counter", "llmpulse_otlp_spans",
               "Spans read from LLMPULSE_OTLP_TOPIC, by outcome: mapped (a GenAI model call, "
               "sent on as an inference event), ignored (not one), rejected (a GenAI span "
               "that could not be mapped: dead-lettered).", ("outcome",)),
    MetricSpec("old_calls", "counter", "llmpulse_late_calls",
               "Calls stored with an event time older than a storage limit: reason "
               "past_body_ttl (older than the message bodies' TTL, "
               "LLMPULSE_RETENTION_MESSAGES_DAYS: stored without their texts).", ("reason",)),
    MetricSpec("sanitized_fields", "counter", "llmpulse_sanitized_fields",
               "Events accepted after invisible or control characters (bidi overrides, "
               "zero-width, tags, C0/C1) were removed from an identifier, by wire field.",
               ("field",)),
    MetricSpec("alerts_firing", "gauge", "llmpulse_alerts_firing",
               "Alerts firing now, by rule.", ("rule", "severity")),
    MetricSpec("alert_notifications", "counter", "llmpulse_alert_notifications",
               "Alert notifications delivered (outcome ok) or given up on (failed), by "
               "channel and kind (trigger, renotify, resolve, test).",
               ("channel", "kind", "outcome")),
    MetricSpec("pii_findings", "counter", "llmpulse_pii_findings",
               "Personal data found in event texts, by field and kind (then redacted, hashed "
               "or kept per LLMPULSE_PII_*).", ("field", "kind")),
    MetricSpec("scoring_sent", "counter", "llmpulse_scoring_sent",
               "Calls sent to the quality scorer, by reason (sampled, new_version, flagged, "
               "feedback).", ("reason",)),
    MetricSpec("scoring_skipped", "counter", "llmpulse_scoring_skipped",
               "Calls not sent to the quality scorer, by reason (rate, budget, no_text, "
               "unknown_request).", ("reason",)),
    MetricSpec("scorer_tasks", "counter", "llmpulse_scorer_tasks",
               "Scoring tasks handled by the scorer, by outcome (scored, shed = too old, "
               "invalid, failed).", ("outcome",), processes=SCORER),
    MetricSpec("scorer_batch", "histogram", "llmpulse_scorer_batch_seconds",
               "Time to score one batch, by detector.", ("detector",),
               (*SINK_BUCKETS, 30.0, 60.0), processes=SCORER),
    MetricSpec("scorer_task_age", "gauge", "llmpulse_scorer_task_age_seconds",
               "Age of the oldest task in the scorer's last batch (its backlog, in time).",
               processes=SCORER),
    MetricSpec("quality_evaluations", "counter", "llmpulse_quality_evaluations",
               "Quality evaluations stored, by name and label (toxic/ok, grounded/ungrounded).",
               ("gen_ai_request_model", "llmpulse_route", "name", "label")),
    MetricSpec("quality_score", "histogram", "llmpulse_quality_score",
               "Quality scores (0..1): toxicity, groundedness.",
               ("gen_ai_request_model", "llmpulse_route", "name"),
               tuple(round(0.1 * i, 1) for i in range(1, 11))),
    MetricSpec("window_toxicity_rate", "gauge", "llmpulse_window_toxicity_rate",
               "Share of scored responses that were toxic in the last closed 1-minute window, "
               "per scorer version (scores of two versions are never mixed).",
               SCORED_WINDOW_LABELS),
    MetricSpec("window_groundedness", "gauge", "llmpulse_window_groundedness",
               "Mean groundedness of scored RAG answers in the last closed 1-minute window, "
               "per scorer version (scores of two versions are never mixed).",
               SCORED_WINDOW_LABELS),
    MetricSpec("window_thumbs_down", "gauge", "llmpulse_window_thumbs_down_ratio",
               "Share of thumbs given in the last closed 1-minute window that were down.",
               WINDOW_LABELS),
    MetricSpec("window_rating", "gauge", "llmpulse_window_rating",
               "Mean rating (1-5) given in the last closed 1-minute window.", WINDOW_LABELS),
    MetricSpec("window_injection_rate", "gauge", "llmpulse_window_injection_rate",
               "Share of calls with user messages labelled prompt injection in the last "
               "closed 1-minute window.", WINDOW_LABELS),
    MetricSpec("drift_score", "gauge", "llmpulse_drift_score",
               "Drift severity of a feature in the last drift check of a model (route '*') or "
               "of one of its busy routes (>= 1: drifted).", ("model", "route", "feature")),
    MetricSpec("drift_detected", "gauge", "llmpulse_drift_detected",
               "1 when the last drift check of a model (route '*') or route found drift.",
               ("model", "route")),
)


def specs_of(process: Process | None) -> tuple[MetricSpec, ...]:
    """The metrics ``process`` exports (every metric for None)."""
    return tuple(s for s in SPECS if process is None or process in s.processes)


def build_metrics(registry: CollectorRegistry | None = None,
                  process: Process | None = None) -> Metrics:
    """Every metric object; those of ``process`` (all for None) registered in ``registry``
    (a new one when not given), the others registered nowhere."""
    reg = registry if registry is not None else CollectorRegistry()
    own = {s.attr for s in specs_of(process)}
    objects = {s.attr: s.create(reg if s.attr in own else None) for s in SPECS}
    return Metrics(registry=reg, **objects)


def spec(attr: str) -> MetricSpec:
    """The spec of one :class:`Metrics` field."""
    for s in SPECS:
        if s.attr == attr:
            return s
    raise KeyError(attr)


def _cells(values: Iterable[str]) -> str:
    return ", ".join(f"`{v}`" for v in values) or "—"


def markdown_table() -> str:
    """A Markdown table of every metric: name, type, labels, process, help."""
    rows = ["| metric | type | labels | exported by | meaning |", "|---|---|---|---|---|"]
    for s in SPECS:
        by = " and ".join(p for p in ("worker", "scorer") if p in s.processes)
        rows.append(f"| `{s.exposed_name}` | {s.kind} | {_cells(s.labels)} | {by} | "
                    f"{s.help.replace('|', '/')} |")
    return "\n".join(rows)
