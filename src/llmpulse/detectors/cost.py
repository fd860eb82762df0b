"""Token cost: provider-reported cost, else an operator override, else genai-prices.

Operator overrides (:mod:`llmpulse.prices`) are looked up at the call's time (its
start, else its end; the same instant genai-prices is asked about and the store's
``call_time``) and price models genai-prices does not know too.

genai-prices is exact but slow per call (tens of microseconds, Decimal
arithmetic), so the per-token rates of a model's base tier are probed once per
(provider, model, day) and applied as floats; calls with enough input tokens to
reach a higher tier go through genai-prices itself.  ``input_tokens`` in the
OTel usage counts cached tokens too, as genai-prices expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from importlib.metadata import version
from typing import Any

from llmpulse.detectors._base import make_signal
from llmpulse.prices import PriceOverride, PriceOverrides
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

DETECTOR = "cost@1"

#: OTel ``gen_ai.provider.name`` values -> genai-prices provider ids.
PROVIDER_IDS: dict[str, str] = {
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "ibm.watsonx.ai": "ibm",
}

_MTOK = 1_000_000


@dataclass(frozen=True, slots=True)
class Cost:
    usd: float | None
    source: str  # "provider", "override", "genai-prices" or "unknown"
    price_version: str


@dataclass(frozen=True, slots=True)
class _Rates:
    """USD per token for each usage kind, valid below ``below`` input tokens (tiers)."""

    uncached_input: float
    cache_read: float
    cache_write: float
    output: float
    below: int | None = None


class CostDetector:
    """Memoizes price lookups; pure otherwise (the day comes from the record)."""

    def __init__(self, overrides: PriceOverrides | None = None) -> None:
        self.price_version = f"genai-prices {version('genai-prices')}"
        self.overrides = overrides if overrides else None
        self._rates: dict[tuple[str, str, date], _Rates | bool | None] = {}

    def cost(self, record: InferenceRecord) -> Cost:
        if record.reported_cost_usd is not None:
            return Cost(record.reported_cost_usd, "provider", "provider")
        when = record.start_time or record.end_time
        if self.overrides is not None and when is not None:
            override = self._override(record, when)
            if override is not None:
                usd = override.cost_usd(record.input_tokens or 0, record.output_tokens or 0,
                                        record.cache_read_tokens, record.cache_creation_tokens)
                return Cost(usd, "override", override.price_version)
        if record.input_tokens is None and record.output_tokens is None:
            return Cost(0.0, "genai-prices", self.price_version)
        day = when.date() if when else date(2000, 1, 1)
        key = (record.provider, record.model, day)
        rates = self._rates.get(key)
        if rates is None:
            rates = self._rates[key] = self._probe(record.provider, record.model, day)
        if not isinstance(rates, _Rates):
            return Cost(None, "unknown", self.price_version)
        if rates.below is None or (record.input_tokens or 0) < rates.below:
            return Cost(_apply(rates, record), "genai-prices", self.price_version)
        return Cost(self._exact(record, day), "genai-prices", self.price_version)

    def score(self, records: Sequence[InferenceRecord], now: datetime) -> list[Signal]:
        signals: list[Signal] = []
        for record in records:
            cost = self.cost(record)
            if cost.usd is None:
                signals.append(make_signal(record, "cost.unknown_price", 1.0, now,
                                           label=f"{record.provider}/{record.model}",
                                           detector=DETECTOR))
            else:
                signals.append(make_signal(record, "cost.usd", cost.usd, now,
                                           label=cost.source, detector=DETECTOR))
        return signals

    def _override(self, record: InferenceRecord, when: datetime) -> PriceOverride | None:
        """By the requested model name, else by the one that answered."""
        assert self.overrides is not None
        found = self.overrides.lookup(record.provider, record.request_model, when)
        answered = record.response_model
        if found is None and answered is not None and answered != record.request_model:
            found = self.overrides.lookup(record.provider, answered, when)
        return found

    def _probe(self, provider: str, model: str, day: date) -> _Rates | bool:
        """Per-token rates of the base tier; False = unknown model."""
        from genai_prices import Usage, calc_price

        when = datetime.combine(day, time(12))
        provider_id = PROVIDER_IDS.get(provider, provider)
        try:
            found = calc_price(Usage(input_tokens=_MTOK), model_ref=model,
                               provider_id=provider_id, genai_request_timestamp=when)
        except LookupError:
            return False
        below = _first_tier(found.model_price)
        probe = _MTOK if below is None else max(1, below - 1)

        def per_token(**usage: int) -> float:
            result = found.model_price.calc_price(Usage(**usage))
            return float(result["total_price"]) / probe

        return _Rates(
            uncached_input=per_token(input_tokens=probe),
            cache_read=per_token(input_tokens=probe, cache_read_tokens=probe),
            cache_write=per_token(input_tokens=probe, cache_write_tokens=probe),
            output=per_token(output_tokens=probe),
            below=below,
        )

    def _exact(self, record: InferenceRecord, day: date) -> float:
        from genai_prices import calc_price

        provider_id = PROVIDER_IDS.get(record.provider, record.provider)
        result = calc_price(_usage(record), model_ref=record.model, provider_id=provider_id,
                            genai_request_timestamp=datetime.combine(day, time(12)))
        return float(result.total_price)


def _usage(record: InferenceRecord) -> Any:
    from genai_prices import Usage

    return Usage(
        input_tokens=record.input_tokens or 0,
        output_tokens=record.output_tokens or 0,
        cache_read_tokens=record.cache_read_tokens,
        cache_write_tokens=record.cache_creation_tokens,
    )


def _apply(rates: _Rates, record: InferenceRecord) -> float:
    cached = record.cache_read_tokens + record.cache_creation_tokens
    uncached = max(0, (record.input_tokens or 0) - cached)
    return (
        uncached * rates.uncached_input
        + record.cache_read_tokens * rates.cache_read
        + record.cache_creation_tokens * rates.cache_write
        + (record.output_tokens or 0) * rates.output
    )


def _first_tier(model_price: Any) -> int | None:
    """Input tokens where the first price tier starts (tiers go by input tokens), if any."""
    from genai_prices.types import TieredPrices

    starts = [tier.start for value in vars(model_price).values()
              if isinstance(value, TieredPrices) for tier in value.tiers]
    return min(starts) if starts else None
