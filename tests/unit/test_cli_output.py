"""What the commands print: column names, real JSON, what a state means, what a command is
waiting for."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmpulse.alerting.engine import RuleStatus
from llmpulse.alerting.rules import parse_rules
from llmpulse.alerting.state import AlertState, AlertStatus
from llmpulse.cli import cli
from llmpulse.cli.main import format_rows
from llmpulse.sinks.alert_store import write_states
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.windows import GroupKey
from tests.unit.factories import Borrowed


@pytest.fixture
def cli_store(store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[ClickHouseStore]:
    borrowed = Borrowed(store)
    monkeypatch.setattr("llmpulse.cli.alerts.open_store", lambda settings: borrowed)
    # the module, not the function llmpulse.cli re-exports under the same name
    monkeypatch.setattr(importlib.import_module("llmpulse.cli.main"), "_read_store",
                        lambda settings: borrowed)
    yield store


def _invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_sql_prints_column_names_in_every_format(cli_store: ClickHouseStore) -> None:
    query = "SELECT number AS n, toString(number * 2) AS doubled FROM numbers(3)"
    table = _invoke("sql", query).stdout.splitlines()
    assert table[0].split() == ["n", "doubled"] and table[-1] == "(3 rows)"
    assert table[2].split() == ["0", "0"] and table[4].split() == ["2", "4"]
    assert _invoke("sql", "--format", "tsv", query).stdout.splitlines()[:2] == \
        ["n\tdoubled", "0\t0"]
    assert [json.loads(line) for line in _invoke("sql", "--json", query).stdout.splitlines()] \
        == [{"n": 0, "doubled": "0"}, {"n": 1, "doubled": "2"}, {"n": 2, "doubled": "4"}]
    assert _invoke("sql", "--format", "arrays", query).stdout.splitlines() == \
        ['[0, "0"]', '[1, "2"]', '[2, "4"]']


def test_table_cells_stay_on_one_line() -> None:
    lines = format_rows(["text", "x"], [("two\nlines", None), ("one", 0.123456789)], "table")
    assert lines[2].split() == ["two", "lines", "NULL"]
    assert lines[3].split() == ["one", "0.123457"]


def test_alerts_list_says_never_fired_instead_of_1970(cli_store: ClickHouseStore) -> None:
    rules = parse_rules("rules:\n  - {name: slow, metric: duration_p95, threshold: 5}\n"
                        "  - {name: errors, metric: error_rate, threshold: 0.1}\n", "r")
    fired = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    group = GroupKey(model="gpt-4o")
    write_states(cli_store, rules, [
        RuleStatus("slow", group, AlertStatus()),  # evaluated, never left OK
        RuleStatus("errors", group, AlertStatus(state=AlertState.FIRING,
                                                since=fired.timestamp(), last_value=0.3))],
        datetime.now(UTC))
    lines = _invoke("alerts", "list", "--all").stdout.splitlines()
    assert lines[0].startswith("FIRING") and lines[0].endswith("since 2026-05-01 12:00:00 UTC")
    assert lines[1].startswith("OK") and lines[1].endswith("never fired")
    assert "1970" not in "\n".join(lines)
    records = [json.loads(line) for line in
               _invoke("alerts", "list", "--all", "--json").stdout.splitlines()]
    assert [r["since"] for r in records] == ["2026-05-01 12:00:00", None]
    assert [r["scorer"] for r in records] == ["", ""]


def test_alerts_list_names_the_scorer_version_of_a_quality_alert(
        cli_store: ClickHouseStore) -> None:
    rules = parse_rules("rules:\n  - {name: toxic, metric: toxicity_rate, threshold: 0.02}\n",
                        "r")
    write_states(cli_store, rules, [RuleStatus(
        "toxic", GroupKey(model="gpt-4o"),
        AlertStatus(state=AlertState.FIRING, since=1.8e9, last_value=0.3),
        threshold=0.02, scorer="lexicon+minilm@2")], datetime.now(UTC))
    [line] = _invoke("alerts", "list").stdout.splitlines()
    assert "value=0.3 threshold=0.02 scorer=lexicon+minilm@2 since" in line


def test_budgets_json_is_one_json_document(cli_store: ClickHouseStore, tmp_path: Path) -> None:
    no_budgets = _invoke("budgets", "--json", env={"LLMPULSE_RULES_FILE": ""})
    assert json.loads(no_budgets.stdout) == []
    rules = tmp_path / "rules.yml"
    rules.write_text("budgets:\n  - {name: acme_month, group_by: tenant, period: month, "
                     "amount_usd: 500}\n")
    now = datetime.now(UTC)
    cli_store.client.insert("inference_events", [["r1", now, now, "acme", 120.0]],
                            column_names=["request_id", "call_time", "start_time", "tenant",
                                          "cost_usd"])
    report = json.loads(_invoke("budgets", "--json",
                                env={"LLMPULSE_RULES_FILE": str(rules)}).stdout)
    assert len(report) == 1
    [acme] = report
    assert (acme["budget"], acme["group"], acme["spent_usd"], acme["amount_usd"]) == (
        "acme_month", "acme", 120.0, 500.0)
    assert acme["state"] in ("ok", "warn", "over") and "summary" in acme


def test_alerts_test_says_what_it_is_doing_while_a_dead_webhook_is_retried(
        tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text("channels:\n  hook: {type: webhook, url: 'http://127.0.0.1:9/hook', "
                     "secret: s3cret, retries: 2, timeout_s: 1}\n"
                     "rules:\n  - {name: r, metric: calls, threshold: 1, channels: [hook]}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    done = subprocess.run([sys.executable, "-m", "llmpulse", "alerts", "test", "r"],
                          env={**env, "LLMPULSE_RULES_FILE": str(rules)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    err = done.stderr.splitlines()
    assert err[0] == ("hook: sending a test notification to webhook http://127.0.0.1:9/... "
                      "(timeout 1s, up to 3 attempts) ...")
    assert [line.split(" (")[0] for line in err[1:]] == ["hook: attempt 1 failed",
                                                         "hook: attempt 2 failed"]
    assert all("; retrying in " in line for line in err[1:])
    assert done.stdout.startswith("hook: FAILED: ConnectError")
    assert "no HTTP answer, 3 attempt(s)" in done.stdout
