"""Hostile input through the pipeline and the real embedded store: invisible characters in
labels, duplicate JSON keys, calls dated decades back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from llmpulse.sinks.clickhouse import ClickHouseStore
from tests.unit.factories import inference, request, response
from tests.unit.test_pipeline import feed, make, placement

PROMPT = [{"role": "user", "content": "Bonjour \u202eevil\u202c \u200b!"}]


def dated(rid: str, start: datetime, **over: Any) -> dict[str, Any]:
    return inference(rid, start_time=start.isoformat(),
                     end_time=(start + timedelta(seconds=2)).isoformat(), **over)


async def test_invisible_characters_never_reach_labels_or_group_keys(
        store: ClickHouseStore) -> None:
    pipe, outbox, acked, _ = make(store)
    await feed(pipe, "inference", [
        inference("bidi-1", route="chat\u202e", tenant="\u2066acme\u2069",
                  **{"gen_ai.request.model": "gpt-4o\u200b", "gen_ai.input.messages": PROMPT}),
        inference("bidi-2", route="\u202e\u200b"),
    ])
    await pipe.flush()
    assert [(d.reason, d.offset) for d in outbox.dead] == [("empty_label", 1)]
    assert "route" in outbox.dead[0].detail and len(acked) == 2
    assert store.query("SELECT route, tenant, request_model, input_messages "
                       "FROM inference_events FINAL") == [
        ("chat", "acme", "gpt-4o", orjson.dumps(PROMPT).decode())]
    reg = pipe.metrics.registry
    for field in ("route", "tenant", "gen_ai.request.model"):
        assert reg.get_sample_value("llmpulse_sanitized_fields_total", {"field": field}) == 1
    exported = {value for metric in reg.collect() for sample in metric.samples
                for value in sample.labels.values()}
    assert not any(c in value for value in exported for c in "\u202e\u200b\u2066\u2069")
    assert "chat" in exported
    groups = {group for group, _ in outbox.partials}
    assert {g.route for g in groups} <= {"chat", "*"} and {g.tenant for g in groups} <= {
        "acme", "*"}


async def test_duplicate_keys_are_dead_lettered_and_acknowledged(store: ClickHouseStore) -> None:
    pipe, outbox, acked, _ = make(store)
    raw = orjson.dumps(inference("dup-1"))[:-1] + b',"tenant":"victim"}'
    key, partition = placement(inference("dup-1"), pipe.settings.partitions)
    await pipe.handle("inference", "llm.inference", partition, 7, key, raw, "t7")
    await pipe.flush()
    assert [(d.reason, d.detail, d.value) for d in outbox.dead] == [
        ("duplicate_key", "key 'tenant' appears twice in one object", raw)]
    assert acked == ["t7"]
    assert store.query("SELECT count() FROM inference_events") == [(0,)]


async def test_calls_past_the_body_ttl_are_stored_and_counted(store: ClickHouseStore) -> None:
    pipe, _, acked, _ = make(store)
    long_ago = datetime(2001, 3, 4, 5, 6, tzinfo=UTC)
    await feed(pipe, "inference", [
        dated("old-1", long_ago, **{"gen_ai.input.messages": PROMPT}),
        dated("old-bare", long_ago),  # nothing to lose: not counted
        inference("new-1", **{"gen_ai.input.messages": PROMPT}),
    ])
    await pipe.flush()
    assert len(acked) == 3
    assert store.query("SELECT request_id FROM inference_events FINAL ORDER BY request_id") == [
        ("new-1",), ("old-1",), ("old-bare",)]
    reg = pipe.metrics.registry
    assert reg.get_sample_value("llmpulse_late_calls_total", {"reason": "past_body_ttl"}) == 1
    store.client.command("OPTIMIZE TABLE inference_events FINAL")  # TTLs apply by now
    assert store.query("SELECT request_id, input_messages = '' FROM inference_events "
                       "WHERE request_id IN ('old-1', 'new-1') ORDER BY request_id") == [
        ("new-1", False), ("old-1", True)]


async def test_a_batch_spread_over_decades_is_stored_without_stalling(
        store: ClickHouseStore) -> None:
    pipe, outbox, acked, _ = make(store)
    months = [datetime(1990, 1, 15, tzinfo=UTC) + timedelta(days=31 * i) for i in range(250)]
    await feed(pipe, "inference", [dated(f"m{i}", when) for i, when in enumerate(months)])
    await asyncio.wait_for(pipe.flush(), 60)  # one insert of 250 partitions fails for ever
    assert len(acked) == 250 and outbox.dead == []
    assert store.query("SELECT count(), uniqExact(toYYYYMM(call_time)) "
                       "FROM inference_events FINAL") == [(250, 250)]
    assert pipe.metrics.registry.get_sample_value("llmpulse_sink_failures_total",
                                                  {"sink": "clickhouse"}) is None


async def test_late_half_redelivered_while_stored_counts_once(store: ClickHouseStore) -> None:
    pipe, _, acked, clock = make(store, LLMPULSE_JOIN_TIMEOUT_S="30")
    await feed(pipe, "requests", [request("twice")])
    clock.now += 31
    pipe.sweep()  # request_only is in the batch, not yet stored
    await feed(pipe, "responses", [response("twice"), response("twice")], start=1)
    await pipe.flush()
    assert len(acked) == 3
    reg = pipe.metrics.registry
    assert reg.get_sample_value("llmpulse_duplicate_events_total",
                                {"topic": "llm.responses"}) == 1
    assert reg.get_sample_value("llmpulse_tokens_total", {
        "gen_ai_provider_name": "anthropic", "gen_ai_request_model": "claude-sonnet-4-5",
        "gen_ai_operation_name": "chat", "llmpulse_route": "rag",
        "gen_ai_token_type": "output"}) == 201
    assert store.query("SELECT join_status FROM inference_events FINAL") == [("joined",)]
