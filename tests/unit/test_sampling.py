"""Which calls go to the scorer: mandatory reasons, the sample rate and the budget."""

from __future__ import annotations

import random
from typing import Any

from llmpulse.records import InferenceRecord, from_inference
from llmpulse.schema import EVENT_ADAPTER
from llmpulse.scoring.sampling import SamplingPolicy, ScoringSampler, TokenBucket
from tests.unit.factories import inference

ANSWER = [{"role": "assistant", "content": "Refunds take five business days."}]


def call(rid: str, **over: Any) -> InferenceRecord:
    fields: dict[str, Any] = {"gen_ai.output.messages": ANSWER, "prompt_template_version": "1"}
    fields.update(over)
    return from_inference(EVENT_ADAPTER.validate_python(inference(rid, **fields)))


def sampler(rate: float, budget: float, new_version: int = 0) -> ScoringSampler:
    return ScoringSampler(SamplingPolicy(rate, budget, new_version), random.Random(1))


def test_calls_without_a_response_text_are_never_sent() -> None:
    s = sampler(1.0, 100.0)
    bare = from_inference(EVENT_ADAPTER.validate_python(inference("r0")))
    assert s.decide(bare, 0.0) == (None, "no_text")


def test_rate_picks_its_share() -> None:
    s = sampler(0.2, 1e9)
    picked = sum(s.decide(call(f"r{i}"), i * 0.001)[0] == "sampled" for i in range(5000))
    assert 900 < picked < 1100


def test_budget_bounds_what_is_sent_whatever_the_traffic() -> None:
    s = sampler(1.0, 10.0)
    now, sent, skipped = 0.0, 0, 0
    for i in range(10_000):  # 1000 calls/s for 10 s
        now = i / 1000
        reason, why = s.decide(call(f"r{i}"), now)
        sent += reason is not None
        skipped += why == "budget"
    assert sent <= 10 * 10 + 20  # rate x seconds + one burst (2 s)
    assert sent >= 10 * 10
    assert skipped == 10_000 - sent


def test_flagged_and_new_versions_always_go_and_crowd_out_sampled_ones() -> None:
    s = sampler(1.0, 1.0, new_version=3)
    reasons = [s.decide(call(f"r{i}"), 0.0)[0] for i in range(3)]
    assert reasons == ["new_version"] * 3
    new_prompt = s.decide(call("p1", prompt_template_version="2"), 0.0)
    assert new_prompt == ("new_version", "")
    assert s.decide(call("f1", **{"gen_ai.response.finish_reasons": ["content_filter"]}),
                    0.0) == ("flagged", "")
    # the mandatory ones spent the budget (and more): ordinary calls wait
    assert s.decide(call("r9"), 0.5) == (None, "budget")


def test_token_bucket_refills_and_owes_at_most_one_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=4.0)
    assert all(bucket.take(0.0) for _ in range(4)) and not bucket.take(0.0)
    for _ in range(100):
        bucket.spend(0.0)
    assert bucket.tokens == -4.0
    assert not bucket.take(2.0)  # 4 tokens of refill only pay the debt
    assert bucket.take(2.5)
