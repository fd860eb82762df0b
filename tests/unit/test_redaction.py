"""PII cleaning of whole calls and feedback, per field policy, before storage."""

from __future__ import annotations

import pytest

from llmpulse.config import load_settings
from llmpulse.errors import ConfigError
from llmpulse.records import from_inference
from llmpulse.redaction import Redactor, total
from llmpulse.schema import EVENT_ADAPTER, FeedbackEvent
from tests.unit.factories import feedback, inference

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"


def record_with_pii() -> object:
    event = EVENT_ADAPTER.validate_python(inference(
        "r1",
        **{"gen_ai.system_instructions": "Escalate to ops@example.org",
           "gen_ai.input.messages": [{"role": "user", "content": f"I am {EMAIL}, card {CARD}"}],
           "gen_ai.output.messages": [{"role": "assistant",
                                       "content": f"I emailed {EMAIL} about it."}],
           "context_documents": [{"id": "d1", "content": "Call +44 20 7946 0958 for help."}]}))
    return from_inference(event)


def test_every_field_is_redacted_by_default_and_counted() -> None:
    redactor = Redactor.from_settings(load_settings({}))
    cleaned, counts = redactor.record(record_with_pii())  # type: ignore[arg-type]
    assert cleaned.input_messages[0].content == "I am [EMAIL], card [CARD]"
    assert cleaned.output_messages[0].content == "I emailed [EMAIL] about it."
    assert cleaned.context_documents[0].content == "Call [PHONE] for help."
    assert cleaned.context_documents[0].id == "d1"
    assert cleaned.system_instructions == "Escalate to [EMAIL]"
    assert counts[("prompt", "email")] == 2 and counts[("prompt", "card")] == 1
    assert counts[("response", "email")] == 1 and counts[("context", "phone")] == 1
    assert total(counts) == {"email": 3, "card": 1, "phone": 1}


def test_policies_per_field_hash_is_keyed_and_keep_still_counts() -> None:
    settings = load_settings({"LLMPULSE_PII_PROMPT": "hash", "LLMPULSE_PII_RESPONSE": "keep",
                              "LLMPULSE_PII_HASH_KEY": "s3cret"})
    cleaned, counts = Redactor.from_settings(settings).record(record_with_pii())  # type: ignore[arg-type]
    prompt = cleaned.input_messages[0].content
    assert EMAIL not in prompt and prompt.startswith("I am [EMAIL:")
    assert cleaned.output_messages[0].content == f"I emailed {EMAIL} about it."
    assert counts[("response", "email")] == 1  # kept, but counted
    other = Redactor({"prompt": "hash"}, b"other-key").record(record_with_pii())[0]  # type: ignore[arg-type]
    assert other.input_messages[0].content != prompt  # the key matters
    again = Redactor.from_settings(settings).record(record_with_pii())[0]  # type: ignore[arg-type]
    assert again.input_messages[0].content == prompt  # and equal values stay joinable


def test_hash_policy_without_a_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="LLMPULSE_PII_HASH_KEY"):
        load_settings({"LLMPULSE_PII_CONTEXT": "hash"})


def test_feedback_corrections_and_comments_are_cleaned() -> None:
    event = FeedbackEvent.model_validate(feedback(
        "r1", correction=f"Write to {EMAIL} instead", comment="my IP is 10.1.2.3"))
    cleaned, counts = Redactor.from_settings(load_settings({})).feedback(event)
    assert cleaned.correction == "Write to [EMAIL] instead"
    assert cleaned.comment == "my IP is [IP]"
    assert total(counts) == {"email": 1, "ip": 1}


def test_a_call_without_text_is_returned_as_is() -> None:
    record = from_inference(EVENT_ADAPTER.validate_python(inference("r2")))
    cleaned, counts = Redactor.from_settings(load_settings({})).record(record)
    assert cleaned is record and not counts


def test_a_long_context_with_thousands_of_findings_is_fully_cleaned() -> None:
    rows = [f"row {i}: user{i}@example.com, +1 415 555 {i:04d}, 10.1.{i // 256}.{i % 256}"
            for i in range(5_000)]
    blob = "a1b2" * 50_000  # a long run of email-like characters, no @
    event = EVENT_ADAPTER.validate_python(inference(
        "r3", context_documents=[{"id": "big", "content": "\n".join(rows) + "\n" + blob}]))
    cleaned, counts = Redactor.from_settings(load_settings({})).record(from_inference(event))
    content = cleaned.context_documents[0].content
    assert total(counts) == {"email": 5_000, "phone": 5_000, "ip": 5_000}
    assert content == "".join(f"row {i}: [EMAIL], [PHONE], [IP]\n" for i in range(5_000)) + blob
