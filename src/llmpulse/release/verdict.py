"""What travels on ``llm.releases``: a canary's final verdict, for a deploy system to act on.

Pure: the clock is passed in.  ``id`` is the idempotency key: the same canary, verdict and
candidate always give the same id (a republished verdict is recognised by its consumers,
and the worker stores it so that it publishes it once).  ``approval`` is always
``required``: llmpulse recommends, the deploy system (or a human) decides.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from llmpulse.release.compare import Comparison, SignalResult, Verdict
from llmpulse.release.signals import Sample

#: Request ids of the candidate's calls carried as examples.
SAMPLE_IDS = 10


class SignalEffect(BaseModel):
    """One compared signal: each side's value, the effect (candidate minus baseline) with
    its always-valid interval, the margin, the adjusted p-value and the signal's verdict."""

    model_config = ConfigDict(frozen=True)

    signal: str
    verdict: Verdict
    n_baseline: int
    n_candidate: int
    baseline: float | None
    candidate: float | None
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    relative_change: float | None
    margin: float | None
    p_adjusted: float | None

    @classmethod
    def of(cls, result: SignalResult) -> SignalEffect:
        d = result.as_dict()
        return cls(signal=d["signal"], verdict=result.verdict,
                   **{k: d[k] for k in ("n_baseline", "n_candidate", "baseline", "candidate",
                                        "effect", "ci_low", "ci_high", "relative_change",
                                        "margin", "p_adjusted")})


class ReleaseVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    canary: str
    model: str | None
    route: str | None
    selector: Literal["prompt_version", "model_version", "model"]
    baseline: str
    candidate: str
    verdict: Verdict
    #: True when ``max_duration`` passed without a promote or rollback.
    expired: bool = False
    reason: str
    started_at: datetime
    created_at: datetime
    calls_baseline: int
    calls_candidate: int
    alpha: float
    signals: tuple[SignalEffect, ...]
    sample_request_ids: tuple[str, ...] = ()
    approval: Literal["required"] = "required"

    def to_wire(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_wire(cls, raw: bytes | str) -> ReleaseVerdict:
        return cls.model_validate_json(raw)


def verdict_id(canary: str, verdict: str, candidate: str) -> str:
    digest = hashlib.sha256(f"{canary}\x1f{verdict}\x1f{candidate}".encode()).hexdigest()
    return f"release:{digest[:32]}"


def sample_ids(candidate: Sample, limit: int = SAMPLE_IDS) -> tuple[str, ...]:
    """The candidate's failed calls first, then its others, in the order read."""
    failed = [rid for rid, e in zip(candidate.request_ids, candidate.values["error"],
                                    strict=False) if e]
    rest = [rid for rid in candidate.request_ids if rid not in set(failed)]
    return tuple((failed + rest)[:limit])


def reason_of(comparison: Comparison, verdict: Verdict, expired: bool) -> str:
    d = comparison.as_dict()
    if verdict == "rollback":
        worse = [r for r in comparison.results if r.verdict == "rollback"]
        return "worse than the baseline: " + ", ".join(_change(r) for r in worse)
    if verdict == "promote":
        return "no signal worse than the baseline by more than its margin"
    why = "still holding" if verdict == "hold" else "too few calls to judge"
    held = f" ({', '.join(d['hold'])})" if d["hold"] else ""
    return f"{why}{held}" + (" when max_duration ran out" if expired else "")


def _change(r: SignalResult) -> str:
    rel = r.relative_change
    if rel is not None and r.spec.relative:
        return f"{r.spec.name} {rel:+.0%}"
    effect = r.effect.estimate if r.effect else 0.0
    return f"{r.spec.name} {effect:+.3g}"


def build_verdict(*, canary: str, model: str | None, route: str | None,
                  selector: Literal["prompt_version", "model_version", "model"],
                  baseline: str, candidate: str, comparison: Comparison,
                  candidate_sample: Sample, calls_baseline: int, started_at: datetime,
                  now: datetime, expired: bool = False, verdict: Verdict | None = None
                  ) -> ReleaseVerdict:
    """The published verdict: ``verdict`` (default: the comparison's) with the
    comparison's evidence."""
    verdict = verdict or comparison.verdict
    return ReleaseVerdict(
        id=verdict_id(canary, verdict, candidate), canary=canary, model=model, route=route,
        selector=selector, baseline=baseline, candidate=candidate, verdict=verdict,
        expired=expired, reason=reason_of(comparison, verdict, expired), started_at=started_at,
        created_at=now, calls_baseline=calls_baseline,
        calls_candidate=candidate_sample.calls, alpha=comparison.policy.alpha,
        signals=tuple(SignalEffect.of(r) for r in comparison.results),
        sample_request_ids=sample_ids(candidate_sample))
