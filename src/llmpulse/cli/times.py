"""The ``--from`` / ``--to`` options of the commands that read a period from storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from llmpulse.prices import as_utc


def moment(value: str) -> datetime:
    """An ISO time (``Z`` or an offset; none: UTC) as an aware UTC datetime."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO time such as "
                                 "2026-12-01T09:00:00Z") from None
    return as_utc(parsed)


def period(start: str | None, end: str | None, default: timedelta) -> tuple[datetime, datetime]:
    """``--from``/``--to``: ``--to`` defaults to now, ``--from`` to ``default`` before it."""
    t2 = moment(end) if end else datetime.now(UTC)
    t1 = moment(start) if start else t2 - default
    if t2 <= t1:
        raise click.BadParameter("--to must be after --from")
    return t1, t2
