"""Grafana dashboards of llmpulse, built as JSON models in code.

``all_dashboards()`` returns each dashboard's JSON model by file name;
``llmpulse dashboards export`` writes them (and a file-provisioning config),
``llmpulse dashboards push`` uploads them through Grafana's HTTP API.
"""

from __future__ import annotations

from llmpulse.dashboards import drilldown, oncall, quality
from llmpulse.dashboards.model import JSON


def all_dashboards() -> dict[str, JSON]:
    """Every dashboard's JSON model, keyed by its file name (``<uid>.json``)."""
    boards = (oncall.build(), quality.build(), drilldown.build())
    return {f"{board['uid']}.json": board for board in boards}


__all__ = ["JSON", "all_dashboards"]
