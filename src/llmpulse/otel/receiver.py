"""``llmpulse otlp``: OTLP/HTTP ``POST /v1/traces`` (protobuf or JSON, gzip or not),
published to LLMPULSE_OTLP_TOPIC; 200 once the broker has the batch.

The worker's translator agent (:mod:`llmpulse.streams.otlp`) does the mapping, so spans
sent here and spans the Collector writes to Kafka take the same path.  Batches without
any GenAI span are answered 200 and not published.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from llmpulse.errors import BrokerError
from llmpulse.otel.decode import Encoding, OtlpDecodeError, decode, encode_response
from llmpulse.otel.mapping import is_genai
from llmpulse.otel.tls import has_client_certificate
from llmpulse.otel.tokens import authenticate
from llmpulse.otel.translate import spans

log = logging.getLogger(__name__)
PATH = "/v1/traces"
CONTENT_TYPES: dict[str, Encoding] = {"application/x-protobuf": "proto",
                                      "application/protobuf": "proto",
                                      "application/json": "json"}
#: Seconds a client is asked to wait before retrying while the broker is unavailable.
RETRY_AFTER_S = 5
#: publish(body, tenant): resolves once the broker has the batch; raises BrokerError.
Publish = Callable[[bytes, str | None], Awaitable[None]]


class Receiver:
    """The request handler, around a ``publish`` function (Kafka in the command)."""

    def __init__(self, publish: Publish, tokens: Mapping[str, str | None],
                 max_bytes: int, *, client_certificates: bool = False) -> None:
        self._publish = publish
        self._tokens = tokens
        self._max_bytes = max_bytes
        self._client_certificates = client_certificates

    def app(self) -> web.Application:
        # bodies are read raw and gzip is undone here, within the size bound
        app = web.Application(client_max_size=self._max_bytes + 1,
                              handler_args={"auto_decompress": False})
        app.router.add_post(PATH, self.traces)
        return app

    async def traces(self, request: web.Request) -> web.StreamResponse:
        if self._client_certificates and not has_client_certificate(
                request.transport.get_extra_info("peercert") if request.transport else None):
            return _error(401, "a client certificate signed by LLMPULSE_OTLP_CLIENT_CA_FILE "
                          "is required (mutual TLS)")
        caller = authenticate(self._tokens, request.headers.get("Authorization"))
        if caller is None:
            return _error(401, "a valid bearer token is required (Authorization: Bearer ...)",
                          headers={"WWW-Authenticate": 'Bearer realm="llmpulse otlp"'})
        encoding = CONTENT_TYPES.get(request.content_type)
        if encoding is None:
            return _error(415, f"Content-Type {request.content_type!r} is not supported: "
                          "send application/x-protobuf or application/json")
        if (request.content_length or 0) > self._max_bytes:
            return _too_large(self._max_bytes)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(self._max_bytes)
        body_or_error = self._plain(body, request.headers.get("Content-Encoding", ""))
        if isinstance(body_or_error, web.Response):
            return body_or_error
        body = body_or_error
        try:
            batch = decode(body, encoding)
        except OtlpDecodeError as exc:
            return _error(400, str(exc))
        if any(is_genai(span.attributes) for span in spans(batch)):
            try:
                await self._publish(body, caller.tenant)
            except BrokerError as exc:
                if "too large" in str(exc).lower() or "SIZE_TOO_LARGE" in str(exc):
                    return _error(413, f"the broker refused the batch as too large: {exc}")
                log.warning("cannot publish an OTLP batch: %s", exc)
                return _error(503, f"the broker is unavailable: {exc}",
                              headers={"Retry-After": str(RETRY_AFTER_S)})
        return web.Response(body=encode_response(encoding),
                            content_type="application/json" if encoding == "json"
                            else "application/x-protobuf")

    def _plain(self, body: bytes, content_encoding: str) -> bytes | web.Response:
        """The body with gzip undone (within the size bound), or the error response."""
        coding = content_encoding.strip().lower()
        if coding in ("", "identity"):
            return body
        if coding not in ("gzip", "x-gzip"):
            return _error(415, f"Content-Encoding {coding!r} is not supported (gzip is)")
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            plain = inflater.decompress(body, self._max_bytes + 1)
        except zlib.error as exc:
            return _error(400, f"the body is not valid gzip: {exc}")
        if len(plain) > self._max_bytes or inflater.unconsumed_tail:
            return _too_large(self._max_bytes)
        return plain


def _too_large(limit: int) -> web.Response:
    return _error(413, f"the request body is larger than LLMPULSE_OTLP_MAX_BYTES ({limit} "
                  "bytes, after gzip): export smaller batches")


def _error(status: int, message: str, headers: Mapping[str, str] | None = None
           ) -> web.Response:
    return web.Response(status=status, text=message + "\n", headers=headers)


__all__ = ["PATH", "Receiver"]
