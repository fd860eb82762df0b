"""What travels on ``llm.alerts``: one message per notification, JSON on the wire.

The engine publishes an :class:`AlertMessage` whenever an alert triggers,
re-notifies or resolves; the notifier stage delivers it to the rule's channels.
``id`` is an idempotency key (the same notification published twice has the
same id), ``dedup_key`` names the (rule, group) across restarts and workers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["critical", "error", "warning", "info"]
Kind = Literal["trigger", "renotify", "resolve", "test"]


class Evidence(BaseModel):
    """One offending request: what it was and why it counts."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    value: float | None = None  # the metric's value for this call (e.g. duration in s)
    detail: str = ""  # e.g. the error type


class Baseline(BaseModel):
    model_config = ConfigDict(frozen=True)

    method: Literal["ewma", "mad"]
    value: float  # the usual value the threshold was derived from
    windows: int  # how many past windows it summarises


class AlertMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    dedup_key: str
    kind: Kind
    state: Literal["firing", "resolved"]
    rule: str
    severity: Severity
    summary: str
    metric: str
    operator: str
    value: float | None
    threshold: float | None
    baseline: Baseline | None = None
    group: dict[str, str]
    count: int = 0
    window_s: float
    window_start: datetime
    window_end: datetime
    since: datetime
    time: datetime
    runbook_url: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    channels: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    #: The scorer version whose scores the value is of (quality metrics only: the scores
    #: of two versions are never mixed in one value).
    scorer: str | None = None

    def to_wire(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_wire(cls, raw: bytes) -> AlertMessage:
        return cls.model_validate_json(raw)


def checked_runbook_url(value: str | None) -> str | None:
    """``value`` if it is an absolute http(s) URL (or unset); a ValueError otherwise.  Slack
    drops a message whose button has no absolute URL; PagerDuty shows a dead link."""
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError(f"runbook_url {value!r} must be an absolute http(s) URL")
    return value
