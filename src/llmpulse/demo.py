"""``llmpulse demo`` and ``llmpulse simulate``: the whole path on one machine."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmpulse.config import Settings
from llmpulse.errors import ConfigError
from llmpulse.kafka_security import librdkafka_security
from llmpulse.procs import WorkerProcess, parse_metrics

if TYPE_CHECKING:
    from llmpulse.simulator import Progress

DEFAULT_STORE = "chdb://./llmpulse-data/chdb"
#: Share of the demo's sends that are invalid payloads, below the dead-letter alert's
#: clear threshold (0.5 %); the on-call schedule's ``malformed`` incident goes above.
MALFORMED_RATIO = 0.002


def run_simulation(settings: Settings, *, rate: float, duration: float | None,
                   count: int | None, malformed_ratio: float, seed: int,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Produce simulated traffic to the configured broker; returns what was sent
    (``progress`` is called every second meanwhile)."""
    if settings.broker is None:
        raise ConfigError("LLMPULSE_BROKER: not set; `simulate` needs a broker to send to")
    from llmpulse.sdk import LlmPulseClient
    from llmpulse.simulator import simulate
    from llmpulse.topics import ensure_llmpulse_topics

    ensure_llmpulse_topics(settings)  # as the worker makes them, not the broker's default
    with LlmPulseClient(settings.broker, settings.topic_prefix,
                        producer_config=librdkafka_security(settings)) as client:
        stats = simulate(client, rate=rate, duration=duration, count=count, seed=seed,
                         malformed_ratio=malformed_ratio, progress=progress)
    return stats.as_dict()


@dataclass
class _Run:
    """Shared state between the simulator thread and the progress loop."""

    stop: threading.Event = field(default_factory=threading.Event)
    stats: Any = None
    error: BaseException | None = None


@contextlib.contextmanager
def _broker(settings: Settings, data_dir: Path) -> Iterator[str]:
    if settings.broker is not None:
        yield settings.broker
        return
    from llmpulse.embedded_broker import EmbeddedBroker

    with EmbeddedBroker(log_path=data_dir / "broker.log") as broker:
        yield broker.bootstrap


def run_demo(settings: Settings, *, duration: float, rate: float, seed: int) -> int:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    store_url = settings.clickhouse_url
    if store_url == DEFAULT_STORE:
        store_url = f"chdb://{data_dir / 'chdb'}"
    started = datetime.now(UTC)
    origin = time.time()  # the drills count from here (the workers get them at start)
    print(f"llmpulse demo: {duration:.0f}s of simulated traffic at {rate:.0f} calls/s")
    with _broker(settings, data_dir) as bootstrap:
        where = "embedded broker" if settings.broker is None else "broker"
        print(f"  {where:<16} {bootstrap}")
        isolation = {}
        if settings.broker is not None:  # never join a real deployment's group or topics
            tag = f"{int(time.time())}"
            isolation = {"LLMPULSE_APP_ID": f"llmpulse-demo-{tag}",
                         "LLMPULSE_TOPIC_PREFIX": f"llmpulse-demo-{tag}."}
            settings = settings.model_copy(update={"topic_prefix": isolation[
                "LLMPULSE_TOPIC_PREFIX"]})
            print(f"  {'topics':<16} {isolation['LLMPULSE_TOPIC_PREFIX']}* (consumer group "
                  f"{isolation['LLMPULSE_APP_ID']}), kept on the broker after the demo")
        env = {
            **isolation,
            "LLMPULSE_BROKER": bootstrap,
            "LLMPULSE_CLICKHOUSE_URL": store_url,
            "LLMPULSE_METRICS_HOST": "127.0.0.1",
            # a free port unless one was asked for explicitly
            "LLMPULSE_METRICS_PORT": os.environ.get("LLMPULSE_METRICS_PORT", "0"),
            "LLMPULSE_JOIN_TIMEOUT_S": str(min(settings.join_timeout_s, 15.0)),
            **_demo_scoring(),
            **_demo_rules(settings),
            **oncall_env(duration, origin),
        }
        worker = WorkerProcess(env, log_path=data_dir / "worker.log")
        scorer = WorkerProcess(scorer_env(env),
                               log_path=data_dir / "scorer.log", command="scorer")
        started_ok = _start((worker, scorer))
        if started_ok is None:
            return 1
        port, scorer_port = started_ok
        print(f"  {'worker':<16} metrics at http://127.0.0.1:{port}/metrics, "
              f"log {data_dir / 'worker.log'}")
        print(f"  {'scorer':<16} metrics at http://127.0.0.1:{scorer_port}/metrics, "
              f"log {data_dir / 'scorer.log'}")
        print(f"  {'store':<16} {store_url}")
        # the traffic's incidents count from the first call, not from the start-up: the
        # short run's latency spike would otherwise be over before any call is sent
        traffic_origin = time.time()
        _print_schedule(duration, traffic_origin, env.get("LLMPULSE_DRILLS", ""))
        run = _Run()
        interrupted = _drive(settings, bootstrap, (worker, scorer), run, duration, rate, seed,
                             traffic_origin)
        last = _scrape_text(worker)
        (data_dir / "last-metrics.prom").write_text(last, encoding="utf-8")
        _report_exit(scorer, scorer.stop())
        _report_exit(worker, worker.stop())
    if run.error is not None:
        print(f"llmpulse demo: the simulator failed: {run.error}", file=sys.stderr)
        return 1
    _print_summary(store_url, started, run.stats, data_dir, port, settings)
    _print_duplicates(parse_metrics(last))
    if isolation:  # what `retrain approve`, `dlq list` and `sql` need to find this run
        names = ("LLMPULSE_BROKER", "LLMPULSE_TOPIC_PREFIX", "LLMPULSE_APP_ID",
                 "LLMPULSE_CLICKHOUSE_URL")
        print("this run's settings (for `llmpulse retrain approve`, `dlq list`, `sql`): "
              + " ".join(f"{name}={env[name]}" for name in names))
    return 130 if interrupted else 0


def oncall_env(duration: float, origin: float,
               environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Runs of the on-call schedule (30 minutes or more): the store and scorer drills,
    and a price for the self-hosted model so that only the ``unpriced`` incident has
    unknown prices; either left alone when the user set it."""
    from llmpulse.simulator import ONCALL_SCHEDULE_S, oncall_drills

    outer = os.environ if environ is None else environ
    if duration < ONCALL_SCHEDULE_S:
        return {}
    env = {}
    if "LLMPULSE_DRILLS" not in outer:
        env["LLMPULSE_DRILLS"] = oncall_drills(duration, origin)
    if "LLMPULSE_PRICES_FILE" not in outer:
        env["LLMPULSE_PRICES_FILE"] = str(files("llmpulse").joinpath("demo_prices.yml"))
    return env


def _print_schedule(duration: float, origin: float, drills: str) -> None:
    """What a long run will inject, and when (from ``origin``, the traffic's start), so
    that the alerts can be told apart."""
    from llmpulse.drills import parse_drills
    from llmpulse.simulator import ONCALL_SCHEDULE_S, default_incidents

    if duration < ONCALL_SCHEDULE_S:
        return
    print("  on-call schedule (minutes from now):")
    for incident in default_incidents(duration):
        end = incident.start_s + incident.duration_s
        print(f"    {incident.start_s / 60:5.1f} - {end / 60:5.1f}  {incident.name.split('@')[0]}")
    for drill in parse_drills(drills):
        start = (drill.start - origin) / 60
        print(f"    {start:5.1f} - {start + drill.duration_s / 60:5.1f}  drill {drill.kind}")


def scorer_env(worker_env: Mapping[str, str],
               environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The scorer's environment: the worker's, with its own metrics port
    (LLMPULSE_SCORER_METRICS_PORT when given, else a free one)."""
    outer = os.environ if environ is None else environ
    return {**worker_env,
            "LLMPULSE_SCORER_METRICS_PORT": outer.get("LLMPULSE_SCORER_METRICS_PORT", "0")}


def _start(procs: tuple[WorkerProcess, WorkerProcess]) -> tuple[int, int] | None:
    """Start the worker, then the scorer; their metrics ports, or None (reported, and
    whatever did start stopped) if one of them did not start."""
    ports: list[int] = []
    for proc in procs:
        try:
            ports.append(proc.start())
        except RuntimeError as exc:
            print(f"llmpulse demo: the {proc.command} did not start: {exc}\n"
                  f"llmpulse demo: see {proc.log_path}", file=sys.stderr)
            for other in procs:
                other.stop()
            return None
    return ports[0], ports[1]


def _report_exit(proc: WorkerProcess, code: int | None) -> None:
    """A process that failed (or stopped by itself and failed) points at its log."""
    if code not in (0, None):
        print(f"llmpulse demo: {proc.command} exited with {code}; see {proc.log_path}",
              file=sys.stderr)


def _demo_scoring() -> dict[str, str]:
    """Score half the demo's calls (unless configured): enough for quality alerts."""
    return {name: os.environ.get(name, value) for name, value in (
        ("LLMPULSE_SCORE_SAMPLE_RATE", "0.5"), ("LLMPULSE_SCORE_BUDGET_PER_S", "200"))}


def _demo_rules(settings: Settings) -> dict[str, str]:
    """The demo's short-window rules, unless a rules file was configured."""
    if settings.rules_file is not None:
        return {"LLMPULSE_RULES_FILE": str(settings.rules_file.resolve())}
    return {"LLMPULSE_RULES_FILE": str(files("llmpulse.alerting").joinpath("demo_rules.yml")),
            "LLMPULSE_WINDOW_PANE_S": "1", "LLMPULSE_WINDOW_LATENESS_S": "5"}


def _drive(settings: Settings, bootstrap: str, procs: tuple[WorkerProcess, WorkerProcess],
           run: _Run, duration: float, rate: float, seed: int, origin: float) -> bool:
    """Run the simulator in a thread and show progress; True if interrupted by Ctrl-C."""
    from llmpulse.sdk import LlmPulseClient
    from llmpulse.simulator import simulate

    # ids unique to this run: a re-run with the same --seed in the same folder sends the
    # same traffic, but new calls rather than duplicates of the stored ones
    run_id = secrets.token_hex(8)

    def produce() -> None:
        try:
            with LlmPulseClient(bootstrap, settings.topic_prefix,
                                producer_config=librdkafka_security(settings)) as client:
                run.stats = simulate(client, rate=rate, duration=duration, seed=seed,
                                     malformed_ratio=MALFORMED_RATIO, stop=run.stop.is_set,
                                     origin=origin, run_id=run_id)
        except BaseException as exc:
            run.error = exc

    thread = threading.Thread(target=produce, name="simulator", daemon=True)
    interrupted = threading.Event()

    def on_ctrl_c(signum: int, frame: Any) -> None:
        interrupted.set()
        run.stop.set()
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C stops at once

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    worker = procs[0]
    thread.start()
    started = time.monotonic()
    try:
        while thread.is_alive():
            thread.join(1.0)
            _progress(worker, time.monotonic() - started)
        if not interrupted.is_set():
            _drain(procs, run, started, interrupted)
    finally:
        signal.signal(signal.SIGINT, previous)
    print()
    if interrupted.is_set():
        print("interrupted: stopping the worker cleanly ...")
    return interrupted.is_set()


def _drain(procs: tuple[WorkerProcess, WorkerProcess], run: _Run, started: float,
           interrupted: threading.Event, stall_s: float = 60.0, cap_s: float = 900.0
           ) -> None:
    """Wait until the worker has read and stored everything the simulator sent, and
    the scores of every call it sent to the scorer: as long as it makes progress (a
    backlog after the store drill takes a while), at most ``stall_s`` without any and
    ``cap_s`` in all.  What it has not read then is reported by the summary."""
    if run.stats is None:
        return
    worker, scorer = procs
    sent = sum(run.stats.events.values()) + run.stats.malformed
    now = time.monotonic()
    cap, deadline, seen = now + cap_s, now + stall_s, -1.0
    while time.monotonic() < min(deadline, cap) and not interrupted.is_set():
        values = _scrape(worker)
        scores = _scores_expected(values, scorer)
        read = values.get("llmpulse_events_in_total", 0)
        if read >= sent + scores:
            time.sleep(1.5)  # one more flush interval
            _progress(worker, time.monotonic() - started)
            return
        if read > seen:  # progress: wait on
            seen, deadline = read, time.monotonic() + stall_s
        _progress(worker, time.monotonic() - started)
        time.sleep(0.5)


def _scores_expected(worker_values: dict[str, float], scorer: WorkerProcess) -> float:
    """Scores the worker should still receive: the tasks it sent less those the scorer
    shed, failed or dropped; none from a scorer that is no longer running (its log says
    why, and the demo reports it when it stops)."""
    if not scorer.running():
        return 0.0
    lost = sum(v for k, v in _scrape(scorer).items()
               if k.startswith("llmpulse_scorer_tasks_total{") and "scored" not in k)
    return worker_values.get("llmpulse_scoring_sent_total", 0) - lost


def _scrape_text(worker: WorkerProcess) -> str:
    try:
        return worker.metrics_text()
    except OSError:
        return ""


def _scrape(worker: WorkerProcess) -> dict[str, float]:
    return parse_metrics(_scrape_text(worker))


def _progress(worker: WorkerProcess, elapsed: float) -> None:
    m = _scrape(worker)
    line = (f"  {elapsed:5.0f}s  events in {m.get('llmpulse_events_in_total', 0):>8.0f}"
            f"  calls stored {m.get('llmpulse_calls_total', 0):>7.0f}"
            f"  errors {m.get('llmpulse_call_errors_total', 0):>5.0f}"
            f"  dead letters {m.get('llmpulse_dlq_events_total', 0):>4.0f}"
            f"  cost ${m.get('llmpulse_cost_usd_total', 0):>8.3f}"
            f"  lag {m.get('llmpulse_consumer_lag', 0):>5.0f}")
    end = "\r" if sys.stdout.isatty() else "\n"
    print(line, end=end, flush=True)


def _print_summary(store_url: str, started: datetime, stats: Any, data_dir: Path,
                   port: int, settings: Settings) -> None:
    from llmpulse.sinks.clickhouse import ClickHouseStore, connect, server_options
    from llmpulse.summary import (
        alert_log,
        format_alerts,
        format_summary,
        model_summaries,
        quality_line,
        release_lines,
        retrain_lines,
        table_counts,
    )

    options = server_options(settings) if store_url == settings.clickhouse_url else {}
    store = ClickHouseStore(connect(store_url, options), store_url)
    try:
        models = model_summaries(store, started)
        counts = table_counts(store, started)
        alerts = alert_log(store, started)
        quality = quality_line(store, started)
        retrain = retrain_lines(store, started)
        report = _write_report(store, started, data_dir / "report.html")
        releases = release_lines(store, started)
    finally:
        store.close()
    print("\nSummary (read back from ClickHouse):")
    print(format_summary(models))
    print(format_alerts(alerts, started))
    print("  * part of the calls have no known price (counted, not priced)"
          if any(m.unpriced for m in models) else "")
    print(f"stored: {counts['inference_events']} calls, {counts['signals']} signals, "
          f"{counts['feedback']} feedback events")
    print(quality)
    print(retrain)
    print(releases)
    if stats is not None:
        incidents = ", ".join(f"{name} ({n} calls)" for name, n in stats.incidents.items())
        print(f"sent: {stats.calls} calls, {stats.malformed} malformed events "
              f"(-> dead-letter topic); incidents: {incidents or 'none'}")
    print(f"data: {data_dir} (ClickHouse store, worker.log, scorer.log, last-metrics.prom)")
    if report is not None:
        print(f"report: {report} (plots of this run; open it in a browser)")
    print(f"metrics were served at http://127.0.0.1:{port}/metrics; the last scrape is in "
          f"{data_dir / 'last-metrics.prom'}")


def _write_report(store: Any, started: datetime, path: Path) -> Path | None:
    """The run's HTML report (``llmpulse report`` over the run); None if it failed (said
    on stderr: the run itself went through)."""
    from llmpulse.report import Period, write

    try:
        return write(store, Period(started, datetime.now(UTC) + timedelta(seconds=1)), path)
    except Exception as exc:  # the summary above is the run's result; the page is extra
        print(f"llmpulse demo: the report was not written: {exc}", file=sys.stderr)
        return None


def _print_duplicates(values: dict[str, float]) -> None:
    """Say so when calls were not stored because the store already had their ids."""
    stored = int(values.get("llmpulse_duplicate_events_total{topic=stored}", 0))
    if stored:
        print(f"note: {stored} events had the request id of a call already in the store "
              "and were not stored again (llmpulse_duplicate_events_total{topic=\"stored\"})")
