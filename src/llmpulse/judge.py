"""LLM-as-judge groundedness against any OpenAI-compatible chat completions endpoint.

The judge is expensive, so it is rationed: a sample rate (items marked ``always`` bypass it;
the scorer marks the answers users gave negative feedback on, see
:data:`llmpulse.scoring.scorer.ALWAYS_JUDGE`) and a token bucket of N tokens per minute
(nothing bypasses it).  An item the judge does not
score, for whatever reason, comes back as ``None`` and the reason is counted in
:attr:`LlmJudge.reasons`; items are never queued for later.  One attempt per item.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from llmpulse.detectors.groundedness import (
    GroundednessResult,
    SentenceSupport,
    result_signals,
    scorable,
)
from llmpulse.detectors.text_facts import split_sentences
from llmpulse.errors import ConfigError
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

if TYPE_CHECKING:
    from llmpulse.config import Settings

SYSTEM_PROMPT = (
    "You check answers of a retrieval-augmented assistant against the retrieved context. "
    "A claim is supported only if the context states it or it follows directly from the "
    "context; numbers, dates and names must match exactly. Reply with one JSON object and "
    'nothing else: {"score": <number from 0 to 1, 1 = every claim is supported>, '
    '"unsupported": [<each answer sentence that is not supported, copied verbatim>]}'
)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


class TokenBucket:
    """``tokens_per_minute`` capacity, refilled continuously from the injected clock."""

    def __init__(self, tokens_per_minute: float, clock: Callable[[], float]) -> None:
        self.capacity = float(tokens_per_minute)
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()

    def available(self) -> float:
        now = self._clock()
        self._tokens = min(self.capacity,
                           self._tokens + max(0.0, now - self._last) * self.capacity / 60.0)
        self._last = now
        return self._tokens

    def take(self, tokens: float) -> bool:
        """Spend ``tokens`` if they are there now; never waits."""
        if tokens > self.available():
            return False
        self._tokens -= tokens
        return True


def build_messages(answer: str, contexts: Sequence[str]) -> list[dict[str, str]]:
    documents = "\n\n".join(f"[{i}] {text.strip()}" for i, text in enumerate(contexts, 1))
    user = f"CONTEXT:\n{documents}\n\nANSWER:\n{answer.strip()}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def _first_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            found, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(found, dict):
            return found
    return None


def parse_verdict(text: str) -> tuple[float, list[str]] | None:
    """(score clamped to 0..1, unsupported sentences) from the judge's reply, or None.

    Accepts bare JSON, JSON in a code fence, or JSON with prose around it."""
    fenced = _FENCE.search(text)
    found = _first_object(fenced.group(1)) if fenced else None
    found = found or _first_object(text)
    if found is None:
        return None
    raw = found.get("score")
    if isinstance(raw, str):
        try:
            raw = float(raw.strip().rstrip("%")) / (100.0 if raw.strip().endswith("%") else 1.0)
        except ValueError:
            return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return None
    listed = found.get("unsupported") or []
    unsupported = [s for s in listed if isinstance(s, str)] if isinstance(listed, list) else []
    return min(1.0, max(0.0, float(raw))), unsupported


def _normalised(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def verdict_result(answer: str, score: float, unsupported: Sequence[str],
                   scorer: str) -> GroundednessResult:
    """A result whose sentences are the answer's, marked unsupported when the judge listed
    them; listed text matching no sentence is kept as its own entry.  ``similarity`` holds the
    judge's response score and ``score`` is 0 or 1 per sentence."""
    listed = [_normalised(s) for s in unsupported if _normalised(s)]
    matched: set[int] = set()
    sentences = []
    for sentence in split_sentences(answer):
        own = _normalised(sentence)
        hits = {i for i, text in enumerate(listed) if text in own or own in text}
        matched |= hits
        sentences.append(SentenceSupport(sentence, score, (), not hits, 0.0 if hits else 1.0))
    extra = [s for i, s in enumerate(s for s in unsupported if _normalised(s))
             if i not in matched]
    sentences += [SentenceSupport(s.strip(), score, (), False, 0.0) for s in extra]
    return GroundednessResult(score, tuple(sentences), scorer)


class LlmJudge:
    """A :class:`~llmpulse.detectors.groundedness.GroundednessBackend` whose ``score_many``
    returns ``list[GroundednessResult | None]``: None for items sampled out, over the token
    budget, or failed (timeout, HTTP error, unparseable reply)."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 timeout_s: float = 20.0, tokens_per_minute: int = 20_000,
                 max_completion_tokens: int = 400, sample_rate: float = 1.0,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic,
                 client: httpx.Client | None = None) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ConfigError(f"judge sample_rate must be within 0..1, got {sample_rate}")
        if tokens_per_minute < 0 or max_completion_tokens <= 0 or timeout_s <= 0:
            raise ConfigError("judge tokens_per_minute must be >= 0 (0: judge nothing), "
                              "max_completion_tokens and timeout_s > 0")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.sample_rate = model, sample_rate
        self.max_completion_tokens = max_completion_tokens
        self.bucket = TokenBucket(tokens_per_minute, clock)
        self.reasons: Counter[str] = Counter()
        self._rng = rng or random.Random()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout_s), headers=headers)

    @property
    def scorer(self) -> str:
        return f"judge:{self.model}"

    def estimate_tokens(self, messages: Sequence[dict[str, str]]) -> int:
        """Prompt characters / 4 plus the completion cap: an upper-bound-ish guess."""
        return sum(len(m["content"]) for m in messages) // 4 + self.max_completion_tokens

    def score_many(self, items: Sequence[tuple[str, Sequence[str]]],
                   always: Sequence[bool] | None = None) -> list[GroundednessResult | None]:
        """Items in order; ``always[i]`` makes item i skip sampling (not the budget)."""
        flags = list(always) if always is not None else [False] * len(items)
        if len(flags) != len(items):
            raise ValueError("always must have one flag per item")
        return [self.score_one(answer, contexts, always=flag)
                for (answer, contexts), flag in zip(items, flags, strict=True)]

    def score_one(self, answer: str, contexts: Sequence[str], *,
                  always: bool = False) -> GroundednessResult | None:
        if not always and self._rng.random() >= self.sample_rate:
            self._count("sampled_out")
            return None
        messages = build_messages(answer, contexts)
        if not self.bucket.take(self.estimate_tokens(messages)):
            self._count("over_budget")
            return None
        content = self._complete(messages)
        if content is None:
            return None
        verdict = parse_verdict(content)
        if verdict is None:
            self._count("bad_output")
            return None
        self.reasons["scored"] += 1
        return verdict_result(answer, verdict[0], verdict[1], self.scorer)

    def _complete(self, messages: list[dict[str, str]]) -> str | None:
        body = {"model": self.model, "messages": messages, "temperature": 0,
                "max_tokens": self.max_completion_tokens,
                "response_format": {"type": "json_object"}}
        try:
            response = self._client.post(self.url, json=body)
        except httpx.TimeoutException:
            self._count("timeout")
            return None
        except httpx.HTTPError:
            self._count("transport_error")
            return None
        if response.status_code != 200:
            self._count(f"http_{response.status_code}")
            return None
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, LookupError, TypeError):
            self._count("bad_response")
            return None
        if not isinstance(content, str):
            self._count("bad_response")
            return None
        return content

    def _count(self, reason: str) -> None:
        self.reasons[reason] += 1

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> LlmJudge:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def judge_from_settings(settings: Settings, rng: random.Random | None = None) -> LlmJudge:
    """The judge configured by ``LLMPULSE_JUDGE_*``; needs ``LLMPULSE_JUDGE_URL``."""
    if not settings.judge_url:
        raise ConfigError("LLMPULSE_JUDGE_URL is not set: no judge to call")
    key = settings.judge_api_key.get_secret_value() if settings.judge_api_key else None
    return LlmJudge(settings.judge_url, settings.judge_model, api_key=key,
                    timeout_s=settings.judge_timeout_s,
                    tokens_per_minute=settings.judge_tokens_per_min,
                    sample_rate=settings.judge_sample_rate, rng=rng)


def judge_signals(judge: LlmJudge, records: Sequence[InferenceRecord], now: datetime,
                  always: Collection[str] = frozenset()) -> list[Signal]:
    """``judge.groundedness`` signals (source ``judge``) for the RAG records the judge scored;
    request ids in ``always`` skip the sample rate, not the token budget."""
    chosen, items = scorable(records)
    results = judge.score_many(items, always=[r.request_id in always for r in chosen])
    return [signal for record, result in zip(chosen, results, strict=True) if result is not None
            for signal in result_signals(record, result, now, detector=judge.scorer,
                                         name="judge.groundedness", source="judge")]
