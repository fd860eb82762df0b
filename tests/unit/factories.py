"""Small builders of valid wire events for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

#: Yesterday noon: recent, so stored message bodies are inside their 30-day TTL.
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)


def inference(request_id: str = "r1", **over: Any) -> dict[str, Any]:
    event = {
        "event_type": "inference",
        "request_id": request_id,
        "start_time": T0.isoformat(),
        "end_time": (T0 + timedelta(seconds=2)).isoformat(),
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 101,
        "gen_ai.response.time_to_first_chunk": 0.5,
        "gen_ai.response.finish_reasons": ["stop"],
        "tenant": "acme",
        "route": "chat",
    }
    event.update(over)
    return event


def request(request_id: str = "r1", **over: Any) -> dict[str, Any]:
    event = {
        "event_type": "request",
        "request_id": request_id,
        "start_time": T0.isoformat(),
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "tenant": "acme",
        "route": "rag",
    }
    event.update(over)
    return event


def response(request_id: str = "r1", **over: Any) -> dict[str, Any]:
    event = {
        "event_type": "response",
        "request_id": request_id,
        "end_time": (T0 + timedelta(seconds=3)).isoformat(),
        "gen_ai.response.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 2000,
        "gen_ai.usage.output_tokens": 201,
        "gen_ai.response.time_to_first_chunk": 1.0,
    }
    event.update(over)
    return event


def feedback(request_id: str = "r1", **over: Any) -> dict[str, Any]:
    event = {
        "event_type": "feedback",
        "request_id": request_id,
        "feedback_id": f"fb-{request_id}",
        "time": (T0 + timedelta(minutes=5)).isoformat(),
        "thumbs": "down",
    }
    event.update(over)
    return event


class Borrowed:
    """A test's store, handed to a command that closes what it opens (``close`` does
    nothing; everything else is the store's)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def close(self) -> None:
        pass
