"""OAUTHBEARER: the settings, their librdkafka and Faust forms, and the token client
against the loopback OIDC provider (over HTTP and HTTPS with a private CA)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faust
import pytest

from llmpulse.config import load_settings
from llmpulse.errors import ConfigError
from llmpulse.kafka_oauth import (
    AiokafkaTokenProvider,
    OAuthClient,
    TokenRefused,
    TokenSource,
    TokenUnavailable,
    fetch_token,
    first_token,
)
from llmpulse.kafka_security import (
    describe,
    faust_credentials,
    librdkafka_security,
    system_ca_location,
)
from llmpulse.preflight import check
from tests.harness.certs import TestCA
from tests.harness.net import free_port
from tests.harness.oidc import OidcProvider

CLIENT_ID, SECRET = "llmpulse", "s3cret/+&:="  # characters that need form-encoding


def settings(**env: str) -> Any:
    return load_settings({"LLMPULSE_BROKER": "kafka:9093", **env})


def oauth_env(**extra: str) -> dict[str, str]:
    return {"LLMPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "LLMPULSE_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
            "LLMPULSE_KAFKA_OAUTH_TOKEN_URL": "https://idp.example.com/oauth2/token",
            "LLMPULSE_KAFKA_OAUTH_CLIENT_ID": CLIENT_ID,
            "LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET": SECRET, **extra}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("idp"), "idp")


@pytest.fixture(scope="module")
def provider(ca: TestCA) -> Iterator[OidcProvider]:
    with OidcProvider({CLIENT_ID: SECRET}, lifetime_s=600,
                      tls=ca.issue("localhost", server=True)) as started:
        yield started


# ------------------------------------------------------------------ settings
def test_oauthbearer_settings_map_to_librdkafkas_oidc_method(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    env = oauth_env(LLMPULSE_KAFKA_OAUTH_SCOPE="kafka offline",
                    LLMPULSE_KAFKA_OAUTH_CA_FILE="/idp-ca.pem",
                    LLMPULSE_KAFKA_SSL_CA_FILE="/kafka-ca.pem")
    del env["LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET"]
    s = settings(**env, LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE=str(secret_file))
    assert librdkafka_security(s) == {
        "security.protocol": "sasl_ssl", "ssl.ca.location": "/kafka-ca.pem",
        "ssl.endpoint.identification.algorithm": "https",
        "sasl.mechanism": "OAUTHBEARER", "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example.com/oauth2/token",
        "sasl.oauthbearer.client.id": CLIENT_ID, "sasl.oauthbearer.client.secret": SECRET,
        "sasl.oauthbearer.scope": "kafka offline", "https.ca.location": "/idp-ca.pem"}
    text = describe(s)
    assert f"OAUTHBEARER as client {CLIENT_ID}" in text and SECRET not in text
    assert SECRET not in repr(s) and SECRET not in repr(OAuthClient.from_settings(s))


def test_librdkafka_accepts_the_properties() -> None:
    from confluent_kafka.admin import AdminClient

    s = settings(**oauth_env(LLMPULSE_KAFKA_OAUTH_SCOPE="kafka"))
    config = {"bootstrap.servers": f"127.0.0.1:{free_port()}", "log_level": 0,
              **librdkafka_security(s)}
    AdminClient(config)  # raises on a property the linked librdkafka does not have


def test_without_a_ca_file_librdkafka_is_given_the_systems_bundle() -> None:
    # the wheels' libcurl would look for /etc/pki/tls/certs/ca-bundle.crt (Red Hat)
    location = librdkafka_security(settings(**oauth_env()))["https.ca.location"]
    assert location == system_ca_location() and Path(location).is_file()


def test_faust_gets_oauth_credentials_with_a_token_provider() -> None:
    s = settings(**oauth_env(
        LLMPULSE_KAFKA_OAUTH_EXTENSIONS="logicalCluster=lkc-ab12, identityPoolId=pool-X1"))
    credentials = faust_credentials(s)
    assert isinstance(credentials, faust.OAuthCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "OAUTHBEARER"
    assert isinstance(credentials.oauth_cb, AiokafkaTokenProvider)
    extensions = {"logicalCluster": "lkc-ab12", "identityPoolId": "pool-X1"}
    assert credentials.oauth_cb.extensions() == extensions
    assert librdkafka_security(s)["sasl.oauthbearer.extensions"] == \
        "logicalCluster=lkc-ab12,identityPoolId=pool-X1"
    plain = faust_credentials(settings(**oauth_env(
        LLMPULSE_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT")))
    assert plain.protocol.value == "SASL_PLAINTEXT" and plain.ssl_context is None


def _without(name: str) -> dict[str, str]:
    env = oauth_env()
    del env[name]
    return env


@pytest.mark.parametrize(("env", "message"), [
    (_without("LLMPULSE_KAFKA_OAUTH_TOKEN_URL"), "needs LLMPULSE_KAFKA_OAUTH_TOKEN_URL"),
    (_without("LLMPULSE_KAFKA_OAUTH_CLIENT_ID"), "needs LLMPULSE_KAFKA_OAUTH_CLIENT_ID"),
    (_without("LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET"),
     "exactly one of LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET and "
     "LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE"),
    (oauth_env(LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE="/s"), "exactly one of"),
    (oauth_env(LLMPULSE_KAFKA_SASL_USERNAME="alice"), "are not used with"),
    (oauth_env(LLMPULSE_KAFKA_OAUTH_TOKEN_URL="idp.example.com/token"),
     r"LLMPULSE_KAFKA_OAUTH_TOKEN_URL: .* not an http\(s\) URL"),
    (oauth_env(LLMPULSE_KAFKA_OAUTH_TOKEN_URL="http://idp:8080/token",
               LLMPULSE_KAFKA_OAUTH_CA_FILE="/ca.pem"),
     "LLMPULSE_KAFKA_OAUTH_CA_FILE needs an https://"),
    (oauth_env(LLMPULSE_KAFKA_SASL_MECHANISM="SCRAM-SHA-512"),
     "LLMPULSE_KAFKA_OAUTH_TOKEN_URL is set but the Kafka clients do not log in with "
     "OAUTHBEARER"),
    ({"LLMPULSE_KAFKA_OAUTH_CLIENT_ID": "x"}, "LLMPULSE_KAFKA_OAUTH_CLIENT_ID is set but"),
    ({"LLMPULSE_KAFKA_SASL_MECHANISM": "OAUTH"}, "LLMPULSE_KAFKA_SASL_MECHANISM"),
    (oauth_env(LLMPULSE_KAFKA_OAUTH_EXTENSIONS="logicalCluster"),
     "LLMPULSE_KAFKA_OAUTH_EXTENSIONS: .* is not key=value"),
    (oauth_env(LLMPULSE_KAFKA_OAUTH_EXTENSIONS="auth=Bearer x"), "not 'auth'"),
    (oauth_env(LLMPULSE_KAFKA_OAUTH_EXTENSIONS="pool-id=1"), "a key of letters"),
])
def test_inconsistent_oauth_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**env)


def test_preflight_reads_the_secret_file_and_the_ca(tmp_path: Path, ca: TestCA) -> None:
    env = _without("LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET")
    missing = settings(**env, LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE=str(tmp_path / "nope"),
                       LLMPULSE_KAFKA_OAUTH_CA_FILE=str(ca.pem))
    [problem] = [p for p in check(missing, "worker", {}).problems if "OAUTH" in p]
    assert problem.startswith("LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE:")
    (tmp_path / "empty").write_text("\n")
    empty = settings(**env, LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE=str(tmp_path / "empty"))
    assert any("the file is empty" in p for p in check(empty, "worker", {}).problems)
    (tmp_path / "not-a-ca").write_text("hello")
    bad_ca = settings(**oauth_env(LLMPULSE_KAFKA_OAUTH_CA_FILE=str(tmp_path / "not-a-ca")))
    assert any(p.startswith("LLMPULSE_KAFKA_OAUTH_CA_FILE: cannot load")
               for p in check(bad_ca, "worker", {}).problems)
    good = check(settings(**oauth_env(LLMPULSE_KAFKA_OAUTH_CA_FILE=str(ca.pem))), "worker", {})
    assert not [p for p in good.problems if "OAUTH" in p]
    assert any("OAUTHBEARER as client llmpulse" in note for note in good.checked)


# ------------------------------------------------------------------ tokens
def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def test_a_token_over_https_checked_against_the_ca(provider: OidcProvider, ca: TestCA) -> None:
    client = OAuthClient(provider.https_token_url, CLIENT_ID, SECRET, scope="kafka",
                         ca_file=ca.pem)
    token = fetch_token(client, clock=lambda: 1000.0)
    assert token.expires_at == 1600.0 and token.lifetime_s == 600
    claims = _claims(token.value)
    assert claims["sub"] == CLIENT_ID and claims["scope"] == "kafka"
    assert SECRET not in repr(token) and token.value not in repr(token)


def test_an_unknown_certificate_is_a_configuration_error(provider: OidcProvider) -> None:
    client = OAuthClient(provider.https_token_url, CLIENT_ID, SECRET)  # the system's CAs
    with pytest.raises(ConfigError, match=r"LLMPULSE_KAFKA_OAUTH_TOKEN_URL / "
                       r"LLMPULSE_KAFKA_OAUTH_CA_FILE: .* the system's CAs: .*"
                       r"CERTIFICATE_VERIFY_FAILED"):
        first_token(TokenSource(client), wait_s=30)  # not waited for


def test_a_wrong_secret_is_refused_at_once_naming_the_settings(provider: OidcProvider) -> None:
    refused = provider.refused[CLIENT_ID]
    client = OAuthClient(provider.token_url, CLIENT_ID, "not-the-secret")
    with pytest.raises(TokenRefused) as caught:
        fetch_token(client)
    message = str(caught.value)
    assert message.startswith("LLMPULSE_KAFKA_OAUTH_CLIENT_ID / "
                              "LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET: ")
    assert "invalid_client" in message and "not-the-secret" not in message
    assert provider.refused[CLIENT_ID] == refused + 1  # asked once: no retries
    assert isinstance(caught.value, ConfigError)


def test_an_unreachable_endpoint_is_retried_then_reported() -> None:
    client = OAuthClient(f"http://127.0.0.1:{free_port()}/token", CLIENT_ID, SECRET,
                         timeout_s=1.0, attempts=2)
    with pytest.raises(TokenUnavailable, match="after 2 attempts"):
        fetch_token(client)


def test_the_first_token_waits_for_an_endpoint_that_comes_up() -> None:
    late = OidcProvider({CLIENT_ID: SECRET})
    port = free_port()
    client = OAuthClient(f"http://127.0.0.1:{port}/token", CLIENT_ID, SECRET,
                         timeout_s=1.0, attempts=1)
    waits: list[float] = []

    def start_meanwhile(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            late.start(port=port)

    try:
        token = first_token(TokenSource(client), wait_s=30, sleep=start_meanwhile)
    finally:
        late.stop()
    assert len(waits) == 2 and _claims(token.value)["sub"] == CLIENT_ID
    with pytest.raises(TokenUnavailable):
        first_token(TokenSource(client), wait_s=0)


def test_the_source_keeps_a_token_until_its_refresh_is_due(provider: OidcProvider) -> None:
    now = [10_000.0]
    source = TokenSource(OAuthClient(provider.token_url, CLIENT_ID, SECRET),
                         clock=lambda: now[0])
    first = source.token()
    assert source.token() is first and source.fetches == 1
    now[0] += 600 - 31  # 31 s left: still kept
    assert source.token() is first
    now[0] += 2  # 29 s left: fetched again
    second = source.token()
    assert second is not first and source.fetches == 2
    assert second.expires_at == now[0] + 600


async def test_the_aiokafka_provider_gives_the_token_string(provider: OidcProvider) -> None:
    source = TokenSource(OAuthClient(provider.token_url, CLIENT_ID, SECRET))
    token = await AiokafkaTokenProvider(source).token()
    assert isinstance(token, str) and _claims(token)["aud"] == "kafka"
    assert await AiokafkaTokenProvider(source).token() == token


def test_llmpulse_config_masks_the_client_secret_and_checks_its_file(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "llmpulse", "config"], cwd=tmp_path,
                              env={**clean, **env}, capture_output=True, text=True,
                              timeout=60)

    shown = run(**oauth_env(LLMPULSE_BROKER="kafka:9093"))
    assert shown.returncode == 0, shown.stderr
    assert "LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET=**********" in shown.stdout
    assert SECRET not in shown.stdout + shown.stderr
    assert "kafka SASL: OAUTHBEARER as client llmpulse" in shown.stderr
    env = _without("LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET")
    missing = run(**env, LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE=str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert f"LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE: {tmp_path / 'nope'} does not exist" \
        in missing.stderr
