"""Prometheus side of the sink: metric observations per stored call, and /metrics."""

from __future__ import annotations

import threading
from typing import Any

from llmpulse.detectors.latency import duration_s, tpot_s
from llmpulse.detectors.usage import is_error
from llmpulse.metrics import Metrics
from llmpulse.schema import FeedbackEvent
from llmpulse.scoring.tasks import ScoreResult
from llmpulse.sinks.rows import StoredCall


def observe_call(metrics: Metrics, call: StoredCall, mode: str = "full") -> None:
    """Count one stored call.

    ``mode``: "full" for a new call; "response" for a late response completing a
    call stored earlier as request-only (count what the response adds, not the
    call again); "none" for a late request (everything was counted already).
    """
    if mode == "none":
        return
    r = call.record
    labels = (r.provider, r.request_model, r.operation, r.route)
    if mode == "full":
        metrics.calls.labels(*labels, r.join_status).inc()
    error_type = r.error_type or ("error" if is_error(r) else "")
    if error_type:
        metrics.errors.labels(*labels, error_type).inc()
    duration = duration_s(r)
    if duration is not None:
        metrics.duration.labels(*labels, error_type).observe(duration)
    if r.time_to_first_chunk is not None:
        metrics.ttft.labels(*labels).observe(r.time_to_first_chunk)
    tpot = tpot_s(r)
    if tpot is not None:
        metrics.tpot.labels(*labels).observe(tpot)
    _tokens(metrics, labels, call)
    if call.cost.usd is None:
        metrics.unknown_price.labels(*labels).inc()
    else:
        metrics.cost.labels(*labels, call.cost.source).inc(call.cost.usd)


def _tokens(metrics: Metrics, labels: tuple[str, ...], call: StoredCall) -> None:
    r = call.record
    for token_type, count, histogram in (
        ("input", r.input_tokens, True),
        ("output", r.output_tokens, True),
        ("cache_read", r.cache_read_tokens, False),
        ("cache_creation", r.cache_creation_tokens, False),
        ("reasoning", r.reasoning_tokens, False),
    ):
        if count is None:
            continue
        if histogram:
            metrics.token_usage.labels(*labels, token_type).observe(count)
        if count:
            metrics.tokens.labels(*labels, token_type).inc(count)


def observe_feedback(metrics: Metrics, event: FeedbackEvent) -> None:
    if event.thumbs is not None:
        metrics.feedback.labels(f"thumbs_{event.thumbs}").inc()
    if event.rating is not None:
        metrics.feedback.labels("rating").inc()
    if event.correction is not None:
        metrics.feedback.labels("correction").inc()
    for flag in event.flags:
        metrics.feedback.labels(f"flag_{flag}").inc()


def observe_quality(metrics: Metrics, result: ScoreResult) -> None:
    """Toxicity and groundedness scores of one scored call."""
    model, route = result.call.request_model or result.call.model, result.call.route
    for e in result.evaluations:
        if e.name in ("toxicity", "groundedness", "judge.groundedness"):
            metrics.quality_evaluations.labels(model, route, e.name, e.label).inc()
            metrics.quality_score.labels(model, route, e.name).observe(e.value)


class MetricsServer:
    """/metrics over HTTP in a daemon thread, for the given registry."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(self.port, self.host,
                                                       registry=self.metrics.registry)
        self.port = int(self._server.server_address[1])
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
