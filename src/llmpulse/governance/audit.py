"""The audit log: who did what (erase, retrain approve, ...) to what, and how it went."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmpulse.sinks.clickhouse import ClickHouseStore

COLUMNS = ("time", "actor", "action", "target", "details", "outcome")


def actor_or_user(actor: str | None) -> str:
    """``--actor`` when given, else the OS user."""
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (a container's bare user)
        return "unknown"


@dataclass(frozen=True)
class AuditEntry:
    time: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    outcome: str

    def as_json(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(), "actor": self.actor, "action": self.action,
                "target": self.target, "details": self.details, "outcome": self.outcome}


def record(store: ClickHouseStore, actor: str, action: str, target: str,
           details: Mapping[str, Any], outcome: str, now: datetime | None = None) -> None:
    store.client.insert("audit_log", [[now or datetime.now(UTC), actor, action, target,
                                       json.dumps(dict(details), default=str, sort_keys=True),
                                       outcome]], column_names=list(COLUMNS))


@dataclass
class Outcome:
    """What an audited action reports: ``details`` to add, ``outcome`` when it succeeded."""

    details: dict[str, Any] = field(default_factory=dict)
    outcome: str = "ok"


@contextmanager
def audited(store: ClickHouseStore, actor: str, action: str, target: str,
            details: Mapping[str, Any] | None = None) -> Iterator[Outcome]:
    """Record the action when the block ends: its outcome, or ``failed: <error>``."""
    result = Outcome(dict(details or {}))
    try:
        yield result
    except BaseException as exc:
        text = str(getattr(exc, "message", "") or exc) or type(exc).__name__
        if isinstance(exc, SystemExit):
            text = f"exit status {exc.code}"
            outcome = "ok" if exc.code in (0, None) else "failed: " + text
        else:
            outcome = "failed: " + text
        record(store, actor, action, target, result.details, outcome[:500])
        raise
    record(store, actor, action, target, result.details, result.outcome)


def read(store: ClickHouseStore, since: datetime | None = None, action: str | None = None,
         limit: int = 1000) -> list[AuditEntry]:
    """Entries, oldest first (the newest ``limit``)."""
    where = ["1"]
    params: dict[str, Any] = {"n": limit}
    if since is not None:
        where.append("time >= {since:DateTime64(3)}")
        params["since"] = since
    if action is not None:
        where.append("action = {action:String}")
        params["action"] = action
    rows = store.query(f"SELECT {', '.join(COLUMNS)} FROM audit_log WHERE {' AND '.join(where)} "
                       "ORDER BY time DESC LIMIT {n:UInt64}", params)
    return [AuditEntry(time=t if t.tzinfo else t.replace(tzinfo=UTC), actor=str(a),
                       action=str(act), target=str(tg), details=json.loads(d or "{}"),
                       outcome=str(o))
            for t, a, act, tg, d, o in reversed(rows)]
