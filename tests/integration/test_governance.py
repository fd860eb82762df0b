"""Data governance through ClickHouse's HTTP interface (``llmpulse store serve``), and an
erasure while workers run.

* retention TTLs applied by a process that opens the store over HTTP, expired rows gone
  at a merge;
* ``llmpulse erase``, ``llmpulse audit`` and an audited ``dashboards push`` as commands
  against the served store;
* two workers on a served store: a user erased while one of their requests waits in a
  join; the call its late response completes, that call's signals and feedback on an
  erased call are not stored; a tenant erased, and feedback that comes later for one of
  its calls (feedback names no tenant) is not stored either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmpulse.config import load_settings
from llmpulse.schema import FeedbackEvent
from llmpulse.sinks.clickhouse import ClickHouseStore
from tests.harness.governance import holding, seed
from tests.harness.store_server import StoreServerProcess, started
from tests.integration.stack import make_stack
from tests.unit.test_dashboards import FakeGrafana, grafana  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def run_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMPULSE_CLICKHOUSE_URL": url}
    return subprocess.run([sys.executable, "-m", "llmpulse", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_retention_erase_and_audit_through_the_http_store(tmp_path: Path) -> None:
    server = started(StoreServerProcess(tmp_path / "chdb", tmp_path))
    store = ClickHouseStore.open(load_settings({
        "LLMPULSE_CLICKHOUSE_URL": server.url, "LLMPULSE_RETENTION_SIGNALS_DAYS": "10"}),
        retention=True)
    try:
        now = datetime.now(UTC)
        seed(store, now)
        store.client.insert("signals", [[now - timedelta(days=11), "latency", 2.0, "r-old"]],
                            column_names=["time", "name", "value", "request_id"])
        store.client.command("OPTIMIZE TABLE signals FINAL")
        assert store.query("SELECT count() FROM signals WHERE request_id = 'r-old'") == [(0,)]
        assert store.query("SELECT count() FROM signals") == [(4,)]

        dry = run_cli(server.url, "erase", "--tenant", "acme", "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout)["deleted"]["inference_events"] == 2
        assert json.loads(dry.stdout)["recorded_request_ids"] == 2
        assert holding(store, "acme")  # nothing changed
        assert store.query("SELECT count() FROM erasures") == [(0,)]

        done = run_cli(server.url, "erase", "--tenant", "acme", "--actor", "alice")
        assert done.returncode == 0, done.stderr
        assert "inference_events       deleted 2 row(s)" in done.stdout
        assert "erasures               recorded 2 request id(s)" in done.stdout
        assert holding(store, "acme", "r1", "r2", "k-acme") == {}
        assert store.query("SELECT count() FROM inference_events") == [(2,)]
        # feedback on the tenant's call, written later by another process: dropped
        later = ClickHouseStore.open(load_settings({"LLMPULSE_CLICKHOUSE_URL": server.url}))
        try:
            assert later.insert_feedback([FeedbackEvent(
                request_id=rid, feedback_id=f"late-{rid}", time=now, thumbs="down",
                given_by="user") for rid in ("r1", "r4")], now) == 1
        finally:
            later.close()
        assert holding(store, "acme", "r1", "r2") == {}

        audit = run_cli(server.url, "audit", "--json", "--action", "erase", "--since", "1h")
        assert audit.returncode == 0, audit.stderr
        entries = [json.loads(line) for line in audit.stdout.splitlines()]
        assert [(e["actor"], e["target"], e["outcome"]) for e in entries] == [
            (os.environ.get("USER") or entries[0]["actor"], "tenant=acme", "dry-run"),
            ("alice", "tenant=acme", "ok")]
        assert entries[1]["details"]["deleted"]["windows"] == 1
        assert entries[1]["details"]["recorded_request_ids"] == 2

        # the next start of a worker with another value alters the TTL; a CLI does not
        ClickHouseStore.open(load_settings({"LLMPULSE_CLICKHOUSE_URL": server.url,
                                            "LLMPULSE_RETENTION_SIGNALS_DAYS": "20"}),
                             retention=True).close()
        assert "toIntervalDay(20)" in signals_ttl(store)
        ClickHouseStore.open(load_settings({"LLMPULSE_CLICKHOUSE_URL": server.url})).close()
        assert "toIntervalDay(20)" in signals_ttl(store)
    finally:
        store.close()


def signals_ttl(store: ClickHouseStore) -> str:
    [[query]] = store.query("SELECT create_table_query FROM system.tables "
                            "WHERE database = currentDatabase() AND name = 'signals'")
    return str(query).split(" TTL ")[-1]


def test_dashboard_pushes_are_audited(tmp_path: Path,
                                      grafana: tuple[FakeGrafana, str]) -> None:  # noqa: F811
    _, url = grafana
    server = started(StoreServerProcess(tmp_path / "chdb", tmp_path))
    assert run_cli(server.url, "audit").stdout.strip() == "no audit entries"
    ok = run_cli(server.url, "dashboards", "push", "--url", url, "--token", "s3cret",
                 "--actor", "ops")
    assert ok.returncode == 0, ok.stderr
    denied = run_cli(server.url, "dashboards", "push", "--url", url, "--token", "nope",
                     "--actor", "ops")
    assert denied.returncode != 0
    audit = run_cli(server.url, "audit", "--json", "--action", "dashboards push")
    entries = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(e["actor"], e["target"], e["outcome"][:8]) for e in entries] == [
        ("ops", url, "ok"), ("ops", url, "failed: ")]
    assert "refused the request (401" in entries[1]["outcome"]
    assert len(entries[0]["details"]["dashboards"]) == 3
    # no store to record in: said, and the push still done
    nowhere = subprocess.run(
        [sys.executable, "-m", "llmpulse", "dashboards", "push", "--url", url, "--token",
         "s3cret"], env={**os.environ, "LLMPULSE_CLICKHOUSE_URL": f"chdb://{tmp_path}/none"},
        capture_output=True, text=True, timeout=60)
    assert nowhere.returncode == 0, nowhere.stderr
    assert "dashboards push not recorded in the audit log" in nowhere.stderr


def wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def test_erasing_a_user_while_two_workers_run(broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    if stack.store_server is None:  # the workers share a served store on every broker
        stack.serve_store()
    worker = stack.worker(LLMPULSE_WORKERS="2", LLMPULSE_JOIN_TIMEOUT_S="30")
    store = ClickHouseStore.open(stack.settings())
    tag = uuid.uuid4().hex[:6]
    gone, kept, waiting = f"u-gone-{tag}", f"u-kept-{tag}", f"wait-{tag}"
    tenant = f"t-gone-{tag}"
    tenant_calls = [f"{tenant}-{i}" for i in range(2)]
    start = datetime.now(UTC) - timedelta(seconds=2)
    try:
        with stack.client() as client:
            for i in range(3):
                for user in (gone, kept):
                    client.record_inference(
                        request_id=f"{user}-{i}", start_time=start, user_hash=user,
                        provider="openai", request_model="gpt-4o",
                        input_messages=[{"role": "user", "content": f"hello from {user}"}])
            for rid in tenant_calls:  # calls of a tenant erased next
                client.record_inference(
                    request_id=rid, start_time=start, tenant=tenant, provider="openai",
                    request_model="gpt-4o",
                    input_messages=[{"role": "user", "content": f"hello from {tenant}"}])
            # a request of the erased user still waiting for its response in a join
            client.record_request(request_id=waiting, start_time=start, user_hash=gone,
                                  provider="openai", request_model="gpt-4o")
            client.flush()
        wait_for("the calls to be stored", lambda: store.query(
            "SELECT count() FROM inference_events WHERE user_hash IN {u:Array(String)} "
            "OR tenant = {t:String}", {"u": [gone, kept], "t": tenant})[0][0] == 8, 60)

        erased = run_cli(stack.store_url, "erase", "--user-hash", gone, "--actor", "dpo")
        assert erased.returncode == 0, erased.stderr
        erased = run_cli(stack.store_url, "erase", "--tenant", tenant, "--actor", "dpo")
        assert erased.returncode == 0, erased.stderr
        assert "recorded 2 request id(s)" in erased.stdout

        # after the erasure: the response of the waiting request, feedback on an erased
        # call, then markers on every partition (same topics, read in order after them)
        markers = [f"m-{tag}-{i}" for i in range(32)]
        with stack.client() as client:
            client.record_response(request_id=waiting, end_time=datetime.now(UTC),
                                   output_messages=[{"role": "assistant", "content": "late"}])
            client.record_feedback(request_id=f"{gone}-0", thumbs="down")
            client.record_feedback(request_id=tenant_calls[0], thumbs="down")  # no tenant
            for rid in markers:
                client.record_request(request_id=rid, start_time=start, user_hash=kept,
                                      provider="openai", request_model="gpt-4o")
                client.record_response(request_id=rid, end_time=datetime.now(UTC))
                client.record_feedback(request_id=rid, thumbs="up")
            client.flush()
        wait_for("the markers and their feedback", lambda: store.query(
            "SELECT uniqExact(request_id) FROM feedback WHERE request_id IN {m:Array(String)}",
            {"m": markers})[0][0] == len(markers), 60)
        wait_for("the marker calls", lambda: store.query(
            "SELECT uniqExact(request_id) FROM inference_events WHERE request_id IN "
            "{m:Array(String)} AND join_status = 'joined'", {"m": markers})[0][0]
            == len(markers), 30)

        assert holding(store, gone, waiting, *(f"{gone}-{i}" for i in range(3))) == {}
        assert holding(store, tenant, *tenant_calls) == {}
        assert store.query("SELECT count() FROM inference_events FINAL "
                           "WHERE user_hash = {u:String}", {"u": kept}) == [(3 + len(markers),)]
    finally:
        store.close()
        assert worker.stop() == 0, worker.log_tail()
