"""What each worker of a fleet is told: its settings beyond the shared ones."""

from __future__ import annotations

from pathlib import Path

from llmpulse.config import DEFAULT_METRICS_PORTS, Settings
from llmpulse.errors import ConfigError

#: The longest instance id the settings accept.
MAX_INSTANCE_ID = 200


def member_name(index: int) -> str:
    return f"worker-{index}"


def member_port(settings: Settings, index: int) -> int:
    """The /metrics port of worker ``index``: the configured (or default) port plus the
    index; 0 (a free port each) stays 0."""
    base = settings.metrics_port_for("worker")
    return 0 if base == 0 else base + index


def member_instance_id(settings: Settings, index: int) -> str:
    """LLMPULSE_INSTANCE_ID of worker ``index``: an explicit id gets ``-<index>`` (stable
    across restarts, distinct in the group); ``auto`` stays auto (``<host>-<port>``, each
    worker has its own port; dynamic membership on port 0), ``none`` stays none."""
    if settings.instance_id in ("auto", "none"):
        return settings.instance_id
    return f"{settings.instance_id}-{index}"


def member_data_dir(settings: Settings, index: int) -> Path:
    return settings.data_dir / member_name(index)


def member_env(settings: Settings, index: int, store_url: str) -> dict[str, str]:
    """The settings worker ``index`` gets on top of the fleet's environment."""
    return {
        "LLMPULSE_WORKERS": "1",
        "LLMPULSE_CLICKHOUSE_URL": store_url,
        "LLMPULSE_METRICS_PORT": str(member_port(settings, index)),
        "LLMPULSE_INSTANCE_ID": member_instance_id(settings, index),
        "LLMPULSE_DATA_DIR": str(member_data_dir(settings, index)),
    }


def check_fleet(settings: Settings) -> None:
    """Refuse what N workers cannot be given: ports past 65535, instance ids too long."""
    last = settings.workers - 1
    port = member_port(settings, last)
    if port > 65535:
        raise ConfigError(
            f"LLMPULSE_WORKERS={settings.workers}: the workers' /metrics ports run from "
            f"LLMPULSE_METRICS_PORT={member_port(settings, 0)} to {port}, past 65535; "
            "lower LLMPULSE_METRICS_PORT, or set it to 0 (a free port each)")
    instance = member_instance_id(settings, last)
    if len(instance) > MAX_INSTANCE_ID:
        raise ConfigError(
            f"LLMPULSE_INSTANCE_ID: the workers' ids ({instance}) are longer than "
            f"{MAX_INSTANCE_ID} characters; choose a shorter id")


def fleet_warnings(settings: Settings) -> list[str]:
    """What may go wrong with these settings without being an error."""
    found = []
    ports = {member_port(settings, i) for i in range(settings.workers)}
    scorer = DEFAULT_METRICS_PORTS["scorer"]
    if settings.metrics_port is None and settings.scorer_metrics_port is None \
            and scorer in ports:  # the defaults: worker-1 takes the scorer's default
        found.append(f"a worker's /metrics port is {scorer}, the scorer's: a scorer on this "
                     "host needs another LLMPULSE_SCORER_METRICS_PORT")
    if settings.workers > settings.partitions:
        found.append(f"LLMPULSE_WORKERS={settings.workers} is more than "
                     f"LLMPULSE_PARTITIONS={settings.partitions}: "
                     f"{settings.workers - settings.partitions} worker(s) will stay idle")
    return found
