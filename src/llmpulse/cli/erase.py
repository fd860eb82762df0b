"""``llmpulse erase``: remove every stored trace of a request, a user (hash) or a tenant."""

from __future__ import annotations

import json

import click

from llmpulse.cli.alerts import _settings, open_store


@click.command()
@click.option("--request-id", default=None, help="Erase this call.")
@click.option("--user-hash", default=None,
              help="Erase the calls of this user hash (as the SDK stored it), the signals "
                   "and feedback of those calls, and the feedback this user gave.")
@click.option("--tenant", default=None,
              help="Erase the tenant's calls, their signals and feedback, and the tenant's "
                   "windows, alert states and notifications, and retraining triggers.")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@click.option("--actor", default=None,
              help="Who erases, for the audit log (default: the OS user).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def erase(request_id: str | None, user_hash: str | None, tenant: str | None, dry_run: bool,
          actor: str | None, as_json: bool) -> None:
    """Delete a subject's rows from every table and redact its request ids where a row is
    kept (alert messages, retraining triggers); done when the command returns.

    Workers may run meanwhile (chdb: through `llmpulse store serve`): the erasure is
    recorded first, and workers drop the subject's rows that arrive later (a request
    waiting in a join, a late response or feedback).  Kafka topics keep their messages
    until their retention (see README, Data governance).  Recorded in the audit log.
    """
    from llmpulse.governance.audit import actor_or_user, audited
    from llmpulse.governance.erase import SETTLE_S, Kind, Subject
    from llmpulse.governance.erase import erase as run_erase

    options: tuple[tuple[Kind, str | None], ...] = (
        ("request_id", request_id), ("user_hash", user_hash), ("tenant", tenant))
    given = [(k, v) for k, v in options if v is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --request-id, --user-hash, --tenant")
    kind, value = given[0]
    if not value.strip():
        raise click.UsageError(f"--{kind.replace('_', '-')} must not be empty")
    if kind == "tenant" and value == "*":
        raise click.UsageError("tenant '*' is every tenant's aggregate (windows, alerts), "
                               "not a tenant")
    subject = Subject(kind, value)
    store = open_store(_settings())
    if not dry_run:
        click.echo(f"llmpulse erase: {subject}: running workers drop it from now on; "
                   f"deleting in {SETTLE_S:g} s", err=True)
    try:
        with audited(store, actor_or_user(actor), "erase", str(subject),
                     {"dry_run": dry_run}) as audit:
            report = run_erase(store, subject, dry_run=dry_run)
            audit.details.update(report.as_json())
            audit.outcome = "dry-run" if dry_run else "ok"
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{'dry run: ' if dry_run else ''}erase {subject}")
    for table, rows in report.deleted.items():
        click.echo(f"  {table:22} {verb} {rows} row(s)")
    for table, rows in report.redacted.items():
        click.echo(f"  {table:22} {'would redact' if dry_run else 'redacted'} request ids "
                   f"in {rows} row(s)")
    click.echo(f"  {'erasures':22} {'would record' if dry_run else 'recorded'} "
               f"{report.recorded} request id(s): their later feedback and signals are "
               "dropped")
