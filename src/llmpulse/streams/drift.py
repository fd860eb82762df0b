"""Drift checks in the stream: once per closed drift window, per model with enough calls.

The owner of the maintenance partition (see :mod:`llmpulse.streams.alerting`)
reads each busy model's calls of the window that just closed from ClickHouse,
and its reference: a pinned baseline, else the model's first calls (``auto``)
or the six windows before (``trailing``).  :func:`llmpulse.drift.detect_drift`
compares them (bounded cost: both sides subsampled).  The outcome is

* stored: one ``drift.<feature>`` signal per feature tested and ``drift`` overall
  (value: the feature's severity, label: its status), keyed by model and window;
* exported: ``llmpulse_drift_score{model,feature}``, ``llmpulse_drift_detected{model}``;
* windowed: a partial with ``drift_checks``/``drifted``/``prompt_drifted`` for the
  model's group on ``llm.windows``, so rules (and retraining policies) can ask for
  drift in N consecutive checks: ``metric: prompt_drift_rate, threshold: 1,
  operator: ">=", window: 15m, min_count: 3``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from llmpulse.config import Settings
from llmpulse.drift import DriftPolicy, DriftReport, FeatureTable, build_table, detect_drift
from llmpulse.metrics import Metrics
from llmpulse.prices import as_utc
from llmpulse.signals import Signal
from llmpulse.sinks import drift_rows
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.windows import GroupKey, WindowAggregate, pane_of

log = logging.getLogger(__name__)
PROMPT_FEATURE = "prompt_embedding"
TRAILING_WINDOWS = 6
#: The model name in signals of a drift check: request_id "drift:<model>:<window end>".
DETECTOR = "drift@1"


@dataclass(frozen=True, slots=True)
class DriftCheck:
    model: str
    start: datetime
    end: datetime
    report: DriftReport


def drift_signals(check: DriftCheck) -> list[Signal]:
    """Per-feature and overall drift signals of one check (time: the window's end)."""
    rid = check_id(check.model, check.end)

    def signal(name: str, value: float, label: str, explanation: str) -> Signal:
        return Signal(name=name, value=value, request_id=rid, time=check.end,
                      model=check.model, provider="", route="*", tenant="*", label=label,
                      detector=DETECTOR, explanation=explanation)

    out = [signal(f"drift.{f.feature}", f.severity, f.status, f.note)
           for f in check.report.features]
    out.append(signal("drift", float(check.report.drifted),
                      "drift" if check.report.drifted else "ok",
                      check.report.top_feature or ""))
    return out


def drift_partial(check: DriftCheck, pane_s: float, now: float
                  ) -> dict[tuple[GroupKey, float], WindowAggregate]:
    """The check as a window partial, in the pane of when it ran: the drift window itself
    closed a margin ago, so its own pane is past the watermark (and would count as late)."""
    agg = WindowAggregate(drift_checks=1, drifted=int(check.report.drifted),
                          prompt_drifted=int(PROMPT_FEATURE in
                                             check.report.drifted_features))
    agg.latest = now
    return {(GroupKey(model=check.model), pane_of(now, pane_s)): agg}


def check_id(model: str, end: datetime) -> str:
    """The request_id of a check's signals (also how a check already done is recognised)."""
    return f"drift:{model}:{end.isoformat()}"


class DriftWatch:
    """Runs the checks; ``publish`` sends window partials (``llm.windows``)."""

    def __init__(self, settings: Settings, store: ClickHouseStore, metrics: Metrics,
                 publish: Callable[[dict[tuple[GroupKey, float], WindowAggregate]],
                                   Awaitable[None]]) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.publish = publish
        self.policy = DriftPolicy(min_samples=settings.drift_min_samples)
        self._embedder: Any = None
        self._last_end: datetime | None = None

    def _embed(self) -> Any:
        if self._embedder is None and self.settings.drift_embedder != "none":
            from llmpulse.models.embedder import load_embedder

            self._embedder = load_embedder(self.settings.drift_embedder)
        return self._embedder

    async def tick(self, now: float) -> list[DriftCheck]:
        """Check the drift window that closed last (once), for every busy model."""
        s = self.settings
        # every call that ended in the window is stored by then (a lone request after
        # its join timeout)
        margin = s.window_lateness_s + s.join_timeout_s + 2 * s.batch_max_s + 5.0
        every = s.drift_every_s
        end_ts = (now - margin) // every * every
        end = datetime.fromtimestamp(end_ts, UTC)
        if self._last_end is not None and end <= self._last_end:
            return []
        start = end - timedelta(seconds=every)
        models = await asyncio.to_thread(drift_rows.busy_models, self.store, start, end,
                                         self.policy.min_samples)
        checks = []
        failed = False
        for model, _ in models:
            try:
                if await asyncio.to_thread(drift_rows.checked, self.store,
                                           check_id(model, end)):
                    continue  # done before a restart or by the partition's previous owner
                check = await asyncio.to_thread(self.check, model, start, end)
                if check is not None:
                    await self._emit(check, now)
                    checks.append(check)
            except Exception:  # this model is tried again at the next tick
                failed = True
                log.exception("drift check of %s for %s..%s failed", model, start, end)
        if not failed:
            self._last_end = end
        return checks

    def check(self, model: str, start: datetime, end: datetime) -> DriftCheck | None:
        """One model's window against its reference (blocking: run in a thread)."""
        tables = self.tables(model, start, end)
        if tables is None:
            return None
        return DriftCheck(model, start, end, detect_drift(tables[0], tables[1], self.policy))

    def tables(self, model: str, start: datetime, end: datetime
               ) -> tuple[FeatureTable, FeatureTable] | None:
        """Feature tables of the model's reference and of [start, end) (None: no reference)."""
        ref_range = self._reference(model, start)
        if ref_range is None:
            return None
        limit = self.policy.max_rows
        if ref_range[2]:  # the model's first calls
            reference = drift_rows.load_calls(self.store, model, ref_range[0], ref_range[1],
                                              self.settings.drift_reference_events, first=True)
        else:
            reference = drift_rows.load_calls(self.store, model, ref_range[0], ref_range[1],
                                              limit)
        current = drift_rows.load_calls(self.store, model, start, end, limit)
        scores = drift_rows.load_scores(self.store, [r.request_id for r in
                                                     (*reference, *current)])
        embedder = self._embed()
        ref, cur = (build_table(records, scores=scores, embedder=embedder,
                                max_embedding_rows=self.policy.max_embedding_rows,
                                seed=self.policy.seed) for records in (reference, current))
        return ref, cur

    def _reference(self, model: str, start: datetime
                   ) -> tuple[datetime, datetime, bool] | None:
        """(from, to, first calls only) of the model's reference, None if it has none yet."""
        pinned = drift_rows.baseline(self.store, model)
        if pinned is not None:
            return as_utc(pinned[0]), as_utc(pinned[1]), False
        if self.settings.drift_reference == "trailing":
            width = timedelta(seconds=self.settings.drift_every_s * TRAILING_WINDOWS)
            return start - width, start, False
        first = drift_rows.first_call(self.store, model)
        if first is None or as_utc(first) >= start:
            return None
        return as_utc(first), start, True

    async def _emit(self, check: DriftCheck, now: float) -> None:
        report = check.report
        for f in report.features:
            self.metrics.drift_score.labels(check.model, f.feature).set(f.severity)
        self.metrics.drift_detected.labels(check.model).set(float(report.drifted))
        signals = drift_signals(check)
        version = int(check.end.timestamp() * 1000)
        await asyncio.to_thread(self.store.insert_signals, signals,
                                {signals[0].request_id: version}, datetime.now(UTC))
        await self.publish(drift_partial(check, self.settings.window_pane_s, now))
        if report.drifted:
            log.warning("drift for model %s in %s..%s: %s", check.model, check.start,
                        check.end, ", ".join(report.drifted_features))

