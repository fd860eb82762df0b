"""Property-based tests of decoding and validation: whatever arrives, ``decode`` returns a
valid event or raises ``InvalidEvent`` with a documented reason, and the pipeline stores or
dead-letters every message and acknowledges each exactly once."""

from __future__ import annotations

import asyncio
import json
import unicodedata
from collections import Counter
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmpulse.errors import InvalidEvent
from llmpulse.ingest import INPUT_ROLES, REASONS, ROLE_TYPES, decode, decode_event, partition_of
from llmpulse.schema import INVISIBLE_CATEGORIES, to_wire
from llmpulse.sinks.clickhouse import ClickHouseStore
from tests.unit.conftest import TABLES
from tests.unit.factories import feedback, inference, request, response
from tests.unit.test_pipeline import make

PARTITIONS = 4
BUILDERS = {"requests": request, "responses": response, "inference": inference,
            "feedback": feedback}
#: Wire keys that become labels or group keys (what must come out clean).
LABELS = ("provider", "request_model", "response_model", "tenant", "route", "environment")
IDENTIFIERS = (*LABELS, "prompt_template_id", "prompt_template_version", "model_version",
               "error_type")

roles = st.sampled_from(INPUT_ROLES)
request_ids = st.sampled_from(["r1", "r2", "req-3", "x" * 200])
keys = st.one_of(st.none(), request_ids.map(str.encode), st.binary(max_size=8))

#: Text with what hostile producers send: controls, bidi overrides and isolates, zero-width
#: characters, tags, separators, surrogate-free astral characters.
NASTY = ("\x00", "\x1f", "\x7f", "\x85", "\x9b", "\u200b", "\u200e", "\u202a", "\u202e",
         "\u2028", "\u2066", "\u2069", "\ufeff", "\U000e0001", "\U000e0041", "*", " ", ":",
         '"', "\\", "\U0001f600", "\u00e9", "a")
nasty_text = st.one_of(
    st.text(st.sampled_from(NASTY), max_size=12),
    st.text(max_size=20),
    st.text(st.characters(codec="utf-8"), min_size=190, max_size=260),
)
numbers = st.one_of(
    st.integers(), st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63),
                                    100_000_001]),
    st.floats(),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, 0.5, 86_400.0001]),
)
timestamps = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                     "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2105-12-31T23:59:59Z",
                     "2106-01-01T00:00:00Z", "2001-03-04T05:06:07", "not a time", ""]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | nasty_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=8,
)
hostile_values = st.one_of(nasty_text, numbers, timestamps, json_values)


def dumps(value: Any) -> bytes:
    """JSON as any producer may write it: big integers, NaN and Infinity included."""
    return json.dumps(value, ensure_ascii=False).encode()


def _field_names(role: str) -> list[str]:
    model = ROLE_TYPES[role]
    return sorted({f.alias or n for n, f in model.model_fields.items()} | {"extra_field"})


@st.composite
def mutated_events(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid event of a role, then a few fields removed, replaced or added."""
    role = draw(roles)
    event = BUILDERS[role](draw(request_ids))
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(_field_names(role)))
        if draw(st.booleans()) and name in event:
            del event[name]
        else:
            event[name] = draw(hostile_values)
    return role, event


def _check_outcome(role: str, raw: bytes, key: bytes | None, partition: int | None) -> None:
    """The property: a valid, clean event of the role, or a documented reason with a detail."""
    try:
        decoded = decode_event(role, raw, key, partition, PARTITIONS if partition is not None
                               else None)
    except InvalidEvent as bad:
        assert bad.reason in REASONS, bad.reason
        assert bad.detail
        return
    event = decoded.event
    assert isinstance(event, ROLE_TYPES[role])
    if key is not None or partition is not None:
        assert key == event.request_id.encode()
    if partition is not None:
        assert partition == partition_of(event.request_id, PARTITIONS)
    for name in IDENTIFIERS:
        value = getattr(event, name, None)
        if value is not None:
            assert value.strip() or name not in LABELS, name
            assert all(unicodedata.category(c) not in INVISIBLE_CATEGORIES
                       and not 0xE0000 <= ord(c) < 0xE0080 for c in value), (name, value)
    again = decode(role, orjson.dumps(to_wire(event)))  # cleaning is idempotent
    assert again == event


@settings(max_examples=300, deadline=None)
@given(roles, st.binary(max_size=600), keys, st.none() | st.integers(0, PARTITIONS - 1))
@example("inference", b"", None, None)
@example("inference", b"\xef\xbb\xbf{}", None, None)
@example("feedback", b"[" * 2000 + b"]" * 2000, None, None)
def test_arbitrary_bytes(role: str, raw: bytes, key: bytes | None,
                         partition: int | None) -> None:
    _check_outcome(role, raw, key, partition)


@settings(max_examples=300, deadline=None)
@given(roles, json_values, keys)
@example("inference", {"a": {"b": [{"c": "d:e"}]}}, None)
def test_arbitrary_json(role: str, value: Any, key: bytes | None) -> None:
    _check_outcome(role, dumps(value), key, None)


@settings(max_examples=700, deadline=None)
@given(mutated_events(), st.booleans(), st.booleans(), st.data())
@example(("inference", inference(start_time="0001-01-01T00:00:00+14:00")), False, False, None)
@example(("inference", inference(route="\u202e\u200b")), False, False, None)
@example(("requests", request(tenant="ac\u202eme\U000e0041")), True, False, None)
def test_mutated_valid_events(case: tuple[str, dict[str, Any]], keyed: bool, placed: bool,
                              data: st.DataObject | None) -> None:
    role, event = case
    raw = dumps(event)
    if data is not None and data.draw(st.booleans(), "repeat a key"):
        name = data.draw(st.sampled_from(sorted(event) or ["x"]), "repeated")
        raw = raw[:-1] + (b"," if event else b"") + dumps({name: "again"})[1:]
    rid = event.get("request_id")
    key = rid.encode() if keyed and isinstance(rid, str) else None
    partition = None
    if placed and isinstance(rid, str):
        key = rid.encode()
        partition = partition_of(rid, PARTITIONS)
    _check_outcome(role, raw, key, partition)


def test_oversize_payloads_are_refused_before_parsing() -> None:
    raw = orjson.dumps(inference(**{"gen_ai.input.messages": [
        {"role": "user", "content": "x" * (4 * 1024 * 1024)}]}))
    _check_outcome("inference", raw, None, None)


# -- whole messages through the pipeline ------------------------------------------------

@st.composite
def messages(draw: st.DrawFn) -> tuple[str, bytes, bytes | None, int]:
    """One input message: a valid event (often a redelivery), a mutated one, or junk."""
    kind = draw(st.sampled_from(["valid", "valid", "mutated", "junk"]))
    if kind == "junk":
        role = draw(roles)
        raw = draw(st.binary(max_size=80) | json_values.map(dumps))
        return role, raw, draw(keys), draw(st.integers(0, PARTITIONS - 1))
    if kind == "valid":
        role = draw(roles)
        event = BUILDERS[role](draw(request_ids))
    else:
        role, event = draw(mutated_events())
    rid = event.get("request_id")
    key, partition = None, draw(st.integers(0, PARTITIONS - 1))
    if isinstance(rid, str) and draw(st.integers(0, 9)):  # mostly placed right
        key, partition = rid.encode(), partition_of(rid, PARTITIONS)
    return role, dumps(event), key, partition


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(messages(), min_size=1, max_size=12))
def test_every_message_is_stored_or_dead_lettered_and_acked_once(
        chdb_store: ClickHouseStore, batch: list[tuple[str, bytes, bytes | None, int]]) -> None:
    for table in TABLES:
        chdb_store.client.command(f"TRUNCATE TABLE {table}")
    asyncio.run(_through_pipeline(chdb_store, batch))


async def _through_pipeline(store: ClickHouseStore,
                            batch: list[tuple[str, bytes, bytes | None, int]]) -> None:
    pipe, outbox, acked, clock = make(store, LLMPULSE_PARTITIONS=str(PARTITIONS),
                                      LLMPULSE_JOIN_TIMEOUT_S="30")
    for offset, (role, raw, key, partition) in enumerate(batch):
        await pipe.handle(role, f"llm.{role}", partition, offset, key, raw, offset)
    await pipe.flush()
    clock.now += 31  # lone halves time out and are stored too
    pipe.sweep()
    await pipe.flush()
    assert Counter(acked) == Counter(range(len(batch)))
    dead = {letter.offset: letter for letter in outbox.dead}
    assert all(d.reason in REASONS and d.detail for d in dead.values()), outbox.dead
    calls = {r for (r,) in store.query("SELECT DISTINCT request_id FROM inference_events")}
    notes = {r for (r,) in store.query("SELECT DISTINCT feedback_id FROM feedback")}
    for offset, (role, raw, _, _) in enumerate(batch):
        if offset in dead:
            continue
        event = json.loads(raw)
        if role == "feedback":
            assert event["feedback_id"] in notes, offset
        else:
            assert event["request_id"] in calls, offset
