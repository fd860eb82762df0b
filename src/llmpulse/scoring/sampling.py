"""Which calls go to the quality scorer (pure; the clock and the random source are passed in).

Always scored: calls a provider's content filter stopped (``flagged``), the
first N calls of a new model / prompt version (``new_version``), and calls
users gave negative feedback on (``feedback``, decided where feedback is read).
Every other call is sampled at ``rate`` and then limited by a token bucket of
``budget_per_s`` calls per second, so the scorer's input stays bounded
whatever the traffic.  Mandatory calls spend budget too (the bucket may go
into debt, down to one burst), so they crowd out sampled calls, not add to them.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmpulse.records import InferenceRecord

if TYPE_CHECKING:
    from llmpulse.config import Settings

MANDATORY = ("flagged", "feedback", "new_version")
BURST_S = 2.0


@dataclass(frozen=True, slots=True)
class SamplingPolicy:
    rate: float
    budget_per_s: float
    new_version_calls: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SamplingPolicy:
        return cls(settings.score_sample_rate, settings.score_budget_per_s,
                   settings.score_new_version_calls)


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; may owe up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated: float | None = None

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now if self.updated is None else max(self.updated, now)

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def spend(self, now: float) -> None:
        """Take one token even if none is left (a mandatory task), within one burst of debt."""
        self._refill(now)
        self.tokens = max(-self.burst, self.tokens - 1.0)


def response_text(record: InferenceRecord) -> str:
    return "\n".join(m.content for m in record.output_messages if m.content)


def version_key(record: InferenceRecord) -> tuple[str, str, str, str]:
    return (record.model, record.prompt_template_id or "", record.prompt_template_version or "",
            record.model_version or "")


class ScoringSampler:
    """Decides per call: a reason to score it, or why not."""

    def __init__(self, policy: SamplingPolicy, rng: random.Random,
                 max_versions: int = 10_000) -> None:
        self.policy = policy
        self.rng = rng
        self.bucket = TokenBucket(policy.budget_per_s, max(1.0, policy.budget_per_s * BURST_S))
        self._versions: OrderedDict[tuple[str, str, str, str], int] = OrderedDict()
        self._max_versions = max_versions

    def decide(self, record: InferenceRecord, now: float) -> tuple[str | None, str]:
        """(reason to score, "") or (None, reason to skip)."""
        if not response_text(record):
            return None, "no_text"
        reason = self._mandatory(record)
        if reason is not None:
            self.bucket.spend(now)
            return reason, ""
        if self.rng.random() >= self.policy.rate:
            return None, "rate"
        if not self.bucket.take(now):
            return None, "budget"
        return "sampled", ""

    def mandatory(self, now: float) -> None:
        """Account for a mandatory task decided elsewhere (negative feedback)."""
        self.bucket.spend(now)

    def _mandatory(self, record: InferenceRecord) -> str | None:
        if "content_filter" in record.finish_reasons:
            return "flagged"
        key = version_key(record)
        seen = self._versions.pop(key, 0)
        self._versions[key] = seen + 1
        if len(self._versions) > self._max_versions:
            self._versions.popitem(last=False)
        return "new_version" if seen < self.policy.new_version_calls else None
