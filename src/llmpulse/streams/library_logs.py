"""Quiet the Kafka client libraries while the broker is away.

With the broker down, aiokafka, Faust's consumer and librdkafka each log the
same few errors again and again (connection refused, metadata, fetch,
coordinator): dozens of lines a second that say nothing new.  A
:class:`LibraryLogQuieter` on their loggers lets the first record of each kind
through, suppresses (and counts) repeats of it within ``repeat_window_s``, and
suppresses every record while the broker is known to be down; the outage is
then reported by :mod:`llmpulse.streams.broker_health`, once per state change
and in periodic summaries that carry these counts.  CRITICAL records always
pass.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator

from llmpulse.sinks.kafka import LIBRDKAFKA_LOGGER

#: Loggers of the Kafka clients (and their children): aiokafka, Faust's
#: transport, llmpulse's subclass of Faust's consumer, mode's timers (overlapping while
#: the broker is away), librdkafka (via BurstProducer).
LIBRARY_LOGGERS = ("aiokafka", "faust.transport", "llmpulse.streams.fetch", "mode.timers",
                   LIBRDKAFKA_LOGGER)
REPEAT_WINDOW_S = 30.0


def record_kind(record: logging.LogRecord) -> str:
    """What makes two records "the same message": logger, template and first argument
    (aiokafka's node id; librdkafka's facility, its messages share one template)."""
    first = record.args[0] if isinstance(record.args, tuple) and record.args else ""
    return f"{record.name}: {record.msg} [{str(first)[:40]}]"


class LibraryLogQuieter(logging.Filter):
    """Suppresses repeated client-library records; everything while the broker is down."""

    def __init__(self, clock: Callable[[], float], on_trouble: Callable[[], None],
                 repeat_window_s: float = REPEAT_WINDOW_S) -> None:
        super().__init__()
        self._clock = clock
        self._on_trouble = on_trouble
        self._window = repeat_window_s
        self._lock = threading.Lock()
        self._down = False
        self._passed: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL:
            return True
        if record.levelno >= logging.WARNING:
            self._on_trouble()
        kind = record_kind(record)
        now = self._clock()
        with self._lock:
            last = self._passed.get(kind)
            if self._down or (record.levelno >= logging.WARNING and last is not None
                              and now - last < self._window):
                self._suppressed[kind] += 1
                return False
            if record.levelno >= logging.WARNING:
                self._passed[kind] = now
            return True

    def set_down(self, down: bool) -> None:
        """While down, every record is suppressed; once up, each kind may pass again."""
        with self._lock:
            self._down = down
            self._passed.clear()

    def take_suppressed(self) -> Counter[str]:
        """Records suppressed since the last call, by kind."""
        with self._lock:
            taken, self._suppressed = self._suppressed, Counter()
        return taken

    def attach(self) -> None:
        """Filter every existing logger under :data:`LIBRARY_LOGGERS` (filters on a logger
        see only its own records, not its children's)."""
        for logger in _library_loggers():
            logger.addFilter(self)

    def detach(self) -> None:
        for logger in _library_loggers():
            logger.removeFilter(self)


def _library_loggers() -> Iterator[logging.Logger]:
    for root in LIBRARY_LOGGERS:
        logging.getLogger(root)  # exists from now on, with or without records so far
    for name in list(logging.root.manager.loggerDict):
        if any(name == root or name.startswith(root + ".") for root in LIBRARY_LOGGERS):
            yield logging.getLogger(name)


def describe_suppressed(counts: Counter[str], top: int = 3) -> str:
    """``"1234 client messages suppressed, most often: ... (900), ... (300)"``."""
    total = sum(counts.values())
    if not total:
        return "no client messages suppressed"
    common = ", ".join(f"{kind} ({n})" for kind, n in counts.most_common(top))
    return f"{total} client messages suppressed, most often: {common}"
