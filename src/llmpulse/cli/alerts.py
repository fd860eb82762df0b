"""Commands for rules, alerts and budgets: ``llmpulse rules | alerts | budgets``.

Heavy modules are imported inside the commands, so ``llmpulse --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click


def require_store(settings: Any) -> None:
    """A clear error when the embedded store does not exist (instead of creating one)."""
    from llmpulse.errors import StoreError

    if settings.embedded_store and not settings.chdb_path.is_dir():
        raise StoreError(f"no embedded store at {settings.chdb_path.resolve()}; set "
                         "LLMPULSE_CLICKHOUSE_URL (the demo's is "
                         "chdb://<LLMPULSE_DATA_DIR>/chdb)")


def open_store(settings: Any) -> Any:
    """The configured store, migrated (a store from an older version gains the new tables)."""
    from llmpulse.sinks.clickhouse import ClickHouseStore

    require_store(settings)
    return ClickHouseStore.open(settings)


def _settings() -> Any:
    from llmpulse.config import load_settings

    return load_settings()


@click.group()
def rules() -> None:
    """Validate alert rules files."""


@rules.command("check")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--pane", type=click.FloatRange(min=0.001), default=None,
              help="Pane width in seconds to check the windows against "
                   "(default: LLMPULSE_WINDOW_PANE_S).")
def rules_check(path: Path, pane: float | None) -> None:
    """Validate a rules file: fields, metrics, channels, windows and channel secrets.

    Every problem is reported at once, each as FILE:LINE:COLUMN: FIELD: PROBLEM (exit 2).
    """
    from llmpulse.alerting.rules import load_rules

    loaded = load_rules(path, pane_s=pane if pane is not None else _settings().window_pane_s,
                        env=os.environ)
    canaries = f", {len(loaded.canaries)} canaries" if loaded.canaries else ""
    click.echo(f"{path}: {len(loaded.rules)} rules, {len(loaded.channels)} channels, "
               f"{len(loaded.budgets)} budgets{canaries}: OK")
    for rule in loaded.rules:
        limit = f"{rule.operator} {rule.threshold:g}" if rule.threshold is not None else ""
        if rule.baseline is not None:
            limit = (limit + " and " if limit else "") + f"{rule.baseline.method} baseline"
        targets = list(rule.channels) + (["retrain trigger"] if rule.retrain else [])
        click.echo(f"  {rule.name}: {rule.metric} by {','.join(rule.group_by) or 'all'} "
                   f"over {rule.window:g}s {limit} -> {', '.join(targets) or 'no channel'}")
    for canary in loaded.canaries:
        where = ",".join(f"{k}={v}" for k, v in (("model", canary.model),
                                                 ("route", canary.route),
                                                 ("template", canary.template)) if v)
        targets = list(canary.channels) + (
            [f"rollback webhook {canary.rollback_webhook}"] if canary.rollback_webhook else [])
        click.echo(f"  canary {canary.name}: {canary.by} {canary.candidate} vs "
                   f"{canary.baseline} [{where or 'all'}] -> llm.releases, "
                   f"{', '.join(targets) or 'no channel'}")


@click.group()
def alerts() -> None:
    """Current alerts, and test notifications."""


@alerts.command("list")
@click.option("--all", "show_all", is_flag=True,
              help="Also the resolved and OK ones (default: pending and firing).")
@click.option("--json", "as_json", is_flag=True,
              help="JSON lines instead of a table (since: null for states that never fired).")
def alerts_list(show_all: bool, as_json: bool) -> None:
    """The state of every (rule, group) from storage (chdb: stop the worker or use `store serve`).

    A state that never left OK shows "never fired" instead of a time.
    """
    from llmpulse.sinks.alert_store import current_alerts

    store = open_store(_settings())
    try:
        rows = current_alerts(store, include_ok=show_all)
    finally:
        store.close()
    names = ("rule", "severity", "model", "route", "tenant", "prompt_version", "state", "value",
             "threshold", "since", "dedup_key", "scorer")
    if as_json:
        for row in rows:
            record = dict(zip(names, row, strict=True))
            record["since"] = None if _never(record["since"]) else record["since"]
            click.echo(json.dumps(record, default=str))
        return
    if not rows:
        click.echo("no alerts" + ("" if show_all else " pending or firing"))
        return
    for rule, severity, model, route, tenant, prompt, state, value, limit, since, _, scorer \
            in rows:
        group = ",".join(f"{k}={v}" for k, v in (("model", model), ("route", route),
                                                  ("tenant", tenant), ("prompt_version", prompt))
                         if v != "*")
        when = "never fired" if _never(since) else f"since {since:%Y-%m-%d %H:%M:%S} UTC"
        of = f" scorer={scorer}" if scorer else ""  # a quality rule: the version it shows
        click.echo(f"{state.upper():9} {severity:8} {rule} [{group}] value={_num(value)} "
                   f"threshold={_num(limit)}{of} {when}")


def _never(since: Any) -> bool:
    """An OK state that never changed keeps the epoch as its 'since'."""
    return isinstance(since, datetime) and since.replace(tzinfo=None) <= _EPOCH_PLUS_1S


_EPOCH_PLUS_1S = datetime(1970, 1, 1, 0, 0, 1)


def _where(channel: Any) -> str:
    """A channel's receiver without its secrets: Slack's URL is the credential itself."""
    from urllib.parse import urlsplit

    parts = urlsplit(channel.url)
    shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    return f"{channel.type} {shown}" + ("/..." if parts.path not in ("", "/") else "")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@alerts.command("test")
@click.argument("rule_name")
def alerts_test(rule_name: str) -> None:
    """Send a test notification for RULE to its channels and report each delivery.

    Says on stderr where it sends and each failed attempt it retries; exit 1 if a
    delivery failed.
    """
    from llmpulse.alerting.engine import build_test_message
    from llmpulse.alerting.notifiers import Notifier
    from llmpulse.alerting.rules import load_rules

    settings = _settings()
    loaded = load_rules(settings.rules_file)
    rule = loaded.rule(rule_name)
    if not rule.channels:
        raise click.ClickException(f"rule {rule_name} has no channels to notify")
    message = build_test_message(rule, datetime.now(UTC))
    for name in rule.channels:
        channel = loaded.channels[name]
        click.echo(f"{name}: sending a test notification to {_where(channel)} (timeout "
                   f"{channel.timeout_s:g}s, up to {channel.retries + 1} attempts) ...",
                   err=True)

    def retrying(name: str, attempt: int, error: str, wait_s: float) -> None:
        click.echo(f"{name}: attempt {attempt} failed ({error}); retrying in {wait_s:.1f}s",
                   err=True)

    async def send() -> list[Any]:
        notifier = Notifier(loaded.channels, os.environ, on_retry=retrying)
        try:
            return await notifier.deliver(message)
        finally:
            await notifier.aclose()

    logging.getLogger("llmpulse.alerting.notifiers").setLevel(logging.ERROR)  # said above
    results = asyncio.run(send())
    for r in results:
        outcome = "ok" if r.ok else f"FAILED: {r.error}"
        status = f"HTTP {r.status}" if r.status is not None else "no HTTP answer"
        click.echo(f"{r.channel}: {outcome} ({status}, {r.attempts} attempt(s), "
                   f"{r.elapsed_s:.2f}s)")
    if not all(r.ok for r in results):
        sys.exit(1)


@click.command()
@click.option("--json", "as_json", is_flag=True,
              help="One JSON array of budget states instead of text ([] without budgets).")
def budgets(as_json: bool) -> None:
    """Spend so far against each budget of the rules file, with the burn-rate projection."""
    from llmpulse.alerting.rules import load_rules
    from llmpulse.budgets import evaluate, period_bounds
    from llmpulse.sinks.spend import spend_by

    settings = _settings()
    loaded = load_rules(settings.rules_file)
    if not loaded.budgets:
        if as_json:
            click.echo("[]")
        click.echo(f"no budgets in {settings.rules_file or 'the default rules'}",
                   err=as_json)
        return
    now = datetime.now(UTC)
    store = open_store(settings)
    report: list[dict[str, Any]] = []
    try:
        for budget in loaded.budgets:
            start, _ = period_bounds(budget.period, now)
            spend = spend_by(store, budget.group_by, start, now)
            for status in evaluate(budget, spend, now):
                if as_json:
                    report.append(_budget_json(status))
                else:
                    click.echo(f"{status.state.upper():5} {budget.name}: {status.describe()}")
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report, indent=2))


def _budget_json(status: Any) -> dict[str, Any]:
    budget, projection = status.budget, status.projection
    exhausted = projection.exhausted_at
    return {"budget": budget.name, "group_by": budget.group_by, "group": status.group,
            "period": budget.period, "period_start": projection.start.isoformat(),
            "period_end": projection.end.isoformat(), "state": status.state,
            "spent_usd": status.spent_usd, "amount_usd": budget.amount_usd,
            "fraction": status.fraction, "projected_usd": status.projected_usd,
            "exhausted_at": exhausted.isoformat() if exhausted is not None else None,
            "summary": status.describe()}
