"""Start a worker process: topics, store, /metrics, then the Faust worker.

``run_worker`` runs the cheap path (ingest, join, windows, alerts, storage);
``run_scorer`` runs the quality scorer, a separate consumer group with no store.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from llmpulse.config import Settings
from llmpulse.errors import ConfigError

log = logging.getLogger(__name__)


def _require_broker(settings: Settings) -> str:
    if settings.broker is None:
        raise ConfigError(
            "LLMPULSE_BROKER: not set; give the Kafka bootstrap servers (host:port), "
            "or run `llmpulse demo` for the embedded broker"
        )
    from llmpulse.streams.app import all_topics
    from llmpulse.topics import ensure_topics, wait_for_broker

    wait_for_broker(settings.broker, timeout=30.0)
    ensure_topics(settings.broker, all_topics(settings), settings.replication_factor)
    return settings.broker


def run_worker(settings: Settings, ready_file: Path | None = None) -> int:
    """Run the cheap path until SIGINT/SIGTERM; returns the exit code."""
    broker = _require_broker(settings)
    from llmpulse.metrics import build_metrics
    from llmpulse.sinks.clickhouse import ClickHouseStore
    from llmpulse.streams.app import build_app

    store = ClickHouseStore.open(settings)
    metrics = build_metrics()
    try:
        worker = build_app(settings, store, metrics)
        log.info("llmpulse worker: broker %s, store %s", broker, settings.clickhouse_url)
        code = _serve(worker.app, settings, metrics, ready_file)
    finally:
        store.close()
    if worker.crashed is not None:
        print(f"llmpulse worker stopped: {worker.crashed}", file=sys.stderr)
        return 1
    return code


def run_scorer(settings: Settings, ready_file: Path | None = None) -> int:
    """Run a quality scorer until SIGINT/SIGTERM; returns the exit code."""
    broker = _require_broker(settings)
    from llmpulse.metrics import build_metrics
    from llmpulse.scoring.scorer import load_scorer
    from llmpulse.streams.scorer import build_scorer_app

    metrics = build_metrics()
    scorer = load_scorer(settings)
    worker = build_scorer_app(settings, metrics, scorer)
    log.info("llmpulse scorer: broker %s, %s", broker, scorer.describe())
    return _serve(worker.app, settings, metrics, ready_file)


def _serve(app: Any, settings: Settings, metrics: Any, ready_file: Path | None) -> int:
    from faust import Worker as FaustWorker

    from llmpulse.sinks.prometheus import MetricsServer

    server = MetricsServer(metrics, settings.metrics_host, settings.metrics_port)
    port = server.start()
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, port)
    if ready_file is not None:
        ready_file.write_text(f"{port}\n", encoding="utf-8")
    faust_worker = FaustWorker(app, loglevel=settings.log_level.upper(), quiet=True,
                               redirect_stdouts=False, override_logging=False)
    try:
        faust_worker.execute_from_commandline()
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 0
    finally:
        server.stop()
    return 0
