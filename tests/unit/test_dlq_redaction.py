"""Redacted dead letters: what a copy keeps of JSON, text and binary messages."""

from __future__ import annotations

import orjson

from llmpulse.dlq_redaction import MAX_DEPTH, redacted_detail, redacted_value


def test_json_keeps_its_shape_and_loses_personal_data() -> None:
    value = orjson.dumps({"request_id": "r-9", "n": 3, "ok": None, "messages": [
        {"role": "user", "content": "I am bob@example.org, card 4111-1111-1111-1111"}],
        "bob@example.org": True})
    copy = orjson.loads(redacted_value(value))
    assert copy["form"] == "json" and copy["original_bytes"] == len(value)
    assert copy["redacted_copy"] == {
        "request_id": "r-9", "n": 3, "ok": None,
        "messages": [{"role": "user", "content": "I am [EMAIL], card [CARD]"}],
        "[EMAIL]": True}


def test_text_and_binary_and_nothing() -> None:
    assert orjson.loads(redacted_value(b"{oops call +1 415 555 0100")) == {
        "redacted_copy": "{oops call [PHONE]", "form": "text", "original_bytes": 26}
    assert orjson.loads(redacted_value(b"\x80\x81")) == {
        "redacted_copy": None, "form": "binary", "original_bytes": 2}
    assert orjson.loads(redacted_value(None)) == {
        "redacted_copy": "", "form": "text", "original_bytes": 0}


def test_a_deep_document_is_cut_not_a_crash() -> None:
    deep: object = "a@b.example"
    for _ in range(MAX_DEPTH + 10):
        deep = [deep]
    copy = orjson.loads(redacted_value(orjson.dumps(deep)))["redacted_copy"]
    depth = 0
    while isinstance(copy, list):
        copy, depth = copy[0], depth + 1
    assert copy is None and depth == MAX_DEPTH


def test_a_detail_quoting_the_refused_value_is_redacted() -> None:
    detail = "prompt: input_value='write to ann@example.com' is too long"
    assert redacted_detail(detail) == "prompt: input_value='write to [EMAIL]' is too long"
