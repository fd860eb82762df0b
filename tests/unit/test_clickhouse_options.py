"""The store client's TLS options and password file, from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmpulse.config import load_settings, redacted_url
from llmpulse.errors import ConfigError, StoreError
from llmpulse.sinks.clickhouse import server_options


def test_https_with_a_ca_a_client_certificate_and_a_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    settings = load_settings({
        "LLMPULSE_CLICKHOUSE_URL": "https://llmpulse@ch.example:8443/llmpulse",
        "LLMPULSE_CLICKHOUSE_CA_FILE": "/ca.pem", "LLMPULSE_CLICKHOUSE_CERT_FILE": "/c.pem",
        "LLMPULSE_CLICKHOUSE_KEY_FILE": "/k.pem", "LLMPULSE_CLICKHOUSE_PASSWORD_FILE": str(secret)})
    assert server_options(settings) == {
        "verify": True, "ca_cert": "/ca.pem", "client_cert": "/c.pem",
        "client_cert_key": "/k.pem", "password": "s3cret"}


def test_plain_http_and_the_embedded_store_need_no_options() -> None:
    assert server_options(load_settings({"LLMPULSE_CLICKHOUSE_URL": "http://ch:8123"})) == {}
    assert server_options(load_settings({})) == {}


def test_an_unreadable_password_file_names_the_setting(tmp_path: Path) -> None:
    settings = load_settings({"LLMPULSE_CLICKHOUSE_URL": "http://ch:8123",
                              "LLMPULSE_CLICKHOUSE_PASSWORD_FILE": str(tmp_path / "nope")})
    with pytest.raises(StoreError, match="LLMPULSE_CLICKHOUSE_PASSWORD_FILE: cannot read"):
        server_options(settings)


@pytest.mark.parametrize(("env", "message"), [
    ({"LLMPULSE_CLICKHOUSE_URL": "http://ch:8123", "LLMPULSE_CLICKHOUSE_CA_FILE": "/ca.pem"},
     "needs an https://"),
    ({"LLMPULSE_CLICKHOUSE_URL": "https://ch:8443", "LLMPULSE_CLICKHOUSE_CERT_FILE": "/c.pem"},
     "go together"),
    ({"LLMPULSE_CLICKHOUSE_PASSWORD_FILE": "/pw"}, "not the embedded store"),
])
def test_inconsistent_store_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_passwords_are_masked_in_urls() -> None:
    assert redacted_url("https://u:p%40ss@ch:8443/db") == "https://u:***@ch:8443/db"
    assert redacted_url("http://ch:8123") == "http://ch:8123"
