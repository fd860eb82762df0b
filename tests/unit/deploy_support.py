"""What the deployment files (Dockerfile, compose stack, Helm chart) may name: the real
settings, CLI commands and metrics ports, and the locations of the tools that check them."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import click
import pytest

from llmpulse.cli import cli
from llmpulse.config import DEFAULT_METRICS_PORTS, ENV_PREFIX, Settings, check_settings

ROOT = Path(__file__).resolve().parents[2]
#: Where scripts/deploy-tools.sh builds helm, docker-compose and the Kubernetes checker.
TOOLS_BIN = ROOT / ".cache" / "bin"
INSTALL_HINT = "bash scripts/deploy-tools.sh (scripts/test.sh runs it)"
#: The variable that names the YAML settings file: read by config.py, not a field.
CONFIG_VARIABLE = ENV_PREFIX + "CONFIG"
METRICS_PORTS = set(DEFAULT_METRICS_PORTS.values())


def setting_names() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def unknown_settings(names: Iterable[str]) -> list[str]:
    """The LLMPULSE_* names among ``names`` that are no setting (llmpulse refuses them)."""
    known = setting_names() | {CONFIG_VARIABLE}
    return sorted(n for n in names if n.upper().startswith(ENV_PREFIX) and n not in known)


def setting_problems(env: Mapping[str, str]) -> list[str]:
    """What llmpulse would say about these LLMPULSE_* values at start-up."""
    ours = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    return check_settings(ours)[1]


def top_commands() -> set[str]:
    return set(cli.commands)


def is_command(words: list[str]) -> bool:
    """``words`` (after ``llmpulse``) start with a command of the CLI, groups followed."""
    group: click.Command = cli
    for word in words:
        if word.startswith("-"):
            break
        if not isinstance(group, click.Group) or word not in group.commands:
            return False
        group = group.commands[word]
    return not isinstance(group, click.Group) and group is not cli


#: scripts/test.sh builds the tools in the background while the suite runs; this file
#: holds the building process's id until the build has ended (well or not).
BUILDING = TOOLS_BIN / ".building"
BUILD_LOG = ROOT / ".cache" / "deploy-tools.out"
BUILD_WAIT_S = 1800.0


def _wait_for_build() -> None:
    deadline = time.monotonic() + BUILD_WAIT_S
    while BUILDING.exists() and _alive(BUILDING):
        if time.monotonic() > deadline:
            pytest.fail(f"the deployment tools were still building after {BUILD_WAIT_S:.0f} s "
                        f"(see {BUILD_LOG})", pytrace=False)
        time.sleep(2)


def _alive(marker: Path) -> bool:
    """The process named in ``marker`` still runs (a marker left by a killed run does not
    hold the tests up)."""
    try:
        pid = int(marker.read_text().strip())
        if pid <= 0:
            return False
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def tool(name: str, hint: str = INSTALL_HINT) -> str:
    """The path of a deployment-check tool: .cache/bin, the Python environment's bin (hadolint
    from PyPI), then PATH, once a background build (scripts/test.sh) has ended. Fails (never
    skips) with the command that installs it, and the build's log when there is one."""
    _wait_for_build()
    for folder in (TOOLS_BIN, Path(sys.executable).parent):
        if (folder / name).is_file() and os.access(folder / name, os.X_OK):
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        log = BUILD_LOG.read_text(errors="replace")[-3000:] if BUILD_LOG.exists() else ""
        pytest.fail(
            f"`{name}` is not installed (looked in {TOOLS_BIN}, beside {sys.executable} and "
            f"on PATH); install it with `{hint}`" + (f"\nbuild log:\n{log}" if log else ""),
            pytrace=False)
    return found
