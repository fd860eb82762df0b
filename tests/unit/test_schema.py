from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from llmpulse.schema import (
    EVENT_ADAPTER,
    FeedbackEvent,
    InferenceEvent,
    ResponseEvent,
    json_schema,
    to_wire,
)
from tests.unit.factories import feedback, inference, request, response


def test_inference_event_uses_otel_names_and_normalizes() -> None:
    event = EVENT_ADAPTER.validate_python(inference(**{"gen_ai.provider.name": " OpenAI "}))
    assert isinstance(event, InferenceEvent)
    assert event.provider == "openai"
    assert event.start_time.tzinfo is not None
    wire = to_wire(event)
    assert wire["gen_ai.request.model"] == "gpt-4o"
    assert wire["gen_ai.usage.input_tokens"] == 1000
    assert EVENT_ADAPTER.validate_python(wire) == event


@pytest.mark.parametrize("change", [
    {"unknown_field": 1},
    {"gen_ai.usage.output_tokens": -1},
    {"end_time": "2026-11-01T11:00:00Z"},
    {"gen_ai.response.time_to_first_chunk": 5.0},
    {"gen_ai.response.finish_reasons": ["weird"]},
    {"schema_version": 2},
    {"request_id": ""},
    {"request_id": "has space"},
    {"gen_ai.usage.cache_read.input_tokens": 5000},
    {"gen_ai.usage.input_tokens": "12"},
    {"gen_ai.usage.output_tokens": 3.5},
    {"gen_ai.request.model": "   "},
    {"tenant": "*"},  # means "every tenant" in window groups
    {"route": "\u202e\u200b\x1f"},  # nothing left once invisible characters are removed
    {"start_time": "0001-01-01T00:00:00+14:00"},  # not even representable in UTC
    {"start_time": "1969-12-31T23:59:59Z", "end_time": "1970-01-01T00:00:01Z"},
    {"end_time": "2106-01-01T00:00:00Z"},  # past what the store's DateTime holds
])
def test_invalid_inference_rejected(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EVENT_ADAPTER.validate_python(inference(**change))


def test_invisible_characters_are_removed_from_identifiers_not_from_bodies() -> None:
    text = "Hi\u202e there\u200b"
    event = EVENT_ADAPTER.validate_python(inference(**{
        "route": "chat\x1fadmin", "tenant": "ac\u202eme", "gen_ai.provider.name": "Open\u2066AI",
        "gen_ai.request.model": "gpt-4o\U000e0041\u200b", "prompt_template_id": "faq\x85",
        "error.type": "time\u2069out", "gen_ai.input.messages": [{"role": "user",
                                                                   "content": text}]}))
    assert (event.route, event.tenant, event.provider, event.request_model) == (
        "chatadmin", "acme", "openai", "gpt-4o")
    assert (event.prompt_template_id, event.error_type) == ("faq", "timeout")
    assert event.input_messages[0].content == text


def test_response_alone_may_carry_start_time() -> None:
    event = EVENT_ADAPTER.validate_python(response(start_time="2026-11-01T12:00:00Z"))
    assert isinstance(event, ResponseEvent)
    assert event.start_time is not None


def test_feedback_needs_content_and_validates_rating() -> None:
    assert isinstance(EVENT_ADAPTER.validate_python(feedback()), FeedbackEvent)
    ok = EVENT_ADAPTER.validate_python(feedback(thumbs=None, rating=4, flags=["incorrect"],
                                                correction="Paris", given_by="annotator"))
    assert ok.rating == 4 and ok.flags == ("incorrect",)
    with pytest.raises(ValidationError, match="at least one"):
        EVENT_ADAPTER.validate_python(feedback(thumbs=None))
    with pytest.raises(ValidationError):
        EVENT_ADAPTER.validate_python(feedback(rating=6))
    with pytest.raises(ValidationError):
        EVENT_ADAPTER.validate_python(feedback(flags=["made-up"]))


def test_request_defaults() -> None:
    event = EVENT_ADAPTER.validate_python(request(tenant=None) | {"tenant": "t"})
    assert event.operation == "chat" and event.environment == "production"


def test_json_schema_is_published_with_wire_names() -> None:
    schema = json_schema()
    text = json.dumps(schema)
    assert "gen_ai.request.model" in text and "gen_ai.usage.output_tokens" in text
    assert schema["$schema"].endswith("2020-12/schema")
    kinds = {ref["$ref"].split("/")[-1] for ref in schema["oneOf"]}
    assert kinds == {"RequestEvent", "ResponseEvent", "InferenceEvent", "FeedbackEvent"}


def test_content_is_kept_verbatim() -> None:
    text = "    indented code\n"
    event = EVENT_ADAPTER.validate_python(inference(**{
        "gen_ai.output.messages": [{"role": "assistant", "content": text}],
        "tenant": "  acme  "}))
    assert event.output_messages[0].content == text
    assert event.tenant == "acme"
