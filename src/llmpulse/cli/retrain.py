"""``llmpulse retrain``: list retraining triggers, show one, approve one that waits, forward
one again.

Heavy modules are imported inside the commands, so ``llmpulse --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import click

from llmpulse.cli.alerts import _settings, open_store

if TYPE_CHECKING:
    from llmpulse.alerting.rules import RulesFile
    from llmpulse.config import Settings
    from llmpulse.retrain.desk import RetrainDesk
    from llmpulse.retrain.trigger import RetrainTrigger
    from llmpulse.sinks.clickhouse import ClickHouseStore
    from llmpulse.sinks.kafka import BurstProducer


@click.group()
def retrain() -> None:
    """Retraining triggers published on llm.retrain (policies: `retrain:` in the rules file)."""


@retrain.command("list")
@click.option("--status", type=click.Choice(["triggered", "pending_approval", "approved",
                                             "suppressed"]), default=None)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def retrain_list(status: str | None, limit: int) -> None:
    """Triggers from storage, newest first (chdb: stop the worker or use `store serve`)."""
    from llmpulse.sinks.retrain_store import listing

    store = open_store(_settings())
    try:
        triggers = listing(store, status, limit)
    finally:
        store.close()
    if not triggers:
        click.echo("no retraining triggers" + (f" with status {status}" if status else ""))
    for t in triggers:
        group = ",".join(f"{k}={v}" for k, v in (("model", t.model), ("route", t.route),
                                                  ("tenant", t.tenant),
                                                  ("prompt_version", t.prompt_version))
                         if v != "*")
        click.echo(f"{t.status.upper():16} {t.created_at:%Y-%m-%d %H:%M:%S} {t.policy} "
                   f"[{group}] {t.id}\n    {t.reason}")


@retrain.command("show")
@click.argument("trigger_id")
def retrain_show(trigger_id: str) -> None:
    """One trigger as JSON: evidence, prompt versions and the dataset query."""
    from llmpulse.sinks.retrain_store import get

    store = open_store(_settings())
    try:
        trigger = get(store, trigger_id)
    finally:
        store.close()
    if trigger is None:
        raise click.ClickException(f"no retraining trigger {trigger_id}")
    click.echo(trigger.model_dump_json(by_alias=True, indent=2))


@retrain.command("approve")
@click.argument("trigger_id")
@click.option("--actor", "--by", "approver", default=None,
              help="Who approves, recorded in the trigger and the audit log (default: the OS "
                   "user).")
def retrain_approve(trigger_id: str, approver: str | None) -> None:
    """Release a trigger waiting for approval: publish it on llm.retrain and forward it."""
    from llmpulse.alerting.rules import load_rules
    from llmpulse.governance.audit import actor_or_user, audited
    from llmpulse.ingest import MAX_EVENT_BYTES
    from llmpulse.kafka_security import librdkafka_security
    from llmpulse.sinks.kafka import BurstProducer
    from llmpulse.sinks.retrain_store import get

    settings = _settings()
    if settings.broker is None:
        raise click.ClickException("set LLMPULSE_BROKER to the Kafka bootstrap servers")
    rules = load_rules(settings.rules_file)
    store = open_store(settings)
    by = actor_or_user(approver)
    try:
        with audited(store, by, "retrain approve", trigger_id) as audit:
            trigger = get(store, trigger_id)
            if trigger is None:
                raise click.ClickException(f"no retraining trigger {trigger_id}")
            if trigger.status != "pending_approval":
                raise click.ClickException(
                    f"{trigger_id} is {trigger.status}, not pending_approval")
            producer = BurstProducer(settings.broker, max_message_bytes=2 * MAX_EVENT_BYTES,
                                     timeout=30.0, security=librdkafka_security(settings))
            forwarded = _with_desk(settings, rules, store, producer,
                                   lambda desk: desk.approve(trigger, by))
            audit.details.update(_forward_details(forwarded))
            if not all(r.ok for r in forwarded):
                audit.outcome = "ok; a webhook was not reached"
    finally:
        store.close()
    click.echo(f"approved {trigger_id}: published on {settings.topic('retrain')}")
    _report(forwarded)


@retrain.command("resend")
@click.argument("trigger_id")
@click.option("--channel", "channels", multiple=True,
              help="Forward to this webhook channel (repeatable; default: those not reached).")
@click.option("--actor", default=None,
              help="Who resends, for the audit log (default: the OS user).")
def retrain_resend(trigger_id: str, channels: tuple[str, ...], actor: str | None) -> None:
    """Forward a released trigger to its webhooks again (the worker retries failed ones
    by itself for about 14 hours; this sends now)."""
    from llmpulse.alerting.rules import load_rules
    from llmpulse.governance.audit import actor_or_user, audited

    settings = _settings()
    rules = load_rules(settings.rules_file)
    store = open_store(settings)
    try:
        with audited(store, actor_or_user(actor), "retrain resend", trigger_id,
                     {"channels": list(channels)}) as audit:
            forwarded, after = _resend(settings, rules, store, trigger_id, channels)
            audit.details.update(_forward_details(forwarded))
            if forwarded is None:
                audit.outcome = "nothing to send"
            elif not all(r.ok for r in forwarded):
                audit.outcome = "failed: a webhook was not reached"
    finally:
        store.close()
    if forwarded is None:
        return
    _report(forwarded, after)


def _resend(settings: Settings, rules: RulesFile, store: ClickHouseStore, trigger_id: str,
            channels: tuple[str, ...]) -> tuple[list[Any] | None, RetrainTrigger | None]:
    """The deliveries of a resend and the trigger after it (None: nothing to send)."""
    from llmpulse.sinks.retrain_store import get

    trigger = get(store, trigger_id)
    if trigger is None:
        raise click.ClickException(f"no retraining trigger {trigger_id}")
    if trigger.status not in ("triggered", "approved"):
        raise click.ClickException(f"{trigger_id} is {trigger.status}: not released, so "
                                   "not forwarded (approve it first)")
    unknown = [c for c in channels if c not in rules.channels]
    if unknown:
        raise click.ClickException(f"unknown channel(s) {', '.join(unknown)}; "
                                   f"known: {', '.join(rules.channels) or 'none'}")
    if not channels and not trigger.forward_failed:
        click.echo(f"{trigger_id} reached all its webhooks; name one with --channel")
        return None, None
    after: list[RetrainTrigger] = []

    async def resend(desk: RetrainDesk) -> None:
        after.append(await desk.resend(trigger, list(channels) or None))

    forwarded = _with_desk(settings, rules, store, None, resend)
    return forwarded, after[0] if after else None


def _forward_details(forwarded: list[Any] | None) -> dict[str, Any]:
    """The webhook deliveries, for the audit log."""
    return {"forwarded": {r.channel: "ok" if r.ok else f"failed: {r.error}"
                          for r in forwarded or ()}}


def _with_desk(settings: Settings, rules: RulesFile, store: ClickHouseStore,
               producer: BurstProducer | None,
               work: Callable[[RetrainDesk], Awaitable[Any]]) -> list[Any]:
    """Run ``work`` on a retraining desk of its own; the webhook deliveries it made."""
    from llmpulse.alerting.notifiers import Notifier
    from llmpulse.retrain.desk import RetrainDesk

    async def run() -> list[Any]:
        notifier = Notifier(rules.channels, os.environ)
        desk = RetrainDesk(settings.topic("retrain"), rules, store, producer, notifier, None,
                           time.time)
        try:
            await work(desk)
            return desk.last_forward
        finally:
            await notifier.aclose()
            if producer is not None:
                await asyncio.to_thread(producer.close)

    return asyncio.run(run())


def _report(forwarded: list[Any], trigger: RetrainTrigger | None = None) -> None:
    """One line per webhook, and the webhooks not named that are still to reach; exit 1
    if one was not reached."""
    for r in forwarded:
        click.echo(f"forwarded to {r.channel}: " + ("ok" if r.ok else f"FAILED: {r.error}"))
    tried = {r.channel for r in forwarded}
    others = [c for c in (trigger.forward_failed if trigger else ()) if c not in tried]
    if trigger is not None and others:
        when = (f"the worker tries again after {trigger.next_forward_at:%Y-%m-%d %H:%M:%S} UTC"
                if trigger.next_forward_at else "the worker no longer retries")
        click.echo(f"still to reach: {', '.join(others)} ({when}; `llmpulse retrain resend "
                   f"{trigger.id}` sends to them now)")
    if not all(r.ok for r in forwarded):
        sys.exit(1)
