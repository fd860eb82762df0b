"""The LLM judge against a real HTTP server on 127.0.0.1 with canned OpenAI-shaped replies."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from llmpulse.config import load_settings
from llmpulse.errors import ConfigError
from llmpulse.judge import (
    LlmJudge,
    TokenBucket,
    build_messages,
    judge_from_settings,
    judge_signals,
    parse_verdict,
)
from llmpulse.records import InferenceRecord, from_inference
from llmpulse.schema import EVENT_ADAPTER
from tests.harness.receiver import Receiver, Reply
from tests.unit.factories import inference

PATH = "/v1/chat/completions"
CONTEXT = ["The Orbit 3 is water resistant to 50 meters.", "Battery life is up to 7 days."]
ANSWER = "The Orbit 3 is water resistant to 50 meters. It costs 300 dollars."


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def completion(content: str, status: int = 200, delay_s: float = 0.0) -> Reply:
    body = {"id": "cmpl-1", "object": "chat.completion", "model": "judge-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 20, "total_tokens": 140}}
    return Reply(status=status, body=json.dumps(body).encode(),
                 headers={"Content-Type": "application/json"}, delay_s=delay_s)


@pytest.fixture
def server() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def judge_for(server: Receiver, **options: object) -> LlmJudge:
    return LlmJudge(server.url("/v1"), "judge-model", **options)  # type: ignore[arg-type]


def test_request_shape_auth_and_parsed_result(server: Receiver) -> None:
    verdict = '```json\n{"score": 0.4, "unsupported": ["It costs 300 dollars."]}\n```'
    server.script(PATH, completion(verdict))
    with judge_for(server, api_key="sk-test", timeout_s=5) as judge:
        [result] = judge.score_many([(ANSWER, CONTEXT)])
    assert result is not None and result.score == pytest.approx(0.4)
    assert result.unsupported == ["It costs 300 dollars."]
    assert result.scorer == judge.scorer == "judge:judge-model"
    [request] = server.received(PATH)
    assert request.headers["Authorization"] == "Bearer sk-test"
    body = request.json()
    assert body["model"] == "judge-model" and body["temperature"] == 0
    assert body["response_format"] == {"type": "json_object"}
    assert body["max_tokens"] == judge.max_completion_tokens
    user = body["messages"][-1]["content"]
    assert all(doc in user for doc in CONTEXT) and ANSWER in user
    assert body["messages"][0]["role"] == "system" and "JSON" in body["messages"][0]["content"]
    assert judge.reasons == {"scored": 1}


def test_no_key_no_authorization_header(server: Receiver) -> None:
    server.script(PATH, completion('{"score": 1, "unsupported": []}'))
    with judge_for(server) as judge:
        [result] = judge.score_many([(ANSWER, CONTEXT)])
    assert result is not None and result.score == 1.0 and result.unsupported == []
    assert "Authorization" not in server.received(PATH)[0].headers


def test_bad_replies_give_none_and_a_counted_reason(server: Receiver) -> None:
    server.script(PATH, completion("Looks grounded to me."), completion("", status=500),
                  Reply(body=b"<html>gateway</html>"), completion('{"score": "high"}'))
    with judge_for(server, timeout_s=5) as judge:
        results = judge.score_many([(ANSWER, CONTEXT)] * 4)
    assert results == [None, None, None, None]
    assert judge.reasons == {"bad_output": 2, "http_500": 1, "bad_response": 1}


def test_timeout_returns_none_quickly(server: Receiver) -> None:
    server.script(PATH, completion('{"score": 1}', delay_s=5.0))
    with judge_for(server, timeout_s=0.3) as judge:
        started = time.monotonic()
        [result] = judge.score_many([(ANSWER, CONTEXT)])
        elapsed = time.monotonic() - started
    assert result is None and judge.reasons == {"timeout": 1}
    assert elapsed < 2.0


def test_token_budget_skips_instead_of_queueing(server: Receiver) -> None:
    clock = FakeClock()
    server.script(PATH, *[completion('{"score": 0.9, "unsupported": []}')] * 4)
    with judge_for(server, tokens_per_minute=1000, max_completion_tokens=300,
                   clock=clock) as judge:
        cost = judge.estimate_tokens(build_messages(ANSWER, CONTEXT))
        assert 300 < cost < 500  # two fit in 1000 tokens, a third does not
        first = judge.score_many([(ANSWER, CONTEXT)] * 3, always=[True] * 3)
        assert [r is not None for r in first] == [True, True, False]
        clock.now += 60.0 * cost / 1000  # exactly one item's worth refills
        second = judge.score_many([(ANSWER, CONTEXT)] * 2, always=[True, True])
    assert [r is not None for r in second] == [True, False]
    assert judge.reasons == {"scored": 3, "over_budget": 2}
    assert len(server.received(PATH)) == 3


def test_oversized_item_never_fits(server: Receiver) -> None:
    with judge_for(server, tokens_per_minute=500, max_completion_tokens=100) as judge:
        [result] = judge.score_many([(ANSWER, ["x" * 4000])])
    assert result is None and judge.reasons == {"over_budget": 1}
    assert server.received(PATH) == []


def test_sampling_with_seeded_rng_and_always_flag(server: Receiver) -> None:
    items = [(ANSWER, CONTEXT)] * 30
    flags = [i % 10 == 0 for i in range(30)]
    replay = random.Random(11)
    expected = sum(1 for flag in flags if flag or replay.random() < 0.2)
    server.script(PATH, *[completion('{"score": 0.7, "unsupported": []}')] * expected)
    with judge_for(server, sample_rate=0.2, rng=random.Random(11)) as judge:
        results = judge.score_many(items, always=flags)
    assert sum(r is not None for r in results) == expected == len(server.received(PATH))
    assert all(results[i] is not None for i in (0, 10, 20))  # flagged: always judged
    assert judge.reasons["sampled_out"] == 30 - expected
    with judge_for(server, sample_rate=0.0) as never:
        assert never.score_many(items[:5]) == [None] * 5
    assert never.reasons == {"sampled_out": 5}


@pytest.mark.parametrize(("text", "expected"), [
    ('{"score": 0.25, "unsupported": ["A."]}', (0.25, ["A."])),
    ('Sure:\n```json\n{"score": 1, "unsupported": []}\n```\nDone.', (1.0, [])),
    ('Verdict follows {"score": 1.7} trailing words', (1.0, [])),
    ('{"score": -0.2, "unsupported": "all of it"}', (0.0, [])),
    ('{"score": "80%", "unsupported": ["B.", 3]}', (0.8, ["B."])),
    ('{"note": {"nested": true}} {"score": 0.5}', None),
    ('{"score": true}', None),
    ('{"score": NaN}', None),
    ("no json here", None),
])
def test_parse_verdict(text: str, expected: tuple[float, list[str]] | None) -> None:
    got = parse_verdict(text)
    if expected is None:
        assert got is None
    else:
        assert got is not None and got[0] == pytest.approx(expected[0]) and got[1] == expected[1]


def test_token_bucket_refills_by_the_minute() -> None:
    clock = FakeClock()
    bucket = TokenBucket(600, clock)
    assert bucket.take(500) and not bucket.take(200)
    clock.now += 10.0  # 100 tokens back
    assert bucket.take(200) and not bucket.take(1)
    clock.now += 3600.0
    assert bucket.available() == 600  # never above capacity


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="sample_rate"):
        LlmJudge("http://127.0.0.1:9/v1", "m", sample_rate=1.5)
    with pytest.raises(ConfigError, match="tokens_per_minute"):
        LlmJudge("http://127.0.0.1:9/v1", "m", tokens_per_minute=-1)


def rag_record(request_id: str, docs: list[str]) -> InferenceRecord:
    event = inference(request_id, **{
        "gen_ai.output.messages": [{"role": "assistant", "content": ANSWER}],
        "context_documents": [{"id": f"d{i}", "content": d} for i, d in enumerate(docs)]})
    return from_inference(EVENT_ADAPTER.validate_python(event))


def test_judge_signals_for_flagged_rag_records(server: Receiver) -> None:
    verdict = '{"score": 0.3, "unsupported": ["It costs 300 dollars."]}'
    server.script(PATH, completion(verdict))
    records = [rag_record("flagged", CONTEXT), rag_record("sampled-out", CONTEXT),
               rag_record("no-context", [])]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with judge_for(server, sample_rate=0.0) as judge:
        signals = judge_signals(judge, records, now, always={"flagged", "no-context"})
    assert [(s.name, s.request_id) for s in signals] == [
        ("judge.groundedness", "flagged"), ("judge.groundedness.unsupported_sentences", "flagged")]
    score, count = signals
    assert score.value == pytest.approx(0.3) and score.label == "ungrounded"
    assert score.source == count.source == "judge" and score.detector == "judge:judge-model"
    assert score.explanation == "It costs 300 dollars." and count.value == 1.0
    assert len(server.received(PATH)) == 1 and judge.reasons["sampled_out"] == 1


def test_judge_from_settings(server: Receiver) -> None:
    settings = load_settings({
        "LLMPULSE_JUDGE_URL": server.url("/v1"), "LLMPULSE_JUDGE_MODEL": "qwen-judge",
        "LLMPULSE_JUDGE_API_KEY": "sk-set", "LLMPULSE_JUDGE_SAMPLE_RATE": "1",
        "LLMPULSE_JUDGE_TOKENS_PER_MIN": "5000", "LLMPULSE_JUDGE_TIMEOUT_S": "3"})
    server.script(PATH, completion('{"score": 0.9}'))
    with judge_from_settings(settings, random.Random(1)) as judge:
        assert judge.scorer == "judge:qwen-judge" and judge.bucket.capacity == 5000
        [result] = judge.score_many([(ANSWER, CONTEXT)])
    assert result is not None and result.score == pytest.approx(0.9)
    assert server.received(PATH)[0].headers["Authorization"] == "Bearer sk-set"
    with pytest.raises(ConfigError, match="LLMPULSE_JUDGE_URL"):
        judge_from_settings(load_settings({}))
