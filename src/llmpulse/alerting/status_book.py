"""Alert statuses kept beside the rule engine (budgets, canaries): each input stepped
through the alert state machine by a subclass, the changed statuses collected for the
engine's :class:`~llmpulse.alerting.engine.StatusStore`.  Pure, clock passed in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from llmpulse.alerting.engine import RuleStatus, StatusStore
from llmpulse.alerting.message import AlertMessage

Input = TypeVar("Input")


class StatusBook(Generic[Input]):
    """The statuses of one kind of alert, and the changes not yet stored."""

    def __init__(self, store: StatusStore) -> None:
        self._store = store
        self._statuses: dict[str, RuleStatus] = {}
        self._changes: dict[str, dict[str, Any]] = {}

    def evaluate(self, inputs: Sequence[Input], now: float) -> list[AlertMessage]:
        """The notifications the inputs cause, in order."""
        return [m for m in (self._step(item, now) for item in inputs) if m is not None]

    def take_changes(self) -> dict[str, dict[str, Any]]:
        changes, self._changes = self._changes, {}
        return changes

    def statuses(self) -> list[RuleStatus]:
        return list(self._statuses.values())

    def _step(self, item: Input, now: float) -> AlertMessage | None:
        raise NotImplementedError
