from __future__ import annotations

import orjson
import pytest

from llmpulse.errors import InvalidEvent
from llmpulse.ingest import decode
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
