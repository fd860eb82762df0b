"""``llmpulse releases``: the canaries' verdicts (published on llm.releases), from storage.

Heavy modules are imported inside the commands, so ``llmpulse --help`` stays fast.
"""

from __future__ import annotations

import click

from llmpulse.cli.alerts import _settings, open_store


@click.group()
def releases() -> None:
    """Canary verdicts published on llm.releases (canaries: `canaries:` in the rules file)."""


@releases.command("list")
@click.option("--canary", default=None, help="Only this canary's verdicts.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One verdict per line, as published.")
def releases_list(canary: str | None, limit: int, as_json: bool) -> None:
    """Verdicts from storage, newest first (chdb: stop the worker or use `store serve`)."""
    from llmpulse.sinks.release_store import listing

    store = open_store(_settings())
    try:
        verdicts = listing(store, canary, limit)
    finally:
        store.close()
    if as_json:
        for v in verdicts:
            click.echo(v.model_dump_json())
        return
    if not verdicts:
        click.echo("no canary verdicts" + (f" of canary {canary}" if canary else ""))
    for v in verdicts:
        where = ",".join(f"{k}={x}" for k, x in (("model", v.model), ("route", v.route)) if x)
        ended = " (expired)" if v.expired else ""
        click.echo(f"{v.verdict.upper():17} {v.created_at:%Y-%m-%d %H:%M:%S} {v.canary} "
                   f"[{where or 'all'}] {v.selector} {v.candidate} vs {v.baseline}{ended} "
                   f"{v.id}\n    {v.reason} ({v.calls_candidate} candidate, "
                   f"{v.calls_baseline} baseline calls)")


@releases.command("approve")
@click.argument("verdict_id")
@click.option("--actor", default=None,
              help="Who approves, for the audit log (default: the OS user).")
def releases_approve(verdict_id: str, actor: str | None) -> None:
    """Record that a person approved a verdict (``approval: required``) before a deploy
    system acts on it: in the audit log, where `llmpulse audit --action "release approve"`
    and a deploy system read it.  A verdict is approved once."""
    from llmpulse.governance.audit import actor_or_user, audited, read
    from llmpulse.sinks.release_store import get

    by = actor_or_user(actor)
    store = open_store(_settings())
    try:
        earlier = [e for e in read(store, action=APPROVE) if e.target == verdict_id
                   and e.outcome == "ok"]
        if earlier:
            first = earlier[0]
            click.echo(f"{verdict_id} was approved already, by {first.actor} at "
                       f"{first.time:%Y-%m-%d %H:%M:%S} UTC")
            return
        with audited(store, by, APPROVE, verdict_id) as audit:
            verdict = get(store, verdict_id)
            if verdict is None:
                raise click.ClickException(
                    f"no canary verdict {verdict_id} (`llmpulse releases list` shows them)")
            audit.details.update({"canary": verdict.canary, "verdict": verdict.verdict,
                                  "candidate": verdict.candidate,
                                  "baseline": verdict.baseline})
    finally:
        store.close()
    click.echo(f"approved {verdict_id}: {verdict.verdict} of {verdict.candidate} "
               f"(canary {verdict.canary}), by {by}; recorded in the audit log")


#: The audit log's action for an approved verdict.
APPROVE = "release approve"
