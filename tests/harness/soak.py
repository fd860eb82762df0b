"""A fault soak: steady traffic while a driver kills the worker (SIGKILL, SIGTERM),
restarts the broker, fills and frees the store's disk and kills a webhook
receiver at random moments; at the end everything produced is reconciled against
everything stored, dead-lettered and committed.

Shared by ``bench/soak.py`` (long runs, results in BENCHMARKS.md) and
``tests/integration/test_soak.py`` (a short run in CI).
"""

from __future__ import annotations

import heapq
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from llmpulse.config import load_settings
from llmpulse.ingest import INPUT_ROLES
from llmpulse.procs import WorkerProcess, parse_metrics
from llmpulse.sdk import DEFAULT_PRODUCER_CONFIG
from llmpulse.streams.app import all_topics
from llmpulse.topics import ensure_topics
from tests.harness.receiver import Receiver

FAULTS = ("worker_kill", "worker_term", "broker_restart", "disk_full", "receiver_kill")

ALERT_RULES = """
channels:
  hook: {{type: webhook, url: "{url}", secret: soak, retries: 3}}
rules:
  - name: soak_calls
    metric: calls
    group_by: [route]
    window: 10s
    threshold: 1
    min_count: 1
    severity: warning
    channels: [hook]
"""


@dataclass
class SoakConfig:
    duration_s: float = 120.0
    rate: float = 100.0  # messages per second
    seed: int = 1
    faults: tuple[str, ...] = FAULTS
    fault_every_s: tuple[float, float] = (8.0, 20.0)  # random pause between faults
    malformed_ratio: float = 0.01
    disk_mb: int = 400  # size of the store's own filesystem (disk_full)
    settle_timeout_s: float = 240.0


@dataclass
class Ledger:
    """What the broker acknowledged receiving, by kind."""

    halves: dict[str, set[str]] = field(default_factory=dict)  # request_id -> {"req", "resp"}
    inference: set[str] = field(default_factory=set)
    feedback: set[str] = field(default_factory=set)
    malformed: int = 0
    failed: int = 0  # deliveries the broker never acknowledged (not expected anywhere)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expected_calls(self) -> dict[str, str]:
        out = {rid: "inference" for rid in self.inference}
        for rid, halves in self.halves.items():
            out[rid] = ("joined" if len(halves) == 2 else
                        "request_only" if "req" in halves else "response_only")
        return out


def _now_iso(offset_s: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


def _request(rid: str) -> dict[str, Any]:
    return {"event_type": "request", "request_id": rid, "start_time": _now_iso(-2.0),
            "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5",
            "tenant": "soak", "route": "rag"}


def _response(rid: str) -> dict[str, Any]:
    return {"event_type": "response", "request_id": rid, "end_time": _now_iso(),
            "gen_ai.response.model": "claude-sonnet-4-5", "gen_ai.usage.input_tokens": 900,
            "gen_ai.usage.output_tokens": 120, "gen_ai.response.time_to_first_chunk": 0.4}


def _inference(rid: str) -> dict[str, Any]:
    return {"event_type": "inference", "request_id": rid, "start_time": _now_iso(-1.5),
            "end_time": _now_iso(), "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 700,
            "gen_ai.usage.output_tokens": 80, "gen_ai.response.finish_reasons": ["stop"],
            "tenant": "soak", "route": "chat"}


def _feedback(rid: str, fid: str) -> dict[str, Any]:
    return {"event_type": "feedback", "request_id": rid, "feedback_id": fid,
            "time": _now_iso(), "thumbs": "down"}


class Traffic(threading.Thread):
    """A steady mix: whole calls, request/response pairs (some out of order), feedback
    given late (after its call) or early (before it), and malformed messages."""

    def __init__(self, bootstrap: str, prefix: str, config: SoakConfig, ledger: Ledger
                 ) -> None:
        super().__init__(daemon=True)
        self.prefix = prefix
        self.config = config
        self.ledger = ledger
        self.rng = random.Random(config.seed)
        self.producer = Producer({**DEFAULT_PRODUCER_CONFIG, "bootstrap.servers": bootstrap,
                                  "message.timeout.ms": 600_000})
        self.stop_event = threading.Event()
        self.sent = 0
        self._later: list[tuple[float, int, str, str, dict[str, Any]]] = []
        self._seq = 0

    def run(self) -> None:
        interval = 1.0 / self.config.rate
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            self._release_due(time.monotonic())
            self._one()
            self.producer.poll(0)
            next_at += interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        self._release_due(float("inf"))
        self.producer.flush(600)

    def _id(self, kind: str) -> str:
        self._seq += 1
        return f"soak{self.config.seed}-{kind}-{self._seq}"

    def _one(self) -> None:
        roll = self.rng.random()
        if roll < self.config.malformed_ratio:
            self._send("inference", None, b'{"event_type": "inference", "request_id": ',
                       ("malformed", ""))
        elif roll < 0.45:
            rid = self._id("inf")
            self._send("inference", rid, _inference(rid), ("inference", rid))
        elif roll < 0.85:
            rid = self._id("pair")
            first, second = (("requests", _request(rid), "req"),
                             ("responses", _response(rid), "resp"))
            if self.rng.random() < 0.1:  # the response overtakes its request
                first, second = second, first
            self._send(first[0], rid, first[1], (first[2], rid))
            self._later_send(self.rng.uniform(0.05, 3.0), second[0], rid, second[1],
                             (second[2], rid))
        elif roll < 0.95:  # late feedback on a call sent a moment ago
            rid = self._id("fbcall")
            self._send("inference", rid, _inference(rid), ("inference", rid))
            fid = f"{rid}-fb"
            self._later_send(self.rng.uniform(1.0, 8.0), "feedback", rid, _feedback(rid, fid),
                             ("feedback", fid))
        else:  # early feedback: it arrives before its call
            rid = self._id("early")
            fid = f"{rid}-fb"
            self._send("feedback", rid, _feedback(rid, fid), ("feedback", fid))
            self._later_send(self.rng.uniform(0.5, 4.0), "inference", rid, _inference(rid),
                             ("inference", rid))

    def _later_send(self, delay: float, role: str, rid: str, event: dict[str, Any],
                    what: tuple[str, str]) -> None:
        self._seq += 1
        heapq.heappush(self._later, (time.monotonic() + delay, self._seq, role, rid,
                                     {"event": event, "what": what}))

    def _release_due(self, now: float) -> None:
        while self._later and self._later[0][0] <= now:
            _, _, role, rid, item = heapq.heappop(self._later)
            self._send(role, rid, item["event"], item["what"])

    def _send(self, role: str, rid: str | None, event: dict[str, Any] | bytes,
              what: tuple[str, str]) -> None:
        value = event if isinstance(event, bytes) else orjson.dumps(event)
        key = rid.encode() if rid is not None else None

        def delivered(err: Any, _msg: Any) -> None:
            self._record(err is None, what)

        while True:
            try:
                self.producer.produce(self.prefix + role, value=value, key=key,
                                      on_delivery=delivered)
                break
            except BufferError:  # the local queue is full while the broker is away
                self.producer.poll(0.5)
        self.sent += 1

    def _record(self, ok: bool, what: tuple[str, str]) -> None:
        kind, ident = what
        with self.ledger.lock:
            if not ok:
                self.ledger.failed += 1
            elif kind == "malformed":
                self.ledger.malformed += 1
            elif kind == "inference":
                self.ledger.inference.add(ident)
            elif kind == "feedback":
                self.ledger.feedback.add(ident)
            else:
                self.ledger.halves.setdefault(ident, set()).add(kind)


@dataclass
class Sample:
    t: float
    rss_mb: float | None
    committed_lag: float | None
    read_lag: float | None
    events_in: float | None


@dataclass
class FaultRecord:
    kind: str
    at: float
    recovered_s: float | None = None  # until the worker reads again (worker/broker faults)


@dataclass
class Report:
    config: dict[str, Any]
    produced: int = 0
    expected_calls: int = 0
    expected_feedback: int = 0
    malformed: int = 0
    undelivered: int = 0
    lost_calls: int = 0
    duplicated_calls: int = 0
    duplicated_signals: int = 0
    misfiled: int = 0
    lost_feedback: int = 0
    duplicated_feedback: int = 0
    lost_dead_letters: int = 0
    join_timeouts: float = 0.0
    uncommitted: int = -1
    faults: list[FaultRecord] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def problems(self) -> dict[str, float]:
        """The counts that must be zero."""
        checks = {"lost_calls": self.lost_calls, "duplicated_calls": self.duplicated_calls,
                  "duplicated_signals": self.duplicated_signals, "misfiled": self.misfiled,
                  "lost_feedback": self.lost_feedback,
                  "duplicated_feedback": self.duplicated_feedback,
                  "lost_dead_letters": self.lost_dead_letters,
                  "late_to_windows": self.join_timeouts, "uncommitted": self.uncommitted}
        return {k: v for k, v in checks.items() if v != 0}

    def summary(self) -> dict[str, Any]:
        rss = [s.rss_mb for s in self.samples if s.rss_mb is not None]
        recoveries = [f.recovered_s for f in self.faults if f.recovered_s is not None]
        out = {k: v for k, v in asdict(self).items() if k not in ("samples", "faults")}
        out["fault_counts"] = {k: sum(f.kind == k for f in self.faults) for k in FAULTS}
        out["recovery_s"] = {"max": max(recoveries, default=None),
                             "mean": sum(recoveries) / len(recoveries) if recoveries else None}
        out["rss_mb"] = {"first": rss[0] if rss else None, "max": max(rss, default=None),
                         "last": rss[-1] if rss else None}
        out["max_committed_lag"] = max((s.committed_lag or 0 for s in self.samples), default=0)
        return out


class Broker:
    """Start, stop and restart the broker under test (same address and data)."""

    def __init__(self, restart: Callable[[], None] | None) -> None:
        self._restart = restart

    @property
    def restartable(self) -> bool:
        return self._restart is not None

    def restart(self) -> None:
        assert self._restart is not None
        self._restart()


class Soak:
    """One soak run on its own topics, group and store."""

    def __init__(self, bootstrap: str, broker: Broker, workdir: Path, config: SoakConfig,
                 log: Callable[[str], None] = print) -> None:
        self.bootstrap = bootstrap
        self.broker = broker
        self.workdir = workdir
        self.config = config
        self.log = log
        tag = f"{config.seed}{int(time.time()) % 100000}"
        self.prefix = f"soak{tag}."
        self.app_id = f"soak-{tag}"
        self.store_dir = workdir / "store"
        self.rng = random.Random(config.seed + 1)
        self.ledger = Ledger()
        self.report = Report(config=asdict(config))
        self.receiver: Receiver | None = None
        self.receiver_port = 0
        self.worker: WorkerProcess | None = None
        self._generation = 0
        self._timeouts_seen: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # -- set-up -------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {
            "LLMPULSE_BROKER": self.bootstrap, "LLMPULSE_TOPIC_PREFIX": self.prefix,
            "LLMPULSE_APP_ID": self.app_id,
            "LLMPULSE_CLICKHOUSE_URL": f"chdb://{self.store_dir / 'chdb'}",
            "LLMPULSE_DATA_DIR": str(self.workdir / "data"),
            "LLMPULSE_METRICS_HOST": "127.0.0.1", "LLMPULSE_METRICS_PORT": "0",
            "LLMPULSE_BATCH_MAX_S": "0.5", "LLMPULSE_SESSION_TIMEOUT_S": "6",
            "LLMPULSE_RULES_FILE": str(self.workdir / "rules.yml"),
            "LLMPULSE_WINDOW_PANE_S": "5",
        }

    def _mount_store(self) -> None:
        if "disk_full" not in self.config.faults:
            self.store_dir.mkdir(parents=True, exist_ok=True)
            return
        self.store_dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.config.disk_mb}m",
                               "tmpfs", str(self.store_dir)], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError("the disk_full fault needs a small filesystem of its own for "
                               f"the store (mount tmpfs as root): {done.stderr.strip()}")

    def _unmount_store(self) -> None:
        if "disk_full" in self.config.faults:
            subprocess.run(["umount", "-l", str(self.store_dir)], check=False,
                           capture_output=True)

    def _start_receiver(self) -> None:
        self.receiver = Receiver(port=self.receiver_port)
        self.receiver.__enter__()
        self.receiver_port = self.receiver.server.server_port

    def _start_worker(self) -> None:
        self._generation += 1
        worker = WorkerProcess(self.env(), log_path=self.workdir / f"worker-{self._generation}.log")
        worker.start(timeout=120)
        self.worker = worker

    # -- the run ------------------------------------------------------------------------
    def run(self) -> Report:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        self._mount_store()
        try:
            return self._run()
        finally:
            self._stop.set()
            if self.worker is not None and self.worker.running():
                self.worker.kill()
            if self.receiver is not None:
                self.receiver.__exit__()
            self._unmount_store()

    def _run(self) -> Report:
        settings = load_settings(self.env())
        ensure_topics(self.bootstrap, all_topics(settings), settings.replication_factor)
        self._start_receiver()
        assert self.receiver is not None
        (self.workdir / "rules.yml").write_text(ALERT_RULES.format(url=self.receiver.url("/hook")))
        self._start_worker()
        traffic = Traffic(self.bootstrap, self.prefix, self.config, self.ledger)
        monitor = threading.Thread(target=self._monitor, daemon=True)
        monitor.start()
        traffic.start()
        started = time.monotonic()
        self._chaos(started + self.config.duration_s)
        traffic.stop_event.set()
        traffic.join(660)
        self.report.produced = traffic.sent
        self.log(f"traffic done: {traffic.sent} messages; settling")
        if self.worker is None or not self.worker.running():
            self._start_worker()
        self._settle()
        self._stop.set()
        monitor.join(10)
        self._scrape_timeouts()
        assert self.worker is not None
        self.worker.stop(timeout=90)
        self._reconcile(settings)
        return self.report

    def _chaos(self, until: float) -> None:
        low, high = self.config.fault_every_s
        kinds = [k for k in self.config.faults
                 if k != "broker_restart" or self.broker.restartable]
        while True:
            pause = self.rng.uniform(low, high)
            if time.monotonic() + pause >= until or not kinds:
                time.sleep(max(0.0, until - time.monotonic()))
                return
            time.sleep(pause)
            kind = self.rng.choice(kinds)
            record = FaultRecord(kind=kind, at=time.time())
            self.log(f"fault: {kind}")
            getattr(self, f"_fault_{kind}")(record)
            self.report.faults.append(record)

    def _fault_worker_kill(self, record: FaultRecord) -> None:
        assert self.worker is not None
        self._scrape_timeouts()
        self.worker.kill()
        time.sleep(self.rng.uniform(0.2, 3.0))
        self._restart_worker(record)

    def _fault_worker_term(self, record: FaultRecord) -> None:
        assert self.worker is not None
        self._scrape_timeouts()
        assert self.worker.proc is not None
        self.worker.proc.send_signal(signal.SIGTERM)  # as Kubernetes stops a pod
        try:
            self.worker.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.log("the worker did not stop within 120 s of SIGTERM")
        self.worker.kill()
        time.sleep(self.rng.uniform(0.2, 2.0))
        self._restart_worker(record)

    def _restart_worker(self, record: FaultRecord) -> None:
        began = time.monotonic()
        self._start_worker()
        record.recovered_s = self._until_reading(began)

    def _fault_broker_restart(self, record: FaultRecord) -> None:
        began = time.monotonic()
        self.broker.restart()
        record.recovered_s = self._until_reading(began)

    def _fault_disk_full(self, record: FaultRecord) -> None:
        filler = self.store_dir / "filler"
        with filler.open("wb") as out:
            chunk = b"\0" * (1 << 20)
            try:
                while True:
                    out.write(chunk)
                    out.flush()
            except OSError:
                pass
        time.sleep(self.rng.uniform(3.0, 10.0))
        filler.unlink()
        began = time.monotonic()
        record.recovered_s = self._until_reading(began)

    def _fault_receiver_kill(self, record: FaultRecord) -> None:
        assert self.receiver is not None
        self.receiver.__exit__()
        time.sleep(self.rng.uniform(2.0, 8.0))
        self._start_receiver()

    def _until_reading(self, began: float, timeout: float = 180.0) -> float | None:
        """Seconds until the worker has read new input again (events_in grows)."""
        first: float | None = None
        while time.monotonic() - began < timeout:
            values = self._metrics()
            seen = values.get("llmpulse_events_in_total") if values else None
            if seen is not None:
                if first is None:
                    first = seen
                elif seen > first:
                    return time.monotonic() - began
            time.sleep(0.25)
        return None

    def _metrics(self) -> dict[str, float] | None:
        worker = self.worker
        if worker is None or not worker.running():
            return None
        try:
            return parse_metrics(worker.metrics_text(timeout=2.0))
        except Exception:  # restarting
            return None

    def _monitor(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            values = self._metrics() or {}
            worker = self.worker
            rss = _rss_mb(worker.proc.pid) if worker and worker.proc else None
            self.report.samples.append(Sample(
                t=round(time.monotonic() - t0, 1), rss_mb=rss,
                committed_lag=values.get("llmpulse_consumer_lag"),
                read_lag=values.get("llmpulse_consumer_read_lag"),
                events_in=values.get("llmpulse_events_in_total")))
            self._scrape_timeouts(values)
            time.sleep(1.0)

    def _scrape_timeouts(self, values: dict[str, float] | None = None) -> None:
        """Join timeouts counted by each worker process (counters restart with it)."""
        values = values if values is not None else self._metrics()
        if values:
            with self._lock:
                self._timeouts_seen[self._generation] = max(
                    self._timeouts_seen.get(self._generation, 0.0),
                    values.get("llmpulse_join_timeouts_total", 0.0))

    def _settle(self) -> None:
        """Wait until the worker is idle: nothing pending, committed offsets at the end."""
        deadline = time.monotonic() + self.config.settle_timeout_s
        partitions = load_settings(self.env()).partitions
        last: dict[str, float] = {}
        while time.monotonic() < deadline:
            values = self._metrics() or {}
            steady = values.get("llmpulse_events_in_total") == last.get("llmpulse_events_in_total")
            last = values
            if (steady and input_caught_up(values, partitions)
                    and values.get("llmpulse_pending_joins", 1) == 0):
                return
            time.sleep(2.0)
        self.log(f"not settled after {self.config.settle_timeout_s:.0f}s: "
                 + json.dumps({k: v for k, v in last.items() if "{" not in k
                               and ("lag" in k or "pending" in k or "events_in" in k)}))

    # -- reconciliation -----------------------------------------------------------------
    def _sql(self, query: str) -> list[list[Any]]:
        done = subprocess.run([sys.executable, "-m", "llmpulse", "sql", "--format", "arrays",
                               query],
                              env={**os.environ, **self.env()}, capture_output=True, text=True,
                              timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"llmpulse sql failed: {done.stderr}")
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def _reconcile(self, settings: Any) -> None:
        r, ledger = self.report, self.ledger
        expected = ledger.expected_calls()
        r.expected_calls, r.expected_feedback = len(expected), len(ledger.feedback)
        r.malformed, r.undelivered = ledger.malformed, ledger.failed
        rows = self._sql("SELECT request_id, join_status FROM inference_events FINAL "
                         f"WHERE startsWith(request_id, 'soak{self.config.seed}-')")
        stored = {str(rid): str(status) for rid, status in rows}
        lost = sorted(set(expected) - set(stored))
        misfiled = sorted(rid for rid, status in stored.items()
                          if rid in expected and expected[rid] != status)
        r.lost_calls, r.misfiled = len(lost), len(misfiled)
        r.duplicated_calls = len(rows) - len(stored)
        [[dup_signals]] = self._sql(
            "SELECT count() FROM (SELECT request_id, name FROM signals FINAL "
            "GROUP BY request_id, name HAVING count() > 1)")
        r.duplicated_signals = int(dup_signals)
        fb_rows = self._sql("SELECT feedback_id FROM feedback FINAL")
        fb = {str(row[0]) for row in fb_rows}
        r.lost_feedback = len(ledger.feedback - fb)
        r.duplicated_feedback = len(fb_rows) - len(fb)
        r.examples = {"lost": lost[:10], "misfiled": [f"{x}:{stored[x]}" for x in misfiled[:10]],
                      "lost_feedback": sorted(ledger.feedback - fb)[:10]}
        r.lost_dead_letters = max(0, ledger.malformed - self._dead_letters(settings))
        r.join_timeouts = sum(self._timeouts_seen.values())
        r.uncommitted = self._uncommitted(settings)

    def _dead_letters(self, settings: Any) -> int:
        """Distinct source offsets on the dead-letter topic (read until it stays quiet: the
        embedded broker's high watermark can be low after multi-record batches)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"{self.app_id}-dlq",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        topic = settings.topic("dlq")
        consumer.assign([TopicPartition(topic, p, 0) for p in range(settings.partitions)])
        seen: set[tuple[bytes, bytes, bytes]] = set()
        quiet_since = time.monotonic()
        deadline = time.monotonic() + 120
        while time.monotonic() - quiet_since < 8.0 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            quiet_since = time.monotonic()
            headers = dict(msg.headers() or [])
            seen.add((headers.get("llmpulse.source.topic", b""),
                      headers.get("llmpulse.source.partition", b""),
                      headers.get("llmpulse.source.offset", b"")))
        consumer.close()
        return len(seen)

    def _uncommitted(self, settings: Any) -> int:
        """Input messages past the group's committed offsets."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.app_id,
                             "enable.auto.commit": False})
        tps = [TopicPartition(settings.topic(role), p)
               for role in INPUT_ROLES for p in range(settings.partitions)]
        committed = None
        for _ in range(20):
            try:
                committed = consumer.committed(tps, timeout=30)
                break
            except KafkaException:  # the group coordinator moving or loading: ask again
                time.sleep(0.5)
        if committed is None:
            consumer.close()
            return -1
        behind = 0
        for tp in committed:
            end = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                 timeout=10)[1]
            behind += max(0, end - max(tp.offset, 0))
        consumer.close()
        return behind


def input_lag_series(values: dict[str, float]) -> dict[str, float]:
    """Committed lag of each input partition the worker reports (``llmpulse_consumer_lag``;
    :func:`llmpulse.procs.parse_metrics` keys it ``name{partition=0,topic=llm.inference}``)."""
    head = "llmpulse_consumer_lag{"
    found: dict[str, float] = {}
    for key, value in values.items():
        if key.startswith(head) and key.endswith("}"):
            labels = dict(label.partition("=")[::2] for label in key[len(head):-1].split(","))
            if labels.get("topic", "").rsplit(".", 1)[-1] in INPUT_ROLES:
                found[key] = value
    return found


def input_lag(values: dict[str, float]) -> float:
    """Committed lag summed over the input partitions the worker reports."""
    return sum(input_lag_series(values).values())


def input_caught_up(values: dict[str, float], partitions: int) -> bool:
    """Every input partition reported, with no committed lag (a partition not reported
    yet must not read as caught up)."""
    series = input_lag_series(values)
    return len(series) >= partitions * len(INPUT_ROLES) and not any(series.values())


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
