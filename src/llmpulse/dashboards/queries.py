"""The queries of the dashboards, and the same queries with Grafana's variables bound.

Grafana expands ``$var`` / ``${var}`` / ``${var:format}`` and its built-in
macros before a query reaches the data source; binding them to concrete values
here lets the queries be checked by the real engines (promtool, Prometheus,
ClickHouse) outside Grafana.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from llmpulse.dashboards.model import CLICKHOUSE, JSON, PROMETHEUS

_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_TIME_FILTER = re.compile(r"\$__timeFilter\(\s*([\w.]+)\s*\)")
_TIME_INTERVAL = re.compile(r"\$__timeInterval\(\s*([\w.]+)\s*\)")


@dataclass(frozen=True)
class Query:
    """One query of a dashboard: a panel target, or a variable's query."""

    dashboard: str
    where: str
    kind: str
    text: str


def queries(board: JSON) -> Iterator[Query]:
    """Every panel target's and query variable's query, with its data source type."""
    uid = str(board["uid"])
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            kind = target["datasource"]["type"]
            text = target["expr"] if kind == PROMETHEUS else target["rawSql"]
            yield Query(uid, f"{panel['title']} [{target['refId']}]", kind, text)
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        kind = variable["datasource"]["type"]
        text = query if isinstance(query, str) else query["rawSql"]
        yield Query(uid, f"variable {variable['name']}", kind, text)


def bind_promql(expr: str, values: Mapping[str, str], rate_interval: str = "1m",
                range_: str = "1h") -> str:
    """``expr`` with ``$__rate_interval``, ``$__interval``, ``$__range`` and ``values`` bound.

    ``label_values(metric, label)`` (a variable query, not PromQL) becomes the
    series selector it reads.
    """
    builtins = {"__rate_interval": rate_interval, "__interval": rate_interval,
                "__range": range_}
    bound = _bind(expr, {**builtins, **values})
    found = re.fullmatch(r"label_values\((.*),\s*\w+\)", bound, flags=re.S)
    return found.group(1) if found else bound


def bind_sql(sql: str, start: datetime, end: datetime, values: Mapping[str, str],
             interval_s: int = 60) -> str:
    """``sql`` with the ClickHouse plugin's time macros and ``values`` bound.

    ``values`` are already formatted as the query uses them (``'a','b'`` for
    ``${model:singlequote}``).
    """
    lo, hi = int(start.timestamp()), int(end.timestamp())
    sql = _TIME_FILTER.sub(lambda m: f"{m[1]} >= toDateTime({lo}) AND {m[1]} <= toDateTime({hi})",
                           sql)
    sql = _TIME_INTERVAL.sub(
        lambda m: f"toStartOfInterval(toDateTime({m[1]}), INTERVAL {interval_s} second)", sql)
    builtins = {"__fromTime": f"toDateTime({lo})", "__toTime": f"toDateTime({hi})",
                "__interval_s": str(interval_s)}
    return _bind(sql, {**builtins, **values})


def _bind(text: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[3]
        if name not in values:
            raise KeyError(f"no value for ${name} in {text!r}")
        return values[name]

    return _VARIABLE.sub(replace, text)


__all__ = ["CLICKHOUSE", "PROMETHEUS", "Query", "bind_promql", "bind_sql", "queries"]
