"""llmpulse against Apache Kafka over SASL_SSL, as on a managed Kafka service: the
worker, the scorer, the SDK, `llmpulse otlp` and the CLI connect with TLS (the broker's certificate
checked against a CA, and its name) and a SASL login (PLAIN, SCRAM-SHA-512); a wrong
password or a missing CA is refused at once with the broker's reason."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from llmpulse.procs import WorkerProcess, parse_metrics
from tests.conftest import start_or_fail
from tests.harness.kafka_tls import (
    PLAIN_PASSWORD,
    PLAIN_USER,
    SCRAM_PASSWORD,
    SCRAM_USER,
    SecureApacheKafka,
)
from tests.integration.stack import make_stack, wait_metrics
from tests.integration.test_otlp_ingest import CALLS, TOKEN, Receiver, _collector_messages

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def secure_kafka() -> Iterator[SecureApacheKafka]:
    kafka = SecureApacheKafka()
    start_or_fail("Apache Kafka with a SASL_SSL listener", kafka.start)
    yield kafka
    kafka.stop()


def sasl_ssl(kafka: SecureApacheKafka, mechanism: str, user: str, password: str,
             password_file: Path | None = None) -> dict[str, str]:
    env = {"LLMPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
           "LLMPULSE_KAFKA_SSL_CA_FILE": str(kafka.ca_file),
           "LLMPULSE_KAFKA_SASL_MECHANISM": mechanism,
           "LLMPULSE_KAFKA_SASL_USERNAME": user}
    if password_file is not None:
        password_file.write_text(password + "\n")
        env["LLMPULSE_KAFKA_SASL_PASSWORD_FILE"] = str(password_file)
    else:
        env["LLMPULSE_KAFKA_SASL_PASSWORD"] = password
    return env


def test_worker_scorer_sdk_and_cli_over_sasl_ssl(secure_kafka: SecureApacheKafka,
                                                 tmp_path: Path) -> None:
    security = sasl_ssl(secure_kafka, "PLAIN", PLAIN_USER, PLAIN_PASSWORD,
                        password_file=tmp_path / "kafka-password")
    stack = make_stack(secure_kafka.secure_bootstrap, tmp_path,
                       {**security, "LLMPULSE_OTLP_TOPIC": "otlp-spans"})
    quality = {"LLMPULSE_SCORE_SAMPLE_RATE": "1", "LLMPULSE_SCORE_BUDGET_PER_S": "1000",
               "LLMPULSE_GROUNDEDNESS_BACKEND": "hashing"}
    worker = stack.worker(**quality)
    scorer = WorkerProcess(stack.env(**quality), log_path=tmp_path / "scorer.log",
                           command="scorer")
    scorer.start(timeout=120)
    otlp = Receiver(stack, tmp_path / "otlp.log")
    try:
        stats = stack.simulate(rate=None, count=300, seed=11, malformed_ratio=0.02)
        # OpenTelemetry GenAI spans through `llmpulse otlp`, published over SASL_SSL too
        spans, _ = _collector_messages("sasl")
        answer = httpx.post(otlp.url, content=spans, timeout=60,
                            headers={"Content-Type": "application/x-protobuf",
                                     "Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200, answer.text
        calls = stats.calls + len(CALLS)
        values = wait_metrics(worker, lambda v: v.get("llmpulse_calls_total", 0) >= calls
                              and v.get("llmpulse_dlq_events_total", 0) >= stats.malformed,
                              120, f"{calls} calls stored over SASL_SSL")
        scored = wait_metrics(scorer, lambda v: v.get(
            "llmpulse_scorer_tasks_total{outcome=scored}", 0) > 0, 90,
            "the scorer to score over SASL_SSL")
        assert parse_metrics(worker.metrics_text())["llmpulse_broker_up"] == 1
        log = (tmp_path / "worker.log").read_text()
        assert "SASL_SSL, PLAIN as alice" in log and PLAIN_PASSWORD not in log
    finally:
        otlp.stop()
        scorer.stop()
        worker.stop()
    [[stored]] = stack.sql("SELECT count() FROM inference_events FINAL")
    assert stored == calls
    assert values["llmpulse_calls_total"] == calls
    [[from_spans]] = stack.sql("SELECT count() FROM inference_events FINAL "
                               "WHERE startsWith(request_id, 'otel-')")
    assert from_spans == len(CALLS)
    assert scored["llmpulse_scorer_tasks_total{outcome=scored}"] > 0
    # the CLI's Kafka clients: dead letters read back over SASL_SSL
    listed = stack.cli("dlq", "list", "--limit", "5")
    assert listed.returncode == 0, listed.stderr
    shown = stack.cli("config")
    assert PLAIN_PASSWORD not in shown.stdout + shown.stderr


def test_scram_sha_512_for_topics_and_the_sdk(secure_kafka: SecureApacheKafka,
                                             tmp_path: Path) -> None:
    security = sasl_ssl(secure_kafka, "SCRAM-SHA-512", SCRAM_USER, SCRAM_PASSWORD)
    stack = make_stack(secure_kafka.secure_bootstrap, tmp_path, security)
    created = stack.cli("topics", "create")
    assert created.returncode == 0, created.stderr
    stats = stack.simulate(rate=None, count=50, seed=12)
    assert stats.calls == 50 and stats.unflushed == 0
    # the SDK's messages are on the broker: read back over the plain listener
    consumer = Consumer({"bootstrap.servers": secure_kafka.bootstrap, "group.id": "check"})
    topic = stack.settings().topic("inference")
    try:
        ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1]
                for p in range(stack.settings().partitions)]
    finally:
        consumer.close()
    assert sum(ends) == stats.events["inference"]


@pytest.mark.parametrize("wrong", ["password", "ca"])
def test_a_refused_login_or_certificate_fails_at_once_with_the_reason(
        secure_kafka: SecureApacheKafka, tmp_path: Path, wrong: str) -> None:
    security = sasl_ssl(secure_kafka, "PLAIN", PLAIN_USER, PLAIN_PASSWORD)
    if wrong == "password":
        security["LLMPULSE_KAFKA_SASL_PASSWORD"] = "not-the-password"
        reason = "Authentication failed"
    else:
        del security["LLMPULSE_KAFKA_SSL_CA_FILE"]  # the system's CAs do not know the broker
        reason = "certificate verify failed"
    stack = make_stack(secure_kafka.bootstrap, tmp_path)  # topics over the plain listener
    env = {**stack.env_for_cli(), **security, "LLMPULSE_BROKER": secure_kafka.secure_bootstrap}
    done = subprocess.run([sys.executable, "-m", "llmpulse", "worker"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    # "refused" (not "cannot reach"): told at the first answer, not after the broker wait
    assert "refused the connection" in done.stderr and reason in done.stderr, done.stderr
    assert "not-the-password" not in done.stdout + done.stderr
