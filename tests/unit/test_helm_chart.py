"""The Helm chart (deploy/helm/llmpulse): `helm lint`, `helm template` for each values
set, and every rendered object decoded strictly against its API's Go types by k8scheck
(deploy/helm/tools: Kubernetes, KEDA, prometheus-operator types; unknown fields,
duplicate keys and unknown kinds fail). Then what the objects say is checked against
llmpulse itself: settings, commands, ports, probes, job names, rules and prices files.

helm and k8scheck are built from the Go module proxy by scripts/deploy-tools.sh; without
them these tests fail (never skip). No cluster runs here: nothing is applied.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmpulse.alerting.rules import parse_rules
from llmpulse.config import DEFAULT_METRICS_PORTS, load_settings
from llmpulse.prices import load_overrides
from tests.unit.deploy_support import (
    ROOT,
    is_command,
    setting_problems,
    tool,
    unknown_settings,
)

CHART = ROOT / "deploy" / "helm" / "llmpulse"
RULES = ROOT / "deploy" / "prometheus" / "llmpulse-rules.yml"
#: values sets rendered and checked: name -> helm arguments
CASES: dict[str, list[str]] = {
    "default": [],
    "gpu": ["-f", str(CHART / "values-gpu.yaml")],
    "keda-prometheus": ["--set", "autoscaling.keda.enabled=true"],
    "keda-kafka": ["--set", "autoscaling.keda.enabled=true,autoscaling.keda.trigger=kafka"],
    "hpa": ["--set", "autoscaling.hpa.enabled=true"],
    "full": ["-f", str(CHART / "ci" / "full-values.yaml")],
    "kafka-security": ["-f", str(CHART / "ci" / "kafka-security-values.yaml")],
    "kafka-oauth": ["-f", str(CHART / "ci" / "kafka-oauth-values.yaml")],
}
NAMESPACE = "observability"


#: helm's own folders, inside the checkout (whatever HOME is, or if there is none)
HELM_HOMES = {f"HELM_{kind}_HOME": str(ROOT / ".cache" / "helm" / kind.lower())
              for kind in ("CACHE", "CONFIG", "DATA")}


def _run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, **HELM_HOMES})


@cache
def rendered(case: str) -> str:
    done = _run([tool("helm"), "template", "llmpulse", str(CHART), "--namespace", NAMESPACE,
                 *CASES[case]])
    assert done.returncode == 0, f"helm template ({case}) failed:\n{done.stderr}"
    return done.stdout


def objects(case: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered(case)) if doc]


def by_kind(case: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects(case) if o["kind"] == kind}


def pod_specs(case: str) -> dict[str, dict[str, Any]]:
    """Pod template of every Deployment and Job, by object name."""
    return {o["metadata"]["name"]: o["spec"]["template"] for o in objects(case)
            if o["kind"] in ("Deployment", "Job")}


def deployment(case: str, component: str) -> dict[str, Any]:
    return by_kind(case, "Deployment")[f"llmpulse-{component}"]


def container(case: str, component: str) -> dict[str, Any]:
    (only,) = deployment(case, component)["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("values", [[], ["-f", str(CHART / "values-gpu.yaml")],
                                    ["-f", str(CHART / "ci" / "full-values.yaml")]],
                         ids=["default", "gpu", "full"])
def test_helm_lint_strict_passes(values: list[str]) -> None:
    done = _run([tool("helm"), "lint", "--strict", str(CHART), *values])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("case", CASES)
def test_every_rendered_object_decodes_strictly_against_its_api_types(case: str) -> None:
    done = _run([tool("k8scheck")], stdin=rendered(case))
    assert done.returncode == 0, f"k8scheck ({case}):\n{done.stderr}"
    checked = done.stdout.splitlines()
    assert len(checked) == len(objects(case)) and all(c.startswith("ok ") for c in checked)


@pytest.mark.parametrize("manifest,problem", [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndatta: {}\n", 'unknown field "datta"'),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a, name: b}\n", "already set"),
    ("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\n"
     "spec: {scaleTargetRef: {name: w}, maxReplicas: 3}\n", 'unknown field "spec.maxReplicas"'),
    ("apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: a}\n"
     "spec: {jobLabels: x}\n", 'unknown field "spec.jobLabels"'),
    ("apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: a}\n", "unknown apiVersion"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: 3}\n", "cannot unmarshal"),
], ids=["field", "duplicate", "keda", "prometheus-operator", "kind", "type"])
def test_k8scheck_refuses_what_the_api_server_would(manifest: str, problem: str) -> None:
    done = _run([tool("k8scheck")], stdin=manifest)
    assert done.returncode == 1 and problem in done.stderr, done.stderr


def _env(container: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    """(literal values, names set from secrets) of a container's env."""
    literal = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    secret = {e["name"] for e in container.get("env", []) if "valueFrom" in e}
    return literal, secret


def effective_env(case: str, container: dict[str, Any]) -> dict[str, str]:
    """The environment the container gets: its env, with values from the chart's Secrets
    (secretKeyRef), and the keys of the Secrets it loads whole (envFrom)."""
    secrets = {n: s["stringData"] for n, s in by_kind(case, "Secret").items()}
    env = {}
    for ref in container.get("envFrom", []):
        env.update(secrets[ref["secretRef"]["name"]])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = secrets[ref["name"]][ref["key"]]
    return env


@pytest.mark.parametrize("case", CASES)
def test_every_variable_the_chart_sets_is_a_real_setting_with_a_valid_value(case: str) -> None:
    for name, template in pod_specs(case).items():
        for c in template["spec"]["containers"]:
            env = effective_env(case, c)
            assert not unknown_settings(env), f"{name}: {c['name']}: {unknown_settings(env)}"
            assert not setting_problems(env), f"{name}: {setting_problems(env)}"
            assert len({e["name"] for e in c["env"]}) == len(c["env"]), "a variable set twice"
    for name, secret_object in by_kind(case, "Secret").items():
        data = secret_object["stringData"]
        assert not unknown_settings(data), f"Secret {name}: {unknown_settings(data)}"
        assert not setting_problems(data), f"Secret {name}: {setting_problems(data)}"


@pytest.mark.parametrize("case", CASES)
def test_pods_run_llmpulse_commands_without_service_links_or_root(case: str) -> None:
    for name, template in pod_specs(case).items():
        spec = template["spec"]
        # Service links would add LLMPULSE_*_PORT variables for a Service named llmpulse-*,
        # and llmpulse refuses variables it does not know.
        assert spec["enableServiceLinks"] is False, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for c in spec["containers"]:
            assert is_command(c["args"]), f"{name}: {c['args']}"
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), name
            writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
            assert "/tmp" in writable, name
            if c["args"][0] in ("worker", "scorer"):
                assert "/var/lib/llmpulse" in writable, "HOME and LLMPULSE_DATA_DIR (Faust)"


@pytest.mark.parametrize("case", CASES)
def test_metrics_ports_probes_and_scrape_jobs(case: str) -> None:
    rules = RULES.read_text(encoding="utf-8")
    for component, job in (("worker", "llmpulse"), ("scorer", "llmpulse-scorer")):
        c = container(case, component)
        (port,) = c["ports"]
        assert port["name"] == "metrics"
        assert port["containerPort"] == DEFAULT_METRICS_PORTS[component]
        settings = load_settings(effective_env(case, c))
        assert settings.metrics_port_for(component) == port["containerPort"]
        assert c["args"] == [component]
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        labels = deployment(case, component)["spec"]["template"]["metadata"]["labels"]
        assert labels["llmpulse.dev/job"] == job
        assert f'job="{job}"' in rules
    for monitor in by_kind(case, "PodMonitor").values():
        assert monitor["spec"]["jobLabel"] == "llmpulse.dev/job"
        assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


@pytest.mark.parametrize("case", CASES)
def test_selectors_select_their_pods(case: str) -> None:
    deployments = by_kind(case, "Deployment")
    for name, d in deployments.items():
        selector = d["spec"]["selector"]["matchLabels"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
    for name, pdb in by_kind(case, "PodDisruptionBudget").items():
        matched = [n for n, d in deployments.items() if pdb["spec"]["selector"]["matchLabels"]
                   .items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert matched == [name], f"PodDisruptionBudget {name} selects {matched}"
    for monitor in by_kind(case, "PodMonitor").values():
        selector = monitor["spec"]["selector"]
        selected = [n for n, d in deployments.items()
                    if _selects(selector, d["spec"]["template"]["metadata"]["labels"])]
        assert sorted(selected) == ["llmpulse-scorer", "llmpulse-worker"]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector's matchLabels and its `In` matchExpressions."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_workers_scale_on_consumer_lag_up_to_the_partitions() -> None:
    partitions = int(load_settings(_env(container("default", "worker"))[0]).partitions)
    assert deployment("default", "worker")["spec"]["replicas"] <= partitions
    (scaled,) = by_kind("keda-prometheus", "ScaledObject").values()
    assert "replicas" not in deployment("keda-prometheus", "worker")["spec"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "llmpulse-worker"
    assert scaled["spec"]["maxReplicaCount"] <= partitions
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert 'llmpulse_consumer_lag{job="llmpulse", namespace="observability"}' in \
        trigger["metadata"]["query"]
    (kafka,) = by_kind("keda-kafka", "ScaledObject")["llmpulse-worker"]["spec"]["triggers"]
    settings = load_settings(_env(container("keda-kafka", "worker"))[0])
    assert kafka["type"] == "kafka"
    assert kafka["metadata"]["consumerGroup"] == settings.app_id
    assert kafka["metadata"]["bootstrapServers"] == settings.broker
    (hpa,) = by_kind("hpa", "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "llmpulse-worker"}
    assert hpa["spec"]["maxReplicas"] <= partitions
    (metric,) = hpa["spec"]["metrics"]
    assert metric["external"]["metric"]["name"] == "llmpulse_consumer_lag"
    assert not by_kind("default", "ScaledObject") and not by_kind("default",
                                                                  "HorizontalPodAutoscaler")


@pytest.mark.parametrize("values,message", [
    (["--set", "worker.replicas=13"], "worker.replicas (13) is more than kafka.partitions (12)"),
    (["--set", "autoscaling.keda.enabled=true,autoscaling.maxReplicas=20"],
     "autoscaling.maxReplicas (20) is more than kafka.partitions (12)"),
    (["--set", "autoscaling.keda.enabled=true,autoscaling.hpa.enabled=true"],
     "at most one of autoscaling.keda and autoscaling.hpa"),
    (["--set", "clickhouse.url=chdb:///data"], "the embedded chdb store admits one process"),
    (["--set", "kafka.brokers="], "kafka.brokers is required"),
    (["--set", "kafka.security.protocol=SASL_SSL"],
     "needs kafka.security.saslUsername and kafka.security.passwordSecret"),
    (["--set", "kafka.security.caSecret=ca"], "need a TLS protocol (SSL or SASL_SSL)"),
    (["--set", "kafka.security.protocol=TLS"], "must be PLAINTEXT, SSL, SASL_PLAINTEXT"),
    (["--set", "otlp.enabled=true"], "otlp.enabled needs kafka.otlpTopic"),
    (["--set", "kafka.security.protocol=SASL_SSL,kafka.security.saslMechanism=OAUTHBEARER,"
      "kafka.security.oauth.tokenUrl=https://idp/token,kafka.security.oauth.clientId=c"],
     "OAUTHBEARER needs kafka.security.oauth.tokenUrl, clientId and clientSecretSecret"),
], ids=["replicas", "max-replicas", "two-autoscalers", "chdb", "no-broker", "sasl-no-user",
        "ca-without-tls", "bad-protocol", "otlp-no-topic", "oauth-no-secret"])
def test_impossible_values_are_refused_with_a_reason(values: list[str], message: str) -> None:
    done = _run([tool("helm"), "template", "llmpulse", str(CHART), *values])
    assert done.returncode != 0 and message in done.stderr, done.stderr


def test_the_topics_job_is_a_pre_install_hook_that_needs_nothing_of_the_chart() -> None:
    (job,) = by_kind("full", "Job").values()
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert {"pre-install", "pre-upgrade"} <= set(hooks)
    spec = job["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["args"] == ["topics", "create"]
    # a pre-install hook runs before the chart's ServiceAccount, Secrets and ConfigMaps exist
    assert "serviceAccountName" not in spec and "envFrom" not in c
    assert all("valueFrom" not in e for e in c["env"])
    assert all("emptyDir" in v for v in spec["volumes"])
    worker_env = _env(container("full", "worker"))[0]
    job_env = _env(c)[0]
    for name in ("LLMPULSE_BROKER", "LLMPULSE_TOPIC_PREFIX", "LLMPULSE_PARTITIONS",
                 "LLMPULSE_REPLICATION_FACTOR"):
        assert job_env[name] == worker_env[name], f"the Job makes other topics: {name}"


def test_rules_prices_and_secrets_reach_the_worker_and_are_valid() -> None:
    worker = container("full", "worker")
    literal, from_secret = _env(worker)
    configmaps = by_kind("full", "ConfigMap")
    mounts = {m["mountPath"]: m["name"] for m in worker["volumeMounts"]}
    volumes = {v["name"]: v for v in
               deployment("full", "worker")["spec"]["template"]["spec"]["volumes"]}

    def mounted(variable: str) -> str:
        path = Path(literal[variable])
        volume = volumes[mounts[str(path.parent)]]
        return str(configmaps[volume["configMap"]["name"]]["data"][path.name])

    env = effective_env("full", worker)
    assert {ref["secretRef"]["name"] for ref in worker["envFrom"]} == {"llmpulse-env"}
    settings = load_settings({k: v for k, v in env.items() if k.startswith("LLMPULSE_")})
    # every channel secret the rules name is in the worker's environment (llmpulse-env)
    rules = parse_rules(mounted("LLMPULSE_RULES_FILE"), "ConfigMap llmpulse-rules",
                        pane_s=settings.window_pane_s, env=env)
    assert [r.name for r in rules.rules] == ["error_rate_high"]
    assert Path(literal["LLMPULSE_PRICES_FILE"]).name == "prices.yml"
    mounted("LLMPULSE_PRICES_FILE")
    assert "LLMPULSE_CLICKHOUSE_URL" in from_secret
    assert settings.pii_prompt == "hash" and settings.pii_hash_key is not None
    assert settings.clickhouse_url.startswith("http://")


def test_the_prices_configmap_loads(tmp_path: Path) -> None:
    (configmap,) = [c for n, c in by_kind("full", "ConfigMap").items() if n.endswith("prices")]
    path = tmp_path / "prices.yml"
    path.write_text(configmap["data"]["prices.yml"], encoding="utf-8")
    assert len(load_overrides(path)) == 1


def test_gpu_values_put_the_scorer_on_a_gpu_with_its_model() -> None:
    scorer = container("gpu", "scorer")
    spec = deployment("gpu", "scorer")["spec"]["template"]["spec"]
    assert scorer["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert scorer["image"].endswith("-gpu")
    assert spec["nodeSelector"] and any(t["key"] == "nvidia.com/gpu"
                                        for t in spec["tolerations"])
    literal, _ = _env(scorer)
    model = literal["LLMPULSE_TOXICITY_MODEL"]
    (mount,) = [m for m in scorer["volumeMounts"] if m["mountPath"] == model]
    assert mount["readOnly"] is True
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert volume["persistentVolumeClaim"]["claimName"]
    worker = container("gpu", "worker")
    assert "nvidia.com/gpu" not in worker["resources"].get("limits", {})
    assert "-gpu" not in worker["image"]


def test_probes_can_be_turned_off() -> None:
    done = _run([tool("helm"), "template", "llmpulse", str(CHART), "--set", "probes.enabled=false"])
    assert done.returncode == 0, done.stderr
    assert _run([tool("k8scheck")], stdin=done.stdout).returncode == 0
    deployments = [d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "Deployment"]
    for d in deployments:
        (c,) = d["spec"]["template"]["spec"]["containers"]
        assert not {"startupProbe", "livenessProbe", "readinessProbe"} & set(c)


def test_kafka_secrets_are_mounted_as_the_files_the_settings_name() -> None:
    for name, template in pod_specs("kafka-security").items():
        spec = template["spec"]
        (c,) = spec["containers"]
        env = _env(c)[0]
        assert env["LLMPULSE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["LLMPULSE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert "LLMPULSE_KAFKA_SASL_PASSWORD" not in env, "secrets go in files"
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        for variable, volume, secret, key in (
                ("LLMPULSE_KAFKA_SASL_PASSWORD_FILE", "kafka-sasl", "llmpulse-kafka",
                 "sasl-password"),
                ("LLMPULSE_KAFKA_SSL_CA_FILE", "kafka-ca", "kafka-ca", "ca.crt"),
                ("LLMPULSE_KAFKA_SSL_CERT_FILE", "kafka-client", "llmpulse-kafka-client",
                 "tls.crt"),
                ("LLMPULSE_KAFKA_SSL_KEY_FILE", "kafka-client", "llmpulse-kafka-client",
                 "tls.key")):
            folder, _, file = env[variable].rpartition("/")
            assert mounts[volume] == folder, (name, variable)
            source = volumes[volume]["secret"]
            assert source["secretName"] == secret
            assert {"key": key, "path": file} in source["items"], (name, variable)


def test_the_oauth_client_secret_and_idp_ca_are_mounted_as_the_files_the_settings_name(
        ) -> None:
    for name, template in pod_specs("kafka-oauth").items():
        spec = template["spec"]
        (c,) = spec["containers"]
        env = _env(c)[0]
        settings = load_settings(env)  # a valid whole: OAUTHBEARER with what it needs
        assert settings.kafka_sasl_mechanism == "OAUTHBEARER", name
        assert settings.kafka_oauth_client_id == "llmpulse" and settings.kafka_oauth_scope
        assert "LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET" not in env, "secrets go in files"
        assert "LLMPULSE_KAFKA_SASL_USERNAME" not in env
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "kafka-sasl" not in volumes
        for variable, volume, secret, key in (
                ("LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE", "kafka-oauth",
                 "llmpulse-kafka-oauth", "secret"),
                ("LLMPULSE_KAFKA_OAUTH_CA_FILE", "kafka-oauth-ca", "keycloak-ca", "ca.crt"),
                ("LLMPULSE_KAFKA_SSL_CA_FILE", "kafka-ca", "my-cluster-cluster-ca-cert",
                 "ca.crt")):
            folder, _, file = env[variable].rpartition("/")
            assert mounts[volume] == folder, (name, variable)
            source = volumes[volume]["secret"]
            assert source["secretName"] == secret
            assert {"key": key, "path": file} in source["items"], (name, variable)


def test_the_otlp_receiver_publishes_where_the_workers_read() -> None:
    otlp = deployment("full", "otlp")
    (c,) = otlp["spec"]["template"]["spec"]["containers"]
    env = _env(c)[0]
    assert c["args"] == ["otlp"]
    assert env["LLMPULSE_OTLP_TOPIC"] == _env(container("full", "worker"))[0][
        "LLMPULSE_OTLP_TOPIC"] == "otlp_spans"
    (job,) = by_kind("full", "Job").values()
    assert _env(job["spec"]["template"]["spec"]["containers"][0])[0][
        "LLMPULSE_OTLP_TOPIC"] == "otlp_spans"  # the topics Job creates it
    settings = load_settings(env)
    (port,) = c["ports"]
    assert port["containerPort"] == settings.otlp_port
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert env["LLMPULSE_OTLP_TOKENS_FILE"] == mounts["otlp-tokens"] + "/tokens"
    service = by_kind("full", "Service")["llmpulse-otlp"]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert _selects({"matchLabels": service["spec"]["selector"]},
                    otlp["spec"]["template"]["metadata"]["labels"])

