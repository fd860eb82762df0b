"""The one exception hierarchy of llmpulse; translated to messages at the CLI."""

from __future__ import annotations


class LlmpulseError(Exception):
    """Base of every error llmpulse raises on purpose."""


class ConfigError(LlmpulseError):
    """A setting is missing or invalid; the message names the setting."""


class InvalidEvent(LlmpulseError):
    """An input event failed decoding or validation; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class StoreError(LlmpulseError):
    """The ClickHouse store cannot be opened or written."""


class StoreLocked(StoreError):
    """Another process holds the embedded chdb store."""


class BrokerError(LlmpulseError):
    """The Kafka broker cannot be reached or started."""
