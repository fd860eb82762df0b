"""What to say, and when to try again, while a dependency is unreachable.  Pure: the
caller passes the clock's value and does the logging and the sleeping.

:class:`OutageLog` turns a stream of failed and successful attempts into few
lines: one when the dependency goes down, one when the kind of failure changes,
a summary every ``summary_every_s`` while it stays down, and one when it is
back.  :func:`backoff` gives the waits between attempts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

SUMMARY_EVERY_S = 30.0


def backoff(initial_s: float = 0.5, factor: float = 2.0, max_s: float = 10.0
            ) -> Iterator[float]:
    """``initial_s``, then ``factor`` times longer each time, at most ``max_s``."""
    delay = initial_s
    while True:
        yield min(delay, max_s)
        delay = min(delay * factor, max_s)


@dataclass
class OutageLog:
    """The messages worth logging about ``what`` (e.g. "ClickHouse store at http://...")."""

    what: str
    summary_every_s: float = SUMMARY_EVERY_S
    _since: float | None = field(default=None, init=False)
    _summarized: float = field(default=0.0, init=False)
    _error: str = field(default="", init=False)
    _failures: int = field(default=0, init=False)

    @property
    def down(self) -> bool:
        return self._since is not None

    def down_for(self, now: float) -> float:
        """Seconds since the first failure of this outage (0 when up)."""
        return 0.0 if self._since is None else now - self._since

    def failed(self, now: float, error: str) -> str | None:
        """A failed attempt with ``error`` (a stable description); the line to log, if any."""
        self._failures += 1
        if self._since is None:
            self._since = self._summarized = now
            self._error = error
            return f"{self.what} is unreachable ({error}); waiting for it, retrying with backoff"
        if error != self._error:
            self._error = error
            return f"{self.what} is still unreachable, now: {error}"
        if now - self._summarized >= self.summary_every_s:
            self._summarized = now
            return (f"{self.what} still unreachable after {now - self._since:.0f}s "
                    f"({self._failures} attempts): {error}")
        return None

    def succeeded(self, now: float) -> str | None:
        """A successful attempt; the line to log when it ends an outage."""
        if self._since is None:
            return None
        line = (f"{self.what} is reachable after {now - self._since:.0f}s "
                f"({self._failures} failed attempts)")
        self._since, self._failures, self._error = None, 0, ""
        return line
