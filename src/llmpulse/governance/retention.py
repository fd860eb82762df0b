"""Retention: ``LLMPULSE_RETENTION_*_DAYS`` applied to the store as ClickHouse TTLs.

Each setting maps to table TTLs (rows deleted at merges) or column TTLs (message bodies
cleared, the call kept).  :func:`apply_retention` runs at every store opening and alters
only what changed since the clause recorded in ``retention_applied``; every statement is
idempotent, so processes starting at once may both run it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from llmpulse.config import Settings
    from llmpulse.sinks.clickhouse import ClickHouseStore

log = logging.getLogger(__name__)

#: Message-body columns of inference_events (and the explanation quoting them).
MESSAGE_COLUMNS = ("system_instructions", "input_messages", "output_messages",
                   "context_documents")
#: What the migrations set: bodies and explanations expire 30 days after the call.
MIGRATED_MESSAGE_DAYS = 30


@dataclass(frozen=True)
class Target:
    """One TTL: a table's (``column`` None) or a column's, counted from ``time_column``."""

    setting: str
    table: str
    time_column: str
    column: str | None = None
    #: Rows kept whatever their age (a table TTL's ``WHERE``, negated).
    keep_where: str | None = None

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table

    @property
    def kind(self) -> Literal["table", "column"]:
        return "column" if self.column else "table"


TARGETS: tuple[Target, ...] = (
    Target("retention_calls_days", "inference_events", "call_time"),
    *(Target("retention_messages_days", "inference_events", "call_time", column)
      for column in MESSAGE_COLUMNS),
    Target("retention_messages_days", "signals", "time", "explanation"),
    Target("retention_signals_days", "signals", "time"),
    Target("retention_feedback_days", "feedback", "time"),
    Target("retention_windows_days", "windows", "start"),
    Target("retention_alerts_days", "alert_notifications", "time"),
    Target("retention_alerts_days", "alert_state", "updated",
           keep_where="state IN ('pending', 'firing')"),
    Target("retention_retrain_days", "retrain_triggers", "created_at"),
)


def ttl_clause(target: Target, days: int) -> str | None:
    """The TTL expression for ``days`` (None: no TTL, kept for ever)."""
    if days <= 0:
        return None
    clause = f"toDateTime({target.time_column}) + INTERVAL {days} DAY"
    if target.keep_where:
        clause += f" WHERE NOT ({target.keep_where})"
    return clause


def alter_statement(target: Target, clause: str | None) -> str:
    """The ALTER that sets ``clause`` on ``target`` (None: removes its TTL)."""
    if target.column is None:
        return (f"ALTER TABLE {target.table} MODIFY TTL {clause}" if clause
                else f"ALTER TABLE {target.table} REMOVE TTL")
    return (f"ALTER TABLE {target.table} MODIFY COLUMN {target.column} TTL {clause}"
            if clause else f"ALTER TABLE {target.table} MODIFY COLUMN {target.column} REMOVE TTL")


def wanted(days: Mapping[str, int]) -> dict[str, str | None]:
    """Target name -> clause, from the days of each setting."""
    return {t.name: ttl_clause(t, days[t.setting]) for t in TARGETS}


def migrated() -> dict[str, str | None]:
    """Target name -> the clause the migrations leave (before any recorded change)."""
    return wanted({t.setting: MIGRATED_MESSAGE_DAYS if t.setting == "retention_messages_days"
                   else 0 for t in TARGETS})


def changes(want: Mapping[str, str | None], recorded: Mapping[str, str | None]
            ) -> list[tuple[Target, str | None]]:
    """The targets whose wanted clause differs from the one in force (recorded, else what
    the migrations set)."""
    before = {**migrated(), **recorded}
    return [(t, want[t.name]) for t in TARGETS if want[t.name] != before.get(t.name)]


def settings_days(settings: Settings) -> dict[str, int]:
    return {t.setting: int(getattr(settings, t.setting)) for t in TARGETS}


def recorded(store: ClickHouseStore) -> dict[str, str | None]:
    """The clause last applied to each target ('' recorded: no TTL)."""
    rows = store.query("SELECT target, argMax(clause, applied_at) FROM retention_applied "
                       "GROUP BY target")
    return {str(name): (str(clause) or None) for name, clause in rows}


def apply_retention(store: ClickHouseStore, settings: Settings) -> list[str]:
    """Bring the store's TTLs to the settings; the names of the targets altered now."""
    todo = changes(wanted(settings_days(settings)), recorded(store))
    for target, clause in todo:
        try:
            store.client.command(alter_statement(target, clause))
        except Exception as exc:
            # removing a TTL another process removed first (or one never set) is done
            if clause is not None or "TTL" not in str(exc):
                raise
        store.client.insert("retention_applied",
                            [[target.name, clause or "", datetime.now(UTC)]],
                            column_names=["target", "clause", "applied_at"])
        log.info("retention of %s: %s", target.name,
                 f"TTL {clause}" if clause else "kept for ever")
    return [t.name for t, _ in todo]
