"""TLS of ``llmpulse otlp``: HTTPS with LLMPULSE_OTLP_TLS_*, client certificates (mutual
TLS) with LLMPULSE_OTLP_CLIENT_CA_FILE."""

from __future__ import annotations

import ssl

from llmpulse.config import Settings
from llmpulse.errors import ConfigError


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The receiver's TLS context (None: plain HTTP).

    With a client CA the context *asks* for a certificate (``CERT_OPTIONAL``): one the CA
    did not sign fails the handshake, and a request that brought none is answered 401 by
    the handler (see :func:`has_client_certificate`), which says what is missing.
    """
    cert, key = settings.otlp_tls_cert_file, settings.otlp_tls_key_file
    if cert is None or key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"LLMPULSE_OTLP_TLS_CERT_FILE/LLMPULSE_OTLP_TLS_KEY_FILE ({cert}, "
                          f"{key}): cannot be loaded: {exc}") from None
    ca = settings.otlp_client_ca_file
    if ca is not None:
        try:
            context.load_verify_locations(cafile=str(ca))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"LLMPULSE_OTLP_CLIENT_CA_FILE ({ca}): cannot be loaded: "
                              f"{exc}") from None
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def has_client_certificate(peercert: object) -> bool:
    """Whether the connection's ``peercert`` extra info holds a verified certificate."""
    return isinstance(peercert, dict) and bool(peercert)
