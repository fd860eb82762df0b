from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from genai_prices import Usage, calc_price

from llmpulse.detectors import cheap_path_detectors
from llmpulse.detectors.cost import CostDetector
from llmpulse.detectors.latency import duration_s, tpot_s
from llmpulse.records import InferenceRecord

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def rec(**over: object) -> InferenceRecord:
    base = InferenceRecord(
        request_id="r", join_status="inference", provider="openai", request_model="gpt-4o",
        response_model=None, operation="chat", start_time=T0,
        end_time=T0 + timedelta(seconds=2), input_tokens=1000, output_tokens=101,
        time_to_first_chunk=0.5,
    )
    return replace(base, **over)  # type: ignore[arg-type]


def test_latency_formulas() -> None:
    record = rec()
    assert duration_s(record) == pytest.approx(2.0)
    assert tpot_s(record) == pytest.approx((2.0 - 0.5) / 100)
    assert tpot_s(rec(output_tokens=1)) is None
    assert tpot_s(rec(time_to_first_chunk=None)) is None
    assert duration_s(rec(end_time=None)) is None


@pytest.mark.parametrize(("provider", "model"), [
    ("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"),
    ("gcp.gemini", "gemini-2.5-pro"), ("anthropic", "claude-3-5-haiku-latest"),
])
def test_cost_matches_genai_prices_exactly(provider: str, model: str) -> None:
    detector = CostDetector()
    rng = random.Random(3)
    provider_id = {"gcp.gemini": "google"}.get(provider, provider)
    for _ in range(100):
        total = rng.randint(0, 400_000)
        cache_read = rng.randint(0, total // 2)
        cache_write = rng.randint(0, (total - cache_read) // 2)
        out = rng.randint(0, 8000)
        record = rec(provider=provider, request_model=model, input_tokens=total,
                     output_tokens=out, cache_read_tokens=cache_read,
                     cache_creation_tokens=cache_write)
        exact = calc_price(
            Usage(input_tokens=total, output_tokens=out, cache_read_tokens=cache_read,
                  cache_write_tokens=cache_write),
            model_ref=model, provider_id=provider_id,
            genai_request_timestamp=datetime(2026, 11, 1, 12)).total_price
        cost = detector.cost(record)
        assert cost.source == "genai-prices"
        assert cost.usd == pytest.approx(float(exact), rel=1e-9, abs=1e-12)


def test_provider_cost_wins_and_unknown_is_flagged() -> None:
    detector = CostDetector()
    assert detector.cost(rec(reported_cost_usd=0.5)).usd == 0.5
    unknown = detector.cost(rec(provider="vllm", request_model="acme-llama-ft"))
    assert unknown.usd is None and unknown.source == "unknown"
    signals = detector.score([rec(provider="vllm", request_model="acme-llama-ft")], T0)
    assert [s.name for s in signals] == ["cost.unknown_price"]
    assert signals[0].label == "vllm/acme-llama-ft"


def test_cheap_path_signals() -> None:
    records = [rec(), rec(request_id="e", error_type="timeout", output_tokens=0)]
    names: dict[str, list[float]] = {}
    for detector in cheap_path_detectors().values():
        for signal in detector(records, T0):
            names.setdefault(signal.name, []).append(signal.value)
    assert names["error"] == [0.0, 1.0]
    assert len(names["latency.tpot_s"]) == 1
    assert names["tokens.input"] == [1000, 1000]
    assert names["cost.usd"][0] == pytest.approx(1000 * 2.5e-6 + 101 * 1e-5)
