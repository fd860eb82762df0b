"""Building blocks of Grafana dashboard JSON models: panels, targets, variables, layout.

Plain dicts in Grafana's own JSON model (``schemaVersion`` 39, Grafana 11), built by
small functions so that each dashboard module reads as a list of panels.  Panels are
laid out left to right on Grafana's 24-column grid by :class:`Grid`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

SCHEMA_VERSION = 39
GRID_WIDTH = 24
TAGS = ("llmpulse",)

PROMETHEUS = "prometheus"
CLICKHOUSE = "grafana-clickhouse-datasource"
#: Every panel and target names its data source through the ``datasource`` variable.
DS_VARIABLE = "${datasource}"


def datasource_ref(kind: str) -> JSON:
    return {"type": kind, "uid": DS_VARIABLE}


@dataclass(frozen=True)
class Threshold:
    """A colour from ``value`` up (``None``: the base colour)."""

    color: str
    value: float | None = None


def thresholds(*steps: Threshold) -> JSON:
    return {"mode": "absolute",
            "steps": [{"color": s.color, "value": s.value} for s in steps]}


#: Green, yellow from ``warn``, red from ``crit`` (higher is worse).
def rising(warn: float, crit: float) -> JSON:
    return thresholds(Threshold("green"), Threshold("yellow", warn), Threshold("red", crit))


#: Red, yellow from ``crit``, green from ``warn`` (lower is worse).
def falling(crit: float, warn: float) -> JSON:
    return thresholds(Threshold("red"), Threshold("yellow", crit), Threshold("green", warn))


#: Green, red from ``at`` (any at all is bad).
def alarm(at: float) -> JSON:
    return thresholds(Threshold("green"), Threshold("red", at))


NEUTRAL = thresholds(Threshold("green"))


@dataclass
class Grid:
    """Places panels left to right, wrapping at 24 columns; ``row`` starts a new line."""

    x: int = 0
    y: int = 0
    line_height: int = 0
    next_id: int = 1
    panels: list[JSON] = field(default_factory=list)

    def add(self, panel: JSON, w: int, h: int) -> None:
        if self.x + w > GRID_WIDTH:
            self._newline()
        panel["id"] = self.next_id
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.next_id += 1
        self.x += w
        self.line_height = max(self.line_height, h)
        self.panels.append(panel)

    def row(self, title: str) -> None:
        self._newline()
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []},
                 GRID_WIDTH, 1)
        self._newline()

    def _newline(self) -> None:
        self.y += self.line_height
        self.x = 0
        self.line_height = 0


def prom_target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> JSON:
    return {"refId": ref, "datasource": datasource_ref(PROMETHEUS), "expr": expr,
            "legendFormat": legend or "__auto", "range": not instant, "instant": instant,
            "editorMode": "code"}


def sql_target(sql: str, ref: str = "A", table: bool = True) -> JSON:
    """A raw-SQL query of the ClickHouse plugin (format 1 = table, 0 = time series)."""
    return {"refId": ref, "datasource": datasource_ref(CLICKHOUSE), "editorType": "sql",
            "rawSql": sql, "format": 1 if table else 0,
            "queryType": "table" if table else "timeseries"}


def _defaults(unit: str, steps: JSON, minimum: float | None, maximum: float | None,
              decimals: int | None) -> JSON:
    defaults: JSON = {"unit": unit, "thresholds": steps, "color": {"mode": "palette-classic"}}
    for key, value in (("min", minimum), ("max", maximum), ("decimals", decimals)):
        if value is not None:
            defaults[key] = value
    return defaults


@dataclass(frozen=True)
class Look:
    """Unit, thresholds and range of a panel's values."""

    unit: str = "short"
    steps: JSON = field(default_factory=lambda: NEUTRAL)
    minimum: float | None = None
    maximum: float | None = None
    decimals: int | None = None

    def field_config(self) -> JSON:
        return {"defaults": _defaults(self.unit, self.steps, self.minimum, self.maximum,
                                      self.decimals), "overrides": []}


def timeseries(title: str, targets: Sequence[JSON], look: Look, description: str = "",
               show_thresholds: bool = False) -> JSON:
    config = look.field_config()
    config["defaults"]["custom"] = {
        "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
        "spanNulls": False,
        "thresholdsStyle": {"mode": "dashed" if show_thresholds else "off"}}
    return {"type": "timeseries", "title": title, "description": description,
            "datasource": _panel_datasource(targets), "targets": list(targets),
            "fieldConfig": config,
            "options": {"legend": {"displayMode": "list", "placement": "bottom",
                                   "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(title: str, targets: Sequence[JSON], look: Look, description: str = "") -> JSON:
    config = look.field_config()
    config["defaults"]["color"] = {"mode": "thresholds"}
    return {"type": "stat", "title": title, "description": description,
            "datasource": _panel_datasource(targets), "targets": list(targets),
            "fieldConfig": config,
            "options": {"colorMode": "background", "graphMode": "area", "textMode": "auto",
                        "justifyMode": "auto", "orientation": "auto",
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                          "values": False}}}


def table(title: str, targets: Sequence[JSON], look: Look | None = None,
          description: str = "") -> JSON:
    config = (look or Look()).field_config()
    config["defaults"]["custom"] = {"align": "auto", "filterable": True}
    return {"type": "table", "title": title, "description": description,
            "datasource": _panel_datasource(targets), "targets": list(targets),
            "fieldConfig": config,
            "options": {"showHeader": True, "cellHeight": "sm",
                        "footer": {"show": False, "reducer": ["sum"], "fields": ""}}}


def _panel_datasource(targets: Sequence[JSON]) -> JSON:
    kinds = {t["datasource"]["type"] for t in targets}
    if len(kinds) != 1:
        raise ValueError(f"a panel's targets must share one data source type, got {kinds}")
    return datasource_ref(kinds.pop())


def datasource_variable(kind: str, label: str) -> JSON:
    return {"name": "datasource", "label": label, "type": "datasource", "query": kind,
            "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": [],
            "includeAll": False, "multi": False}


def query_variable(name: str, label: str, kind: str, query: str | JSON,
                   all_value: str | None = ".*") -> JSON:
    """A multi-value variable with "All", refreshed when the time range changes."""
    variable: JSON = {
        "name": name, "label": label, "type": "query", "datasource": datasource_ref(kind),
        "query": query, "definition": query if isinstance(query, str) else query["rawSql"],
        "current": {}, "hide": 0, "refresh": 2, "regex": "", "sort": 1, "options": [],
        "multi": True, "includeAll": True}
    if all_value is not None:
        variable["allValue"] = all_value
    return variable


def dashboard(uid: str, title: str, description: str, variables: Sequence[JSON],
              grid: Grid, time_from: str = "now-6h", refresh: str = "30s") -> JSON:
    return {
        "id": None, "uid": uid, "title": title, "description": description,
        "tags": list(TAGS), "timezone": "browser", "editable": True, "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False,
        "templating": {"list": list(variables)},
        "annotations": {"list": []},
        "links": [{"title": "llmpulse dashboards", "type": "dashboards", "tags": list(TAGS),
                   "asDropdown": True, "includeVars": False, "keepTime": True,
                   "targetBlank": False, "icon": "external link", "tooltip": "", "url": ""}],
        "panels": grid.panels,
    }
