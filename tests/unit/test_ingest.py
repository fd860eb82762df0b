from __future__ import annotations

import orjson
import pytest

from llmpulse.errors import InvalidEvent
from llmpulse.ingest import REASONS, decode, decode_event
from llmpulse.schema import FeedbackEvent, InferenceEvent
from tests.unit.factories import feedback, inference


def _bytes(event: dict[str, object]) -> bytes:
    return orjson.dumps(event)


def test_event_type_defaults_to_the_topic() -> None:
    event = inference()
    del event["event_type"]
    assert isinstance(decode("inference", _bytes(event), b"r1"), InferenceEvent)
    assert isinstance(decode("feedback", _bytes(feedback())), FeedbackEvent)


@pytest.mark.parametrize(("role", "raw", "key", "reason"), [
    ("inference", b"", None, "empty"),
    ("inference", b"{nope", None, "not_json"),
    ("inference", b"[1, 2]", None, "not_object"),
    ("requests", _bytes(inference()), None, "wrong_topic"),
    ("inference", _bytes(inference(schema_version=9)), None, "schema_version"),
    ("inference", _bytes(inference(**{"gen_ai.usage.input_tokens": "many"})), None, "invalid"),
    ("inference", _bytes(inference()), b"other-id", "key_mismatch"),
])
def test_reasons(role: str, raw: bytes, key: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode(role, raw, key)
    assert info.value.reason == reason
    assert info.value.detail


def test_validation_detail_names_the_field() -> None:
    with pytest.raises(InvalidEvent, match=r"gen_ai\.usage\.output_tokens"):
        decode("inference", _bytes(inference(**{"gen_ai.usage.output_tokens": -5})))


@pytest.mark.parametrize(("raw", "name"), [
    (b'{"request_id": "r1", "route": "chat", "route": "admin"}', "route"),
    (b'{"request_id":"r1","gen_ai.input.messages":[{"role":"user","content":"a: b",'
     b'"content":"c"}]}', "content"),
    (b'{"request_id":"r1","x\\u003a":1,"x:":2}', "x:"),  # an escaped colon: the slow path
    (b'{"request_id" : "r1", "request_id" : "r2"}', "request_id"),
])
def test_duplicate_keys_are_dead_lettered_naming_the_key(raw: bytes, name: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode("inference", raw)
    assert info.value.reason == "duplicate_key"
    assert repr(name) in info.value.detail


def test_colons_and_escapes_without_duplicates_still_decode() -> None:
    event = inference(route="a:b", **{"gen_ai.input.messages": [
        {"role": "user", "content": 'say "x": 1 \\u003a :: \u2603'}]})
    raw = orjson.dumps(event).replace(b":b", b"\\u003ab")  # the same text, escaped
    decoded = decode("inference", raw, b"r1")
    assert decoded.route == "a:b"


def test_cleaned_identifiers_are_reported_by_wire_name() -> None:
    raw = _bytes(inference(route="chat\u202e", **{"gen_ai.request.model": "gpt\u200b-4o"}))
    decoded = decode_event("inference", raw, b"r1")
    assert decoded.sanitized == ("gen_ai.request.model", "route")
    assert (decoded.event.route, decoded.event.request_model) == ("chat", "gpt-4o")
    assert decode_event("inference", _bytes(inference()), b"r1").sanitized == ()


@pytest.mark.parametrize("change", [
    {"route": "\u2066\u2069"}, {"gen_ai.provider.name": "\U000e0001\U000e0041"},
    {"prompt_template_id": "\x00\x9b"}, {"error.type": " \u200b "},
])
def test_identifier_of_only_invisible_characters_is_dead_lettered(
        change: dict[str, object]) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode("inference", _bytes(inference(**change)))
    assert info.value.reason == "empty_label"
    assert next(iter(change)) in info.value.detail


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+14:00", "1900-01-01T00:00:00Z",
                                   "9999-12-31T23:59:59-14:00", -1])
def test_times_the_store_cannot_keep_are_invalid_not_a_crash(start: object) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode("inference", _bytes(inference(start_time=start)))
    assert info.value.reason == "invalid" and "start_time" in info.value.detail


def test_every_reason_is_documented() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for reason in REASONS:
        assert f"`{reason}`" in readme, reason
