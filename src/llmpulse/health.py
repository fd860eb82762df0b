"""Readiness of a process: the state of each dependency it needs, in one place.

The worker marks each component (``store``, ...) up or down as it finds it;
``on_change`` mirrors the changes (the runner sets ``llmpulse_store_up``).  A
``/readyz`` endpoint answers from :attr:`Readiness.ready` (and names
:meth:`Readiness.down` when not ready); ``/metrics`` keeps answering either way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

OnChange = Callable[[str, bool], None]


class Readiness:
    """Component -> up; thread-safe (an HTTP handler thread reads it)."""

    def __init__(self, on_change: OnChange | None = None) -> None:
        self._states: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._on_change = on_change

    def set(self, component: str, up: bool) -> None:
        with self._lock:
            changed = self._states.get(component) != up
            self._states[component] = up
        if changed and self._on_change is not None:
            self._on_change(component, up)

    def is_up(self, component: str) -> bool | None:
        """None: not checked yet."""
        with self._lock:
            return self._states.get(component)

    @property
    def ready(self) -> bool:
        """Every component checked so far is up (and at least one was checked)."""
        with self._lock:
            return bool(self._states) and all(self._states.values())

    def down(self) -> list[str]:
        with self._lock:
            return sorted(name for name, up in self._states.items() if not up)
