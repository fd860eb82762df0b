"""Dashboards as files: one JSON per dashboard and a Grafana file-provisioning config."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import yaml

from llmpulse.dashboards.model import JSON

PROVISIONING_FILE = "dashboards.yml"
DEFAULT_FOLDER = "llmpulse"


def render_json(board: JSON) -> str:
    """A dashboard's JSON model as written to disk (stable: byte-equal for equal models)."""
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def provisioning_config(path: str, folder: str = DEFAULT_FOLDER) -> str:
    """Grafana's dashboard provider config (``provisioning/dashboards/*.yml``) for ``path``."""
    config = {"apiVersion": 1, "providers": [{
        "name": "llmpulse", "orgId": 1, "folder": folder, "type": "file",
        "disableDeletion": False, "allowUiUpdates": False, "updateIntervalSeconds": 60,
        "options": {"path": path, "foldersFromFilesStructure": False}}]}
    header = ("# Grafana file provisioning of the llmpulse dashboards: copy to\n"
              "# <grafana>/provisioning/dashboards/ and the *.json files to `path`.\n")
    return header + yaml.safe_dump(config, sort_keys=False)


def write_dashboards(boards: Mapping[str, JSON], out: Path, provisioning_path: str | None = None,
                     folder: str = DEFAULT_FOLDER) -> list[Path]:
    """Write every dashboard and ``dashboards.yml`` into ``out``; the paths written.

    ``provisioning_path`` is the folder as Grafana will see it (default: ``out``,
    absolute), e.g. where a container mounts it.
    """
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, board in boards.items():
        path = out / name
        path.write_text(render_json(board), encoding="utf-8")
        written.append(path)
    config = out / PROVISIONING_FILE
    config.write_text(provisioning_config(provisioning_path or str(out.resolve()), folder),
                      encoding="utf-8")
    written.append(config)
    return written
