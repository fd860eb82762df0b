"""How llmpulse's Kafka clients authenticate and encrypt: one place turns the
``LLMPULSE_KAFKA_*`` settings into librdkafka properties (producers, admin and
consumers of confluent-kafka: the SDK, the outputs, the CLI) and into Faust
credentials (the worker's and the scorer's consumers and table producers).  With
OAUTHBEARER, librdkafka fetches its access tokens itself and the Faust clients get
theirs from :mod:`llmpulse.kafka_oauth`.

Secrets come only from the environment or from files (the password and client secret
files are read here, when a client is made, so a rotated Kubernetes Secret is picked up
at the next start); nothing here logs them.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from llmpulse.config import Settings, parse_extensions, read_secret_file
from llmpulse.errors import ConfigError


def sasl_password(settings: Settings) -> str | None:
    """The SASL password, from the setting or from the file it names."""
    if settings.kafka_sasl_password is not None:
        return settings.kafka_sasl_password.get_secret_value()
    path = settings.kafka_sasl_password_file
    if path is None:
        return None
    return read_secret_file(path, "LLMPULSE_KAFKA_SASL_PASSWORD_FILE").strip()


def oauth_client_secret(settings: Settings) -> str | None:
    """The OAuth client secret, from the setting or from the file it names."""
    if settings.kafka_oauth_client_secret is not None:
        return settings.kafka_oauth_client_secret.get_secret_value()
    path = settings.kafka_oauth_client_secret_file
    if path is None:
        return None
    return read_secret_file(path, "LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE").strip()


def uses_oauth(settings: Settings) -> bool:
    """Whether the clients log in with OAUTHBEARER access tokens."""
    return (settings.kafka_security_protocol.startswith("SASL_")
            and settings.kafka_sasl_mechanism == "OAUTHBEARER")


def librdkafka_security(settings: Settings) -> dict[str, Any]:
    """librdkafka properties for ``settings`` (empty for PLAINTEXT), to layer over a
    client's own configuration."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    config: dict[str, Any] = {"security.protocol": protocol.lower()}
    if protocol.endswith("SSL"):
        if settings.kafka_ssl_ca_file is not None:
            config["ssl.ca.location"] = str(settings.kafka_ssl_ca_file)
        if settings.kafka_ssl_cert_file is not None:
            config["ssl.certificate.location"] = str(settings.kafka_ssl_cert_file)
        if settings.kafka_ssl_key_file is not None:
            config["ssl.key.location"] = str(settings.kafka_ssl_key_file)
        if settings.kafka_ssl_key_password is not None:
            config["ssl.key.password"] = settings.kafka_ssl_key_password.get_secret_value()
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if settings.kafka_ssl_check_hostname else "none")
    if uses_oauth(settings):
        config.update(_librdkafka_oidc(settings))
    elif protocol.startswith("SASL_"):
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username
        config["sasl.password"] = sasl_password(settings)
    return config


def _librdkafka_oidc(settings: Settings) -> dict[str, Any]:
    """librdkafka fetches (and refreshes) its tokens itself: the ``oidc`` method, the
    client credentials grant.  Its HTTPS client has its own CA setting
    (``https.ca.location``), separate from the brokers' ``ssl.ca.location``."""
    config: dict[str, Any] = {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": settings.kafka_oauth_token_url,
        "sasl.oauthbearer.client.id": settings.kafka_oauth_client_id,
        "sasl.oauthbearer.client.secret": oauth_client_secret(settings),
    }
    if settings.kafka_oauth_scope:
        config["sasl.oauthbearer.scope"] = settings.kafka_oauth_scope
    if settings.kafka_oauth_extensions:
        config["sasl.oauthbearer.extensions"] = ",".join(
            f"{k}={v}" for k, v in parse_extensions(settings.kafka_oauth_extensions).items())
    config["https.ca.location"] = str(settings.kafka_oauth_ca_file or system_ca_location())
    return config


def system_ca_location() -> str:
    """The system's CA bundle file as Python's OpenSSL finds it, else certifi's.

    librdkafka's token fetch must be told: the libcurl of the confluent-kafka wheels
    looks for a Red Hat path (/etc/pki/tls/certs/ca-bundle.crt), absent on Debian and
    Alpine, where every token fetch would then fail (a CA directory does not help: that
    file is still looked for)."""
    cafile = ssl.get_default_verify_paths().cafile
    if cafile and os.path.isfile(cafile):
        return cafile
    import certifi  # httpx's dependency

    return str(certifi.where())


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """A client TLS context: the CA file (else the system's), the client certificate
    when set, hostname checking as configured."""
    try:
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_ca_file) if settings.kafka_ssl_ca_file else None)
        if settings.kafka_ssl_cert_file is not None and settings.kafka_ssl_key_file is not None:
            password = (settings.kafka_ssl_key_password.get_secret_value()
                        if settings.kafka_ssl_key_password is not None else None)
            context.load_cert_chain(str(settings.kafka_ssl_cert_file),
                                    str(settings.kafka_ssl_key_file), password=password)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"LLMPULSE_KAFKA_SSL_*: cannot load the TLS files: {exc}") from None
    context.check_hostname = settings.kafka_ssl_check_hostname
    if not settings.kafka_ssl_check_hostname:
        context.verify_mode = ssl.CERT_REQUIRED  # the chain is still checked
    return context


def faust_credentials(settings: Settings) -> Any:
    """``broker_credentials`` for a Faust app (None for PLAINTEXT)."""
    import faust

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings) if protocol.endswith("SSL") else None
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    if uses_oauth(settings):
        from llmpulse.kafka_oauth import AiokafkaTokenProvider, OAuthClient, shared_source

        extensions = parse_extensions(settings.kafka_oauth_extensions) \
            if settings.kafka_oauth_extensions else {}
        provider = AiokafkaTokenProvider(shared_source(OAuthClient.from_settings(settings)),
                                         extensions)
        return faust.OAuthCredentials(oauth_cb=provider, ssl_context=context)
    return faust.SASLCredentials(username=settings.kafka_sasl_username,
                                 password=sasl_password(settings),
                                 ssl_context=context,
                                 mechanism=settings.kafka_sasl_mechanism)


def describe(settings: Settings) -> str:
    """How the clients connect, for logs (no secrets)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return "plaintext"
    parts: list[str] = [protocol]
    if uses_oauth(settings):
        parts.append(f"OAUTHBEARER as client {settings.kafka_oauth_client_id}, tokens from "
                     f"{settings.kafka_oauth_token_url}")
    elif protocol.startswith("SASL_"):
        parts.append(f"{settings.kafka_sasl_mechanism} as {settings.kafka_sasl_username}")
    if protocol.endswith("SSL") and not settings.kafka_ssl_check_hostname:
        parts.append("hostname not checked")
    return ", ".join(parts)
