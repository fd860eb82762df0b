"""Start a worker process: checks, broker and topics, /metrics, store, then the Faust worker.

``run_worker`` runs the cheap path (ingest, join, windows, alerts, storage);
``run_scorer`` runs the quality scorer, a separate consumer group with no store.
Both refuse a configuration mistake (:mod:`llmpulse.preflight`) and an unreachable
broker before they open their /metrics port or load a model.  The port serves
/healthz and /readyz too (:mod:`llmpulse.health`); SIGTERM drains within
``LLMPULSE_DRAIN_TIMEOUT_S`` (:mod:`llmpulse.lifecycle`).
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

from llmpulse.config import Process, Settings, redacted_url
from llmpulse.errors import ConfigError
from llmpulse.kafka_security import describe as describe_security

if TYPE_CHECKING:
    from llmpulse.health import ProcessHealth, Readiness
    from llmpulse.lifecycle import Drain
    from llmpulse.metrics import Metrics
    from llmpulse.sinks.prometheus import MetricsServer

log = logging.getLogger(__name__)


def checked_broker(settings: Settings, process: Process) -> str:
    """Refuse a configuration mistake, then wait for the broker (BROKER_WAIT_S) and
    create the topics: all before a port is opened or a model loaded."""
    from llmpulse.preflight import require
    from llmpulse.topics import ensure_llmpulse_topics

    require(settings, process)
    return ensure_llmpulse_topics(settings)


def run_worker(settings: Settings, ready_file: Path | None = None) -> int:
    """Run the cheap path until SIGINT/SIGTERM; returns the exit code."""
    from llmpulse.gc_tuning import tune_for_throughput
    from llmpulse.health import ProcessHealth
    from llmpulse.kafka_security import librdkafka_security
    from llmpulse.lifecycle import Drain
    from llmpulse.metrics import build_metrics
    from llmpulse.sinks.store_wait import open_store
    from llmpulse.streams.app import build_app, worker_input_topics
    from llmpulse.streams.table_guard import ensure_changelog_topics

    broker = checked_broker(settings, "worker")
    metrics = build_metrics(process="worker")
    readiness = worker_readiness(metrics)
    health = ProcessHealth("worker", stall_s=settings.live_stall_s,
                           stuck_s=settings.ready_stuck_s,
                           input_topics=worker_input_topics(settings), readiness=readiness)
    drain = Drain("worker", settings.drain_timeout_s)
    health.draining = drain.state
    server = start_metrics_server(settings, metrics, "worker", health)
    try:
        store = open_store(settings, readiness)
        if settings.drills:
            from llmpulse.drills import DrillClient

            store.client = DrillClient(store.client, settings.drill_list, time.time)
            log.warning("drills scheduled: %s", settings.drills)
        try:
            worker = build_app(settings, store, metrics, health=health, drain=drain)
            # before the consumer joins: see llmpulse.streams.table_guard
            ensure_changelog_topics(broker, worker.app.tables.values(),
                                    settings.replication_factor,
                                    librdkafka_security(settings))
            tune_for_throughput()  # after start-up: what exists now lives as long as we do
            log.info("llmpulse worker: broker %s (%s), store %s", broker,
                     describe_security(settings), redacted_url(settings.clickhouse_url))
            with _watching_broker(broker, settings.topic("requests"), metrics, settings):
                code = _serve(worker.app, settings, server.port, ready_file, health, drain)
        finally:
            store.close()
    finally:
        server.stop()
    if worker.crashed is not None:
        drain.finish()
        print(f"llmpulse worker stopped: {worker.crashed}", file=sys.stderr)
        return 1
    return _drained(settings, "worker", drain, code)


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
    from llmpulse.health import ProcessHealth
    from llmpulse.lifecycle import Drain
    from llmpulse.metrics import build_metrics
    from llmpulse.scoring.scorer import load_scorer
    from llmpulse.streams.scorer import build_scorer_app

    broker = checked_broker(settings, "scorer")
    scorer = load_scorer(settings)
    metrics = build_metrics(process="scorer")
    health = ProcessHealth("scorer", stall_s=settings.live_stall_s,
                           stuck_s=settings.ready_stuck_s,
                           input_topics=[settings.topic("scoring")])
    drain = Drain("scorer", settings.drain_timeout_s)
    health.draining = drain.state
    server = start_metrics_server(settings, metrics, "scorer", health)
    try:
        worker = build_scorer_app(settings, metrics, scorer, health=health, drain=drain)
        log.info("llmpulse scorer: broker %s (%s), %s", broker, describe_security(settings),
                 scorer.describe())
        with _watching_broker(broker, settings.topic("scoring"), metrics, settings):
            code = _serve(worker.app, settings, server.port, ready_file, health, drain)
    finally:
        server.stop()
    return _drained(settings, "scorer", drain, code)


def _drained(settings: Settings, process: Process, drain: Drain, code: int) -> int:
    """The exit code after a stop: non-zero when the drain abandoned something (said on
    stderr); a drain that finished is logged with its duration."""
    from llmpulse.lifecycle import ABANDONED_EXIT

    drain.finish()
    if drain.began is None:
        return code
    instance = settings.instance_id_for(process)
    membership = ("left the consumer group" if instance is None else
                  f"stayed in the consumer group (static member {instance}: its partitions "
                  "wait for it until LLMPULSE_SESSION_TIMEOUT_S)")
    summary = drain.summary(membership)
    if drain.abandoned:
        print(summary, file=sys.stderr)
        return ABANDONED_EXIT
    log.info("%s", summary)
    return code


@contextmanager
def _watching_broker(broker: str, topic: str, metrics: Metrics,
                     settings: Settings) -> Iterator[None]:
    """``llmpulse_broker_up`` and the outage log (see streams.broker_health) meanwhile."""
    from llmpulse.kafka_security import librdkafka_security
    from llmpulse.streams.broker_health import BrokerHealth, metadata_probe

    probe = metadata_probe(broker, topic, librdkafka_security(settings))
    health = BrokerHealth(probe, metrics.broker_up, broker)
    health.start()
    try:
        yield
    finally:
        health.stop()


def start_metrics_server(settings: Settings, metrics: Metrics, process: Process,
                         health: ProcessHealth | None = None) -> MetricsServer:
    """/metrics (and /healthz, /readyz from ``health``) on the configured (or the process's
    default) port; a port that is taken is a one-line configuration error naming the
    setting, not a traceback."""
    from llmpulse.sinks.prometheus import MetricsServer

    host, port = settings.metrics_host, settings.metrics_port_for(process)
    server = MetricsServer(metrics, host, port, health)
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


def _serve(app: Any, settings: Settings, port: int, ready_file: Path | None,
           health: ProcessHealth | None = None, drain: Drain | None = None) -> int:
    from llmpulse.streams.lifecycle import start_heartbeat

    if ready_file is not None:
        ready_file.write_text(f"{port}\n", encoding="utf-8")
    faust_worker = faust_worker_class()(app, loglevel=settings.log_level.upper(), quiet=True,
                                        redirect_stdouts=False, override_logging=False)
    faust_worker.drain = drain
    quiet_terminal(faust_worker)
    if health is not None:
        start_heartbeat(faust_worker.loop, health.heartbeat)
    try:
        faust_worker.execute_from_commandline()
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 0
    return 0


def faust_worker_class() -> type[Any]:
    """Faust's worker, telling the drain when a stop signal arrives (before Faust stops
    the app: the drain's clock and watchdog start with the signal)."""
    import signal as signals

    from faust import Worker as FaustWorker

    class DrainingWorker(FaustWorker):
        drain: Drain | None = None

        def _schedule_shutdown(self, signal: signals.Signals) -> None:
            if self.drain is not None:
                self.drain.begin(signal.name)
            super()._schedule_shutdown(signal)

    return DrainingWorker


def quiet_terminal(faust_worker: Any) -> None:
    """No progress spinner: Faust's writes backspaces and cursor escape codes
    (``ESC[?25h``) to stdout when startup ends, terminal or not, which end up in
    log files and collectors; the log says when the worker is ready instead."""
    faust_worker.spinner = None
