"""llmpulse against Apache Kafka with OAUTHBEARER logins, as on managed Kafka with an
identity provider: every client gets access tokens from an OIDC token endpoint (the
client credentials grant, over HTTPS with a private CA) and the broker checks them
against the provider's JWKS.  The worker's and the scorer's Faust clients, the
confluent-kafka clients (topics, outputs, DLQ, SDK) and the CLI log in this way; a
refused client is told at once, naming the setting."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmpulse.procs import WorkerProcess, parse_metrics
from llmpulse.simulator import simulate
from tests.conftest import start_or_fail
from tests.harness.certs import TestCA
from tests.harness.kafka_oauth import OAuthApacheKafka
from tests.harness.oidc import OidcProvider
from tests.integration.stack import make_stack, wait_metrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

CLIENT_ID, CLIENT_SECRET = "llmpulse-prod", "oauth-client-secret-1"


@pytest.fixture(scope="module")
def identity_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("idp-tls"), "idp")


@pytest.fixture(scope="module")
def provider(identity_ca: TestCA) -> Iterator[OidcProvider]:
    with OidcProvider({CLIENT_ID: CLIENT_SECRET},
                      tls=identity_ca.issue("localhost", server=True)) as started:
        yield started


@pytest.fixture(scope="module")
def oauth_kafka(provider: OidcProvider) -> Iterator[OAuthApacheKafka]:
    kafka = OAuthApacheKafka(provider)
    start_or_fail("Apache Kafka with an OAUTHBEARER listener", kafka.start)
    yield kafka
    kafka.stop()


def oauth_settings(kafka: OAuthApacheKafka, provider: OidcProvider, ca: TestCA,
                   secret_file: Path) -> dict[str, str]:
    secret_file.write_text(CLIENT_SECRET + "\n")
    return {"LLMPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "LLMPULSE_KAFKA_SSL_CA_FILE": str(kafka.ca_file),
            "LLMPULSE_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
            "LLMPULSE_KAFKA_OAUTH_TOKEN_URL": provider.https_token_url,
            "LLMPULSE_KAFKA_OAUTH_CLIENT_ID": CLIENT_ID,
            "LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE": str(secret_file),
            "LLMPULSE_KAFKA_OAUTH_SCOPE": "kafka",
            # as Confluent Cloud wants them (this broker accepts any)
            "LLMPULSE_KAFKA_OAUTH_EXTENSIONS": "logicalCluster=lkc-test,identityPoolId=pool-t",
            "LLMPULSE_KAFKA_OAUTH_CA_FILE": str(ca.pem)}


def test_worker_scorer_sdk_and_cli_log_in_with_oidc_tokens(
        oauth_kafka: OAuthApacheKafka, provider: OidcProvider, identity_ca: TestCA,
        tmp_path: Path) -> None:
    security = oauth_settings(oauth_kafka, provider, identity_ca, tmp_path / "client-secret")
    stack = make_stack(oauth_kafka.secure_bootstrap, tmp_path, security)
    before = provider.issued[CLIENT_ID]
    created = stack.cli("topics", "create")  # the CLI's admin client
    assert created.returncode == 0, created.stderr
    quality = {"LLMPULSE_SCORE_SAMPLE_RATE": "1", "LLMPULSE_SCORE_BUDGET_PER_S": "1000",
               "LLMPULSE_GROUNDEDNESS_BACKEND": "hashing"}
    worker = stack.worker(**quality)
    scorer = WorkerProcess(stack.env(**quality), log_path=tmp_path / "scorer.log",
                           command="scorer")
    scorer.start(timeout=120)
    try:
        stats = stack.simulate(rate=None, count=200, seed=21, malformed_ratio=0.02)
        assert stats.unflushed == 0
        values = wait_metrics(worker, lambda v: v.get("llmpulse_calls_total", 0) >= stats.calls
                              and v.get("llmpulse_dlq_events_total", 0) >= stats.malformed,
                              120, f"{stats.calls} calls stored over OAUTHBEARER")
        scored = wait_metrics(scorer, lambda v: v.get(
            "llmpulse_scorer_tasks_total{outcome=scored}", 0) > 0, 90,
            "the scorer to score over OAUTHBEARER")
        assert parse_metrics(worker.metrics_text())["llmpulse_broker_up"] == 1
        log = (tmp_path / "worker.log").read_text()
        assert f"SASL_SSL, OAUTHBEARER as client {CLIENT_ID}" in log
        assert CLIENT_SECRET not in log
    finally:
        scorer.stop()
        worker.stop()
    [[stored]] = stack.sql("SELECT count() FROM inference_events FINAL")
    assert stored == stats.calls == values["llmpulse_calls_total"]
    assert scored["llmpulse_scorer_tasks_total{outcome=scored}"] > 0
    listed = stack.cli("dlq", "list", "--limit", "5")  # dead letters read back
    assert listed.returncode == 0, listed.stderr
    shown = stack.cli("config")
    assert shown.returncode == 0, shown.stderr
    assert "OAUTHBEARER as client llmpulse-prod" in shown.stdout + shown.stderr
    assert CLIENT_SECRET not in shown.stdout + shown.stderr
    # tokens were asked for by the CLI, the worker, the scorer and the SDK
    assert provider.issued[CLIENT_ID] - before >= 4


def test_tokens_that_expire_are_renewed_and_the_calls_keep_coming(
        oauth_kafka: OAuthApacheKafka, provider: OidcProvider, identity_ca: TestCA,
        tmp_path: Path) -> None:
    """Short-lived tokens: the broker ends each session when its token expires; the
    worker's Faust clients and a long-lived SDK producer go on with new tokens."""
    lifetime = provider.lifetime_s
    provider.lifetime_s = 12
    try:
        security = oauth_settings(oauth_kafka, provider, identity_ca, tmp_path / "secret")
        stack = make_stack(oauth_kafka.secure_bootstrap, tmp_path, security)
        worker = stack.worker()
        try:
            with stack.client() as client:  # one producer across the expiries
                first = simulate(client, rate=None, count=60, seed=31)
                wait_metrics(worker, lambda v: v.get("llmpulse_calls_total", 0) >= first.calls,
                             90, "the first calls")
                issued = provider.issued[CLIENT_ID]
                ours = provider.issued_to["llmpulse"]  # the worker's start and Faust clients
                time.sleep(2 * provider.lifetime_s)  # every token so far has expired
                second = simulate(client, rate=None, count=60, seed=32)
            calls = first.calls + second.calls
            wait_metrics(worker, lambda v: v.get("llmpulse_calls_total", 0) >= calls, 120,
                         f"{calls} calls across the token expiries")
            assert worker.proc is not None and worker.proc.poll() is None
        finally:
            worker.stop()
    finally:
        provider.lifetime_s = lifetime
    [[stored]] = stack.sql("SELECT count() FROM inference_events FINAL")
    assert stored == calls
    # renewed: by the worker's Faust clients (logging in again after the broker ended
    # their sessions) and by the worker's and the SDK's librdkafka clients
    assert provider.issued_to["llmpulse"] > ours
    assert provider.issued[CLIENT_ID] - issued >= 2


@pytest.mark.parametrize("wrong", ["secret", "ca"])
def test_a_refused_client_or_an_unknown_idp_certificate_fails_at_once(
        oauth_kafka: OAuthApacheKafka, provider: OidcProvider, identity_ca: TestCA,
        tmp_path: Path, wrong: str) -> None:
    security = oauth_settings(oauth_kafka, provider, identity_ca, tmp_path / "client-secret")
    if wrong == "secret":
        (tmp_path / "client-secret").write_text("not-the-secret\n")
        reason = "LLMPULSE_KAFKA_OAUTH_CLIENT_ID / LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET"
        said = "invalid_client"
    else:
        del security["LLMPULSE_KAFKA_OAUTH_CA_FILE"]  # the system's CAs do not know the IdP
        reason = "LLMPULSE_KAFKA_OAUTH_TOKEN_URL"
        said = "CERTIFICATE_VERIFY_FAILED"
    stack = make_stack(oauth_kafka.bootstrap, tmp_path)  # topics over the plain listener
    env = {**stack.env_for_cli(), **security, "LLMPULSE_BROKER": oauth_kafka.secure_bootstrap}
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "llmpulse", "worker"], env=env,
                          capture_output=True, text=True, timeout=120)
    took = time.monotonic() - began
    assert done.returncode != 0
    assert reason in done.stderr and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "not-the-secret" not in done.stdout + done.stderr
    assert took < 20, f"told after {took:.0f} s, not at once"
