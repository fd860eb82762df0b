"""Deliver :class:`AlertMessage` notifications to Slack, PagerDuty and signed webhooks.

The payload builders are pure functions; :class:`Notifier` does the HTTP, with
per-channel timeouts and retries (exponential backoff with jitter) on connection
errors, timeouts, HTTP 429 and 5xx. Other 4xx answers are final. Every request
carries ``X-Llmpulse-Delivery: <alert id>``: a notification retried or published
twice keeps the same value, so receivers can drop duplicates.

Webhook signatures
------------------
A webhook body is the alert's JSON (``AlertMessage.to_wire()``). Two headers
authenticate it:

* ``X-Llmpulse-Timestamp``: Unix time in whole seconds when the request was signed
  (each attempt is signed afresh).
* ``X-Llmpulse-Signature``: ``sha256=`` followed by the lowercase hex HMAC-SHA256,
  keyed with the shared secret (UTF-8), of the ASCII timestamp, a ``.``, and the
  raw body bytes exactly as received: ``HMAC(secret, f"{timestamp}.".encode() + body)``.

To verify, recompute the HMAC over the raw body, compare it in constant time, and
reject timestamps far from the current time (replays), as :func:`verify` does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson  # writes NaN and infinities as null: PagerDuty wants strict JSON
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential, wait_random

from llmpulse import __version__
from llmpulse.alerting.channels import (
    ChannelConfig,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
    resolve_credential,
)
from llmpulse.alerting.message import AlertMessage, Severity

log = logging.getLogger(__name__)

DELIVERY_HEADER = "X-Llmpulse-Delivery"
TIMESTAMP_HEADER = "X-Llmpulse-Timestamp"
SIGNATURE_HEADER = "X-Llmpulse-Signature"
USER_AGENT = f"llmpulse/{__version__}"
EVIDENCE_SHOWN = 5  # evidence lines in a Slack message
EVIDENCE_DETAILS = 20  # evidence entries in PagerDuty custom_details
RETRY_AFTER_MAX_S = 30.0  # a longer Retry-After falls back to the usual backoff

PD_SEVERITY: dict[Severity, str] = {
    "critical": "critical", "error": "error", "warning": "warning", "info": "info",
}
SLACK_ICON: dict[Severity, str] = {
    "critical": ":red_circle:", "error": ":large_orange_circle:",
    "warning": ":large_yellow_circle:", "info": ":large_blue_circle:",
}

Sleep = Callable[[float], Awaitable[None]]


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def _stamp(moment: datetime, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    zone = moment.tzname()
    return moment.strftime(fmt) + (f" {zone}" if zone else "")


def _window(alert: AlertMessage) -> str:
    start = alert.window_start.strftime("%Y-%m-%d %H:%M:%S")
    end = _stamp(alert.window_end, "%H:%M:%S")
    return f"{start}\N{EN DASH}{end} ({_duration(alert.window_s)})"


def _resolved(alert: AlertMessage) -> bool:
    return alert.kind == "resolve" or alert.state == "resolved"


def _headline(alert: AlertMessage) -> str:
    status = "RESOLVED" if _resolved(alert) else alert.severity.upper()
    if alert.kind == "test":
        status = f"TEST {status}"
    what = alert.summary or (
        f"{alert.metric} = {_num(alert.value)} ({alert.operator} {_num(alert.threshold)})")
    return f"[{status}] {alert.rule}: {what}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _esc(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: AlertMessage) -> dict[str, Any]:
    """A Block Kit message for an incoming webhook, with a plain ``text`` fallback."""
    if _resolved(alert):
        title = f":white_check_mark: RESOLVED: {alert.rule}"
    else:
        test = "TEST " if alert.kind == "test" else ""
        title = f"{SLACK_ICON[alert.severity]} {test}{alert.severity.upper()}: {alert.rule}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, 150),
                                    "emoji": True}},
    ]
    if alert.summary:
        blocks.append(_mrkdwn_section(_esc(alert.summary)))
    blocks.append({"type": "section", "fields": _slack_fields(alert)})
    if alert.evidence:
        blocks.append(_mrkdwn_section(_slack_evidence(alert)))
    if alert.runbook_url:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Runbook"},
            "url": alert.runbook_url, "action_id": "runbook"}]})
    context = (f"llmpulse · metric `{_esc(alert.metric)}` · since {_stamp(alert.since)}"
               f" · {alert.kind} · `{alert.dedup_key}`")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": _esc(_headline(alert)), "blocks": blocks}


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, 3000)}}


def _slack_fields(alert: AlertMessage) -> list[dict[str, str]]:
    pairs = [
        ("Value", _num(alert.value)),
        ("Threshold", f"{_esc(alert.operator)} {_num(alert.threshold)}"),
    ]
    if alert.baseline is not None:
        b = alert.baseline
        pairs.append(("Baseline", f"{_num(b.value)} ({b.method}, {b.windows} windows)"))
    pairs += [
        ("Window", _window(alert)),
        ("Group", _esc(", ".join(f"{k}={v}" for k, v in sorted(alert.group.items())))
         or "(all)"),
        ("Count", str(alert.count)),
    ]
    return [{"type": "mrkdwn", "text": _clip(f"*{name}*\n{text}", 2000)}
            for name, text in pairs]


def _slack_evidence(alert: AlertMessage) -> str:
    shown = alert.evidence[:EVIDENCE_SHOWN]
    lines = [f"*Evidence* ({len(shown)} of {len(alert.evidence)})"]
    for item in shown:
        value = "" if item.value is None else f" {_num(item.value)}"
        detail = f" — {_esc(item.detail)}" if item.detail else ""
        lines.append(f"• `{_esc(item.request_id)}`{value}{detail}")
    return "\n".join(lines)


def pagerduty_payload(alert: AlertMessage, routing_key: str) -> dict[str, Any]:
    """An Events API v2 event: trigger (trigger, renotify, test) or resolve."""
    if _resolved(alert):
        return {"routing_key": routing_key, "event_action": "resolve",
                "dedup_key": alert.dedup_key}
    payload: dict[str, Any] = {
        "summary": _clip(_headline(alert), 1024),
        "source": "llmpulse",
        "severity": PD_SEVERITY[alert.severity],
        "timestamp": alert.time.isoformat(),
        "class": alert.metric,
        "custom_details": _pd_details(alert),
    }
    pd_fields = {"component": "model", "group": "route"}
    payload.update({k: alert.group[g] for k, g in pd_fields.items() if g in alert.group})
    event: dict[str, Any] = {
        "routing_key": routing_key, "event_action": "trigger",
        "dedup_key": alert.dedup_key, "client": "llmpulse", "payload": payload,
    }
    if alert.runbook_url:
        event["links"] = [{"href": alert.runbook_url, "text": "Runbook"}]
    return event


def _pd_details(alert: AlertMessage) -> dict[str, Any]:
    return {
        "rule": alert.rule, "kind": alert.kind, "alert_id": alert.id,
        "value": alert.value, "operator": alert.operator, "threshold": alert.threshold,
        "baseline": alert.baseline.model_dump() if alert.baseline else None,
        "window": {"start": alert.window_start.isoformat(),
                   "end": alert.window_end.isoformat(), "seconds": alert.window_s},
        "since": alert.since.isoformat(), "group": dict(alert.group),
        "labels": dict(alert.labels), "count": alert.count,
        "evidence": [e.model_dump() for e in alert.evidence[:EVIDENCE_DETAILS]],
    }


def webhook_body(alert: AlertMessage) -> bytes:
    return alert.to_wire()


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The timestamp and signature headers for ``body`` (scheme in the module doc)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: f"sha256={mac.hexdigest()}"}


def verify(body: bytes, secret: str, headers: Mapping[str, str], now: float,
           tolerance_s: float = 300) -> bool:
    """True if ``headers`` sign ``body`` with ``secret`` at most ``tolerance_s`` from now."""
    found = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(found[TIMESTAMP_HEADER.lower()])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(body, secret, timestamp)[SIGNATURE_HEADER]
    given = found.get(SIGNATURE_HEADER.lower(), "")
    return hmac.compare_digest(expected.encode(), given.encode())


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    channel: str
    ok: bool
    attempts: int
    status: int | None
    error: str | None
    elapsed_s: float


class _BadStatus(Exception):
    """A non-2xx answer; raised (and retried) only for 429 and 5xx."""

    def __init__(self, status: int, retry_after: float | None, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}" if text else f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after

    @classmethod
    def of(cls, response: httpx.Response, retry_after: float | None) -> _BadStatus:
        text = _clip(" ".join(response.text.split()), 200)
        return cls(response.status_code, retry_after, text)


RETRY_ON = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError,
            httpx.ProxyError, _BadStatus)


class _Backoff(wait_base):
    """Exponential backoff with jitter, or the server's Retry-After when it is short."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self._exponential = (wait_exponential(multiplier=initial_s, max=max_s)
                             + wait_random(0, initial_s))

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _BadStatus) and exc.retry_after is not None \
                and exc.retry_after <= RETRY_AFTER_MAX_S:
            return exc.retry_after
        return self._exponential(retry_state)


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@dataclass(frozen=True, slots=True)
class RawDelivery:
    """A ready JSON body for a webhook channel (signed like an alert), e.g. a retraining
    trigger; ``id`` goes in the delivery header so the receiver can deduplicate."""

    id: str
    body: bytes


Payload = AlertMessage | RawDelivery


#: Told of each failed attempt that will be retried: (channel, attempt number, error,
#: seconds until the next attempt).
OnRetry = Callable[[str, int, str, float], None]


class Notifier:
    """Sends each alert to its channels, concurrently; never raises for a failed delivery.

    Secrets are resolved from ``env`` when the notifier is built, so a missing
    variable is a :class:`ConfigError` at startup rather than a lost page later.
    A client passed in is left open by :meth:`aclose`; one created here is closed.
    """

    def __init__(self, channels: Mapping[str, ChannelConfig], env: Mapping[str, str], *,
                 client: httpx.AsyncClient | None = None, sleep: Sleep = asyncio.sleep,
                 clock: Callable[[], float] = time.time, backoff_initial_s: float = 0.5,
                 backoff_max_s: float = 30.0, on_retry: OnRetry | None = None) -> None:
        self.channels = dict(channels)
        self._on_retry = on_retry
        self._secrets = {n: resolve_credential(n, ch, env) for n, ch in self.channels.items()}
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        self._sleep = sleep
        self._clock = clock
        self._backoff = (backoff_initial_s, backoff_max_s)

    async def deliver(self, alert: AlertMessage) -> list[DeliveryResult]:
        names = list(dict.fromkeys(alert.channels))
        return list(await asyncio.gather(*(self._deliver_one(n, alert) for n in names)))

    async def deliver_to(self, channel: str, alert: AlertMessage) -> DeliveryResult:
        """Deliver ``alert`` to one channel (with its retries); never raises for a failure."""
        return await self._deliver_one(channel, alert)

    async def forward(self, channels: Sequence[str], payload: RawDelivery
                      ) -> list[DeliveryResult]:
        """POST a ready body to webhook channels, signed and retried like an alert."""
        names = list(dict.fromkeys(channels))
        return list(await asyncio.gather(*(self._deliver_one(n, payload) for n in names)))

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _deliver_one(self, name: str, alert: Payload) -> DeliveryResult:
        channel = self.channels.get(name)
        if channel is None:
            log.warning("alert %s names unknown channel %r", alert.id, name)
            return DeliveryResult(name, False, 0, None, "unknown channel", 0.0)
        start = time.monotonic()
        attempts, status, error = await self._send(name, channel, alert)
        if error is not None:
            log.warning("alert %s to channel %r failed after %d attempt(s): %s",
                        alert.id, name, attempts, error)
        return DeliveryResult(name, error is None, attempts, status, error,
                              time.monotonic() - start)

    async def _send(self, name: str, channel: ChannelConfig, alert: Payload
                    ) -> tuple[int, int | None, str | None]:
        """(attempts, last HTTP status, error or None) after retrying as configured."""
        attempts = 0
        response: httpx.Response | None = None
        try:
            async for attempt in self._retrying(name, channel):
                with attempt:
                    attempts += 1
                    response = await self._attempt(name, channel, alert)
        except _BadStatus as exc:
            return attempts, exc.status, str(exc)
        except Exception as exc:  # a delivery failure must not take the notifier down
            return attempts, None, _describe(exc)
        assert response is not None
        if response.is_success:
            return attempts, response.status_code, None
        return attempts, response.status_code, str(_BadStatus.of(response, None))

    def _retrying(self, name: str, channel: ChannelConfig) -> AsyncRetrying:
        on_retry = self._on_retry

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None:
                exc = state.outcome.exception()
                wait = state.next_action.sleep if state.next_action is not None else 0.0
                on_retry(name, state.attempt_number,
                         _describe(exc) if exc is not None else "failed", wait)

        return AsyncRetrying(stop=stop_after_attempt(channel.retries + 1),
                             wait=_Backoff(*self._backoff), sleep=self._sleep,
                             retry=retry_if_exception_type(RETRY_ON), reraise=True,
                             before_sleep=before_sleep)

    async def _attempt(self, name: str, channel: ChannelConfig, alert: Payload
                       ) -> httpx.Response:
        url, body, headers = self._request(name, channel, alert)
        response = await self._client.post(url, content=body, headers=headers,
                                           timeout=channel.timeout_s)
        code = response.status_code
        if code == 429 or code >= 500:
            wait = retry_after_s(response.headers.get("Retry-After"), self._clock())
            raise _BadStatus.of(response, wait)
        return response

    def _request(self, name: str, channel: ChannelConfig, alert: Payload
                 ) -> tuple[str, bytes, httpx.Headers]:
        """URL, body and headers of one attempt (webhooks are signed per attempt)."""
        headers = httpx.Headers(channel.headers if isinstance(channel, WebhookChannel) else {})
        headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT,
                        DELIVERY_HEADER: alert.id})
        secret = self._secrets.get(name)
        if isinstance(alert, RawDelivery):
            if not isinstance(channel, WebhookChannel) or secret is None:
                raise ValueError(f"channel {name!r} is not a webhook")
            headers.update(sign(alert.body, secret, int(self._clock())))
            return channel.url, alert.body, headers
        if isinstance(channel, SlackChannel):
            return channel.url, orjson.dumps(slack_payload(alert)), headers
        assert secret is not None
        if isinstance(channel, PagerDutyChannel):
            return channel.url, orjson.dumps(pagerduty_payload(alert, secret)), headers
        body = webhook_body(alert)
        headers.update(sign(body, secret, int(self._clock())))
        return channel.url, body, headers
