"""Drift checks in the stream: once per closed drift window, per model with enough calls,
and per busy route of the model.

The owner of the maintenance partition (see :mod:`llmpulse.streams.alerting`)
reads each busy model's calls of the window that just closed from ClickHouse,
and its reference: a pinned baseline, else the first calls (``auto``) or the six
windows before (``trailing``).  The ``auto`` reference follows prompt rollouts: when
one prompt version makes up at least half of the window and has
``drift_reference_events`` calls before it, the reference is that version's first
calls (a new version is compared with its own start, not with the version it
replaced); otherwise the model's first calls, and the check says why.
:func:`llmpulse.drift.detect_drift` compares them (bounded cost: both sides subsampled).

Routes: the up to ``drift_max_routes`` busiest routes of the model with at least
``drift_min_samples`` calls in the window are checked the same way, each against
the route's own reference (the same choice, restricted to the route), and only
when that reference has ``drift_min_samples`` calls too.  Prompt embeddings, the
expensive part, are shared within a model's checks: a route check reuses the
vectors of the model check (preferring the calls already embedded when it
subsamples) and embeds only the rest of its sample.

The outcome of each check is

* stored: one ``drift.<feature>`` signal per feature tested and ``drift`` overall
  (value: the feature's severity, label: its status; the overall signal explains the
  top drifted feature and the reference used), keyed by model, route ("*" for the
  model overall) and window;
* exported: ``llmpulse_drift_score{model,route,feature}``,
  ``llmpulse_drift_detected{model,route}`` (route "*": the model overall);
* windowed: a partial with ``drift_checks``/``drifted``/``prompt_drifted`` for the
  model's group (or the model and route's) on ``llm.windows``, so rules (and
  retraining policies) can ask for drift in N consecutive checks: ``metric:
  prompt_drift_rate, threshold: 1, operator: ">=", window: 15m, min_count: 3``.

The prompt embedder and Evidently are loaded at the first tick (in a thread, while the
stream goes on), not when the first windows close: the offline MiniLM model brings
PyTorch and transformers into the worker, about 760 MB of resident memory, and
Evidently scikit-learn, SciPy and pandas; a worker whose memory jumps by that much
minutes after it started, under load, looks like a leak and may meet its memory
limit only then (``BENCHMARKS.md``, "Worker memory").
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from llmpulse.config import Settings
from llmpulse.drift import DriftPolicy, DriftReport, FeatureTable, build_table, detect_drift
from llmpulse.drift import _evidently as evidently
from llmpulse.drift.features import EMBED_CHARS, prompt_text
from llmpulse.drift.sampling import subsample_indices
from llmpulse.metrics import Metrics
from llmpulse.prices import as_utc
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal
from llmpulse.sinks import drift_rows
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.windows import GroupKey, WindowAggregate, pane_of

log = logging.getLogger(__name__)
PROMPT_FEATURE = "prompt_embedding"
TRAILING_WINDOWS = 6
#: The share of the window's calls a prompt version needs to become the auto reference.
VERSION_SHARE = 0.5
#: The model name in signals of a drift check: request_id "drift:<model>:<window end>"
#: (with "#<route>" appended for a route's check).
DETECTOR = "drift@1"
ALL = "*"
#: Prompts a route check embeds per side beyond those its model check embedded (at least
#: ``min_samples``): the embeddings dominate a check's cost, so a route's embedding test
#: sees fewer rows than the model's (less sensitive) unless the model's cover it.
ROUTE_EMBEDDING_ROWS = 250


@dataclass(frozen=True, slots=True)
class Reference:
    """What a check compares with: the calls of the model (or route) in [start, end),
    only the first ``drift_reference_events`` with ``first``, only those of a prompt
    ``version`` when set; ``note`` says which it is."""

    start: datetime
    end: datetime
    first: bool = False
    version: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class DriftCheck:
    model: str
    start: datetime
    end: datetime
    report: DriftReport
    route: str = ALL
    reference: str = ""  # which reference was used (Reference.note)


def drift_signals(check: DriftCheck) -> list[Signal]:
    """Per-feature and overall drift signals of one check (time: the window's end)."""
    rid = check_id(check.model, check.end, check.route)

    def signal(name: str, value: float, label: str, explanation: str) -> Signal:
        return Signal(name=name, value=value, request_id=rid, time=check.end,
                      model=check.model, provider="", route=check.route, tenant="*",
                      label=label, detector=DETECTOR, explanation=explanation)

    out = [signal(f"drift.{f.feature}", f.severity, f.status, f.note)
           for f in check.report.features]
    explanation = "; ".join(part for part in (
        check.report.top_feature or "",
        f"reference: {check.reference}" if check.reference else "") if part)
    out.append(signal("drift", float(check.report.drifted),
                      "drift" if check.report.drifted else "ok", explanation))
    return out


def drift_partial(check: DriftCheck, pane_s: float, now: float
                  ) -> dict[tuple[GroupKey, float], WindowAggregate]:
    """The check as a window partial, in the pane of when it ran: the drift window itself
    closed a margin ago, so its own pane is past the watermark (and would count as late)."""
    agg = WindowAggregate(drift_checks=1, drifted=int(check.report.drifted),
                          prompt_drifted=int(PROMPT_FEATURE in
                                             check.report.drifted_features))
    agg.latest = now
    return {(GroupKey(model=check.model, route=check.route), pane_of(now, pane_s)): agg}


def check_id(model: str, end: datetime, route: str = ALL) -> str:
    """The request_id of a check's signals (also how a check already done is recognised);
    the model overall keeps the id it had before routes were checked."""
    base = f"drift:{model}:{end.isoformat()}"
    return base if route == ALL else f"{base}#{route}"


class PromptVectors:
    """Prompt embeddings of one model's checks in one interval, by request id, so that a
    route check reuses what the model check embedded."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.vectors: dict[str, np.ndarray] = {}
        self.embedded = 0  # prompts embedded (not found here)

    def add_to(self, table: FeatureTable, records: Sequence[InferenceRecord], rows: int,
               seed: int, fresh: int | None = None) -> FeatureTable:
        """``table`` with the embeddings of up to ``rows`` of the records' prompts: a seeded
        subsample as :func:`~llmpulse.drift.features.build_table` draws it; or, with
        ``fresh`` (a route check), the prompts embedded already (up to ``rows``), topped
        up with a seeded subsample of the others to ``fresh`` prompts when there are fewer
        (either way a uniform sample of the records)."""
        if self.embedder is None:
            return table
        prompted = [(r.request_id, text) for r in records
                    if (text := prompt_text(r)) is not None]
        known = [i for i, (rid, _) in enumerate(prompted) if rid in self.vectors]
        target = rows if fresh is None else min(len(prompted),
                                                max(min(len(known), rows), fresh))
        if fresh is None or len(prompted) <= target:
            chosen = [int(i) for i in subsample_indices(len(prompted), target, seed)]
        elif len(known) >= target:
            chosen = [known[int(i)] for i in subsample_indices(len(known), target, seed)]
        else:
            seen = set(known)
            others = [i for i in range(len(prompted)) if i not in seen]
            chosen = sorted([*known, *(others[int(i)] for i in subsample_indices(
                len(others), target - len(known), seed))])
        missing = [i for i in chosen if prompted[i][0] not in self.vectors]
        if missing or not chosen:
            new: np.ndarray = self.embedder.embed(
                [prompted[i][1][:EMBED_CHARS] for i in missing])
            self.embedded += len(missing)
            for i, vector in zip(missing, new, strict=True):
                self.vectors[prompted[i][0]] = vector
            if not chosen:  # no prompts: an empty sample, shaped by the embedder
                return dataclasses.replace(table, embeddings=new,
                                           embedder=self.embedder.name)
        embeddings = np.stack([self.vectors[prompted[i][0]] for i in chosen])
        return dataclasses.replace(table, embeddings=embeddings, embedder=self.embedder.name)


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
        self._embedder_lock = threading.Lock()  # one load, also from check threads
        self._warming: threading.Thread | None = None
        self._last_end: datetime | None = None

    def _embed(self) -> Any:
        with self._embedder_lock:
            if self._embedder is None and self.settings.drift_embedder != "none":
                from llmpulse.models.embedder import load_embedder

                self._embedder = load_embedder(self.settings.drift_embedder)
        return self._embedder

    def warm_up(self) -> None:
        """Start loading the prompt embedder and Evidently in a thread (once; a check
        needing the embedder meanwhile waits for that load).  A daemon thread: a worker
        stopped meanwhile does not wait for it.  A failed load is logged and tried
        again by the first check that needs it."""
        if self._warming is not None or self.settings.drift_embedder == "none":
            return
        self._warming = threading.Thread(target=self._warm_up, name="drift-embedder",
                                         daemon=True)
        self._warming.start()

    def _warm_up(self) -> None:
        try:
            self._embed()
        except Exception as exc:  # the first check that embeds tries again
            log.warning("could not load the drift embedder (tried again at the first "
                        "drift check): %s", exc)
        try:
            evidently.load()
        except Exception as exc:  # the first check imports it again
            log.warning("could not import Evidently for the drift checks: %s", exc)

    async def tick(self, now: float) -> list[DriftCheck]:
        """Check the drift window that closed last (once), for every busy model and its
        busiest routes."""
        self.warm_up()
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
        checks: list[DriftCheck] = []
        failed = False
        for model, _ in models:
            vectors = PromptVectors(None)  # filled by the first check that embeds
            if not await self._run(model, ALL, start, end, now, vectors, checks):
                failed = True
            if s.drift_max_routes and not await self._routes(model, start, end, now,
                                                             vectors, checks):
                failed = True
            log.debug("drift checks of %s for %s..%s embedded %d prompts", model, start, end,
                      vectors.embedded)
        if not failed:
            self._last_end = end
        return checks

    async def _routes(self, model: str, start: datetime, end: datetime, now: float,
                      vectors: PromptVectors, checks: list[DriftCheck]) -> bool:
        """The model's busiest routes (False: something failed, to try again next tick)."""
        try:
            routes = await asyncio.to_thread(drift_rows.busy_routes, self.store, model,
                                             start, end, self.policy.min_samples)
        except Exception:
            log.exception("listing the routes of %s for %s..%s failed", model, start, end)
            return False
        ok, done = True, 0
        for route, _ in routes:
            if done >= self.settings.drift_max_routes:
                break
            outcome = await self._run(model, route, start, end, now, vectors, checks)
            ok = ok and outcome is not False
            done += outcome is True
        return ok

    async def _run(self, model: str, route: str, start: datetime, end: datetime, now: float,
                   vectors: PromptVectors, checks: list[DriftCheck]) -> bool | None:
        """One check, once: True when it is done (now or before), None when there is too
        little to check, False when it failed (tried again at the next tick)."""
        try:
            if await asyncio.to_thread(drift_rows.checked, self.store,
                                       check_id(model, end, route)):
                return True  # done before a restart or by the partition's previous owner
            check = await asyncio.to_thread(self.check, model, start, end, route, vectors)
            if check is None:
                return None
            await self._emit(check, now)
            checks.append(check)
            return True
        except Exception:
            log.exception("drift check of %s (route %s) for %s..%s failed", model, route,
                          start, end)
            return False

    def check(self, model: str, start: datetime, end: datetime, route: str = ALL,
              vectors: PromptVectors | None = None) -> DriftCheck | None:
        """One model's (or route's) window against its reference (blocking: run in a
        thread).  None: no reference yet, or for a route fewer than ``min_samples`` calls
        on a side (found before anything is embedded)."""
        reference = self.reference(model, start, end, route)
        if reference is None:
            return None
        ref_calls, cur_calls = self._calls(model, start, end, route, reference)
        if route != ALL and min(len(ref_calls), len(cur_calls)) < self.policy.min_samples:
            return None  # not enough volume for this route: no check, no alarm
        ref, cur = self._tables(ref_calls, cur_calls, route, vectors)
        return DriftCheck(model, start, end, detect_drift(ref, cur, self.policy), route,
                          reference.note)

    def tables(self, model: str, start: datetime, end: datetime, route: str = ALL,
               reference: Reference | None = None) -> tuple[FeatureTable, FeatureTable]:
        """Feature tables of the reference and of [start, end) of the model (of one of its
        routes unless ``route`` is "*"); the reference is looked up unless given."""
        if reference is None:
            reference = self.reference(model, start, end, route)
            if reference is None:
                raise LookupError(f"{model} has no drift reference before {start}")
        return self._tables(*self._calls(model, start, end, route, reference), route)

    def _calls(self, model: str, start: datetime, end: datetime, route: str,
               reference: Reference) -> tuple[list[InferenceRecord], list[InferenceRecord]]:
        """The stored calls of the reference and of [start, end), of the route if any."""
        where = None if route == ALL else route
        limit = self.policy.max_rows
        if reference.first:
            limit = self.settings.drift_reference_events
        ref_calls = drift_rows.load_calls(self.store, model, reference.start, reference.end,
                                          limit, reference.first, route=where,
                                          version=reference.version)
        cur_calls = drift_rows.load_calls(self.store, model, start, end,
                                          self.policy.max_rows, route=where)
        return ref_calls, cur_calls

    def _tables(self, ref_calls: list[InferenceRecord], cur_calls: list[InferenceRecord],
                route: str, vectors: PromptVectors | None = None
                ) -> tuple[FeatureTable, FeatureTable]:
        scores = drift_rows.load_scores(self.store, [r.request_id for r in
                                                     (*ref_calls, *cur_calls)])
        if vectors is None:
            vectors = PromptVectors(None)
        if vectors.embedder is None:
            vectors.embedder = self._embed()
        p = self.policy
        fresh = None if route == ALL else min(p.max_embedding_rows,
                                              max(p.min_samples, ROUTE_EMBEDDING_ROWS))
        ref, cur = (vectors.add_to(build_table(calls, scores=scores), calls,
                                   p.max_embedding_rows, p.seed, fresh)
                    for calls in (ref_calls, cur_calls))
        return ref, cur

    def reference(self, model: str, start: datetime, end: datetime, route: str = ALL
                  ) -> Reference | None:
        """The reference of the model's (route's) window [start, end); None if it has none
        yet.  A pinned baseline first; then ``trailing``; else (``auto``) the first calls
        of the prompt version that makes up at least half of the window, when it has
        enough, or else of the model (route)."""
        where = None if route == ALL else route
        scope = "the model's" if route == ALL else f"route {route}'s"
        pinned = drift_rows.baseline(self.store, model)
        if pinned is not None:
            a, b = as_utc(pinned[0]), as_utc(pinned[1])
            return Reference(a, b, note=f"pinned baseline {a:%Y-%m-%d %H:%M:%S} .. "
                             f"{b:%Y-%m-%d %H:%M:%S} UTC")
        if self.settings.drift_reference == "trailing":
            width = timedelta(seconds=self.settings.drift_every_s * TRAILING_WINDOWS)
            return Reference(start - width, start,
                             note=f"the {TRAILING_WINDOWS} windows before")
        n = self.settings.drift_reference_events
        first, before = drift_rows.first_calls(self.store, model, start, route=where)
        if first is None or as_utc(first) >= start:
            return None
        why = ""
        counts = drift_rows.version_counts(self.store, model, start, end, where)
        total = sum(c for _, c in counts)
        if counts and counts[0][1] >= VERSION_SHARE * total:
            version, calls = counts[0]
            v_first, v_before = drift_rows.first_calls(self.store, model, start, route=where,
                                                       version=version)
            if v_first is not None and (v_before >= n or v_before == before):
                # enough of its own calls, or the model (route) has had no other version
                named = ("without a prompt version" if version == "none"
                         else f"of prompt version {version}")
                on = "" if route == ALL else f" on route {route}"
                return Reference(as_utc(v_first), start, True, version,
                                 f"the first {min(n, v_before)} calls {named}{on}")
            why = (f"; prompt version {version} ({calls} of the window's {total} calls) "
                   f"has {v_before} of the {n} calls needed before it")
        return Reference(as_utc(first), start, True,
                         note=f"{scope} first {min(n, before)} calls{why}")

    async def _emit(self, check: DriftCheck, now: float) -> None:
        report = check.report
        for f in report.features:
            self.metrics.drift_score.labels(check.model, check.route, f.feature).set(
                f.severity)
        self.metrics.drift_detected.labels(check.model, check.route).set(
            float(report.drifted))
        signals = drift_signals(check)
        version = int(check.end.timestamp() * 1000)
        await asyncio.to_thread(self.store.insert_signals, signals,
                                {signals[0].request_id: version}, datetime.now(UTC))
        await self.publish(drift_partial(check, self.settings.window_pane_s, now))
        if report.drifted:
            where = "" if check.route == ALL else f" route {check.route}"
            log.warning("drift for model %s%s in %s..%s: %s", check.model, where,
                        check.start, check.end, ", ".join(report.drifted_features))
