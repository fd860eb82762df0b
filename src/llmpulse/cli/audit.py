"""``llmpulse audit``: read the audit log (erasures, retraining approvals, dashboard pushes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from llmpulse.cli.alerts import _settings, open_store


def parse_since(value: str, now: datetime) -> datetime:
    """An ISO time (UTC unless it says), or a duration back from ``now`` (``7d``, ``12h``)."""
    from llmpulse.alerting.rules import parse_duration

    try:
        return now - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither an ISO time nor a duration such as "
                                 "7d or 12h", param_hint="--since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.option("--since", default=None,
              help="Entries from this ISO time, or this long ago (e.g. 7d, 12h).")
@click.option("--action", default=None,
              help="Only this action: erase, retrain approve, retrain resend, release approve, "
                   "dashboards push.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True,
              help="At most this many (the newest).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit(since: str | None, action: str | None, limit: int, as_json: bool) -> None:
    """The audit log, oldest first: time, actor, action, target, outcome and details."""
    from llmpulse.governance.audit import read

    start = parse_since(since, datetime.now(UTC)) if since else None
    store = open_store(_settings())
    try:
        entries = read(store, start, action, limit)
    finally:
        store.close()
    for e in entries:
        if as_json:
            click.echo(json.dumps(e.as_json(), sort_keys=True))
        else:
            click.echo(f"{e.time:%Y-%m-%d %H:%M:%S} {e.actor:12} {e.action:16} {e.target} "
                       f"-> {e.outcome}  {json.dumps(e.details, sort_keys=True)}")
    if not entries and not as_json:
        click.echo("no audit entries")


def record_if_possible(actor: str | None, action: str, target: str,
                       details: dict[str, Any], outcome: str) -> None:
    """Record an action of a command that needs no store otherwise: a store that cannot be
    opened (none yet, an embedded one held by a worker) is said on stderr, not an error."""
    from llmpulse.errors import LlmpulseError
    from llmpulse.governance.audit import actor_or_user, record

    try:
        store = open_store(_settings())
    except LlmpulseError as exc:
        click.echo(f"llmpulse: {action} not recorded in the audit log: {exc}", err=True)
        return
    try:
        record(store, actor_or_user(actor), action, target, details, outcome)
    finally:
        store.close()
