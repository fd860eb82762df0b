"""Stopping a worker or scorer within a bound: the drain after SIGTERM (or SIGINT).

On the signal the process stops reading, finishes the batch in flight (stored and
acknowledged; the scorer: scored, delivered and acknowledged), commits the
acknowledged offsets, closes its producers and leaves the consumer group (a member
with a static instance id does not leave: its partitions wait for it until the
session times out).  All of it within ``LLMPULSE_DRAIN_TIMEOUT_S``: the batch gets
that bound minus :func:`reserve_s` (for the commit, the leave and the producers),
and a watchdog ends the process when the bound has passed, saying what it
abandoned, with exit status :data:`ABANDONED_EXIT`.  Nothing accepted is lost then:
what was not acknowledged is redelivered at the next start.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

log = logging.getLogger(__name__)

#: Exit status of a process whose drain ran past its bound.
ABANDONED_EXIT = 1


def reserve_s(timeout_s: float) -> float:
    """Time kept, out of the drain's bound, for what follows the batch in flight: the
    commit, the producers, leaving the group and Faust's own stop (about 2 s)."""
    return min(5.0, max(2.0, timeout_s / 5), timeout_s / 2)


class Drain:
    """The drain of one process: when it began, what it is doing, what it gave up."""

    def __init__(self, process: str, timeout_s: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 exit: Callable[[int], object] = os._exit,
                 stderr: IO[str] | None = None) -> None:
        self.process = process
        self.timeout_s = timeout_s
        self._clock = clock
        self._exit = exit
        self._stderr = stderr
        self._lock = threading.Lock()
        self.began: float | None = None
        self.signal = ""
        self.phase = ""
        self.abandoned: list[str] = []
        self._watchdog: threading.Timer | None = None

    def begin(self, signal: str) -> None:
        """The stop request (first one only): start the clock and the watchdog."""
        with self._lock:
            if self.began is not None:
                return
            self.began = self._clock()
            self.signal = signal
            self.phase = "stopping the consumer"
            self._watchdog = threading.Timer(self.timeout_s, self._expired)
            self._watchdog.daemon = True
            self._watchdog.start()
        log.info("%s received: draining (at most %g s, LLMPULSE_DRAIN_TIMEOUT_S)",
                 signal, self.timeout_s)

    def at(self, phase: str) -> None:
        self.phase = phase

    def abandon(self, what: str) -> None:
        with self._lock:
            self.abandoned.append(what)
        log.error("drain: abandoned %s", what)

    def elapsed(self) -> float | None:
        return None if self.began is None else self._clock() - self.began

    def remaining(self) -> float:
        """Seconds left of the bound (the whole bound before the drain began)."""
        elapsed = self.elapsed()
        return max(0.0, self.timeout_s - (elapsed or 0.0))

    def batch_budget(self) -> float:
        """How long the batch in flight may still take."""
        return max(0.0, self.remaining() - reserve_s(self.timeout_s))

    def state(self) -> tuple[float | None, str, str]:
        """For ``/readyz``: (draining for how long or None, the signal, the phase)."""
        return self.elapsed(), self.signal, self.phase

    def finish(self) -> None:
        """The process is about to exit on its own: the watchdog has nothing to do."""
        with self._lock:
            if self._watchdog is not None:
                self._watchdog.cancel()

    def summary(self, membership: str) -> str:
        """One line for the end of a drain that finished (``membership``: what happened
        to the group membership)."""
        elapsed = self.elapsed() or 0.0
        if self.abandoned:
            return (f"llmpulse {self.process}: drained in {elapsed:.1f} s after "
                    f"{self.signal} but abandoned {'; '.join(self.abandoned)} (not "
                    "acknowledged: redelivered at the next start)")
        return (f"llmpulse {self.process}: drained in {elapsed:.1f} s after {self.signal}: "
                f"batch in flight finished and acknowledged, offsets committed, {membership}")

    def _expired(self) -> None:
        what = "; ".join(self.abandoned) if self.abandoned else "nothing unacknowledged known"
        message = (f"llmpulse {self.process}: the drain did not finish within "
                   f"{self.timeout_s:g} s (LLMPULSE_DRAIN_TIMEOUT_S); stopped while "
                   f"{self.phase or 'draining'}; abandoned: {what}. Nothing accepted is lost: "
                   "messages not acknowledged are redelivered at the next start")
        stream = self._stderr or sys.stderr
        try:
            print(message, file=stream, flush=True)
        finally:
            self._exit(ABANDONED_EXIT)
