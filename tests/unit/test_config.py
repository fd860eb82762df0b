from __future__ import annotations

from pathlib import Path

import pytest

from llmpulse.config import load_settings
from llmpulse.errors import ConfigError


def test_defaults_and_env_override() -> None:
    settings = load_settings({})
    assert settings.partitions == 4 and settings.embedded_store
    settings = load_settings({"LLMPULSE_PARTITIONS": "8", "LLMPULSE_BROKER": "kafka://a:9092"})
    assert settings.partitions == 8 and settings.broker == "a:9092"
    assert settings.topic("dlq") == "llm.dlq"


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(Exception):  # noqa: B017 (pydantic's frozen error)
        settings.partitions = 3  # type: ignore[misc]


@pytest.mark.parametrize(("env", "message"), [
    ({"LLMPULSE_PARTITIONS": "0"}, "LLMPULSE_PARTITIONS"),
    ({"LLMPULSE_BROKER": "nohost"}, "not host:port"),
    ({"LLMPULSE_CLICKHOUSE_URL": "mysql://x"}, "chdb://, http:// or https://"),
    ({"LLMPULSE_NOPE": "1"}, "unknown setting"),
    ({"LLMPULSE_LOG_LEVEL": "loud"}, "LLMPULSE_LOG_LEVEL"),
])
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_more_workers_with_a_server_store() -> None:
    settings = load_settings({"LLMPULSE_WORKERS": "3",
                              "LLMPULSE_CLICKHOUSE_URL": "http://ch:8123/default"})
    assert settings.workers == 3 and not settings.embedded_store


def test_more_workers_on_the_embedded_store() -> None:
    """They share it through a store server the supervisor starts (llmpulse.supervisor)."""
    settings = load_settings({"LLMPULSE_WORKERS": "3"})
    assert settings.workers == 3 and settings.embedded_store


def test_yaml_file_under_env(tmp_path: Path) -> None:
    path = tmp_path / "llmpulse.yaml"
    path.write_text("partitions: 6\nbatch_max_rows: 10\n")
    settings = load_settings({"LLMPULSE_CONFIG": str(path), "LLMPULSE_BATCH_MAX_ROWS": "20"})
    assert settings.partitions == 6 and settings.batch_max_rows == 20
    path.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings({"LLMPULSE_CONFIG": str(path)})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({"LLMPULSE_CONFIG": str(tmp_path / "missing.yaml")})


@pytest.mark.parametrize("key", [None, "", "   "])
def test_hashing_personal_data_needs_a_non_empty_key(key: str | None) -> None:
    env = {"LLMPULSE_PII_RESPONSE": "hash"}
    if key is not None:
        env["LLMPULSE_PII_HASH_KEY"] = key
    with pytest.raises(ConfigError, match="LLMPULSE_PII_RESPONSE=hash needs LLMPULSE_PII_HASH_KEY"):
        load_settings(env)
    assert load_settings({**env, "LLMPULSE_PII_HASH_KEY": "s3cret"}).pii_response == "hash"
    assert load_settings({"LLMPULSE_PII_HASH_KEY": ""}).pii_hash_key is not None  # unused


def test_worker_and_scorer_have_their_own_default_metrics_ports() -> None:
    settings = load_settings({})
    assert (settings.metrics_port_for("worker"), settings.metrics_port_for("scorer")) == (
        9464, 9465)
    settings = load_settings({"LLMPULSE_METRICS_PORT": "0"})
    assert (settings.metrics_port_for("worker"), settings.metrics_port_for("scorer")) == (0, 0)


def test_instance_id_auto_names_host_and_port_and_stays_dynamic_on_a_random_port(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "llmpulse-0")
    settings = load_settings({})
    assert settings.instance_id_for("worker") == "llmpulse-0-9464"
    assert settings.instance_id_for("scorer") == "llmpulse-0-9465"
    assert load_settings({"LLMPULSE_METRICS_PORT": "0"}).instance_id_for("worker") is None
    assert load_settings({"LLMPULSE_INSTANCE_ID": "none"}).instance_id_for("worker") is None
    fixed = load_settings({"LLMPULSE_INSTANCE_ID": "w-1", "LLMPULSE_METRICS_PORT": "0"})
    assert fixed.instance_id_for("worker") == "w-1"
    with pytest.raises(ConfigError, match="LLMPULSE_INSTANCE_ID"):
        load_settings({"LLMPULSE_INSTANCE_ID": "a b"})


def test_the_scorer_metrics_port_can_be_pinned_apart_from_the_worker() -> None:
    from llmpulse.config import load_settings

    both = load_settings({"LLMPULSE_METRICS_PORT": "9500", "LLMPULSE_SCORER_METRICS_PORT": "9501"})
    assert (both.metrics_port_for("worker"), both.metrics_port_for("scorer")) == (9500, 9501)
    shared = load_settings({"LLMPULSE_METRICS_PORT": "9500"})
    assert shared.metrics_port_for("scorer") == 9500  # a scorer alone on its host
    default = load_settings({})
    assert (default.metrics_port_for("worker"), default.metrics_port_for("scorer")) == (9464,
                                                                                        9465)


def test_the_demo_scorer_gets_its_own_port_setting() -> None:
    from llmpulse.demo import scorer_env

    worker = {"LLMPULSE_METRICS_PORT": "9500", "LLMPULSE_BROKER": "localhost:9092"}
    pinned = scorer_env(worker, {"LLMPULSE_SCORER_METRICS_PORT": "9501"})
    assert pinned["LLMPULSE_SCORER_METRICS_PORT"] == "9501"
    assert pinned["LLMPULSE_BROKER"] == "localhost:9092"
    assert scorer_env(worker, {})["LLMPULSE_SCORER_METRICS_PORT"] == "0"  # any free port
