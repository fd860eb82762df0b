"""Open the store at start-up, waiting while it is unreachable.

In a deployment the worker may start before ClickHouse (or while another
process still holds an embedded store): the start order must not matter.
Failures that can pass — connection refused, a name that does not resolve yet,
timeouts, a proxy's 502/503/504, an embedded store locked by another process
— are retried with backoff until ``LLMPULSE_STORE_WAIT_S`` runs out (unset: for
ever), reported as down to the process's :class:`~llmpulse.health.Readiness`
and logged once per change plus a summary every 30 s.  Anything else (a refused
login, a failed migration) cannot pass by waiting and fails at once.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator

from llmpulse.config import Settings, redacted_url
from llmpulse.errors import LlmpulseError, StoreError, StoreLocked
from llmpulse.health import Readiness
from llmpulse.outage import OutageLog, backoff
from llmpulse.sinks.clickhouse import ClickHouseStore

log = logging.getLogger(__name__)

STORE = "store"
_PASSING_HTTP = re.compile(r"\b(?:response code|HTTP|status)\D{0,3}(502|503|504)\b")
_LOCKED = "Cannot lock file"


def transient(exc: BaseException) -> bool:
    """Whether waiting can cure ``exc`` (see the module doc)."""
    for cause in _chain(exc):
        if isinstance(cause, StoreLocked | ConnectionError | TimeoutError | socket.gaierror):
            return True
        if type(cause).__name__ == "OperationalError":  # clickhouse-connect: no answer
            return True
        text = str(cause)
        if _LOCKED in text or _PASSING_HTTP.search(text):
            return True
    return False


def describe(exc: BaseException) -> str:
    """A short, stable description (no query ids): the same outage reads the same."""
    if any(isinstance(c, StoreLocked) for c in _chain(exc)):
        return "locked by another process: an embedded store admits one process"
    root = list(_chain(exc))[-1]
    text = str(root).strip().splitlines()[0] if str(root).strip() else ""
    return f"{type(root).__name__}: {text}" if text else type(root).__name__


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def open_store(settings: Settings, readiness: Readiness, *,
               opener: Callable[[Settings], ClickHouseStore] = ClickHouseStore.open_for_service,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> ClickHouseStore:
    """The opened, migrated store; waits while it is unreachable (see the module doc)."""
    outage = OutageLog(f"the ClickHouse store ({redacted_url(settings.clickhouse_url)})")
    delays = backoff()
    limit = settings.store_wait_s
    with _quiet("clickhouse_connect", "urllib3"):  # they log a warning per failed attempt
        while True:
            try:
                store = opener(settings)
            except Exception as exc:
                if not transient(exc):
                    readiness.set(STORE, False, describe(exc))
                    raise exc if isinstance(exc, LlmpulseError) else StoreError(
                        f"cannot open the store: {describe(exc)}") from exc
                now = clock()
                readiness.set(STORE, False, describe(exc))
                line = outage.failed(now, describe(exc))
                if line:
                    log.warning("%s", line)
                waited = outage.down_for(now)
                if limit is not None and waited >= limit:
                    raise StoreError(
                        f"the store {redacted_url(settings.clickhouse_url)} is unreachable "
                        f"({describe(exc)}); gave up after {waited:.0f}s "
                        f"(LLMPULSE_STORE_WAIT_S={limit:g})") from None
                pause = next(delays)
                sleep(pause if limit is None else max(0.0, min(pause, limit - waited)))
                continue
            readiness.set(STORE, True)
            line = outage.succeeded(clock())
            if line:
                log.info("%s", line)
            return store


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(max(logging.ERROR, level))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
