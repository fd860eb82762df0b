"""Labelled counters start at 0 for every label value known at start-up.

A counter series that appears only with its first event makes ``rate()`` empty
rather than 0 until then, so an alert or a dashboard cannot tell "healthy" from
"not exported".  Each process creates its series at start: the worker for its
input topics, sinks, join statuses, dead-letter reasons and notification
channels; the scorer for its task outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from llmpulse.alerting.message import Kind
from llmpulse.config import Settings
from llmpulse.ingest import INPUT_ROLES, REASONS
from llmpulse.metrics import Metrics

SINKS = ("clickhouse", "kafka")
#: Dead-letter reasons: those of :func:`llmpulse.ingest.decode`, and an unexpected error.
DLQ_REASONS = tuple(sorted(REASONS | {"internal"}))
#: ``llmpulse_duplicate_events_total{topic}`` values that are not input topics.
DUPLICATE_SOURCES = ("stored", "feedback", "scores")
JOIN_TIMEOUT_STATUSES = ("request_only", "response_only")
UNJOINED_REASONS = ("unknown_request", "too_late")
NOTIFICATION_OUTCOMES = ("ok", "failed")
LATE_REASONS = ("late", "future")
OLD_REASONS = ("past_body_ttl",)
SCORER_OUTCOMES = ("scored", "shed", "invalid", "failed")
#: ``llmpulse_retrain_triggers_total{outcome}`` values (see retrain.desk).
RETRAIN_OUTCOMES = ("triggered", "pending_approval", "suppressed", "duplicate", "approved",
                    "forward_failed", "forward_resent", "forward_abandoned")

#: ``llmpulse_release_verdicts_total{verdict}`` values (see release.canary_desk).
RELEASE_OUTCOMES = ("promote", "hold", "rollback", "insufficient_data", "duplicate",
                    "forward_failed", "forward_resent")


#: Outcomes of a span read from the OTLP topic (llmpulse_otlp_spans_total).
OTLP_OUTCOMES = ("mapped", "ignored", "rejected")


def zero_worker_series(metrics: Metrics, settings: Settings, channels: Iterable[str],
                       policies: Iterable[str] = (), canaries: Iterable[str] = ()) -> None:
    """Create the worker's labelled counter series at 0; ``channels`` are the
    notification channels of the rules file, ``policies`` its retraining policies,
    ``canaries`` its canaries."""
    joined_roles = [r for r in INPUT_ROLES if r != "feedback"]
    for role in (*INPUT_ROLES, "scores"):
        metrics.events_in.labels(settings.topic(role))
    for role in (*INPUT_ROLES, "scores"):
        for reason in DLQ_REASONS:
            metrics.dlq.labels(settings.topic(role), reason)
    for source in (*(settings.topic(r) for r in joined_roles), *DUPLICATE_SOURCES):
        metrics.duplicates.labels(source)
    for status in JOIN_TIMEOUT_STATUSES:
        metrics.join_timeouts.labels(status)
    for reason in UNJOINED_REASONS:
        metrics.feedback_unjoined.labels(reason)
    for sink in SINKS:
        metrics.sink_failures.labels(sink)
    for reason in LATE_REASONS:
        metrics.late_calls.labels(reason)
    for reason in OLD_REASONS:
        metrics.old_calls.labels(reason)
    if settings.otlp_topic:
        metrics.events_in.labels(settings.otlp_topic)
        for outcome in OTLP_OUTCOMES:
            metrics.otlp_spans.labels(outcome)
    for policy in policies:
        for outcome in RETRAIN_OUTCOMES:
            metrics.retrain_triggers.labels(policy, outcome)
    for canary in canaries:
        for outcome in RELEASE_OUTCOMES:
            metrics.release_verdicts.labels(canary, outcome)
    for channel in channels:
        for kind in get_args(Kind):
            for outcome in NOTIFICATION_OUTCOMES:
                metrics.alert_notifications.labels(channel, kind, outcome)


def zero_scorer_series(metrics: Metrics) -> None:
    """Create the scorer's labelled counter series at 0."""
    for outcome in SCORER_OUTCOMES:
        metrics.scorer_tasks.labels(outcome)
