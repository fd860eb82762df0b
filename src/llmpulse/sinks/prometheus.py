"""Prometheus side of the sink: metric observations per stored call, and the HTTP server of
/metrics (with /healthz and /readyz)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler

import orjson

from llmpulse.detectors.latency import duration_s, tpot_s
from llmpulse.detectors.usage import is_error
from llmpulse.metrics import Metrics
from llmpulse.schema import FeedbackEvent
from llmpulse.scoring.tasks import ScoreResult
from llmpulse.sinks.rows import StoredCall

if TYPE_CHECKING:
    from llmpulse.health import ProcessHealth


class Children:
    """Labelled children of the metrics, each looked up once: ``prometheus_client``'s
    ``labels()`` takes a lock and validates the labels at every call, about a dozen
    times per stored call; a batch has few distinct label sets."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, tuple[str, ...]], Any] = {}

    def __call__(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), labels)
        child = self._cache.get(key)
        if child is None:
            child = self._cache[key] = metric.labels(*labels)
        return child


def observe_calls(metrics: Metrics, calls: Iterable[tuple[StoredCall, str]]) -> None:
    """:func:`observe_call` for each ``(call, mode)`` of a batch."""
    children = Children()
    for call, mode in calls:
        observe_call(metrics, call, mode, children)


def observe_call(metrics: Metrics, call: StoredCall, mode: str = "full",
                 children: Children | None = None) -> None:
    """Count one stored call.

    ``mode``: "full" for a new call; "response" for a late response completing a
    call stored earlier as request-only (count what the response adds, not the
    call again); "none" for a late request (everything was counted already).
    """
    if mode == "none":
        return
    child = Children() if children is None else children
    r = call.record
    labels = (r.provider, r.request_model, r.operation, r.route)
    if mode == "full":
        child(metrics.calls, *labels, r.join_status).inc()
    error_type = r.error_type or ("error" if is_error(r) else "")
    if error_type:
        child(metrics.errors, *labels, error_type).inc()
    duration = duration_s(r)
    if duration is not None:
        child(metrics.duration, *labels, error_type).observe(duration)
    if r.time_to_first_chunk is not None:
        child(metrics.ttft, *labels).observe(r.time_to_first_chunk)
    tpot = tpot_s(r)
    if tpot is not None:
        child(metrics.tpot, *labels).observe(tpot)
    _tokens(metrics, labels, call, child)
    if call.cost.usd is None:
        child(metrics.unknown_price, *labels).inc()
    else:
        child(metrics.cost, *labels, call.cost.source).inc(call.cost.usd)


def _tokens(metrics: Metrics, labels: tuple[str, ...], call: StoredCall,
            child: Children) -> None:
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
            child(metrics.token_usage, *labels, token_type).observe(count)
        if count:
            child(metrics.tokens, *labels, token_type).inc(count)


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
    """/metrics, /healthz and /readyz over HTTP in a daemon thread.

    /metrics is prometheus_client's own WSGI app, as ``start_http_server`` serves it
    (every path but the two health ones, content negotiation for OpenMetrics, gzip
    when asked); /healthz and /readyz answer JSON from ``health`` (200 or 503)."""

    def __init__(self, metrics: Metrics, host: str, port: int,
                 health: ProcessHealth | None = None) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.health = health
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        import socket
        from wsgiref.simple_server import make_server

        from prometheus_client import make_wsgi_app
        from prometheus_client.exposition import ThreadingWSGIServer

        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        family, _, _, _, sockaddr = infos[0]

        class Server(ThreadingWSGIServer):
            address_family = family

        app = health_routes(make_wsgi_app(self.metrics.registry), self.health)
        self._server = make_server(str(sockaddr[0]), self.port, app, Server,
                                   handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="metrics-http", daemon=True)
        self._thread.start()
        self.port = int(self._server.server_address[1])
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _QuietHandler(WSGIRequestHandler):
    """No log line per request (as prometheus_client's server)."""

    def log_message(self, format: str, *args: Any) -> None:
        return


_REASONS = {200: "OK", 405: "Method Not Allowed", 500: "Internal Server Error",
            503: "Service Unavailable"}
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def health_routes(metrics_app: WsgiApp, health: ProcessHealth | None) -> WsgiApp:
    """``metrics_app`` with /healthz and /readyz answered from ``health`` in front."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if health is None or path not in ("/healthz", "/readyz"):
            return metrics_app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            status, body = 405, {"error": f"{method} not allowed; use GET"}
        else:
            try:
                status, body = health.healthz() if path == "/healthz" else health.readyz()
            except Exception as exc:  # a probe must get an answer, and a failing one
                status, body = 500, {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        data = orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"
        start_response(f"{status} {_REASONS.get(status, '')}", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store")] + ([("Allow", "GET, HEAD")] if status == 405 else []))
        return [b"" if method == "HEAD" else data]

    return app
