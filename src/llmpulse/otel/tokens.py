"""Bearer tokens of ``llmpulse otlp``: ``TOKEN`` or ``TOKEN:TENANT`` (pinned to a tenant)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from llmpulse.config import Settings, read_secret_file
from llmpulse.errors import ConfigError


@dataclass(frozen=True)
class Caller:
    """An authenticated sender; ``tenant``: the tenant its spans are forced to (None: theirs)."""

    tenant: str | None


def parse_tokens(text: str, where: str) -> dict[str, str | None]:
    """Entries separated by commas or newlines (``#`` starts a comment)."""
    tokens: dict[str, str | None] = {}
    for line in text.splitlines():
        for entry in line.split("#", 1)[0].split(","):
            entry = entry.strip()
            if not entry:
                continue
            token, _, tenant = entry.partition(":")
            token, tenant = token.strip(), tenant.strip()
            if len(token) < 16:
                raise ConfigError(f"{where}: a token must be at least 16 characters")
            if tenant == "*" or (":" in entry and not tenant):
                raise ConfigError(f"{where}: '{token[:4]}...:' needs a tenant name after ':'")
            tokens[token] = tenant or None
    return tokens


def load_tokens(settings: Settings) -> dict[str, str | None]:
    """The tokens of LLMPULSE_OTLP_TOKENS and LLMPULSE_OTLP_TOKENS_FILE (empty: no auth)."""
    tokens: dict[str, str | None] = {}
    if settings.otlp_tokens is not None:
        tokens.update(parse_tokens(settings.otlp_tokens.get_secret_value(),
                                   "LLMPULSE_OTLP_TOKENS"))
    if settings.otlp_tokens_file is not None:
        text = read_secret_file(settings.otlp_tokens_file, "LLMPULSE_OTLP_TOKENS_FILE")
        tokens.update(parse_tokens(text, "LLMPULSE_OTLP_TOKENS_FILE"))
    return tokens


def authenticate(tokens: Mapping[str, str | None], authorization: str | None) -> Caller | None:
    """The caller a ``Authorization: Bearer ...`` header names (None: refused); anyone when
    no tokens are configured.  Compared in constant time."""
    if not tokens:
        return Caller(None)
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    given_bytes = given.strip().encode()
    found: Caller | None = None
    for token, tenant in tokens.items():
        if hmac.compare_digest(token.encode(), given_bytes):
            found = Caller(tenant)
    return found
