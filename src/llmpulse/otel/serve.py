"""Running ``llmpulse otlp``: the receiver on LLMPULSE_OTLP_HOST:PORT, publishing to
LLMPULSE_OTLP_TOPIC through an idempotent producer that waits for the broker's ack."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import Callable

from aiohttp import web

from llmpulse.config import Settings
from llmpulse.errors import ConfigError
from llmpulse.kafka_security import librdkafka_security
from llmpulse.otel.receiver import PATH, Receiver
from llmpulse.otel.tls import server_context
from llmpulse.otel.tokens import load_tokens
from llmpulse.otel.translate import TENANT_HEADER
from llmpulse.preflight import require
from llmpulse.sinks.kafka import BurstProducer, OutMessage
from llmpulse.topics import ensure_llmpulse_topics

log = logging.getLogger(__name__)
#: Seconds a request waits for the broker's acknowledgement before answering 503.
PUBLISH_TIMEOUT_S = 10.0


def check(settings: Settings) -> None:
    if not settings.otlp_topic:
        raise ConfigError("LLMPULSE_OTLP_TOPIC: not set; `llmpulse otlp` publishes there and "
                          "the worker reads it (set the same value for both, e.g. otlp_spans)")


def run_receiver(settings: Settings, announce: Callable[[str], None]) -> int:
    """Serve until SIGINT or SIGTERM; ``announce`` gets the address once listening."""
    check(settings)
    require(settings, "otlp")
    tokens = load_tokens(settings)
    tls = server_context(settings)
    broker = ensure_llmpulse_topics(settings)
    producer = BurstProducer(broker, max_message_bytes=settings.otlp_max_bytes + 65536,
                             timeout=PUBLISH_TIMEOUT_S, security=librdkafka_security(settings))
    topic = settings.otlp_topic

    async def publish(body: bytes, tenant: str | None) -> None:
        headers = ((TENANT_HEADER, tenant.encode()),) if tenant else ()
        await producer.send_all([OutMessage(topic, None, body, headers=headers)])

    mutual = settings.otlp_client_ca_file is not None
    receiver = Receiver(publish, tokens, settings.otlp_max_bytes, client_certificates=mutual)
    auth = [what for what, on in (("bearer tokens", bool(tokens)),
                                  ("client certificates", mutual)) if on]
    try:
        asyncio.run(_serve(receiver.app(), settings, announce, tls,
                           " and ".join(auth) + " required" if auth else "no token required"))
    finally:
        producer.close(PUBLISH_TIMEOUT_S)
    return 0


async def _serve(app: web.Application, settings: Settings, announce: Callable[[str], None],
                 tls: ssl.SSLContext | None, auth: str) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.otlp_host, settings.otlp_port, ssl_context=tls)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    addresses = runner.addresses
    host, port = addresses[0][:2] if addresses else (settings.otlp_host, settings.otlp_port)
    scheme = "https" if tls is not None else "http"
    announce(f"llmpulse otlp: listening on {scheme}://{host}:{port}{PATH}, publishing to "
             f"{settings.otlp_topic} on {settings.broker}; {auth}")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
