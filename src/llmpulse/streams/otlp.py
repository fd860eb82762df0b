"""The worker's translator agent: OTLP trace batches (LLMPULSE_OTLP_TOPIC) in, inference
events (``llm.inference``, keyed by request_id) and dead letters out.

A message is acknowledged once everything it became is on the broker, so a crash
redelivers it; its events have deterministic request ids, which the worker's
deduplication drops the second time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from llmpulse.config import Settings
from llmpulse.errors import LlmpulseError
from llmpulse.metrics import Metrics
from llmpulse.otel.translate import TENANT_HEADER, Translation, translate
from llmpulse.pipeline import DeadLetter
from llmpulse.sinks.kafka import BurstProducer, OutMessage

log = logging.getLogger(__name__)
#: Translated inline below this size; larger batches on a thread (keeps the loop free).
INLINE_BYTES = 64 * 1024


def header(headers: Any, name: str) -> str | None:
    """A header of a Faust message (a list of pairs or a mapping) as text."""
    pairs: Iterable[tuple[str, Any]] = (headers.items() if isinstance(headers, dict)
                                        else headers or ())
    for key, value in pairs:
        if key == name and value:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            return text.strip() or None
    return None


def out_messages(settings: Settings, message: Any, done: Translation,
                 letter: Callable[[DeadLetter], OutMessage]) -> list[OutMessage]:
    """The events and dead letters ``message`` (from the OTLP topic) became."""
    inference = settings.topic("inference")
    out = [OutMessage(inference, rid.encode(), value) for rid, value in done.events]
    where = (message.topic, message.partition, message.offset)
    if done.undecodable is not None:
        out.append(letter(DeadLetter(*where, key=message.key, value=message.value,
                                     reason="otlp_undecodable", detail=done.undecodable)))
    for rejected in done.rejected:
        key = f"otel-{rejected.span['trace_id']}-{rejected.span['span_id']}".encode()
        out.append(letter(DeadLetter(*where, key=key, value=rejected.value(),
                                     reason=rejected.reason, detail=rejected.detail)))
    return out


def translator(settings: Settings, producer: BurstProducer, metrics: Metrics,
               letter: Callable[[DeadLetter], OutMessage],
               fatal: Callable[[LlmpulseError], Awaitable[None]]
               ) -> Callable[[Any], Awaitable[None]]:
    """The agent body reading LLMPULSE_OTLP_TOPIC; ``fatal`` stops the worker (a delivery
    the broker refuses: the message stays unacknowledged for the next start)."""

    async def translate_otlp(stream: Any) -> None:
        try:
            await _translate_all(stream, settings, producer, metrics, letter)
        except LlmpulseError as exc:
            log.error("%s", exc)
            await fatal(exc)

    return translate_otlp


async def _translate_all(stream: Any, settings: Settings, producer: BurstProducer,
                         metrics: Metrics, letter: Callable[[DeadLetter], OutMessage]) -> None:
    topic = settings.otlp_topic
    manual = stream.noack()
    async for event in manual.events():
        message = event.message
        body = message.value or b""
        tenant = header(message.headers, TENANT_HEADER)
        if len(body) > INLINE_BYTES:
            done = await asyncio.to_thread(translate, body, tenant)
        else:
            done = translate(body, tenant)
        await producer.send_all(out_messages(settings, message, done, letter))
        metrics.events_in.labels(topic).inc()
        metrics.otlp_spans.labels("mapped").inc(len(done.events))
        metrics.otlp_spans.labels("ignored").inc(done.ignored)
        metrics.otlp_spans.labels("rejected").inc(len(done.rejected))
        for rejected in done.rejected:
            metrics.dlq.labels(topic, rejected.reason).inc()
        if done.undecodable is not None:
            metrics.dlq.labels(topic, "otlp_undecodable").inc()
            log.warning("%s[%d]@%d is not an OTLP trace batch: %s", message.topic,
                        message.partition, message.offset, done.undecodable)
        await manual.ack(event)
