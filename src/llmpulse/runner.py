"""Start the worker process: topics, store, /metrics, then the Faust worker."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from llmpulse.config import Settings
from llmpulse.errors import ConfigError

log = logging.getLogger(__name__)


def run_worker(settings: Settings, ready_file: Path | None = None) -> int:
    """Run until SIGINT/SIGTERM; returns the exit code."""
    if settings.broker is None:
        raise ConfigError(
            "LLMPULSE_BROKER: not set; give the Kafka bootstrap servers (host:port), "
            "or run `llmpulse demo` for the embedded broker"
        )
    from faust import Worker as FaustWorker

    from llmpulse.metrics import build_metrics
    from llmpulse.sinks.clickhouse import ClickHouseStore
    from llmpulse.sinks.prometheus import MetricsServer
    from llmpulse.streams.app import all_topics, build_app
    from llmpulse.topics import ensure_topics, wait_for_broker

    wait_for_broker(settings.broker, timeout=30.0)
    ensure_topics(settings.broker, all_topics(settings), settings.replication_factor)
    store = ClickHouseStore.open(settings)
    metrics = build_metrics()
    server = MetricsServer(metrics, settings.metrics_host, settings.metrics_port)
    port = server.start()
    worker = build_app(settings, store, metrics)
    log.info("llmpulse worker: broker %s, store %s, metrics http://%s:%d/metrics",
             settings.broker, settings.clickhouse_url, settings.metrics_host, port)
    if ready_file is not None:
        ready_file.write_text(f"{port}\n", encoding="utf-8")
    faust_worker = FaustWorker(worker.app, loglevel=settings.log_level.upper(), quiet=True,
                               redirect_stdouts=False, override_logging=False)
    try:
        faust_worker.execute_from_commandline()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 0
    else:
        code = 0
    finally:
        server.stop()
        store.close()
    if worker.crashed is not None:
        print(f"llmpulse worker stopped: {worker.crashed}", file=sys.stderr)
        return 1
    return code
