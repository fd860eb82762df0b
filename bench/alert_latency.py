"""Alert latency: failing events produced -> webhook notification received, same run baseline.

    python bench/alert_latency.py --trials 40 --background-rate 100

One broker (the embedded one unless ``--broker``), one ``llmpulse worker`` (chdb
store in a temp dir) with one rule: ``error_rate`` per tenant over 5 s,
threshold 0.5, min_count 10, for 0, notifying a signed webhook on a loopback
receiver.  Steady simulated traffic (``llmpulse simulate``, a separate process)
keeps the worker busy all along.

Each trial sends 10 failing inference events for a fresh tenant ``trial-i``;
the rule's condition holds from the 10th.  Latency is the receiver's arrival
time of the trigger notification for ``trial-i`` minus the time the 10th
event's produce call and the following ``flush()`` returned (the broker has
acknowledged all 10).  A trial with no notification by the end of the run (at
least ``--timeout`` s after the last trial) is missed: it counts as an infinite
latency, so the percentiles it reaches are "missed" and the run fails.

Baseline, interleaved with the trials: one message produced (same producer
settings as the SDK, then ``flush()``) to a plain topic on the same broker and
read by a plain confluent-kafka consumer that is already assigned and polling.

A consumer of its own reads ``llm.windows`` and ``llm.alerts`` so each hop of an
alert is timed too (message create times).  Results are printed and written to
bench/results/alert_latency.json (``--out``); the exit status is 1 when the
target (p99 <= 2 s, nothing missed) is not met.  Extra worker settings:
``--worker-env LLMPULSE_BATCH_MAX_S=0.25`` (repeatable).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from llmpulse.config import load_settings
from llmpulse.embedded_broker import EmbeddedBroker, preexec_die_with_parent
from llmpulse.procs import WorkerProcess, parse_metrics
from llmpulse.sdk import DEFAULT_PRODUCER_CONFIG, LlmPulseClient
from llmpulse.streams.app import all_topics
from llmpulse.topics import ensure_topics
from llmpulse.windows import GroupKey

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Producer

    from tests.harness.receiver import Receiver

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
SECRET_ENV = "BENCH_WEBHOOK_SECRET"
SECRET = "bench-secret"
RULE = "tenant_errors"
ROUNDTRIP = "bench-roundtrip"  # plain topic (after the run's prefix) for the baseline
TARGET_P99_S = 2.0
#: librdkafka: no log line when the broker closes idle connections or stops first
QUIET = {"log.connection.close": False}
#: worker metrics kept in the results (bare names, summed over labels)
METRICS = ("llmpulse_events_in_total", "llmpulse_calls_total", "llmpulse_call_errors_total",
           "llmpulse_window_late_calls_total", "llmpulse_alert_notifications_total",
           "llmpulse_dlq_events_total", "llmpulse_consumer_lag",
           "llmpulse_sink_batch_seconds_sum", "llmpulse_sink_batch_seconds_count")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def harness_on_path() -> None:
    """tests/harness is not installed: import it from the checkout."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def receiver_class() -> type[Receiver]:
    """The loopback HTTP receiver of the test harness."""
    harness_on_path()
    from tests.harness.receiver import Receiver

    return Receiver


def rules_text(url: str, window_s: float) -> str:
    return f"""
channels:
  hook: {{type: webhook, url: "{url}", secret_env: {SECRET_ENV}, retries: 2}}
rules:
  - name: {RULE}
    metric: error_rate
    group_by: [tenant]
    window: {window_s:g}s
    threshold: 0.5
    min_count: 10
    for: 0
    channels: [hook]
"""


# -- measurements ---------------------------------------------------------------------------


@dataclass
class Trial:
    """One burst of failing events for one tenant and what came of it."""

    tenant: str
    first_sent: float = 0.0  # time.time() before the first produce call
    last_sent: float = 0.0  # before the 10th (last) produce call
    acked: float = 0.0  # after the 10th produce call and flush() returned: the zero point
    received: float | None = None  # receiver arrival of the trigger notification
    windows_sent: float | None = None  # create time of the llm.windows message with the 10th
    evaluated: float | None = None  # the alert's own time: when the engine fired it
    alert_sent: float | None = None  # create time of its llm.alerts message
    notifications: int = 0  # trigger notifications for this tenant (1 expected)

    @property
    def latency(self) -> float | None:
        return None if self.received is None else self.received - self.acked


@dataclass
class Probe:
    """One round trip through the broker: produce + flush, then a plain consumer reads it."""

    n: int
    sent: float = 0.0
    acked: float = 0.0
    received: float | None = None

    @property
    def latency(self) -> float | None:
        return None if self.received is None else self.received - self.acked


class Bursts:
    """Sends the failing bursts through the SDK; owns its client (and its producer)."""

    def __init__(self, broker: str, prefix: str, size: int) -> None:
        self.client: LlmPulseClient | None = LlmPulseClient(
            broker, prefix, producer_config={**QUIET, "client.id": "bench-trials"})
        self.size = size

    def send(self, tenant: str) -> Trial:
        """``size`` failing calls for ``tenant``, valid otherwise; each its own request id."""
        client = self.client
        assert client is not None
        trial = Trial(tenant)
        trial.first_sent = time.time()
        for k in range(self.size):
            end = datetime.now(UTC)
            if k == self.size - 1:
                trial.last_sent = time.time()
            client.record_inference(provider="openai", request_model="gpt-4o-mini",
                                    route="chat", tenant=tenant,
                                    start_time=end - timedelta(seconds=0.4), end_time=end,
                                    error_type="server_error", finish_reasons=("error",))
        remaining = client.flush(30)
        trial.acked = time.time()
        if remaining or client.failed:
            raise RuntimeError(f"{tenant}: {remaining} events undelivered, "
                               f"{client.failed} failed")
        return trial

    def close(self) -> None:
        """Flush and drop the client, so its producer is gone before the broker stops."""
        if self.client is not None:
            self.client.close(10)
            self.client = None


class RoundTrip:
    """A plain producer and an assigned, polling consumer on a one-partition topic."""

    def __init__(self, broker: str, topic: str) -> None:
        from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

        self.topic = topic
        self.consumer: Consumer = Consumer({
            "bootstrap.servers": broker, "group.id": f"bench-roundtrip-{time.time_ns()}",
            "enable.auto.commit": False, "auto.offset.reset": "latest", **QUIET,
            "client.id": "bench-roundtrip"})
        self.consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
        self.producer: Producer = Producer({**DEFAULT_PRODUCER_CONFIG, **QUIET,
                                            "bootstrap.servers": broker,
                                            "client.id": "bench-roundtrip"})
        self.arrivals: dict[int, float] = {}
        self.lock = threading.Lock()
        self.unreadable = 0  # messages the tap could not decode (their hops show as missed)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._poll, name="roundtrip-consumer",
                                       daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.stopping.is_set():
            message = self.consumer.poll(0.1)
            if message is None or message.error():
                continue
            at = time.time()
            with self.lock:
                self.arrivals[int(message.value() or b"0")] = at

    def probe(self, n: int) -> Probe:
        probe = Probe(n, sent=time.time())
        self.producer.produce(self.topic, value=str(n).encode())
        if self.producer.flush(30):
            raise RuntimeError(f"round-trip probe {n} was not delivered")
        probe.acked = time.time()
        return probe

    def wait_all(self, probes: list[Probe], timeout: float) -> None:
        """Wait until every probe was read (or ``timeout``); fill in their arrival times."""
        deadline = time.monotonic() + timeout
        while True:
            for probe in probes:
                probe.received = self.arrival(probe.n)
            if all(p.received is not None for p in probes) or time.monotonic() > deadline:
                return
            time.sleep(0.05)

    def arrival(self, n: int) -> float | None:
        with self.lock:
            return self.arrivals.get(n)

    def wait_ready(self, timeout: float) -> None:
        """Probe until one comes back: the consumer's offset is resolved and it is fetching."""
        deadline = time.monotonic() + timeout
        n = -1
        while time.monotonic() < deadline:
            self.probe(n)
            until = time.monotonic() + 0.5
            while time.monotonic() < until:
                with self.lock:
                    if self.arrivals:
                        return
                time.sleep(0.01)
            n -= 1
        raise RuntimeError(f"the round-trip consumer read nothing in {timeout:.0f}s")

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        self.consumer.close()
        self.producer.flush(5)
        self.producer.close()


class Tap:
    """Reads the worker's llm.windows and llm.alerts (own group) to time each hop.

    For each tenant it keeps the create time of the windows message whose partial
    brought the tenant's calls to ``burst`` and of the first trigger on llm.alerts.
    """

    def __init__(self, broker: str, windows: str, alerts: str, partitions: int,
                 burst: int) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self.windows, self.alerts, self.burst = windows, alerts, burst
        self.consumer: Consumer = Consumer({
            "bootstrap.servers": broker, "group.id": f"bench-tap-{time.time_ns()}",
            "enable.auto.commit": False, **QUIET, "client.id": "bench-tap"})
        self.consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING)
                              for t in (windows, alerts) for p in range(partitions)])
        self.calls: dict[str, float] = {}
        self.windows_sent: dict[str, float] = {}
        self.alert_sent: dict[str, float] = {}
        self.lock = threading.Lock()
        self.unreadable = 0  # messages the tap could not decode (their hops show as missed)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._poll, name="tap", daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.stopping.is_set():
            message = self.consumer.poll(0.1)
            if message is None or message.error():
                continue
            created = message.timestamp()[1] / 1000
            value = message.value() or b"{}"
            try:
                with self.lock:
                    if message.topic() == self.windows:
                        self._partials(json.loads(value), created)
                    else:
                        alert = json.loads(value)
                        tenant = alert.get("group", {}).get("tenant")
                        if alert.get("kind") == "trigger" and tenant is not None:
                            self.alert_sent.setdefault(tenant, created)
            except (ValueError, TypeError, AttributeError) as exc:  # a format it cannot read
                if not self.unreadable:
                    log(f"the hop tap cannot read a {message.topic()} message: {exc!r}")
                self.unreadable += 1

    def _partials(self, body: dict[str, Any], created: float) -> None:
        for raw, _pane, agg in body.get("p", ()):
            group = GroupKey.decode(raw)
            tenant = group.tenant
            if group != GroupKey(tenant=tenant) or tenant in self.windows_sent:
                continue  # only the rule's grouping: tenant alone
            self.calls[tenant] = self.calls.get(tenant, 0) + agg.get("calls", 0)
            if self.calls[tenant] >= self.burst:
                self.windows_sent[tenant] = created

    def fill(self, trial: Trial) -> None:
        with self.lock:
            trial.windows_sent = self.windows_sent.get(trial.tenant)
            trial.alert_sent = self.alert_sent.get(trial.tenant)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        self.consumer.close()


class Background:
    """``llmpulse simulate --rate R`` in its own process, until stopped."""

    def __init__(self, env: dict[str, str], rate: float, seed: int, data: Path) -> None:
        self.env = {**os.environ, **env, "LLMPULSE_LOG_LEVEL": "warning"}
        self.rate, self.seed = rate, seed
        self.out_path, self.log_path = data / "simulate.json", data / "simulate.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._files: list[IO[bytes]] = []

    def start(self) -> None:
        out, err = self.out_path.open("wb"), self.log_path.open("wb")
        self._files = [out, err]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmpulse", "simulate", "--rate", f"{self.rate:g}",
             "--seed", str(self.seed)],
            env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True, preexec_fn=preexec_die_with_parent())

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"the traffic simulator exited ({self.proc.returncode}):\n"
                               + self.log_path.read_text(errors="replace")[-3000:])

    def stop(self) -> dict[str, Any] | None:
        """SIGINT (it flushes and prints its stats), SIGKILL after 30 s; the stats if any."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in self._files:
            f.close()
        self._files = []
        try:
            return dict(json.loads(self.out_path.read_text()))
        except (OSError, ValueError):
            return None


# -- statistics -----------------------------------------------------------------------------


def nearest_rank(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank (a missed sample is +inf and sorts last)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def summarize(latencies: list[float | None]) -> dict[str, Any]:
    values = [math.inf if v is None else v for v in latencies]
    out: dict[str, Any] = {"n": len(values), "missed": sum(v is None for v in latencies)}
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100)):
        value = nearest_rank(values, q) if values else math.nan
        out[name] = value if math.isfinite(value) else None  # None: a missed sample
    got = [v for v in latencies if v is not None]
    out["mean"] = sum(got) / len(got) if got else None
    out["min"] = min(got) if got else None
    return out


def fmt(value: float | None) -> str:
    return "missed" if value is None else f"{value:.3f}"


# -- the run --------------------------------------------------------------------------------


@dataclass
class Config:
    trials: int
    background_rate: float
    spacing_s: float
    burst: int
    window_s: float
    pane_s: float
    timeout_s: float
    warmup_s: float
    seed: int
    broker: str = "embedded"
    worker_env: dict[str, str] = field(default_factory=dict)


def match(receiver: Receiver, trials: dict[str, Trial]) -> dict[str, int]:
    """Fill each trial's first trigger arrival; count the notifications nobody expected."""
    other: dict[str, int] = {}
    for each in trials.values():
        each.received, each.evaluated, each.notifications = None, None, 0
    for request in receiver.received("/hook"):
        body = request.json()
        tenant = body.get("group", {}).get("tenant")
        trial = trials.get(tenant) if body.get("kind") == "trigger" else None
        if tenant is None or trial is None:
            kind = f"{body.get('kind')}:{tenant}"
            other[kind] = other.get(kind, 0) + 1
            continue
        trial.notifications += 1
        if trial.received is None or request.at < trial.received:
            trial.received = request.at
            trial.evaluated = datetime.fromisoformat(body["time"]).timestamp()
    return other


def wait_for(receiver: Receiver, trials: dict[str, Trial], timeout: float,
             background: Background, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match(receiver, trials)
        if all(t.received is not None for t in trials.values()):
            return
        if worker.proc is not None and worker.proc.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.proc.returncode}):\n"
                               + worker.log_tail())
        background.check()
        time.sleep(0.1)


def sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


def worker_metrics(worker: WorkerProcess, started: float) -> dict[str, float]:
    """The chosen /metrics values, and the worker's CPU use since it started."""
    try:
        values = parse_metrics(worker.metrics_text())
    except OSError:
        return {}
    out = {k: v for k, v in values.items() if k in METRICS}
    if worker.proc is not None:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{worker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime+stime
            out["cpu_seconds"] = cpu
            out["cpu_cores_avg"] = cpu / (time.monotonic() - started)
    return out


def start_broker(spec: str, data: Path, stack: contextlib.ExitStack) -> str:
    """``embedded`` (Tansu), ``kafka`` (Apache Kafka from the test harness) or host:port."""
    if spec == "embedded":
        return stack.enter_context(EmbeddedBroker(log_path=data / "broker.log")).bootstrap
    if spec == "kafka":
        harness_on_path()
        from tests.harness.apache_kafka import ApacheKafka

        log("starting Apache Kafka (jars from .cache/kafka-libs) ...")
        return stack.enter_context(ApacheKafka()).bootstrap
    return spec


def run(cfg: Config, data: Path, stack: contextlib.ExitStack) -> dict[str, Any]:
    broker = start_broker(cfg.broker, data, stack)
    tag = f"{int(time.time())}"  # fresh topics and group, also on a shared broker
    env = {"LLMPULSE_BROKER": broker, "LLMPULSE_APP_ID": f"bench-alert-{tag}",
           "LLMPULSE_TOPIC_PREFIX": f"alert{tag}."}
    settings = load_settings(env)
    ensure_topics(broker, {**all_topics(settings), settings.topic(ROUNDTRIP): 1})
    receiver = stack.enter_context(receiver_class()())
    tap = Tap(broker, settings.topic("windows"), settings.topic("alerts"),
              settings.partitions, cfg.burst)
    stack.callback(tap.close)
    rules = data / "rules.yml"
    rules.write_text(rules_text(receiver.url("/hook"), cfg.window_s))
    (data / "data" / "faust").mkdir(parents=True)  # Faust creates only the last level
    worker_env = {
        **env, "LLMPULSE_CLICKHOUSE_URL": f"chdb://{data / 'chdb'}",
        "LLMPULSE_DATA_DIR": str(data / "data"),
        "LLMPULSE_METRICS_HOST": "127.0.0.1", "LLMPULSE_METRICS_PORT": "0",
        "LLMPULSE_RULES_FILE": str(rules), "LLMPULSE_WINDOW_PANE_S": f"{cfg.pane_s:g}",
        SECRET_ENV: SECRET, **cfg.worker_env,
    }
    effective = load_settings({k: v for k, v in worker_env.items() if k != SECRET_ENV})
    log(f"starting the worker (batch_max_s={effective.batch_max_s:g}, "
        f"pane={effective.window_pane_s:g}s, lateness={effective.window_lateness_s:g}s)")
    # cwd: where older versions keep Faust's <app id>-data directory
    worker = WorkerProcess(worker_env, log_path=data / "worker.log", cwd=data)
    stack.callback(worker.stop, 30)
    worker_started = time.monotonic()
    worker.start(timeout=120)
    background = Background(env, cfg.background_rate, cfg.seed, data)
    background.start()
    sim_stats: dict[str, Any] = {}
    stack.callback(lambda: sim_stats.update(background.stop() or {}))
    started = time.monotonic()
    while parse_metrics(worker.metrics_text()).get("llmpulse_calls_total", 0) == 0:
        if time.monotonic() - started > 90:
            raise RuntimeError("the worker recorded no background call in 90 s:\n"
                               + worker.log_tail())
        background.check()
        time.sleep(0.25)
    log(f"background traffic flowing at {cfg.background_rate:g} calls/s; warming up "
        f"{cfg.warmup_s:g} s")
    time.sleep(cfg.warmup_s)
    bursts = Bursts(broker, settings.topic_prefix, cfg.burst)
    stack.callback(bursts.close)
    warm = {"warmup": bursts.send("warmup")}
    wait_for(receiver, warm, 60, background, worker)
    if warm["warmup"].received is None:
        raise RuntimeError("no notification for the warm-up burst in 60 s:\n"
                           + worker.log_tail())
    log(f"warm-up alert arrived after {warm['warmup'].latency:.3f} s (not counted)")
    roundtrip = RoundTrip(broker, settings.topic(ROUNDTRIP))
    stack.callback(roundtrip.close)
    roundtrip.wait_ready(30)

    rng = random.Random(cfg.seed)
    trials: dict[str, Trial] = {}
    probes: list[Probe] = []
    begin = time.time() + 0.2
    log(f"{cfg.trials} trials, one every {cfg.spacing_s:g} s ...")
    for i in range(cfg.trials):
        slot = begin + i * cfg.spacing_s
        # random phases: the worker's timers (batch flush, rule evaluation) must not see
        # every trial at the same point of their period
        sleep_until(slot + rng.uniform(0, cfg.spacing_s / 2))
        trials[f"trial-{i}"] = bursts.send(f"trial-{i}")
        sleep_until(slot + cfg.spacing_s / 2 + rng.uniform(0, cfg.spacing_s / 2))
        probes.append(roundtrip.probe(i))
        background.check()
    log(f"waiting up to {cfg.timeout_s:g} s for the last notifications ...")
    wait_for(receiver, trials, cfg.timeout_s, background, worker)
    roundtrip.wait_all(probes, 10)
    time.sleep(0.5)  # the tap reads llm.alerts too
    for trial in (*trials.values(), warm["warmup"]):
        tap.fill(trial)
    unexpected = match(receiver, trials)
    unexpected.pop("trigger:warmup", None)
    metrics = worker_metrics(worker, worker_started)
    stack.close()  # stop the simulator and the worker before the statistics
    return report(cfg, effective, trials, probes, warm["warmup"], unexpected, metrics,
                  sim_stats)


def _between(start: str, end: str) -> Callable[[Trial], float | None]:
    def hop(trial: Trial) -> float | None:
        a, b = getattr(trial, start), getattr(trial, end)
        return None if a is None or b is None else float(b - a)

    return hop


#: the path of one alert, each hop timed from the previous one (when both are known)
HOPS: dict[str, Callable[[Trial], float | None]] = {
    "acked -> llm.windows message": _between("acked", "windows_sent"),
    "llm.windows -> engine fired": _between("windows_sent", "evaluated"),
    "engine fired -> llm.alerts message": _between("evaluated", "alert_sent"),
    "llm.alerts -> webhook received": _between("alert_sent", "received"),
}


def report(cfg: Config, settings: Any, trials: dict[str, Trial], probes: list[Probe],
           warmup: Trial, unexpected: dict[str, int], metrics: dict[str, float],
           sim_stats: dict[str, Any]) -> dict[str, Any]:
    alert = summarize([t.latency for t in trials.values()])
    baseline = summarize([p.latency for p in probes])
    baseline_from_send = summarize([None if p.received is None else p.received - p.sent
                                    for p in probes])
    hops = {name: summarize([hop(t) for t in trials.values() if hop(t) is not None])
            for name, hop in HOPS.items()}
    ratio = (alert["p99"] / baseline["p99"]
             if alert["p99"] is not None and baseline["p99"] else None)
    missed = [t.tenant for t in trials.values() if t.received is None]
    repeated = {t.tenant: t.notifications for t in trials.values() if t.notifications > 1}
    met = not missed and alert["p99"] is not None and alert["p99"] <= TARGET_P99_S
    elapsed = float(sim_stats.get("elapsed_s") or 0.0)
    print(f"\nalert latency: {cfg.burst} failing events produced -> webhook received "
          f"({cfg.trials} trials, background {cfg.background_rate:g} calls/s, "
          f"batch_max_s={settings.batch_max_s:g}, broker {cfg.broker})")
    print(f"{'seconds':<36}{'n':>4}{'missed':>8}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    rows = (("alert (acked -> received)", alert),
            *((f"  {name}", hops[name]) for name in HOPS),
            ("baseline round trip (acked)", baseline),
            ("baseline round trip (produce call)", baseline_from_send))
    for name, s in rows:
        print(f"{name:<36}{s['n']:>4}{s['missed']:>8}{fmt(s['p50']):>9}{fmt(s['p95']):>9}"
              f"{fmt(s['p99']):>9}{fmt(s['max']):>9}")
    shown = "n/a (a sample was missed)" if ratio is None else f"{ratio:,.1f}x"
    print(f"p99 alert / p99 baseline: {shown}")
    print(f"target p99 <= {TARGET_P99_S:g} s: {'met' if met else 'NOT met'}")
    if missed:
        print(f"MISSED (no trigger within {cfg.timeout_s:g} s): {', '.join(missed)}")
    if repeated:
        print(f"more than one trigger: {repeated}")
    if unexpected:
        print(f"other notifications: {unexpected}")
    return {
        "config": {**asdict(cfg), "batch_max_s": settings.batch_max_s,
                   "window_lateness_s": settings.window_lateness_s,
                   "percentiles": "nearest rank; a missed trial counts as +inf (null here)"},
        "machine": {"cpus": os.cpu_count(), "loadavg_end": os.getloadavg()},
        "target_p99_s": TARGET_P99_S, "target_met": met,
        "alert": alert, "alert_hops": hops,
        "baseline_roundtrip": baseline, "baseline_roundtrip_from_produce_call": baseline_from_send,
        "ratio_p99_alert_to_baseline": ratio,
        "missed": missed, "repeated_triggers": repeated, "other_notifications": unexpected,
        "warmup": asdict(warmup) | {"latency": warmup.latency},
        "background": {"calls": sim_stats.get("calls"), "seconds": elapsed,
                       "calls_per_s": sim_stats["calls"] / elapsed if elapsed else None},
        "worker_metrics": metrics,
        "trials": [asdict(t) | {"latency": t.latency} for t in trials.values()],
        "probes": [asdict(p) | {"latency": p.latency} for p in probes],
    }


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every process started here is stopped."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def source_version() -> str:
    """The checkout's commit, marked "+changes" when src/ differs from it (read-only git)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                                capture_output=True, timeout=10).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO,
                                 text=True, capture_output=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit or "unknown") + ("+changes" if changed else "")


def parse_env(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--worker-env wants NAME=VALUE, got {pair!r}")
        out[name] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="alert bursts to time")
    parser.add_argument("--background-rate", type=float, default=100.0,
                        help="simulated normal calls per second during the whole run")
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between trials")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds after the last trial before a notification is missed")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of background traffic before the warm-up alert")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--broker", default="embedded",
                        help="embedded (Tansu, default), kafka (Apache Kafka from the test "
                        "harness; needs java and the jars in .cache/kafka-libs) or host:port")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra worker setting, e.g. LLMPULSE_BATCH_MAX_S=0.25")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "alert_latency.json")
    args = parser.parse_args()
    cfg = Config(trials=args.trials, background_rate=args.background_rate,
                 spacing_s=args.spacing, burst=10, window_s=5.0, pane_s=1.0,
                 timeout_s=args.timeout, warmup_s=args.warmup, seed=args.seed,
                 broker=args.broker,
                 worker_env=parse_env(args.worker_env))
    load_start = os.getloadavg()
    source = source_version()  # the worker imports src/ at its start, just after this
    tmp = Path(tempfile.mkdtemp(prefix="llmpulse-alert-bench-"))
    worker_log = args.out.with_suffix(".worker.log")
    try:
        with terminate_as_interrupt(), contextlib.ExitStack() as stack:
            result = run(cfg, tmp, stack)
    except KeyboardInterrupt:
        log("interrupted; everything this run started is stopped")
        sys.exit(130)
    finally:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copyfile(tmp / "worker.log", worker_log)
        shutil.rmtree(tmp, ignore_errors=True)
    result["machine"]["loadavg_start"] = load_start
    result["source"] = source
    args.out.write_text(json.dumps(result, indent=2))
    log(f"wrote {args.out} (worker log: {worker_log})")
    if not result["target_met"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
