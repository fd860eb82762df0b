"""The compose stack (deploy/compose): a real compose implementation accepts it, and
everything it names exists.

`docker-compose config` (Docker Compose built from the Go module proxy by
scripts/deploy-tools.sh) loads, validates against the compose schema and resolves the
file, with and without its profiles; the resolved project is then checked: llmpulse
settings are real and valid, commands are llmpulse commands, bind mounts exist in the
repository, Prometheus scrapes the jobs the shipped rules select (its configuration
checked by promtool with the mounts applied), Alertmanager's by amtool, Grafana gets
both data sources and the dashboards where their provisioning file says. No container
runs here (no container engine on these machines).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.unit.deploy_support import (
    METRICS_PORTS,
    ROOT,
    is_command,
    setting_problems,
    tool,
    unknown_settings,
)

COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
GPU_OVERRIDE = ROOT / "deploy" / "compose" / "compose.gpu.yaml"
LLMPULSE_SERVICES = {"topics", "worker", "scorer", "otlp", "simulator"}
DEFAULT_SERVICES = {"kafka", "clickhouse", "topics", "worker", "scorer", "otlp", "prometheus",
                    "alertmanager", "grafana"}
APT_HINT = "apt-get install prometheus prometheus-alertmanager (scripts/test.sh does)"


@cache
def config(*profiles: str, gpu: bool = False) -> dict[str, Any]:
    """`docker-compose config` of the stack (and the GPU override), resolved, as JSON, with
    no variables set."""
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL")}
    args = [tool("docker-compose"), "-f", str(COMPOSE)]
    if gpu:
        args += ["-f", str(GPU_OVERRIDE)]
    for profile in profiles:
        args += ["--profile", profile]
    done = subprocess.run([*args, "config", "--format", "json"], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, f"docker-compose config rejects the stack:\n{done.stderr}"
    project: dict[str, Any] = json.loads(done.stdout)
    return project


@pytest.mark.parametrize("profiles,extra", [((), set()), (("simulator",), {"simulator"})],
                         ids=["default", "simulator"])
def test_docker_compose_config_accepts_the_stack(profiles: tuple[str, ...],
                                                 extra: set[str]) -> None:
    assert set(config(*profiles)["services"]) == DEFAULT_SERVICES | extra


def test_the_gpu_override_puts_the_scorer_on_a_gpu_image_and_device() -> None:
    services = config(gpu=True)["services"]
    assert set(services) == DEFAULT_SERVICES
    scorer = services["scorer"]
    assert scorer["build"]["target"] == "gpu" and scorer["image"] == "llmpulse:gpu"
    (device,) = scorer["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    assert scorer["command"] == ["scorer"]
    assert services["worker"]["build"]["target"] == "cpu"


def _all_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = config("simulator")["services"]
    return services


def test_every_llmpulse_variable_is_a_real_setting_with_a_valid_value() -> None:
    for name, service in _all_services().items():
        env = service.get("environment") or {}
        assert not unknown_settings(env), f"service {name}: {unknown_settings(env)}"
        assert not setting_problems(env), f"service {name}: {setting_problems(env)}"


def test_llmpulse_services_run_llmpulse_commands_from_the_image() -> None:
    services = _all_services()
    assert {n for n, s in services.items() if "llmpulse" in s["image"]} == LLMPULSE_SERVICES
    for name in LLMPULSE_SERVICES:
        service = services[name]
        assert is_command(service["command"]), f"{name}: {service['command']}"
        assert service["build"]["context"] == str(ROOT)
        assert (ROOT / service["build"]["dockerfile"]).is_file()
        assert service["build"]["target"] == "cpu"
    assert services["topics"]["command"] == ["topics", "create"]
    assert services["simulator"]["command"][0] == "simulate"


def test_workers_share_the_clickhouse_server_and_start_after_the_topics() -> None:
    services = _all_services()
    worker = services["worker"]
    url = urlsplit(worker["environment"]["LLMPULSE_CLICKHOUSE_URL"])
    clickhouse = services["clickhouse"]["environment"]
    assert (url.hostname, url.port) == ("clickhouse", 8123), "not the embedded store: " \
        "chdb admits one process, and there are several workers"
    assert (url.username, url.password, url.path.strip("/")) == (
        clickhouse["CLICKHOUSE_USER"], clickhouse["CLICKHOUSE_PASSWORD"],
        clickhouse["CLICKHOUSE_DB"])
    partitions = int(worker["environment"]["LLMPULSE_PARTITIONS"])
    assert 1 < worker["deploy"]["replicas"] <= partitions, "more workers than partitions idle"
    assert services["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"] == str(partitions)
    for name in LLMPULSE_SERVICES - {"topics"}:
        assert services[name]["depends_on"]["topics"]["condition"] == \
            "service_completed_successfully"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["topics"]["restart"] == "no"
    assert worker["environment"]["LLMPULSE_BROKER"] == "kafka:9092"
    listeners = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "PLAINTEXT://kafka:9092" in listeners
    cluster_id = services["kafka"]["environment"]["CLUSTER_ID"]  # a Kafka Uuid: 16 bytes
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def _binds() -> list[tuple[str, dict[str, Any]]]:
    return [(name, volume) for name, service in _all_services().items()
            for volume in service.get("volumes", []) if volume["type"] == "bind"]


def test_every_mounted_file_is_in_the_repository() -> None:
    binds = _binds()
    assert binds
    for name, volume in binds:
        source = Path(volume["source"])
        assert source.is_relative_to(ROOT), f"{name} mounts {source}, outside the repository"
        assert source.exists(), f"{name} mounts {source}, which does not exist"
        assert volume.get("read_only"), f"{name} mounts {source} writable"


def _container_to_repo(service: str) -> dict[str, Path]:
    return {v["target"]: Path(v["source"]) for n, v in _binds() if n == service}


def test_prometheus_scrapes_the_jobs_the_rules_select_and_promtool_accepts_it(
        tmp_path: Path) -> None:
    mounts = _container_to_repo("prometheus")
    prometheus = _all_services()["prometheus"]
    config_path = next(a.split("=", 1)[1] for a in prometheus["command"]
                       if a.startswith("--config.file="))
    conf = yaml.safe_load(mounts[config_path].read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in conf["scrape_configs"]}
    assert set(jobs) == {"llmpulse", "llmpulse-scorer"}
    (workers,) = jobs["llmpulse"]["dns_sd_configs"]
    (scorers,) = jobs["llmpulse-scorer"]["dns_sd_configs"]
    assert workers["names"] == ["worker"] and workers["port"] == 9464
    assert scorers["names"] == ["scorer"] and scorers["port"] == 9465
    assert {workers["port"], scorers["port"]} == METRICS_PORTS
    rules = [mounts[path] for path in conf["rule_files"]]
    assert rules == [ROOT / "deploy" / "prometheus" / "llmpulse-rules.yml"]
    for job, selector in (("llmpulse", 'job="llmpulse"'),
                          ("llmpulse-scorer", 'job="llmpulse-scorer"')):
        assert selector in rules[0].read_text(encoding="utf-8"), job
    assert conf["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == \
        ["alertmanager:9093"]
    conf["rule_files"] = [str(path) for path in rules]  # as the container sees them
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(conf), encoding="utf-8")
    done = subprocess.run([tool("promtool", APT_HINT), "check", "config", str(local)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_amtool_accepts_the_alertmanager_configuration() -> None:
    alertmanager = _all_services()["alertmanager"]
    path = next(a.split("=", 1)[1] for a in alertmanager["command"]
                if a.startswith("--config.file="))
    done = subprocess.run([tool("amtool", APT_HINT), "check-config",
                           str(_container_to_repo("alertmanager")[path])],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_gets_both_data_sources_and_the_three_dashboards() -> None:
    services = _all_services()
    grafana = services["grafana"]
    mounts = _container_to_repo("grafana")
    sources = [yaml.safe_load(path.read_text(encoding="utf-8")) for target, path in
               mounts.items() if target.startswith("/etc/grafana/provisioning/datasources/")]
    (datasources,) = [s["datasources"] for s in sources]
    by_type = {d["type"]: d for d in datasources}
    assert set(by_type) == {"prometheus", "grafana-clickhouse-datasource"}
    assert by_type["prometheus"]["url"] == "http://prometheus:9090"
    clickhouse = by_type["grafana-clickhouse-datasource"]
    ch_env = services["clickhouse"]["environment"]
    assert (clickhouse["jsonData"]["host"], clickhouse["jsonData"]["port"]) == \
        ("clickhouse", 8123)
    assert clickhouse["jsonData"]["username"] == ch_env["CLICKHOUSE_USER"]
    assert clickhouse["jsonData"]["defaultDatabase"] == ch_env["CLICKHOUSE_DB"]
    password_variable = clickhouse["secureJsonData"]["password"].lstrip("$").strip("{}")
    assert grafana["environment"][password_variable] == ch_env["CLICKHOUSE_PASSWORD"]
    assert grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"] == \
        "grafana-clickhouse-datasource"
    (provider_file,) = [path for target, path in mounts.items()
                        if target.startswith("/etc/grafana/provisioning/dashboards/")]
    (provider,) = yaml.safe_load(provider_file.read_text(encoding="utf-8"))["providers"]
    folder = mounts[provider["options"]["path"]]
    assert {p.name for p in folder.glob("*.json")} == {
        "llmpulse-oncall.json", "llmpulse-quality.json", "llmpulse-clickhouse.json"}


def test_the_readme_links_every_deployment_document() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    for target in ("Dockerfile", "deploy/compose/README.md", "deploy/helm/llmpulse/README.md"):
        assert f"]({target})" in section and (ROOT / target).is_file(), target


def test_the_otlp_receiver_publishes_where_the_workers_read_on_the_hosts_loopback() -> None:
    services = _all_services()
    otlp, worker = services["otlp"], services["worker"]
    assert otlp["command"] == ["otlp"]
    topic = worker["environment"]["LLMPULSE_OTLP_TOPIC"]
    assert topic and otlp["environment"]["LLMPULSE_OTLP_TOPIC"] == topic
    assert services["topics"]["environment"]["LLMPULSE_OTLP_TOPIC"] == topic  # created
    (port,) = otlp["ports"]
    assert (port["host_ip"], port["published"], port["target"]) == ("127.0.0.1", "4318", 4318)
    assert otlp["environment"]["LLMPULSE_OTLP_HOST"] == "0.0.0.0"  # inside its container

