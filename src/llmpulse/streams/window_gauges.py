"""The window gauges: each group's last closed 1-minute window on ``/metrics``.

Tenants are unbounded, so the ``tenant`` label is bounded by
``LLMPULSE_PROMETHEUS_TENANTS``: the first N tenants a worker sees keep their
name; the windows of every other tenant are merged (counts added, sketches
merged exactly) into tenant ``other``.  With N = 0 (the default) every
tenant's windows are merged into tenant ``*``, so the gauges are per model,
route and prompt version only.  Per-tenant windows stay complete in
ClickHouse (the ``windows`` table), and the alert rules still group on tenant.

The toxicity and groundedness gauges carry a ``scorer`` label as well: one
series per scorer version in the window (two during a rolling upgrade of the
scorers, never a blend of both; at most ``MAX_SCORER_VERSIONS``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from llmpulse.metrics import WINDOW_LABELS, Metrics
from llmpulse.windows import QUANTILES, SKETCHES, ClosedWindow, GroupKey, WindowAggregate

#: (gauge attribute, quality metric) of the gauges labelled with the scorer version.
SCORED_GAUGES = (("window_toxicity_rate", "toxicity_rate"),
                 ("window_groundedness", "groundedness_mean"))

#: The tenant label of the windows of tenants past the bound.
OTHER_TENANT = "other"
ANY = "*"


def percentile_label(q: float) -> str:
    """The ``percentile`` label value of quantile ``q`` (0.95 -> "95")."""
    return str(round(q * 100))


class TenantBound:
    """Which tenants keep their name in the gauges: the first ``limit`` seen."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"the tenant bound must be 0 or more, not {limit}")
        self.limit = limit
        self._named: set[str] = set()

    def label(self, tenant: str) -> str:
        """The exported tenant label of ``tenant`` (itself, ``other`` or ``*``)."""
        if tenant == ANY or tenant in self._named:
            return tenant
        if self.limit == 0:
            return ANY
        if tenant != OTHER_TENANT and len(self._named) < self.limit:
            self._named.add(tenant)
            return tenant
        return OTHER_TENANT


def exported_windows(closed: Sequence[ClosedWindow], tenants: TenantBound
                     ) -> dict[GroupKey, WindowAggregate]:
    """The aggregate of each exported group: groups whose tenant is past the bound are
    merged into the group with the bounded tenant label.  A real group with the same
    key (a rule grouping without tenant) holds the same calls and wins."""
    out: dict[GroupKey, WindowAggregate] = {}
    merged: dict[GroupKey, list[WindowAggregate]] = {}
    for window in closed:
        tenant = window.group.tenant
        label = tenants.label(tenant)
        key = replace(window.group, tenant=label)
        if label == tenant and tenant != OTHER_TENANT:
            out[key] = window.aggregate
        else:
            merged.setdefault(key, []).append(window.aggregate)
    for key, parts in merged.items():
        if key in out:
            continue
        total = WindowAggregate()
        for part in parts:
            total.merge(part)
        out[key] = total
    return out


class WindowGauges:
    """Sets the gauges of the newest closed windows, and removes those of groups that
    had no window then (no stale values)."""

    def __init__(self, metrics: Metrics, max_tenants: int) -> None:
        self.metrics = metrics
        self.tenants = TenantBound(max_tenants)
        self._groups: set[GroupKey] = set()
        self._scored: set[tuple[str, tuple[str, ...]]] = set()  # (gauge, labels + scorer)

    def export(self, closed: Sequence[ClosedWindow]) -> None:
        if not closed:
            return
        newest = max(w.start for w in closed)
        windows = exported_windows([w for w in closed if w.start == newest], self.tenants)
        scored: set[tuple[str, tuple[str, ...]]] = set()
        for group, aggregate in windows.items():
            _set(self.metrics, labels_of(group), aggregate)
            scored |= _set_scored(self.metrics, labels_of(group), aggregate)
        for gone in self._groups - windows.keys():
            _remove(self.metrics, labels_of(gone))
        for gauge, series in self._scored - scored:  # a version no longer scoring
            _drop(getattr(self.metrics, gauge), series)
        self._groups = set(windows)
        self._scored = scored


def labels_of(group: GroupKey) -> tuple[str, ...]:
    """The window gauges' label values, in ``WINDOW_LABELS`` order."""
    return tuple(getattr(group, d) for d in WINDOW_LABELS)


def _set(metrics: Metrics, labels: tuple[str, ...], aggregate: WindowAggregate) -> None:
    s = aggregate.summary()
    metrics.window_calls.labels(*labels).set(s["calls"])
    metrics.window_error_ratio.labels(*labels).set(s["error_rate"])
    metrics.window_cost.labels(*labels).set(s["cost_usd"])
    metrics.window_tokens.labels(*labels, "input").set(s["tokens_in"])
    metrics.window_tokens.labels(*labels, "output").set(s["tokens_out"])
    for gauge, key in ((metrics.window_thumbs_down, "thumbs_down_rate"),
                       (metrics.window_rating, "rating_mean"),
                       (metrics.window_injection_rate, "injection_rate")):
        if s[key] is not None:
            gauge.labels(*labels).set(s[key])
        else:  # nothing scored in this window: no stale value from an older one
            _drop(gauge, labels)
    for name in SKETCHES:
        for q in QUANTILES:
            value = s[f"{name}_p{round(q * 100)}"]
            series = (*labels, name, percentile_label(q))
            if value is not None:
                metrics.window_latency.labels(*series).set(value)
            else:
                _drop(metrics.window_latency, series)


def _set_scored(metrics: Metrics, labels: tuple[str, ...], aggregate: WindowAggregate
                ) -> set[tuple[str, tuple[str, ...]]]:
    """The quality gauges of each scorer version in the window; the series set."""
    out: set[tuple[str, tuple[str, ...]]] = set()
    for gauge, metric in SCORED_GAUGES:
        for version in aggregate.versions(metric):
            value = aggregate.summary(version)[metric]
            if value is not None:
                series = (*labels, version)
                getattr(metrics, gauge).labels(*series).set(value)
                out.add((gauge, series))
    return out


def _remove(metrics: Metrics, labels: tuple[str, ...]) -> None:
    for gauge in (metrics.window_calls, metrics.window_error_ratio, metrics.window_cost,
                  metrics.window_thumbs_down, metrics.window_rating,
                  metrics.window_injection_rate):
        _drop(gauge, labels)
    for direction in ("input", "output"):
        _drop(metrics.window_tokens, (*labels, direction))
    for name in SKETCHES:
        for q in QUANTILES:
            _drop(metrics.window_latency, (*labels, name, percentile_label(q)))


def _drop(gauge: Any, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)
