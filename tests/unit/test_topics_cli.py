"""`llmpulse topics create` on a real (embedded) broker: creates every topic with the
configured partitions, is idempotent, refuses a partition mismatch, needs a broker."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from confluent_kafka.admin import NewTopic

from llmpulse.cli import cli
from llmpulse.config import load_settings
from llmpulse.embedded_broker import EmbeddedBroker
from llmpulse.errors import BrokerError
from llmpulse.topics import admin_client, all_topics


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as embedded:
        yield embedded.bootstrap


def _env(bootstrap: str, partitions: int) -> dict[str, str]:
    return {"LLMPULSE_BROKER": bootstrap, "LLMPULSE_PARTITIONS": str(partitions),
            "LLMPULSE_TOPIC_PREFIX": "t."}


def test_creates_every_topic_with_the_configured_partitions_and_again(broker: str) -> None:
    wanted = all_topics(load_settings(_env(broker, 3)))
    for _ in range(2):  # the second run finds them all and changes nothing
        result = CliRunner().invoke(cli, ["topics", "create"], env=_env(broker, 3))
        assert result.exit_code == 0, result.output
        printed = dict(line.split("\t") for line in result.stdout.splitlines())
        assert printed == {name: "3" for name in wanted}
        assert f"{len(wanted)} topics ready on {broker}" in result.stderr
    metadata = admin_client(broker).list_topics(timeout=10)
    assert {name: len(metadata.topics[name].partitions) for name in wanted} == wanted


def test_an_existing_topic_with_other_partitions_is_refused(broker: str) -> None:
    assert CliRunner().invoke(cli, ["topics", "create"], env=_env(broker, 2)).exit_code == 0
    result = CliRunner().invoke(cli, ["topics", "create"], env=_env(broker, 4))
    error = result.exception
    assert isinstance(error, BrokerError)
    assert "exists with 2 partitions but 4 are wanted" in str(error)
    # the traceback holds the admin client, whose open connection delays the broker's stop
    del result, error
    gc.collect()


def test_without_a_broker_it_exits_2_naming_the_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    done = subprocess.run([sys.executable, "-m", "llmpulse", "topics", "create"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "LLMPULSE_BROKER" in done.stderr and not done.stdout


def test_the_otlp_topic_is_created_and_an_existing_one_kept(broker: str) -> None:
    env = {**_env(broker, 3), "LLMPULSE_OTLP_TOPIC": "otlp_spans"}
    result = CliRunner().invoke(cli, ["topics", "create"], env=env)
    assert result.exit_code == 0, result.output
    assert "otlp_spans\t3" in result.stdout.splitlines()
    # made elsewhere with another count (the Collector, auto-creation): kept as it is
    env = {**_env(broker, 3), "LLMPULSE_OTLP_TOPIC": "otlp_other"}
    admin = admin_client(broker)
    admin.create_topics([NewTopic("otlp_other", 1, 1)])["otlp_other"].result(30)
    result = CliRunner().invoke(cli, ["topics", "create"], env=env)
    assert result.exit_code == 0, result.output
    assert "otlp_other\t1" in result.stdout.splitlines()


def test_topic_retention_is_set_on_the_topics_created(broker: str) -> None:
    from confluent_kafka.admin import ConfigResource

    env = {**_env(broker, 1), "LLMPULSE_TOPIC_RETENTION_HOURS": "36"}
    assert CliRunner().invoke(cli, ["topics", "create"], env=env).exit_code == 0
    topic = "t.requests"
    admin = admin_client(broker)  # kept: the futures need the client
    [future] = admin.describe_configs(
        [ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
    assert future.result(timeout=10)["retention.ms"].value == str(36 * 3_600_000)
