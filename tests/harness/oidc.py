"""A loopback OpenID Connect provider for the OAUTHBEARER tests: the client credentials
grant at ``/token`` (RS256-signed JWT access tokens) and the signing key at ``/jwks``,
which Apache Kafka's ``OAuthBearerValidatorCallbackHandler`` checks tokens against.

Clients authenticate with HTTP Basic (client_secret_basic) or with ``client_id`` and
``client_secret`` in the form (client_secret_post); a wrong secret is answered 401
``invalid_client``, as identity providers do.  With ``tls`` the same endpoints are also
served over HTTPS (the certificate of a test CA) on ``https_url``.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.harness.certs import Issued

AUDIENCE = "kafka"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class OidcProvider:
    """Issues tokens to the ``clients`` (id -> secret) for ``lifetime_s`` seconds."""

    def __init__(self, clients: dict[str, str], lifetime_s: int = 3600,
                 tls: Issued | None = None, audience: str = AUDIENCE) -> None:
        self.clients = dict(clients)
        self.lifetime_s = lifetime_s
        self.audience = audience
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:12]
        self.issued: Counter[str] = Counter()  # tokens given, by client id
        self.refused: Counter[str] = Counter()  # requests refused, by client id
        #: tokens given, by the asking client library (User-Agent up to its "/")
        self.issued_to: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._tls = tls
        self.url = ""
        self.https_url = ""

    # ------------------------------------------------------------------ endpoints
    @property
    def issuer(self) -> str:
        return self.url

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def https_token_url(self) -> str:
        return f"{self.https_url}/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    def start(self, port: int = 0) -> OidcProvider:
        self.url = self._serve(None, port)
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self._tls.cert), str(self._tls.key))
            self.https_url = self._serve(context).replace("http://", "https://")
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ tokens
    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                          "n": _uint(numbers.n), "e": _uint(numbers.e)}]}

    def token_for(self, client_id: str, scope: str | None = None) -> str:
        """A signed access token for ``client_id`` (its ``sub``)."""
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        claims: dict[str, Any] = {"iss": self.issuer, "sub": client_id, "aud": self.audience,
                                  "azp": client_id, "iat": now, "nbf": now,
                                  "exp": now + self.lifetime_s, "jti": uuid.uuid4().hex}
        if scope:
            claims["scope"] = scope
        signing_input = (b64url(json.dumps(header).encode()) + "."
                         + b64url(json.dumps(claims).encode()))
        signature = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(),
                                  hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def _grant(self, form: dict[str, str], authorization: str | None, agent: str = ""
               ) -> tuple[int, dict[str, Any]]:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                pair = base64.b64decode(authorization[6:]).decode()
            except ValueError:
                return 400, {"error": "invalid_request"}
            user, _, password = pair.partition(":")
            client_id, secret = unquote(user), unquote(password)
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            if client_id is None or self.clients.get(client_id) != secret:
                self.refused[str(client_id)] += 1
                return 401, {"error": "invalid_client",
                             "error_description": "Invalid client credentials"}
            self.issued[client_id] += 1
            self.issued_to[agent.partition("/")[0]] += 1
        scope = form.get("scope")
        answer: dict[str, Any] = {"access_token": self.token_for(client_id, scope),
                                  "token_type": "Bearer", "expires_in": self.lifetime_s}
        if scope:
            answer["scope"] = scope
        return 200, answer

    # ------------------------------------------------------------------ HTTP
    def _serve(self, context: ssl.SSLContext | None, port: int = 0) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        server.daemon_threads = True
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, name="oidc-provider",
                                  daemon=True)
        thread.start()
        self._servers.append(server)
        self._threads.append(thread)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/jwks":
                    self._answer(200, provider.jwks())
                elif self.path == "/.well-known/openid-configuration":
                    self._answer(200, {"issuer": provider.issuer,
                                       "token_endpoint": provider.token_url,
                                       "jwks_uri": provider.jwks_url,
                                       "grant_types_supported": ["client_credentials"]})
                else:
                    self._answer(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if self.path != "/token":
                    self._answer(404, {"error": "not_found"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                form = {k: v[0] for k, v in parse_qs(body).items()}
                status, answer = provider._grant(form, self.headers.get("Authorization"),
                                                 self.headers.get("User-Agent") or "")
                self._answer(status, answer)

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="token"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
