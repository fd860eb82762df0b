"""Commands for rules, alerts and budgets: ``llmpulse rules | alerts | budgets``.

Heavy modules are imported inside the commands, so ``llmpulse --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
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
    click.echo(f"{path}: {len(loaded.rules)} rules, {len(loaded.channels)} channels, "
               f"{len(loaded.budgets)} budgets: OK")
    for rule in loaded.rules:
        limit = f"{rule.operator} {rule.threshold:g}" if rule.threshold is not None else ""
        if rule.baseline is not None:
            limit = (limit + " and " if limit else "") + f"{rule.baseline.method} baseline"
        targets = list(rule.channels) + (["retrain trigger"] if rule.retrain else [])
        click.echo(f"  {rule.name}: {rule.metric} by {','.join(rule.group_by) or 'all'} "
                   f"over {rule.window:g}s {limit} -> {', '.join(targets) or 'no channel'}")


@click.group()
def alerts() -> None:
    """Current alerts, and test notifications."""


@alerts.command("list")
@click.option("--all", "show_all", is_flag=True,
              help="Also the resolved and OK ones (default: pending and firing).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def alerts_list(show_all: bool, as_json: bool) -> None:
    """The state of every (rule, group) from storage (stop the worker first with chdb)."""
    from llmpulse.sinks.alert_store import current_alerts

    store = open_store(_settings())
    try:
        rows = current_alerts(store, include_ok=show_all)
    finally:
        store.close()
    names = ("rule", "severity", "model", "route", "tenant", "prompt_version", "state", "value",
             "threshold", "since", "dedup_key")
    if as_json:
        for row in rows:
            click.echo(json.dumps(dict(zip(names, row, strict=True)), default=str))
        return
    if not rows:
        click.echo("no alerts" + ("" if show_all else " pending or firing"))
        return
    for rule, severity, model, route, tenant, prompt, state, value, limit, since, _ in rows:
        group = ",".join(f"{k}={v}" for k, v in (("model", model), ("route", route),
                                                  ("tenant", tenant), ("prompt_version", prompt))
                         if v != "*")
        click.echo(f"{state.upper():9} {severity:8} {rule} [{group}] value={_num(value)} "
                   f"threshold={_num(limit)} since {since}")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@alerts.command("test")
@click.argument("rule_name")
def alerts_test(rule_name: str) -> None:
    """Send a test notification for RULE to its channels and report each delivery."""
    from llmpulse.alerting.engine import build_test_message
    from llmpulse.alerting.notifiers import Notifier
    from llmpulse.alerting.rules import load_rules

    settings = _settings()
    loaded = load_rules(settings.rules_file)
    rule = loaded.rule(rule_name)
    if not rule.channels:
        raise click.ClickException(f"rule {rule_name} has no channels to notify")
    message = build_test_message(rule, datetime.now(UTC))

    async def send() -> list[Any]:
        notifier = Notifier(loaded.channels, os.environ)
        try:
            return await notifier.deliver(message)
        finally:
            await notifier.aclose()

    results = asyncio.run(send())
    for r in results:
        outcome = "ok" if r.ok else f"FAILED: {r.error}"
        click.echo(f"{r.channel}: {outcome} (HTTP {r.status}, {r.attempts} attempt(s), "
                   f"{r.elapsed_s:.2f}s)")
    if not all(r.ok for r in results):
        sys.exit(1)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of text.")
def budgets(as_json: bool) -> None:
    """Spend so far against each budget of the rules file, with the burn-rate projection."""
    from llmpulse.alerting.rules import load_rules
    from llmpulse.budgets import evaluate, period_bounds
    from llmpulse.sinks.spend import spend_by

    settings = _settings()
    loaded = load_rules(settings.rules_file)
    if not loaded.budgets:
        click.echo("no budgets in the rules file")
        return
    now = datetime.now(UTC)
    store = open_store(settings)
    try:
        for budget in loaded.budgets:
            start, _ = period_bounds(budget.period, now)
            spend = spend_by(store, budget.group_by, start, now)
            for status in evaluate(budget, spend, now):
                if as_json:
                    click.echo(json.dumps({
                        "budget": budget.name, "group": status.group, "state": status.state,
                        "spent_usd": status.spent_usd, "projected_usd": status.projected_usd,
                        "amount_usd": budget.amount_usd}))
                else:
                    click.echo(f"{status.state.upper():5} {budget.name}: {status.describe()}")
    finally:
        store.close()
