"""Start a worker process: checks, broker and topics, /metrics, store, then the Faust worker.

``run_worker`` runs the cheap path (ingest, join, windows, alerts, storage);
``run_scorer`` runs the quality scorer, a separate consumer group with no store.
Both refuse a configuration mistake (:mod:`llmpulse.preflight`) and an unreachable
broker before they open their /metrics port or load a model.
"""

from __future__ import annotations

import errno
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmpulse.config import Process, Settings
from llmpulse.errors import ConfigError

if TYPE_CHECKING:
    from llmpulse.health import Readiness
    from llmpulse.metrics import Metrics
    from llmpulse.sinks.prometheus import MetricsServer

log = logging.getLogger(__name__)


def _checked_broker(settings: Settings, process: Process) -> str:
    """Refuse a configuration mistake, then wait for the broker (BROKER_WAIT_S) and
    create the topics: all before a port is opened or a model loaded."""
    from llmpulse.preflight import require
    from llmpulse.topics import ensure_llmpulse_topics

    require(settings, process)
    return ensure_llmpulse_topics(settings)


def run_worker(settings: Settings, ready_file: Path | None = None) -> int:
    """Run the cheap path until SIGINT/SIGTERM; returns the exit code."""
    from llmpulse.metrics import build_metrics
    from llmpulse.sinks.store_wait import open_store
    from llmpulse.streams.app import build_app

    broker = _checked_broker(settings, "worker")
    metrics = build_metrics(process="worker")
    readiness = worker_readiness(metrics)
    server = start_metrics_server(settings, metrics, "worker")
    try:
        store = open_store(settings, readiness)
        if settings.drills:
            from llmpulse.drills import DrillClient

            store.client = DrillClient(store.client, settings.drill_list, time.time)
            log.warning("drills scheduled: %s", settings.drills)
        try:
            worker = build_app(settings, store, metrics)
            log.info("llmpulse worker: broker %s, store %s", broker, settings.clickhouse_url)
            with _watching_broker(broker, settings.topic("requests"), metrics):
                code = _serve(worker.app, settings, server.port, ready_file)
        finally:
            store.close()
    finally:
        server.stop()
    if worker.crashed is not None:
        print(f"llmpulse worker stopped: {worker.crashed}", file=sys.stderr)
        return 1
    return code


def worker_readiness(metrics: Metrics) -> Readiness:
    """The worker's readiness (what a /readyz answers from); the store's state is also the
    ``llmpulse_store_up`` gauge."""
    from llmpulse.health import Readiness

    gauges = {"store": metrics.store_up}

    def mirror(component: str, up: bool) -> None:
        if component in gauges:
            gauges[component].set(1 if up else 0)

    return Readiness(on_change=mirror)


def run_scorer(settings: Settings, ready_file: Path | None = None) -> int:
    """Run a quality scorer until SIGINT/SIGTERM; returns the exit code."""
    from llmpulse.metrics import build_metrics
    from llmpulse.scoring.scorer import load_scorer
    from llmpulse.streams.scorer import build_scorer_app

    broker = _checked_broker(settings, "scorer")
    scorer = load_scorer(settings)
    metrics = build_metrics(process="scorer")
    server = start_metrics_server(settings, metrics, "scorer")
    try:
        worker = build_scorer_app(settings, metrics, scorer)
        log.info("llmpulse scorer: broker %s, %s", broker, scorer.describe())
        with _watching_broker(broker, settings.topic("scoring"), metrics):
            return _serve(worker.app, settings, server.port, ready_file)
    finally:
        server.stop()


@contextmanager
def _watching_broker(broker: str, topic: str, metrics: Metrics) -> Iterator[None]:
    """``llmpulse_broker_up`` and the outage log (see streams.broker_health) meanwhile."""
    from llmpulse.streams.broker_health import BrokerHealth, metadata_probe

    health = BrokerHealth(metadata_probe(broker, topic), metrics.broker_up, broker)
    health.start()
    try:
        yield
    finally:
        health.stop()


def start_metrics_server(settings: Settings, metrics: Metrics, process: Process
                         ) -> MetricsServer:
    """/metrics on the configured (or the process's default) port; a port that is taken is
    a one-line configuration error naming the setting, not a traceback."""
    from llmpulse.sinks.prometheus import MetricsServer

    host, port = settings.metrics_host, settings.metrics_port_for(process)
    server = MetricsServer(metrics, host, port)
    try:
        server.start()
    except OSError as exc:
        raise ConfigError(metrics_bind_error(host, port, exc)) from None
    log.info("metrics on http://%s:%d/metrics", host, server.port)
    return server


def metrics_bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"LLMPULSE_METRICS_PORT: port {port} on {host} is already in use (another "
                "llmpulse worker or scorer on this host?); set LLMPULSE_METRICS_PORT to a free "
                "port, or 0 for any free one")
    return (f"LLMPULSE_METRICS_HOST / LLMPULSE_METRICS_PORT: cannot serve /metrics on "
            f"{host}:{port}: {exc.strerror or exc}")


def _serve(app: Any, settings: Settings, port: int, ready_file: Path | None) -> int:
    from faust import Worker as FaustWorker

    if ready_file is not None:
        ready_file.write_text(f"{port}\n", encoding="utf-8")
    faust_worker = FaustWorker(app, loglevel=settings.log_level.upper(), quiet=True,
                               redirect_stdouts=False, override_logging=False)
    quiet_terminal(faust_worker)
    try:
        faust_worker.execute_from_commandline()
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 0
    return 0


def quiet_terminal(faust_worker: Any) -> None:
    """No progress spinner: Faust's writes backspaces and cursor escape codes
    (``ESC[?25h``) to stdout when startup ends, terminal or not, which end up in
    log files and collectors; the log says when the worker is ready instead."""
    faust_worker.spinner = None
