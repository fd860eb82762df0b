"""Is the Kafka broker there?  The ``llmpulse_broker_up`` gauge and the outage log.

The signal is a metadata request for one llmpulse topic, sent by a small
librdkafka admin client of its own: it fails the same way whatever the worker
is doing (idle, consuming, writing), unlike the clients' error logs, which
depend on what each client happens to be doing and which library logs what.
Those logs still help: a warning from a Kafka client (see
:mod:`llmpulse.streams.library_logs`) makes the next probe run at once.

Timing (all bounds, not typical values):

* up: a probe every :data:`PROBE_EVERY_S` (sooner after a client warning); a
  failed probe is retried after :data:`RETRY_AFTER_S`, and :data:`DOWN_AFTER`
  failures in a row mean down.  A probe waits at most :data:`PROBE_TIMEOUT_S`,
  so a lost broker is reported within ``PROBE_EVERY_S + MIN_GAP_S +
  DOWN_AFTER * PROBE_TIMEOUT_S + RETRY_AFTER_S`` (7.2 s);
* down: a probe every :data:`RETRY_AFTER_S`; one success means up again, so the
  gauge follows the broker within ``RETRY_AFTER_S + PROBE_TIMEOUT_S`` (3 s);
* the log: one line when the broker is lost, one when it is back (with the
  outage's length), one summary every :data:`SUMMARY_EVERY_S` in between, and
  the client libraries' own messages suppressed and counted meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import Gauge

from llmpulse.streams.library_logs import LibraryLogQuieter, describe_suppressed

log = logging.getLogger(__name__)

PROBE_EVERY_S = 2.0
PROBE_TIMEOUT_S = 2.0
RETRY_AFTER_S = 1.0
DOWN_AFTER = 2
SUMMARY_EVERY_S = 30.0
#: Shortest pause between two probes (a burst of client warnings wakes the prober once).
MIN_GAP_S = 0.2

#: A probe: None when the broker answered, else what went wrong.
Probe = Callable[[], str | None]


class BrokerHealth:
    """Probes the broker, keeps the gauge, logs state changes and summaries.

    :meth:`step` is one probe and its consequences (called by the thread that
    :meth:`start` runs, or directly by tests); it returns how long to wait
    before the next one.
    """

    def __init__(self, probe: Probe, gauge: Gauge, bootstrap: str,
                 clock: Callable[[], float] = time.monotonic,
                 summary_every_s: float = SUMMARY_EVERY_S) -> None:
        self._probe = probe
        self._gauge = gauge
        self._bootstrap = bootstrap
        self._clock = clock
        self._summary_every = summary_every_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.quieter = LibraryLogQuieter(clock, on_trouble=self._wake.set)
        self.up = True
        self._failures = 0
        self._down_since = 0.0
        self._last_summary = clock()
        self._outage_suppressed: Counter[str] = Counter()
        gauge.set(1)

    def step(self) -> float:
        error = self._probe()
        now = self._clock()
        if error is None:
            self._failures = 0
            if not self.up:
                self._back(now)
            self._maybe_summary(now)
            return PROBE_EVERY_S
        self._failures += 1
        if self.up and self._failures >= DOWN_AFTER:
            self._lost(now, error)
        self._maybe_summary(now)
        return RETRY_AFTER_S

    def _lost(self, now: float, error: str) -> None:
        self.up = False
        self._down_since = self._last_summary = now
        self.quieter.set_down(True)
        self._gauge.set(0)
        self._outage_suppressed = self.quieter.take_suppressed()
        log.error("Kafka broker unreachable (%s): %s; processing pauses until it is back, "
                  "and the Kafka clients' own messages are suppressed meanwhile",
                  self._bootstrap, error)

    def _back(self, now: float) -> None:
        self.up = True
        self.quieter.set_down(False)
        self._gauge.set(1)
        self._outage_suppressed += self.quieter.take_suppressed()
        log.warning("Kafka broker back (%s) after %.0f s unreachable; %s",
                    self._bootstrap, now - self._down_since,
                    describe_suppressed(self._outage_suppressed))
        self._outage_suppressed = Counter()
        self._last_summary = now

    def _maybe_summary(self, now: float) -> None:
        if now - self._last_summary < self._summary_every:
            return
        self._last_summary = now
        if not self.up:
            self._outage_suppressed += self.quieter.take_suppressed()
            log.warning("Kafka broker still unreachable (%s) after %.0f s; %s so far",
                        self._bootstrap, now - self._down_since,
                        describe_suppressed(self._outage_suppressed))
            return
        repeats = self.quieter.take_suppressed()
        if repeats:
            log.warning("Kafka clients repeated themselves in the last %.0f s: %s",
                        self._summary_every, describe_suppressed(repeats))

    def start(self) -> None:
        """Filter the client libraries' loggers and probe in a daemon thread."""
        self.quieter.attach()
        self._thread = threading.Thread(target=self._run, name="broker-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(PROBE_TIMEOUT_S + 5)
        self.quieter.detach()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.step()
            except Exception:  # a bug here must not end the probing
                log.exception("broker health probe failed")
                wait = PROBE_EVERY_S
            if self.up and not self._failures:  # healthy: a client warning cuts it short
                self._wake.clear()
                self._wake.wait(wait)
                wait = MIN_GAP_S
            self._stop.wait(wait)  # down or retrying: the client warnings change nothing


def metadata_probe(bootstrap: str, topic: str,
                   security: Mapping[str, Any] | None = None) -> Probe:
    """A probe asking for ``topic``'s metadata (one small request) through its own
    librdkafka admin client, which logs nothing itself."""
    from confluent_kafka import KafkaException

    from llmpulse.topics import admin_client

    admin = admin_client(bootstrap, security)

    def probe() -> str | None:
        try:
            admin.list_topics(topic=topic, timeout=PROBE_TIMEOUT_S)
        except KafkaException as exc:
            return str(exc.args[0].str() if exc.args else exc)
        return None

    return probe
