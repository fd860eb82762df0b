"""``llmpulse otlp``'s handler: status codes, gzip, size bound, tokens, tenant pinning."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from llmpulse.config import load_settings
from llmpulse.errors import BrokerError, ConfigError
from llmpulse.otel.receiver import PATH, Receiver
from llmpulse.otel.tokens import authenticate, load_tokens, parse_tokens
from tests.unit.test_otel_mapping import batch, chat_attributes, otlp_json, request

TOKEN = "a-token-of-sixteen+"
PROTO = {"Content-Type": "application/x-protobuf"}


class Published:
    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[tuple[bytes, str | None]] = []
        self.fail = fail

    async def __call__(self, body: bytes, tenant: str | None) -> None:
        if self.fail:
            raise BrokerError(self.fail)
        self.calls.append((body, tenant))


def run(receiver: Receiver, check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with TestClient(TestServer(receiver.app())) as client:
            await check(client)

    asyncio.run(main())


def test_protobuf_json_and_gzip_are_published_once_acknowledged() -> None:
    published = Published()
    body = batch().SerializeToString()

    async def check(client: TestClient[Any, Any]) -> None:
        answer = await client.post(PATH, data=body, headers=PROTO)
        assert answer.status == 200 and await answer.read() == b""
        assert answer.content_type == "application/x-protobuf"
        answer = await client.post(PATH, data=otlp_json(batch()),
                                   headers={"Content-Type": "application/json"})
        assert answer.status == 200 and await answer.read() == b"{}"
        answer = await client.post(PATH, data=gzip.compress(body),
                                   headers={**PROTO, "Content-Encoding": "gzip"})
        assert answer.status == 200, await answer.text()

    run(Receiver(published, {}, 1 << 20), check)
    assert [b for b, _ in published.calls] == [body, otlp_json(batch()), body]
    assert {t for _, t in published.calls} == {None}


def test_batches_without_genai_spans_are_not_published() -> None:
    published = Published()
    plain = request([{"attributes": {"http.method": "GET"}}]).SerializeToString()

    async def check(client: TestClient[Any, Any]) -> None:
        assert (await client.post(PATH, data=plain, headers=PROTO)).status == 200

    run(Receiver(published, {}, 1 << 20), check)
    assert published.calls == []


def test_bad_requests_get_clear_statuses() -> None:
    published = Published()
    big = request([{"attributes": chat_attributes(**{"gen_ai.input.messages": "[]" + " " * 5000})}])

    async def check(client: TestClient[Any, Any]) -> None:
        answer = await client.post(PATH, data=b"x", headers={"Content-Type": "text/plain"})
        assert answer.status == 415 and "application/x-protobuf" in await answer.text()
        answer = await client.post(PATH, data=b"\xff\xff\xff", headers=PROTO)
        assert answer.status == 400 and "protobuf" in await answer.text()
        answer = await client.post(PATH, data=b"[1]",
                                   headers={"Content-Type": "application/json"})
        assert answer.status == 400
        answer = await client.post(PATH, data=big.SerializeToString(), headers=PROTO)
        assert answer.status == 413 and "LLMPULSE_OTLP_MAX_BYTES" in await answer.text()
        bomb = gzip.compress(b"\0" * 100_000)
        answer = await client.post(PATH, data=bomb,
                                   headers={**PROTO, "Content-Encoding": "gzip"})
        assert answer.status == 413
        answer = await client.post(PATH, data=b"x", headers={**PROTO, "Content-Encoding": "br"})
        assert answer.status == 415
        assert (await client.get(PATH)).status == 405

    run(Receiver(published, {}, 4096), check)
    assert published.calls == []


def test_broker_unavailable_is_503_with_retry_after() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        answer = await client.post(PATH, data=batch().SerializeToString(), headers=PROTO)
        assert answer.status == 503 and answer.headers["Retry-After"] == "5"

    run(Receiver(Published(fail="1 of 1 messages not delivered: timed out"), {}, 1 << 20),
        check)


def test_tokens_and_pinned_tenants() -> None:
    published = Published()
    tokens = parse_tokens(f"{TOKEN}, {TOKEN}2:team-blue", "test")
    body = batch().SerializeToString()

    async def check(client: TestClient[Any, Any]) -> None:
        answer = await client.post(PATH, data=body, headers=PROTO)
        assert answer.status == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = await client.post(PATH, data=body,
                                  headers={**PROTO, "Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status == 401
        for token in (TOKEN, f"{TOKEN}2"):
            answer = await client.post(PATH, data=body,
                                       headers={**PROTO, "Authorization": f"Bearer {token}"})
            assert answer.status == 200

    run(Receiver(published, tokens, 1 << 20), check)
    assert [t for _, t in published.calls] == [None, "team-blue"]


def test_token_parsing(tmp_path: Any) -> None:
    assert parse_tokens(f"# comment\n{TOKEN}:acme\n\n{TOKEN}b  # trailing\n", "f") == {
        TOKEN: "acme", f"{TOKEN}b": None}
    with pytest.raises(ConfigError, match="16 characters"):
        parse_tokens("short", "LLMPULSE_OTLP_TOKENS")
    with pytest.raises(ConfigError, match="tenant"):
        parse_tokens(f"{TOKEN}:", "LLMPULSE_OTLP_TOKENS")
    assert authenticate({}, None) is not None
    assert authenticate({TOKEN: None}, f"Basic {TOKEN}") is None
    path = tmp_path / "tokens"
    path.write_text(f"{TOKEN}:acme\n")
    settings = load_settings({"LLMPULSE_OTLP_TOKENS_FILE": str(path),
                              "LLMPULSE_OTLP_TOKENS": f"{TOKEN}c"})
    assert load_tokens(settings) == {TOKEN: "acme", f"{TOKEN}c": None}
    assert "a-token" not in repr(settings)
    with pytest.raises(ConfigError, match="cannot read"):
        load_tokens(load_settings({"LLMPULSE_OTLP_TOKENS_FILE": str(tmp_path / "none")}))
