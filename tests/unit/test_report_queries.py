"""The report's reads on the real ClickHouse engine (chdb), from rows stored by llmpulse's
own writers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from statistics import median

import pytest

from llmpulse.report import Period, build
from llmpulse.report.queries import bucket_for, cost_bucket_for, load, prompt_excerpt
from llmpulse.sinks.clickhouse import ClickHouseStore
from tests.harness.report_rows import HOSTILE_TENANT, fill

START = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
NOW = START + timedelta(days=1)


def test_a_period_reads_back_what_was_stored(store: ClickHouseStore) -> None:
    filled = fill(store, START)
    data = load(store, Period(START - timedelta(hours=1), filled.end + timedelta(hours=1)), NOW)
    t = data.totals
    assert t.calls == filled.calls == 900
    assert t.models == 3 and t.tenants == 3
    assert 0 < t.errors < 90 and t.unpriced == 300  # the self-hosted model has no price
    assert t.tox_scored == 450 and t.ground_scored == 450 and 0 < t.groundedness < 1
    assert t.feedback == t.thumbs == t.ratings == 225
    assert data.bucket_s == 60 and data.trend_bucket_s == 300 and data.cost_bucket_s == 300
    assert sum(p.values[0] for p in data.traffic) == 900
    assert {p.group for p in data.latency} == {"gpt-4o", "claude-sonnet-4-5",
                                               "acme-llama-3-70b-ft"}
    spike = [p.values[1] for p in data.latency if p.group == "claude-sonnet-4-5"
             and 42 * 60 <= p.at - START.timestamp() < 53 * 60]
    calm = [p.values[1] for p in data.latency if p.group == "claude-sonnet-4-5"
            and p.at - START.timestamp() > 70 * 60]
    assert median(v for v in spike if v) > 3 * median(v for v in calm if v)  # the incident
    assert sum(p.values[0] for p in data.cost) == pytest.approx(t.cost_usd)
    assert {p.group for p in data.quality} == {"answer@v1", "answer@v2"}
    assert len(data.drift) == 4 and sum(c.drifted for c in data.drift) == 2
    assert [a.kind for a in data.alerts] == ["trigger", "resolve"]
    assert [r.status for r in data.retrains] == ["pending_approval"]
    assert data.worst["slowest"][0].request_id == filled.slowest
    costs = [c.value for c in data.worst["costliest"]]
    assert costs == sorted(costs, reverse=True) and len(costs) == 10
    grounded = [c.value for c in data.worst["least_grounded"]]
    assert grounded == sorted(grounded) and "refund" in data.worst["least_grounded"][0].note
    assert data.releases.rows == () and data.releases.note == "No release verdicts in this period."


def test_a_model_filter_keeps_its_calls_checks_and_triggers(store: ClickHouseStore) -> None:
    filled = fill(store, START)
    data = load(store, Period(START, filled.end + timedelta(hours=1), "gpt-4o"), NOW)
    assert data.totals.calls == 300 and data.totals.models == 1
    assert {p.group for p in data.latency} == {"gpt-4o"}
    assert all(c.model == "gpt-4o" for c in data.worst["slowest"])
    assert len(data.drift) == 4 and len(data.retrains) == 1
    other = load(store, Period(START, filled.end + timedelta(hours=1), "claude-sonnet-4-5"),
                 NOW)
    assert other.drift == [] and other.retrains == []


def test_an_empty_period_or_an_unknown_model_gives_a_clear_page(store: ClickHouseStore) -> None:
    fill(store, START)
    for period in (Period(START - timedelta(days=30), START - timedelta(days=29)),
                   Period(START, START + timedelta(hours=3), "no-such-model")):
        data = load(store, period, NOW)
        assert data.totals.calls == 0 and data.traffic == [] and data.worst == {}
        html = build(store, period, NOW)
        assert "No calls are stored for this period" in html


def test_the_page_escapes_what_the_store_holds(store: ClickHouseStore) -> None:
    filled = fill(store, START)
    html = build(store, Period(START, filled.end + timedelta(hours=1)), NOW)
    assert "<img" not in html and "<script" not in html and "<b>" not in html
    assert HOSTILE_TENANT.replace("<", "&lt;").replace(">", "&gt;") in html


def test_release_verdicts_of_the_period_are_shown(store: ClickHouseStore) -> None:
    filled = fill(store, START)
    columns = ["id", "version", "canary", "model", "route", "selector", "baseline",
               "candidate", "verdict", "expired", "reason", "started_at", "created_at",
               "forward_failed", "forward_attempts", "next_forward_at", "payload"]
    store.client.insert("release_verdicts", [
        ["v2", 1, "answer-canary", "gpt-4o", "rag-answer", "prompt_version", "answer@v1",
         "answer@v2", "rollback", 0, "duration_p95 worse by 52 %", START,
         START + timedelta(minutes=70), [], 0, None, "{}"],
        ["v0", 1, "answer-canary", "gpt-4o", "rag-answer", "prompt_version", "answer@v-1",
         "answer@v0", "promote", 0, "", START - timedelta(days=5),
         START - timedelta(days=5), [], 0, None, "{}"]],  # outside the period
        column_names=columns)
    period = Period(START, filled.end + timedelta(hours=1))
    releases = load(store, period, NOW).releases
    assert releases.time_column == "created_at" and releases.verdict_column == "verdict"
    assert [r[releases.columns.index("verdict")] for r in releases.rows] == ["rollback"]
    html = build(store, period, NOW)
    assert "answer@v2" in html and "verdict=rollback" in html
    assert "duration_p95 worse by 52 %" in html
    other = Period(START, filled.end + timedelta(hours=1), "claude-sonnet-4-5")
    assert load(store, other, NOW).releases.note == "No release verdicts in this period."


def test_bucket_widths_follow_the_span() -> None:
    assert bucket_for(20) == 1 and bucket_for(7200) == 60 and bucket_for(86400) == 900
    assert bucket_for(90 * 86400) == 86400
    assert cost_bucket_for(7 * 86400, 3600) == 86400
    assert cost_bucket_for(86400, 900) == 3600
    assert cost_bucket_for(60, 1) == 2


def test_a_prompt_excerpt_is_the_last_user_message_shortened() -> None:
    raw = ('[{"role":"system","content":"be brief"},{"role":"user","content":"first"},'
           '{"role":"assistant","content":"a"},{"role":"user","content":"  second\\n one "}]')
    assert prompt_excerpt(raw) == "second one"
    assert prompt_excerpt('[{"role":"user","content":"' + "x" * 300 + '"}]', 10) == "x" * 9 + "…"
    assert prompt_excerpt("") == "" and prompt_excerpt("not json") == "not json"
