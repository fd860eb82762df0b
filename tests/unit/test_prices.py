from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmpulse.detectors.cost import CostDetector
from llmpulse.errors import ConfigError
from llmpulse.prices import PriceOverride, PriceOverrides, load_overrides
from llmpulse.records import InferenceRecord

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)

EXAMPLE = """\
overrides:
  - model: llama-3-70b-private      # request model name as sent in events
    provider: self-hosted
    effective_from: 2026-01-01
    input_per_mtok: 0.50
    output_per_mtok: 1.50
    cache_read_per_mtok: 0.05
    cache_write_per_mtok: 0.60
    note: "negotiated contract #123"
  - model: llama-3-70b-private
    provider: self-hosted
    effective_from: 2026-06-01T12:00:00Z
    input_per_mtok: 0.40
    output_per_mtok: 1.20
  - model: gpt-4o
    effective_from: 2026-10-01
    input_per_mtok: 2
    output_per_mtok: 8
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def rec(**over: object) -> InferenceRecord:
    base = InferenceRecord(
        request_id="r", join_status="inference", provider="self-hosted",
        request_model="llama-3-70b-private", response_model=None, operation="chat",
        start_time=T0, end_time=T0 + timedelta(seconds=2), input_tokens=1000,
        output_tokens=100,
    )
    return replace(base, **over)  # type: ignore[arg-type]


def override(model: str, day: date | datetime, price: float, **over: object) -> PriceOverride:
    return PriceOverride.model_validate(
        {"model": model, "effective_from": day, "input_per_mtok": price,
         "output_per_mtok": price, **over})


# ---------------------------------------------------------------- loading


def test_example_file_loads(tmp_path: Path) -> None:
    overrides = load_overrides(write(tmp_path, EXAMPLE))
    assert len(overrides) == 3
    first, second, gpt = overrides
    assert first.effective_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert second.effective_from == datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert first.note == "negotiated contract #123"
    assert (first.cache_read_price, first.cache_write_price) == (0.05, 0.60)
    assert (second.cache_read_price, second.cache_write_price) == (0.40, 0.40)  # = input
    assert gpt.provider is None and gpt.input_per_mtok == 2.0
    assert first.price_version == "override:2026-01-01"


def test_empty_file_and_empty_list_mean_no_overrides(tmp_path: Path) -> None:
    assert len(load_overrides(write(tmp_path, ""))) == 0
    assert len(load_overrides(write(tmp_path, "overrides:\n"))) == 0
    assert len(load_overrides(write(tmp_path, "overrides: []\n"))) == 0


def test_datetimes_with_offsets_become_utc(tmp_path: Path) -> None:
    text = ("overrides:\n  - {model: m, effective_from: '2026-03-01T02:00:00+02:00', "
            "input_per_mtok: 1, output_per_mtok: 1}\n"
            "  - {model: m, effective_from: '2026-04-01', input_per_mtok: 1, "
            "output_per_mtok: 1}\n"
            "  - {model: m, effective_from: 2026-05-01 06:30:00, input_per_mtok: 1, "
            "output_per_mtok: 1}\n")
    starts = [o.effective_from for o in load_overrides(write(tmp_path, text))]
    assert starts == [datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC),
                      datetime(2026, 5, 1, 6, 30, tzinfo=UTC)]


@pytest.mark.parametrize(("text", "expected"), [
    ("overrides:\n  - model: [a\n", "not valid YAML (line 3"),
    ("- model: a\n", "must be a mapping with an 'overrides' list"),
    ("overrides: 3\n", "'overrides' (line 1) must be a list"),
    ("override:\n  - model: a\n", "unknown top-level key 'override' (line 1)"),
    ("overrides:\n  - 5\n", "overrides[0] (line 2): must be a mapping"),
    ("overrides:\n  - model: m\n    effective_from: 2026-01-01\n    input_per_mtok: 1\n",
     "overrides[0] (line 2): 'output_per_mtok' is required"),
    ("overrides:\n  - model: m\n    effective_from: 2026-01-01\n    input_per_mtok: 1\n"
     "    output_per_mtok: cheap\n",
     "overrides[0].output_per_mtok (line 5): Input should be a valid number; got 'cheap'"),
    ("overrides:\n  - model: m\n    effective_from: 2026-01-01\n    input_per_mtok: -1\n"
     "    output_per_mtok: 1\n",
     "overrides[0].input_per_mtok (line 4): Input should be greater than or equal to 0"),
    ("overrides:\n  - model: m\n    effective_from: 2026-01-01\n    input_per_mtok: yes\n"
     "    output_per_mtok: 1\n", "overrides[0].input_per_mtok (line 4)"),
    ("overrides:\n  - model: m\n    effective_from: soon\n    input_per_mtok: 1\n"
     "    output_per_mtok: 1\n", "overrides[0].effective_from (line 3)"),
    ("overrides:\n  - model: m\n    effective_from: 2026-01-01\n    input_per_mtok: 1\n"
     "    output_per_mtok: 1\n    cached_per_mtok: 1\n",
     "overrides[0].cached_per_mtok (line 6): unknown field"),
    ("overrides:\n  - model: m\n    effective_from: 2026-01-01\n    input_per_mtok: 1\n"
     "    output_per_mtok: 1\n    output_per_mtok: 2\n",
     "overrides[0].output_per_mtok (line 6): given twice"),
    ("overrides:\n  - {model: m, effective_from: 2026-01-01, input_per_mtok: 1, "
     "output_per_mtok: 1}\n  - {model: M, effective_from: 2026-01-01, input_per_mtok: 2, "
     "output_per_mtok: 2}\n",
     "overrides[1] (line 3): same model, provider and effective_from as overrides[0] (line 2)"),
])
def test_bad_files_name_file_entry_field_and_line(tmp_path: Path, text: str,
                                                  expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_overrides(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = ("overrides:\n"
            "  - {model: a, effective_from: 2026-01-01, input_per_mtok: x, output_per_mtok: 1}\n"
            "  - {model: b, input_per_mtok: 1, output_per_mtok: 1}\n")
    with pytest.raises(ConfigError) as caught:
        load_overrides(write(tmp_path, text))
    message = str(caught.value)
    assert "overrides[0].input_per_mtok (line 2)" in message
    assert "overrides[1] (line 3): 'effective_from' is required" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_overrides(tmp_path / "nope.yaml")


# ---------------------------------------------------------------- lookup


def test_effective_dates_choose_the_price_in_force(tmp_path: Path) -> None:
    overrides = load_overrides(write(tmp_path, EXAMPLE))

    def price(when: datetime) -> float | None:
        found = overrides.lookup("self-hosted", "llama-3-70b-private", when)
        return None if found is None else found.input_per_mtok

    assert price(datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)) is None
    assert price(datetime(2026, 1, 1, tzinfo=UTC)) == 0.50  # at effective_from: in force
    assert price(datetime(2026, 6, 1, 11, 59, 59, tzinfo=UTC)) == 0.50
    assert price(datetime(2026, 6, 1, 12, tzinfo=UTC)) == 0.40
    assert price(datetime(2030, 1, 1, tzinfo=UTC)) == 0.40
    plus_two = timezone(timedelta(hours=2))
    assert price(datetime(2026, 6, 1, 13, 59, tzinfo=plus_two)) == 0.50  # 11:59 UTC
    assert price(datetime(2026, 6, 1, 14, 0, tzinfo=plus_two)) == 0.40  # 12:00 UTC
    assert price(datetime(2026, 6, 1, 12)) == 0.40  # naive = UTC


def test_provider_restricts_and_specific_wins_over_generic() -> None:
    overrides = PriceOverrides([
        override("m", date(2026, 1, 1), 1.0),
        override("m", date(2026, 6, 1), 2.0),
        override("m", date(2026, 3, 1), 9.0, provider="self-hosted"),
    ])
    when = datetime(2026, 7, 1, tzinfo=UTC)
    assert overrides.lookup("openai", "m", when).input_per_mtok == 2.0  # type: ignore[union-attr]
    specific = overrides.lookup("Self-Hosted", "M", when)  # case-insensitive
    assert specific is not None and specific.input_per_mtok == 9.0
    early = overrides.lookup("self-hosted", "m", datetime(2026, 2, 1, tzinfo=UTC))
    assert early is not None and early.input_per_mtok == 1.0  # specific not yet in force
    assert overrides.lookup("openai", "other", when) is None


def test_duplicate_series_start_is_rejected_in_code_too() -> None:
    with pytest.raises(ValueError, match="share an effective_from"):
        PriceOverrides([override("m", date(2026, 1, 1), 1.0),
                        override("m", date(2026, 1, 1), 2.0)])


# ---------------------------------------------------------------- cost detector


def test_unknown_to_genai_prices_is_priced_by_override() -> None:
    unpriced = CostDetector().cost(rec())
    assert unpriced.usd is None and unpriced.source == "unknown"
    detector = CostDetector(PriceOverrides([override("llama-3-70b-private",
                                                     date(2026, 1, 1), 0.5,
                                                     output_per_mtok=1.5)]))
    cost = detector.cost(rec())
    assert cost.source == "override"
    assert cost.price_version == "override:2026-01-01"
    assert cost.usd == pytest.approx((1000 * 0.5 + 100 * 1.5) / 1e6)
    signals = detector.score([rec()], T0)
    assert [(s.name, s.label) for s in signals] == [("cost.usd", "override")]
    assert signals[0].value == pytest.approx(cost.usd)


def test_precedence_provider_then_override_then_genai_prices() -> None:
    gpt = rec(provider="openai", request_model="gpt-4o")
    listed = CostDetector().cost(gpt)
    assert listed.source == "genai-prices"
    detector = CostDetector(PriceOverrides([override("gpt-4o", date(2026, 10, 1), 2.0,
                                                     output_per_mtok=8.0)]))
    overridden = detector.cost(gpt)
    assert overridden.source == "override"
    assert overridden.usd == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6)
    assert overridden.usd != pytest.approx(listed.usd)
    assert detector.cost(replace(gpt, reported_cost_usd=0.25)).usd == 0.25
    assert detector.cost(replace(gpt, reported_cost_usd=0.25)).source == "provider"
    # Before the override's effective date genai-prices still prices the call.
    before = replace(gpt, start_time=datetime(2026, 9, 30, 23, tzinfo=UTC),
                     end_time=datetime(2026, 9, 30, 23, 0, 2, tzinfo=UTC))
    assert detector.cost(before).source == "genai-prices"
    assert detector.cost(before).usd == pytest.approx(CostDetector().cost(before).usd)


def test_override_follows_the_calls_time_across_a_price_change() -> None:
    detector = CostDetector(PriceOverrides([
        override("llama-3-70b-private", date(2026, 1, 1), 1.0),
        override("llama-3-70b-private", datetime(2026, 6, 1, 12, tzinfo=UTC), 2.0),
    ]))
    at = datetime(2026, 6, 1, 11, 59, 59, tzinfo=UTC)
    old = detector.cost(rec(start_time=at, end_time=at + timedelta(seconds=2)))
    new = detector.cost(rec(start_time=at + timedelta(seconds=1), end_time=None))
    assert old.usd == pytest.approx(1100 * 1.0 / 1e6)
    assert old.price_version == "override:2026-01-01"
    assert new.usd == pytest.approx(1100 * 2.0 / 1e6)
    assert new.price_version == "override:2026-06-01"
    # A response without its request: priced at its end time.
    lone = detector.cost(rec(start_time=None, end_time=datetime(2026, 2, 1, tzinfo=UTC)))
    assert lone.price_version == "override:2026-01-01"


def test_cache_tokens_are_part_of_input_tokens() -> None:
    priced = override("llama-3-70b-private", date(2026, 1, 1), 0.5, output_per_mtok=1.5,
                      cache_read_per_mtok=0.05, cache_write_per_mtok=0.6)
    detector = CostDetector(PriceOverrides([priced]))
    call = rec(input_tokens=1000, cache_read_tokens=300, cache_creation_tokens=200,
               output_tokens=100)
    expected = (500 * 0.5 + 300 * 0.05 + 200 * 0.6 + 100 * 1.5) / 1e6
    assert detector.cost(call).usd == pytest.approx(expected)
    # Unset cache prices default to the input price: cached or not costs the same.
    flat = CostDetector(PriceOverrides([override("llama-3-70b-private", date(2026, 1, 1),
                                                 0.5, output_per_mtok=1.5)]))
    assert flat.cost(call).usd == pytest.approx((1000 * 0.5 + 100 * 1.5) / 1e6)


def test_matching_by_provider_and_model_names() -> None:
    detector = CostDetector(PriceOverrides([
        override("llama-3-70b-private", date(2026, 1, 1), 1.0, provider="self-hosted")]))
    assert detector.cost(rec(provider="vllm")).source == "unknown"  # other provider
    answered = rec(request_model="llama", response_model="llama-3-70b-private")
    assert detector.cost(answered).source == "override"  # by the model that answered
    no_usage = detector.cost(rec(input_tokens=None, output_tokens=None))
    assert (no_usage.usd, no_usage.source) == (0.0, "override")


def test_no_or_empty_overrides_change_nothing() -> None:
    gpt = rec(provider="openai", request_model="gpt-4o")
    plain = CostDetector().cost(gpt)
    assert CostDetector(PriceOverrides()).cost(gpt) == plain
    assert CostDetector(None).cost(gpt) == plain
