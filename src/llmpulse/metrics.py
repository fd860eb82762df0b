"""Every Prometheus metric llmpulse exports, declared in one place.

GenAI metrics follow the OpenTelemetry GenAI semantic conventions (names with
dots turned to underscores, unit suffix ``_seconds``; the spec's explicit
bucket boundaries).  Labels are low-cardinality only: provider, model, route,
operation — never tenant ids or request ids.  Metrics live in a registry the
caller passes in, never the global one.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
    drift_score: Gauge
    drift_detected: Gauge


def build_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    reg = registry if registry is not None else CollectorRegistry()
    genai = GENAI_LABELS
    return Metrics(
        registry=reg,
        duration=Histogram("gen_ai_client_operation_duration_seconds",
                           "End-to-end duration of LLM calls.", (*genai, "error_type"),
                           buckets=DURATION_BUCKETS, registry=reg),
        ttft=Histogram("gen_ai_server_time_to_first_token_seconds",
                       "Time to the first output chunk.", genai,
                       buckets=TTFT_BUCKETS, registry=reg),
        tpot=Histogram("gen_ai_server_time_per_output_token_seconds",
                       "Time per output token after the first.", genai,
                       buckets=TPOT_BUCKETS, registry=reg),
        token_usage=Histogram("gen_ai_client_token_usage", "Tokens per LLM call.",
                              (*genai, "gen_ai_token_type"), buckets=TOKEN_BUCKETS,
                              registry=reg),
        tokens=Counter("llmpulse_tokens", "Tokens used, by type (input, output, cache_read, "
                       "cache_creation, reasoning).", (*genai, "gen_ai_token_type"),
                       registry=reg),
        cost=Counter("llmpulse_cost_usd", "Cost of LLM calls in USD, by price source.",
                     (*genai, "source"), registry=reg),
        unknown_price=Counter("llmpulse_unknown_price_calls", "Calls whose model has no known "
                              "price (cost not counted).", genai, registry=reg),
        calls=Counter("llmpulse_calls", "LLM calls recorded, by how they were joined.",
                      (*genai, "join_status"), registry=reg),
        errors=Counter("llmpulse_call_errors", "LLM calls that failed, by error.type.",
                       (*genai, "error_type"), registry=reg),
        events_in=Counter("llmpulse_events_in", "Events read from input topics.", ("topic",),
                          registry=reg),
        dlq=Counter("llmpulse_dlq_events", "Invalid events sent to the dead-letter topic.",
                    ("topic", "reason"), registry=reg),
        duplicates=Counter("llmpulse_duplicate_events", "Redelivered events dropped as "
                           "duplicates (same request_id).", ("topic",), registry=reg),
        join_timeouts=Counter("llmpulse_join_timeouts", "Requests or responses recorded "
                              "alone after the join timeout.", ("join_status",), registry=reg),
        feedback=Counter("llmpulse_feedback_events", "Feedback events stored, by kind.",
                         ("kind",), registry=reg),
        feedback_unjoined=Counter(
            "llmpulse_feedback_unjoined", "Feedback stored but not in the windows, by reason "
            "(unknown_request: no such call stored; too_late: past LLMPULSE_FEEDBACK_HORIZON_S).",
            ("reason",), registry=reg),
        retrain_triggers=Counter(
            "llmpulse_retrain_triggers", "Retraining policy triggers by outcome (triggered, "
            "pending_approval, approved, suppressed by cooldown, duplicate; forward_failed, "
            "forward_resent, forward_abandoned for the forward webhooks).",
            ("policy", "outcome"), registry=reg),
        sink_batch=Histogram("llmpulse_sink_batch_seconds", "Time to write one batch.",
                             ("sink", "table"), buckets=SINK_BUCKETS, registry=reg),
        sink_rows=Counter("llmpulse_sink_rows", "Rows written.", ("sink", "table"),
                          registry=reg),
        sink_failures=Counter("llmpulse_sink_failures", "Failed batch writes (retried).",
                              ("sink",), registry=reg),
        consumer_lag=Gauge("llmpulse_consumer_lag", "Messages behind the end of each "
                           "assigned input partition, from the group's committed offset "
                           "(what Kafka tools and lag-based autoscalers see).",
                           ("topic", "partition"), registry=reg),
        read_lag=Gauge("llmpulse_consumer_read_lag", "Messages behind the end of each "
                       "assigned input partition, from the last message read (the "
                       "committed offset follows once its batch is stored).",
                       ("topic", "partition"), registry=reg),
        broker_up=Gauge("llmpulse_broker_up", "1 while the Kafka broker answers metadata "
                        "requests, 0 while it does not (processing pauses then).", registry=reg),
        pending_joins=Gauge("llmpulse_pending_joins", "Requests or responses waiting for "
                            "their other half.", registry=reg),
        store_up=Gauge("llmpulse_store_up", "1 when the ClickHouse store is open; 0 while the "
                       "worker waits for it at start-up (see LLMPULSE_STORE_WAIT_S).",
                       registry=reg),
        window_calls=Gauge("llmpulse_window_calls", "Calls in the last closed 1-minute window "
                           "(a label '*' is not grouped on: route, tenant and prompt_version "
                           "'*' = the model overall).", WINDOW_LABELS, registry=reg),
        window_error_ratio=Gauge("llmpulse_window_error_ratio", "Share of failed calls in the "
                                 "last closed 1-minute window.", WINDOW_LABELS, registry=reg),
        window_latency=Gauge("llmpulse_window_latency_seconds", "Latency percentiles "
                             "(DDSketch, 0.5% relative error) of the last closed 1-minute "
                             "window; signal is duration, ttft or tpot.",
                             (*WINDOW_LABELS, "signal", "quantile"), registry=reg),
        window_cost=Gauge("llmpulse_window_cost_usd", "Spend in the last closed 1-minute window.",
                          WINDOW_LABELS, registry=reg),
        window_tokens=Gauge("llmpulse_window_tokens", "Tokens in the last closed 1-minute "
                            "window, by direction (input, output).",
                            (*WINDOW_LABELS, "direction"), registry=reg),
        late_calls=Counter("llmpulse_window_late_calls", "Calls stored but left out of the "
                           "in-stream windows: reason late (their window had closed) or "
                           "future (dated more than 5 min ahead).", ("reason",), registry=reg),
        old_calls=Counter("llmpulse_late_calls", "Calls stored with an event time older than "
                          "a storage limit: reason past_body_ttl (older than the 30-day TTL of "
                          "message bodies: stored without their texts).", ("reason",),
                          registry=reg),
        sanitized_fields=Counter("llmpulse_sanitized_fields", "Events accepted after "
                                 "invisible or control characters (bidi overrides, zero-width, "
                                 "tags, C0/C1) were removed from an identifier, by wire field.",
                                 ("field",), registry=reg),
        alerts_firing=Gauge("llmpulse_alerts_firing", "Alerts firing now, by rule.",
                            ("rule", "severity"), registry=reg),
        alert_notifications=Counter("llmpulse_alert_notifications", "Alert notifications "
                                    "delivered (outcome ok) or given up on (failed).",
                                    ("channel", "kind", "outcome"), registry=reg),
        pii_findings=Counter("llmpulse_pii_findings", "Personal data found in event texts, by "
                             "field and kind (then redacted, hashed or kept per "
                             "LLMPULSE_PII_*).", ("field", "kind"), registry=reg),
        scoring_sent=Counter("llmpulse_scoring_sent", "Calls sent to the quality scorer, by "
                             "reason (sampled, new_version, flagged, feedback).", ("reason",),
                             registry=reg),
        scoring_skipped=Counter("llmpulse_scoring_skipped", "Calls not sent to the quality "
                                "scorer, by reason (rate, budget, no_text, unknown_request).",
                                ("reason",), registry=reg),
        scorer_tasks=Counter("llmpulse_scorer_tasks", "Scoring tasks handled by the scorer, by "
                             "outcome (scored, shed = too old, invalid, failed).", ("outcome",),
                             registry=reg),
        scorer_batch=Histogram("llmpulse_scorer_batch_seconds", "Time to score one batch, by "
                               "detector.", ("detector",), buckets=(*SINK_BUCKETS, 30.0, 60.0),
                               registry=reg),
        scorer_task_age=Gauge("llmpulse_scorer_task_age_seconds", "Age of the oldest task in "
                              "the scorer's last batch (its backlog, in time).", registry=reg),
        quality_evaluations=Counter("llmpulse_quality_evaluations", "Quality evaluations "
                                    "stored, by name and label (toxic/ok, grounded/ungrounded).",
                                    ("gen_ai_request_model", "llmpulse_route", "name", "label"),
                                    registry=reg),
        quality_score=Histogram("llmpulse_quality_score", "Quality scores (0..1): toxicity, "
                                "groundedness.", ("gen_ai_request_model", "llmpulse_route",
                                                  "name"),
                                buckets=tuple(round(0.1 * i, 1) for i in range(1, 11)),
                                registry=reg),
        window_toxicity_rate=Gauge("llmpulse_window_toxicity_rate", "Share of scored responses "
                                   "that were toxic in the last closed 1-minute window.",
                                   WINDOW_LABELS, registry=reg),
        window_groundedness=Gauge("llmpulse_window_groundedness", "Mean groundedness of scored "
                                  "RAG answers in the last closed 1-minute window.",
                                  WINDOW_LABELS, registry=reg),
        window_thumbs_down=Gauge("llmpulse_window_thumbs_down_ratio", "Share of thumbs given "
                                 "in the last closed 1-minute window that were down.",
                                 WINDOW_LABELS, registry=reg),
        window_rating=Gauge("llmpulse_window_rating", "Mean rating (1-5) given in the last "
                            "closed 1-minute window.", WINDOW_LABELS, registry=reg),
        drift_score=Gauge("llmpulse_drift_score", "Drift severity of a feature in the last "
                          "drift check of a model (route '*') or of one of its busy routes "
                          "(>= 1: drifted).", ("model", "route", "feature"), registry=reg),
        drift_detected=Gauge("llmpulse_drift_detected", "1 when the last drift check of a "
                             "model (route '*') or route found drift.", ("model", "route"),
                             registry=reg),
    )
