"""What the traffic simulator draws from: model, route and tenant catalogues,
templated texts, and deliberately malformed payloads.  Pure data and pure
functions of a ``random.Random``; see :mod:`llmpulse.simulator`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from llmpulse.schema import ContextDocument


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A served model: medians of time to first token (s) and time per output token (s)."""

    provider: str
    model: str
    response_model: str
    ttft_s: float
    tpot_s: float
    server: str
    id_prefix: str
    model_version: str | None = None


MODELS: dict[str, ModelSpec] = {m.model: m for m in (
    ModelSpec("openai", "gpt-4o", "gpt-4o-2024-08-06", 0.45, 0.012, "api.openai.com", "chatcmpl-"),
    ModelSpec("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 0.30, 0.007, "api.openai.com",
              "chatcmpl-"),
    ModelSpec("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 0.80, 0.016,
              "api.anthropic.com", "msg_"),
    ModelSpec("anthropic", "claude-haiku-4-5", "claude-haiku-4-5-20251001", 0.50, 0.008,
              "api.anthropic.com", "msg_"),
    ModelSpec("gcp.gemini", "gemini-2.0-flash", "gemini-2.0-flash-001", 0.35, 0.005,
              "generativelanguage.googleapis.com", "gen-"),
    ModelSpec("vllm", "acme-llama-3-70b-ft", "acme-llama-3-70b-ft", 0.25, 0.025,
              "vllm.internal:8000", "cmpl-", "ft-2025-06-12"),
)}
#: Self-hosted models the price table does not know (their cost is "unknown").
UNPRICED_MODELS = ("acme-llama-3-70b-ft",)


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """An application route: its model mix, median token counts and prompt settings."""

    name: str
    weight: float
    models: tuple[tuple[str, float], ...]
    input_tokens: float
    output_tokens: float
    max_tokens: int
    temperature: float
    template_version: str
    content_share: float  # share of calls that carry message text


ROUTES = (
    RouteSpec("chat", 0.45, (("gpt-4o-mini", 4), ("gpt-4o", 2), ("claude-sonnet-4-5", 2),
                             ("gemini-2.0-flash", 1)), 900, 220, 1024, 0.7, "7", 0.5),
    RouteSpec("rag-answer", 0.25, (("gpt-4o", 3), ("claude-sonnet-4-5", 2),
                                   ("acme-llama-3-70b-ft", 2)), 2600, 260, 800, 0.2, "3", 1.0),
    RouteSpec("summarize", 0.18, (("claude-haiku-4-5", 3), ("gpt-4o-mini", 2),
                                  ("acme-llama-3-70b-ft", 1)), 3200, 180, 300, 0.3, "2", 0.3),
    RouteSpec("classify", 0.12, (("gpt-4o-mini", 3), ("claude-haiku-4-5", 2),
                                 ("acme-llama-3-70b-ft", 2)), 450, 4, 8, 0.0, "12", 0.3),
)
TENANTS = (("acme", 0.45), ("globex", 0.25), ("initech", 0.15), ("umbrella", 0.10),
           ("hooli", 0.05))
ERROR_TYPES = (("timeout", 0.3), ("rate_limited", 0.4), ("server_error", 0.3))

FACTS: dict[str, tuple[str, ...]] = {
    "billing": ("Invoices are issued on the first business day of each month.",
                "Refunds are processed within five business days.",
                "The payment card can be changed under Settings, Billing."),
    "password resets": ("A password reset link is valid for 30 minutes.",
                        "Accounts lock after five failed sign-in attempts.",
                        "Admins can force a password reset from the Users page."),
    "rate limits": ("The standard plan allows 600 API requests per minute.",
                    "Requests over the limit get HTTP 429 with a Retry-After header.",
                    "Enterprise plans can ask support for higher limits."),
    "data exports": ("Exports are generated as CSV or Parquet files.",
                     "Large exports are emailed as a download link within an hour.",
                     "Exports cover the last 13 months of data."),
    "single sign-on": ("Single sign-on supports SAML 2.0 and OpenID Connect.",
                       "Single sign-on is included in the business and enterprise plans.",
                       "Users created through single sign-on get the member role."),
}
_TOPICS = tuple(FACTS)
_INVENTED = ("Refunds are paid in cash at our head office on Fridays.",
             "Every plan includes unlimited API requests at no cost.",
             "Passwords never expire and cannot be reset by anyone.")
_QUESTIONS = ("How do {t} work?", "Can you explain {t} for my team?",
              "What should I know about {t}?", "I have a problem with {t}, what can I do?")
_LABELS = ("billing", "bug_report", "feature_request", "account_access")
_SYSTEM = {"chat": "You are a concise, friendly support assistant for Acme Cloud.",
           "rag-answer": "Answer only from the provided documents; say so when they do not "
                         "contain the answer.",
           "summarize": "Summarize the support ticket in at most two sentences.",
           "classify": "Classify the ticket as one of: " + ", ".join(_LABELS) + "."}
#: Rude answers for the "toxic" incident (a model whose safety tuning regressed).
TOXIC_ANSWERS = ("Figure it out yourself, you idiot.",
                 "That is a stupid question and you are a moron for asking it.",
                 "Shut up and read the docs, you useless clown.",
                 "Nobody cares about your pathetic problem, loser.")
#: Personal data that users paste into questions (redacted before storage).
PII_SNIPPETS = ("You can reach me at jane.doe@example.com.",
                "Call me back on +1 415 555 0134.",
                "My card 4111 1111 1111 1111 was charged twice.")
COMMENTS = ("Not what I asked.", "Great, thanks!", "The answer was cut off.",
            "This is wrong, check the docs.")


@dataclass(frozen=True, slots=True)
class Content:
    """Texts of one call; ``ungrounded`` marks a RAG answer not supported by its documents."""

    system: str
    question: str
    answer: str
    documents: tuple[ContextDocument, ...] = ()
    ungrounded: bool = False


def content(rng: random.Random, route: str, ungrounded_p: float = 0.08,
            toxic_p: float = 0.002) -> Content:
    """Short templated texts for a call on ``route`` (about one of a few support topics);
    ``ungrounded_p`` of RAG answers are not supported by their documents and
    ``toxic_p`` of chat answers are rude."""
    topic = rng.choice(_TOPICS)
    facts = FACTS[topic]
    fact = rng.choice(facts)
    question = rng.choice(_QUESTIONS).format(t=topic)
    if rng.random() < 0.03:
        question += " " + rng.choice(PII_SNIPPETS)
    system = _SYSTEM[route]
    if route == "classify":
        return Content(system, f"Ticket: {question}", rng.choice(_LABELS))
    if route == "summarize":
        return Content(system, f"Summarize this ticket: {question} {facts[0]} {facts[1]}",
                       f"The customer asks about {topic}. {fact}")
    if route != "rag-answer":
        if rng.random() < toxic_p:
            return Content(system, question, rng.choice(TOXIC_ANSWERS))
        return Content(system, question, f"{fact} Let me know if you need anything else.")
    other = rng.choice([t for t in _TOPICS if t != topic])
    picked = rng.sample(range(len(facts)), 2)
    docs = [ContextDocument(id=f"kb-{topic.replace(' ', '-')}-{i}", content=facts[i])
            for i in picked]
    docs.append(ContextDocument(id=f"kb-{other.replace(' ', '-')}-0", content=FACTS[other][0]))
    ungrounded = rng.random() < ungrounded_p
    claim = rng.choice(_INVENTED) if ungrounded else facts[picked[0]]
    return Content(system, question, f"According to the documentation: {claim}", tuple(docs),
                   ungrounded)


# -- malformed payloads (for dead-letter tests) -------------------------------

def _valid_wire(rng: random.Random) -> dict[str, Any]:
    return {
        "schema_version": 1, "event_type": "inference",
        "request_id": uuid.UUID(int=rng.getrandbits(128), version=4).hex,
        "start_time": "2025-03-01T12:00:00Z", "end_time": "2025-03-01T12:00:01.5Z",
        "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": rng.randint(10, 5000),
        "gen_ai.usage.output_tokens": rng.randint(1, 500),
    }


def _set(key: str, *values: Any) -> Callable[[dict[str, Any], random.Random], None]:
    def corrupt(data: dict[str, Any], rng: random.Random) -> None:
        data[key] = rng.choice(values)
    return corrupt


def _drop_required(data: dict[str, Any], rng: random.Random) -> None:
    del data[rng.choice(("request_id", "start_time", "end_time", "gen_ai.provider.name",
                         "gen_ai.request.model"))]


def _wrong_type(data: dict[str, Any], rng: random.Random) -> None:
    key, value = rng.choice((("gen_ai.usage.input_tokens", "lots"),
                             ("gen_ai.usage.output_tokens", 12.5),
                             ("start_time", "yesterday"), ("tenant", 42),
                             ("gen_ai.response.finish_reasons", "stop"),
                             ("gen_ai.input.messages", {"role": "user"})))
    data[key] = value


_CORRUPTIONS: dict[str, Callable[[dict[str, Any], random.Random], None]] = {
    "missing_field": _drop_required,
    "wrong_type": _wrong_type,
    "negative_tokens": _set("gen_ai.usage.output_tokens", -1, -42, -1000),
    "end_before_start": _set("end_time", "2025-03-01T11:59:58Z", "2024-12-31T00:00:00Z"),
    "unknown_event_type": _set("event_type", "completion", "llm_call", "INFERENCE"),
    "bad_schema_version": _set("schema_version", 0, 2, 99, "v1"),
    "unknown_field": _set("gen_ai.usage.total_tokens", 120, 5000),
}
_NOT_JSON = (b"", b'{"request_id": "abc", ', b"\x00\xff\xfe not json",
             b"request_id=abc;model=gpt-4o")
MALFORMED_KINDS = ("not_json", "json_array", *_CORRUPTIONS)


def malformed(rng: random.Random, kind: str | None = None) -> bytes:
    """An invalid payload of ``kind`` (random when ``None``); rejected on every input topic."""
    kind = kind if kind is not None else rng.choice(MALFORMED_KINDS)
    if kind == "not_json":
        return rng.choice(_NOT_JSON)
    if kind == "json_array":
        return orjson.dumps([_valid_wire(rng)])
    data = _valid_wire(rng)
    _CORRUPTIONS[kind](data, rng)
    return orjson.dumps(data)
