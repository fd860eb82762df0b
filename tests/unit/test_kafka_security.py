"""TLS/SASL settings turned into the Kafka clients' configuration."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from llmpulse.config import load_settings
from llmpulse.errors import ConfigError
from llmpulse.kafka_security import describe, faust_credentials, librdkafka_security, sasl_password


def settings(**env: str) -> object:
    return load_settings({"LLMPULSE_BROKER": "kafka:9093", **env})


def test_plaintext_adds_nothing() -> None:
    plain = settings()
    assert librdkafka_security(plain) == {}  # type: ignore[arg-type]
    assert faust_credentials(plain) is None  # type: ignore[arg-type]
    assert describe(plain) == "plaintext"  # type: ignore[arg-type]


def test_sasl_ssl_with_a_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    s = settings(LLMPULSE_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
                 LLMPULSE_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
                 LLMPULSE_KAFKA_SASL_USERNAME="bob",
                 LLMPULSE_KAFKA_SASL_PASSWORD_FILE=str(secret),
                 LLMPULSE_KAFKA_SSL_CHECK_HOSTNAME="false")
    assert librdkafka_security(s) == {  # type: ignore[arg-type]
        "security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "bob", "sasl.password": "s3cret",
        "ssl.endpoint.identification.algorithm": "none"}
    credentials = faust_credentials(s)  # type: ignore[arg-type]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.password == "s3cret" and credentials.ssl_context is not None
    assert credentials.ssl_context.check_hostname is False
    text = describe(s)  # type: ignore[arg-type]
    assert "bob" in text and "s3cret" not in text and "hostname not checked" in text


def test_a_missing_password_file_is_a_clear_error(tmp_path: Path) -> None:
    s = settings(LLMPULSE_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                 LLMPULSE_KAFKA_SASL_USERNAME="bob",
                 LLMPULSE_KAFKA_SASL_PASSWORD_FILE=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="LLMPULSE_KAFKA_SASL_PASSWORD_FILE: cannot read"):
        sasl_password(s)  # type: ignore[arg-type]


def test_tls_files_map_to_librdkafka() -> None:
    s = settings(LLMPULSE_KAFKA_SECURITY_PROTOCOL="SSL", LLMPULSE_KAFKA_SSL_CA_FILE="/ca.pem",
                 LLMPULSE_KAFKA_SSL_CERT_FILE="/c.pem", LLMPULSE_KAFKA_SSL_KEY_FILE="/k.pem",
                 LLMPULSE_KAFKA_SSL_KEY_PASSWORD="kp")
    assert librdkafka_security(s) == {  # type: ignore[arg-type]
        "security.protocol": "ssl", "ssl.ca.location": "/ca.pem",
        "ssl.certificate.location": "/c.pem", "ssl.key.location": "/k.pem",
        "ssl.key.password": "kp", "ssl.endpoint.identification.algorithm": "https"}
    with pytest.raises(ConfigError, match="cannot load the TLS files"):
        faust_credentials(s)  # type: ignore[arg-type]


@pytest.mark.parametrize(("env", "message"), [
    ({"LLMPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs LLMPULSE_KAFKA_SASL_USERNAME"),
    ({"LLMPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LLMPULSE_KAFKA_SASL_USERNAME": "u"},
     "exactly one of LLMPULSE_KAFKA_SASL_PASSWORD"),
    ({"LLMPULSE_KAFKA_SASL_USERNAME": "u"}, "does not use SASL"),
    ({"LLMPULSE_KAFKA_SSL_CA_FILE": "/ca.pem"}, "does not use TLS"),
    ({"LLMPULSE_KAFKA_SECURITY_PROTOCOL": "SSL", "LLMPULSE_KAFKA_SSL_CERT_FILE": "/c.pem"},
     "go together"),
    ({"LLMPULSE_KAFKA_SECURITY_PROTOCOL": "TLS"}, "LLMPULSE_KAFKA_SECURITY_PROTOCOL"),
])
def test_inconsistent_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**env)
