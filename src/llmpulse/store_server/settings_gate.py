"""Query settings on an engine whose ``SET`` is process-wide.

A ClickHouse server takes settings per request; chdb's ``SET`` changes them for every
connection of the process.  The gate lets statements that want the settings in force run
together, and changes them only when none is running.  Clients send the same settings
with every request, so after the first request nothing waits.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from llmpulse.store_server.errors import ServerError

#: Runs ``SET name = value`` (``value`` ``None``: back to the default).
Setter = Callable[[str, str | None], None]
_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
UNKNOWN_SETTING = 115


class SettingsGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._applied: dict[str, str] = {}
        self._running = 0
        self._changers = 0

    @contextmanager
    def held(self, wanted: dict[str, str], setter: Setter) -> Iterator[None]:
        """Run the body with exactly ``wanted`` changed from the defaults."""
        for name in wanted:
            if not _NAME.match(name):
                raise ServerError(UNKNOWN_SETTING, f"Setting {name!r} is not a valid name")
        with self._cond:
            while True:
                if wanted == self._applied:
                    if self._changers == 0:
                        break
                    self._cond.wait()
                elif self._running == 0:
                    try:
                        self._change(wanted, setter)
                    finally:
                        self._cond.notify_all()
                    break
                else:
                    self._changers += 1
                    try:
                        self._cond.wait()
                    finally:
                        self._changers -= 1
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                if self._running == 0:
                    self._cond.notify_all()

    def _change(self, wanted: dict[str, str], setter: Setter) -> None:
        """Called with no statement running; ``_applied`` follows each ``SET`` that
        succeeded, so a refused setting leaves the record true."""
        for name in [n for n in self._applied if n not in wanted]:
            setter(name, None)
            del self._applied[name]
        for name, value in wanted.items():
            if self._applied.get(name) != value:
                setter(name, value)
                self._applied[name] = value
