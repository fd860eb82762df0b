"""OAUTHBEARER access tokens for the Faust (aiokafka) clients: the OAuth 2.0 client
credentials grant against an OIDC token endpoint (``LLMPULSE_KAFKA_OAUTH_*``).

The confluent-kafka clients fetch their own tokens (librdkafka's ``oidc`` method, see
:mod:`llmpulse.kafka_security`); this module serves aiokafka, which asks a token
provider for a token at each login, and the start-up check that fails at once, naming
the setting, when the identity provider refuses the client.

A token is kept until most of its lifetime has passed, then fetched again; every
process fetches its own.  Neither the client secret nor a token is ever logged.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from aiokafka.abc import AbstractTokenProvider

from llmpulse import __version__
from llmpulse.errors import BrokerError, ConfigError

if TYPE_CHECKING:
    from llmpulse.config import Settings

log = logging.getLogger(__name__)

#: Seconds a token is assumed to live when the answer says nothing (no ``expires_in``,
#: no readable ``exp`` claim).
DEFAULT_LIFETIME_S = 300.0
#: A token is fetched again once this share of its lifetime has passed...
REFRESH_AT = 0.8
#: ...or when fewer than this many seconds are left, whichever comes first.
REFRESH_MARGIN_S = 30.0
_CREDENTIALS = "LLMPULSE_KAFKA_OAUTH_CLIENT_ID / LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET"


class TokenRefused(ConfigError):
    """The token endpoint refused the request: wrong client credentials, scope or URL
    (fetching again would not help)."""


class TokenUnavailable(BrokerError):
    """The token endpoint could not be reached or gave no usable answer."""


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """Where and as whom tokens are asked for."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    ca_file: Path | None = None
    timeout_s: float = 10.0
    attempts: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> OAuthClient:
        """The client of ``settings`` (which must select OAUTHBEARER); the secret file is
        read now."""
        from llmpulse.kafka_security import oauth_client_secret

        if settings.kafka_oauth_token_url is None or settings.kafka_oauth_client_id is None:
            raise ConfigError("LLMPULSE_KAFKA_OAUTH_TOKEN_URL and LLMPULSE_KAFKA_OAUTH_CLIENT_ID "
                              "are needed with LLMPULSE_KAFKA_SASL_MECHANISM=OAUTHBEARER")
        secret = oauth_client_secret(settings)
        if not secret:
            raise ConfigError("LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE: the file is empty")
        return cls(settings.kafka_oauth_token_url, settings.kafka_oauth_client_id, secret,
                   settings.kafka_oauth_scope or None, settings.kafka_oauth_ca_file)


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # time.time() seconds
    lifetime_s: float

    def refresh_due(self, now: float) -> bool:
        margin = min(REFRESH_MARGIN_S, self.lifetime_s * (1 - REFRESH_AT))
        return now >= self.expires_at - margin


def fetch_token(client: OAuthClient, clock: Callable[[], float] = time.time) -> AccessToken:
    """One access token from the token endpoint, retried (with backoff) while the
    endpoint cannot be reached or answers 5xx/429; :class:`TokenRefused` at once when it
    refuses the client."""
    form = {"grant_type": "client_credentials"}
    if client.scope:
        form["scope"] = client.scope
    # client_secret_basic (RFC 6749 2.3.1): id and secret form-encoded, then Basic
    pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
    headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii"),
               "Accept": "application/json", "User-Agent": f"llmpulse/{__version__}"}
    last = "no answer"
    with httpx.Client(verify=token_endpoint_verify(client), timeout=client.timeout_s) as http:
        for attempt in range(client.attempts):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
            try:
                answer = http.post(client.token_url, data=form, headers=headers)
            except httpx.HTTPError as exc:
                last = _describe_transport(exc)
                if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY" in last.upper():
                    # a certificate the CAs do not sign is not going to change
                    where = client.ca_file or "the system's CAs"
                    raise ConfigError(
                        f"LLMPULSE_KAFKA_OAUTH_TOKEN_URL / LLMPULSE_KAFKA_OAUTH_CA_FILE: the "
                        f"certificate of {client.token_url} does not check against {where}: "
                        f"{last}") from None
                continue
            if answer.status_code == 429 or answer.status_code >= 500:
                last = f"HTTP {answer.status_code}"
                continue
            if answer.status_code != 200:
                raise TokenRefused(_refusal(client, answer))
            return _parse(client, answer, clock())
    raise TokenUnavailable(f"LLMPULSE_KAFKA_OAUTH_TOKEN_URL: no access token from "
                           f"{client.token_url} after {client.attempts} attempts: {last}")


class TokenSource:
    """The current token of one client, fetched again when due (thread-safe)."""

    def __init__(self, client: OAuthClient, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self.fetches = 0

    def token(self) -> AccessToken:
        with self._lock:
            now = self._clock()
            if self._token is None or self._token.refresh_due(now):
                self._token = fetch_token(self.client, self._clock)
                self.fetches += 1
                log.debug("OAUTHBEARER token for client %s from %s, valid %.0f s",
                          self.client.client_id, self.client.token_url,
                          self._token.lifetime_s)
            return self._token


class AiokafkaTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """aiokafka's token provider (for Faust's ``OAuthCredentials``): the token of a
    :class:`TokenSource`, fetched off the event loop."""

    def __init__(self, source: TokenSource, extensions: dict[str, str] | None = None) -> None:
        self.source = source
        self._extensions = dict(extensions or {})

    async def token(self) -> str:
        found = await asyncio.to_thread(self.source.token)
        return found.value

    def extensions(self) -> dict[str, str]:
        """SASL extensions sent with the token (LLMPULSE_KAFKA_OAUTH_EXTENSIONS)."""
        return dict(self._extensions)


def first_token(source: TokenSource, wait_s: float,
                sleep: Callable[[float], None] = time.sleep) -> AccessToken:
    """A process's first token: while the endpoint cannot be reached (TokenUnavailable)
    it is asked again for up to ``wait_s`` seconds, as the broker is waited for; a
    refusal or a wrong certificate is raised at once."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return source.token()
        except TokenUnavailable as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("%s; asking again", exc)
            sleep(1.0)


@functools.lru_cache(maxsize=8)
def shared_source(client: OAuthClient) -> TokenSource:
    """One token source per client in a process: the start-up check's token is the one
    the worker's consumers then log in with."""
    return TokenSource(client)


def token_endpoint_verify(client: OAuthClient) -> ssl.SSLContext:
    """The token endpoint is checked against the CA file, else the system's CAs (as
    librdkafka's fetch is: see :func:`llmpulse.kafka_security.system_ca_location`)."""
    from llmpulse.kafka_security import system_ca_location

    try:
        return ssl.create_default_context(cafile=str(client.ca_file or system_ca_location()))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"LLMPULSE_KAFKA_OAUTH_CA_FILE: cannot load {client.ca_file}: "
                          f"{exc}") from None


def _describe_transport(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({text})"
    return text


def _refusal(client: OAuthClient, answer: httpx.Response) -> str:
    """The refusal, naming the setting to look at."""
    error, description = "", ""
    try:
        body = answer.json()
        if isinstance(body, dict):
            error = str(body.get("error") or "")
            description = str(body.get("error_description") or "")
    except ValueError:
        pass
    said = ": ".join(part for part in (error, description) if part) or answer.text[:200].strip()
    reason = f"HTTP {answer.status_code}" + (f" {said}" if said else "")
    if error in ("invalid_client", "unauthorized_client") or answer.status_code == 401:
        return (f"{_CREDENTIALS}: the token endpoint {client.token_url} refused client "
                f"{client.client_id!r} ({reason})")
    if error == "invalid_scope":
        return (f"LLMPULSE_KAFKA_OAUTH_SCOPE: the token endpoint {client.token_url} refused "
                f"scope {client.scope!r} ({reason})")
    return (f"LLMPULSE_KAFKA_OAUTH_TOKEN_URL: {client.token_url} gave no token to client "
            f"{client.client_id!r} ({reason})")


def _parse(client: OAuthClient, answer: httpx.Response, now: float) -> AccessToken:
    where = f"LLMPULSE_KAFKA_OAUTH_TOKEN_URL: {client.token_url}"
    try:
        body = answer.json()
    except ValueError:
        raise TokenUnavailable(f"{where} answered 200 without JSON") from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenUnavailable(f"{where} answered without an access_token")
    kind = str(body.get("token_type") or "bearer")
    if kind.lower() != "bearer":
        raise TokenUnavailable(f"{where} gave a {kind!r} token; OAUTHBEARER needs a bearer "
                               "token")
    lifetime = _lifetime(body.get("expires_in"), token, now)
    return AccessToken(token, now + lifetime, lifetime)


def _lifetime(expires_in: Any, token: str, now: float) -> float:
    """Seconds the token lives: ``expires_in``, else the JWT's ``exp``, else a default."""
    try:
        if expires_in is not None and float(expires_in) > 0:
            return float(expires_in)
    except (TypeError, ValueError):
        pass
    exp = _jwt_claims(token).get("exp")
    if isinstance(exp, (int, float)) and exp > now:
        return float(exp) - now
    return DEFAULT_LIFETIME_S


def _jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unchecked (only to learn its expiry); {} if it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}
