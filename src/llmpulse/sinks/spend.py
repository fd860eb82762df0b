"""Spend read back from the store: the input of the budgets (:mod:`llmpulse.budgets`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from llmpulse.sinks.clickhouse import ClickHouseStore

__all__ = ["spend_by"]

SpendColumn = Literal["tenant", "route"]

_COLUMNS: frozenset[str] = frozenset({"tenant", "route"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: datetime) -> int:
    """Microseconds since the epoch, exactly (naive = UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


def spend_by(store: ClickHouseStore, column: SpendColumn, since: datetime,
             until: datetime) -> dict[str, float]:
    """USD by tenant or route of the calls with ``call_time`` in [since, until).

    Calls of unknown price (NULL cost) count as 0; a group with only such calls is
    listed with 0.0.  Times are passed as epoch microseconds, so no time zone
    conversion happens on either side.
    """
    if column not in _COLUMNS:  # the column name goes into the SQL text: allow-list it
        raise ValueError(f"spend_by: column must be one of {sorted(_COLUMNS)}, got {column!r}")
    rows = store.query(
        f"SELECT {column}, sum(ifNull(cost_usd, 0)) FROM inference_events FINAL "
        "WHERE call_time >= fromUnixTimestamp64Micro({since:Int64}, 'UTC') "
        "AND call_time < fromUnixTimestamp64Micro({until:Int64}, 'UTC') "
        f"GROUP BY {column}",
        parameters={"since": _micros(since), "until": _micros(until)},
    )
    return {str(group): float(usd) for group, usd in rows}
