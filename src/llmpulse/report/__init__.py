"""``llmpulse report``: one self-contained HTML page with plots of a period's calls.

:mod:`.queries` reads the store into :mod:`.data`; :mod:`.svg` draws charts from plain
numbers; :mod:`.page` lays them out as HTML.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from llmpulse.report.data import Period, ReportData
from llmpulse.sinks.clickhouse import ClickHouseStore

__all__ = ["Period", "ReportData", "build", "write"]


def build(store: ClickHouseStore, period: Period, now: datetime | None = None) -> str:
    """The report's HTML for ``period``."""
    from llmpulse.report.page import render
    from llmpulse.report.queries import load

    return render(load(store, period, now or datetime.now(UTC)))


def write(store: ClickHouseStore, period: Period, path: Path) -> Path:
    """Write the report to ``path`` (its folder made if need be)."""
    html = build(store, period)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
