"""Synthetic per-call observations for evaluating the release comparison (the tests and
``bench/compare_eval.py``): one array per data key, NaN where a call has no such
observation (not scored, not a RAG answer, no feedback).  Seeded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Traffic:
    """The distribution of one side's calls; a planted change is a different value."""

    error: float = 0.03
    timeout: float = 0.01
    length: float = 0.04
    content_filter: float = 0.01
    duration_median: float = 1.2  # lognormal, seconds
    ttft_median: float = 0.35
    tpot_median: float = 0.02
    input_tokens: float = 800.0
    output_tokens: float = 250.0
    toxic: float = 0.02
    groundedness: float = 0.8  # beta mean
    ungrounded: float = 0.1
    thumbs_down: float = 0.15
    rating: float = 4.0
    correction: float = 0.05

    def calls(self, n: int, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        nan = np.full(n, np.nan)

        def where(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
            return np.where(mask, values, nan)

        def lognormal(median: float, sigma: float) -> np.ndarray:
            return median * rng.lognormal(0.0, sigma, n)

        inp = np.round(lognormal(self.input_tokens, 0.5))
        out = np.round(lognormal(self.output_tokens, 0.6))
        scored = rng.random(n) < 0.5
        rag = rng.random(n) < 0.4
        given = rng.random(n) < 0.3
        thumbs = given & (rng.random(n) < 0.8)
        rated = given & (rng.random(n) < 0.5)
        g = rng.beta(8 * self.groundedness, 8 * (1 - self.groundedness), n)
        ratings = np.clip(np.round(rng.normal(self.rating, 1.0, n)), 1, 5)
        return {
            "error": (rng.random(n) < self.error).astype(float),
            "timeout": (rng.random(n) < self.timeout).astype(float),
            "length": (rng.random(n) < self.length).astype(float),
            "content_filter": (rng.random(n) < self.content_filter).astype(float),
            "duration": lognormal(self.duration_median, 0.5),
            "ttft": lognormal(self.ttft_median, 0.4),
            "tpot": lognormal(self.tpot_median, 0.3),
            "input_tokens": inp, "output_tokens": out,
            "cost": inp * 2.5e-6 + out * 1e-5,
            "toxic": where(scored, (rng.random(n) < self.toxic).astype(float)),
            "groundedness": where(rag, g),
            "ungrounded": where(rag, (rng.random(n) < self.ungrounded).astype(float)),
            "thumbs_down": where(thumbs, (rng.random(n) < self.thumbs_down).astype(float)),
            "rating": where(rated, ratings),
            "correction": where(given, (rng.random(n) < self.correction).astype(float)),
        }


def head(side: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The first ``n`` calls of a side."""
    return {key: values[:n] for key, values in side.items()}


#: Regressions of practical size (2 to 5 times the signal's default margin), by the
#: signal that should find them.
PLANTED: dict[str, dict[str, float]] = {
    "error_rate": {"error": 0.06},
    "toxicity_rate": {"toxic": 0.06},
    "thumbs_down_rate": {"thumbs_down": 0.30},
    "duration_p95": {"duration_median": 1.8},
    "ttft_p50": {"ttft_median": 0.455},
    "cost_per_call": {"input_tokens": 1040.0, "output_tokens": 325.0},
    "rating_mean": {"rating": 3.4},
    "groundedness_mean": {"groundedness": 0.65},
}
