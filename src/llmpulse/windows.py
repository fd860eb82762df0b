"""Windowed aggregates per group on event time: pure, mergeable, clock-free.

A :class:`WindowAggregate` holds counts, sums, DDSketch quantile sketches
(relative accuracy 0.5 %) and a few sample requests as evidence.  It merges
across panes, windows and partitions without keeping samples, and serialises
to a small dict so partial aggregates can travel between workers.

The cheap path folds each batch into per-(group, pane) partial aggregates
(:func:`fold`); :class:`PaneWindows` merges the partials of one group from every
partition, answers "the last N seconds" from whole panes, and closes aligned
windows once the event-time watermark (newest event time less the allowed
lateness) has passed their end.  Partials for panes already closed are counted
as late, never silently dropped.

Quality scores (toxicity, groundedness) are kept per scorer version
(:class:`ScorePart` per signal and version): during a rolling upgrade of the
scorers, old and new versions score on their own scales, so they are merged
version by version and never averaged into one value.
"""

from __future__ import annotations

import functools
import heapq
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ddsketch import DDSketch
from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import DenseStore

from llmpulse.detectors.injection import THRESHOLD as INJECTION_THRESHOLD
from llmpulse.detectors.latency import duration_s, tpot_s
from llmpulse.detectors.usage import is_error
from llmpulse.records import InferenceRecord
from llmpulse.schema import FeedbackEvent
from llmpulse.scoring.tasks import CallRef, ScoreResult

RELATIVE_ACCURACY = 0.005
QUANTILES = (0.5, 0.95, 0.99)
EVIDENCE_K = 5
DIMENSIONS = ("model", "route", "tenant", "prompt_version")
SKETCHES = ("duration", "ttft", "tpot")
COUNTERS = ("calls", "errors", "timeouts", "finish_length", "finish_content_filter",
            "tokens_in", "tokens_out", "unpriced", "feedback", "thumbs", "thumbs_down",
            "rated", "rating_sum", "corrections", "drift_checks", "drifted",
            "prompt_drifted", "screened", "injections", "scores_overflow")
#: The scorer's signals the windows fold in, each kept per scorer version (never averaged
#: across versions), and the window metrics computed from each.
SCORED_SIGNALS = ("toxicity", "groundedness")
QUALITY_METRICS = {"toxicity_rate": "toxicity", "groundedness_mean": "groundedness",
                   "ungrounded_rate": "groundedness"}
#: The label of a score below which (groundedness) or at which (toxicity) it is flagged.
_FLAGGED = {"toxicity": "toxic", "groundedness": "ungrounded"}
#: At most this many scorer versions of one signal in one aggregate (a rolling upgrade
#: has two); scores of further versions are counted in ``scores_overflow``, not kept.
MAX_SCORER_VERSIONS = 4
#: The version of scores whose scorer is not known (partials written before windows were
#: kept per scorer version; evaluations without a scorer).
UNKNOWN_SCORER = "unknown"
_PROVIDERS = re.compile(r"(@[^@/\[]*)(?:/[^@]*|\[[^@]*\])$")
#: The count a metric's min_count applies to (default: calls).
METRIC_COUNTS = {"thumbs_down_rate": "thumbs",
                 "rating_mean": "rated", "correction_rate": "feedback",
                 "drift_rate": "drift_checks", "prompt_drift_rate": "drift_checks",
                 "injection_rate": "screened"}
#: The evidence heap that shows each quality metric: the most toxic answers for a
#: toxicity rule, the least grounded ones for a groundedness rule.
QUALITY_EVIDENCE = {"toxicity_rate": "most_toxic", "groundedness_mean": "least_grounded",
                    "ungrounded_rate": "least_grounded", "thumbs_down_rate": "disliked",
                    "rating_mean": "disliked", "correction_rate": "disliked",
                    "injection_rate": "most_injected"}
QUALITY_HEAPS = ("disliked", "most_injected")


@dataclass(frozen=True, slots=True, order=True)
class GroupKey:
    """What an aggregate is about; a dimension that is not grouped on is "*"."""

    model: str = "*"
    route: str = "*"
    tenant: str = "*"
    prompt_version: str = "*"  # records.prompt_version_key of the calls

    @classmethod
    def of(cls, record: InferenceRecord | CallRef, dims: Sequence[str]) -> GroupKey:
        return cls(record.request_model if "model" in dims else "*",
                   record.route if "route" in dims else "*",
                   record.tenant if "tenant" in dims else "*",
                   record.prompt_version if "prompt_version" in dims else "*")

    def labels(self) -> dict[str, str]:
        return {d: getattr(self, d) for d in DIMENSIONS if getattr(self, d) != "*"}

    def encode(self) -> str:
        return "\x1f".join((self.model, self.route, self.tenant, self.prompt_version))

    @classmethod
    def decode(cls, raw: str) -> GroupKey:
        """Also a key of three parts (written before prompt versions were a dimension)."""
        parts = raw.split("\x1f")
        if len(parts) not in (3, 4):
            raise ValueError(f"not a group key: {raw!r}")
        return cls(*parts)


#: Always aggregated: per (model, route, tenant), per model and prompt version, and per
#: model overall.
STANDARD_GROUPINGS: tuple[tuple[str, ...], ...] = (
    ("model", "route", "tenant"), ("model", "prompt_version"), ("model",))


class _Sketch(DDSketch):
    """A :class:`DDSketch` sharing one key mapping with every other.

    The mapping depends only on the relative accuracy and never changes, but
    DDSketch builds one per sketch: with three sketches per (group, pane) made for
    every batch folded and every partial decoded, that took a few percent of the
    worker's time.
    """

    def __init__(self) -> None:
        BaseDDSketch.__init__(self, mapping=_MAPPING, store=DenseStore(),
                              negative_store=DenseStore(), zero_count=0.0)


_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)


def _sketch() -> DDSketch:
    return _Sketch()


def _keep_top(heap: list[tuple[float, str]], value: float, request_id: str) -> None:
    if len(heap) < EVIDENCE_K:
        heapq.heappush(heap, (value, request_id))
    elif value > heap[0][0]:
        heapq.heapreplace(heap, (value, request_id))


@functools.lru_cache(maxsize=64)  # a handful of scorer names, one call per score folded
def scorer_version(scorer: str) -> str:
    """The version of a scorer name: the name without the execution providers it ran on
    (``detoxify-onnx:m@1a2b3c4d/cuda+cpu`` and ``.../cpu`` are the same model and
    scores; ``nli:m@1[CUDA+CPU]`` is ``nli:m@1``); ``unknown`` for no name."""
    name = scorer.strip()
    return _PROVIDERS.sub(r"\1", name) if name else UNKNOWN_SCORER


@dataclass
class ScorePart:
    """The scores of one signal by one scorer version in a window: how many, how many
    flagged (toxic, ungrounded), their sum, and the worst few as evidence (toxicity; 1 -
    groundedness)."""

    scored: float = 0  # whole numbers but in a pro-rated (sliding) view
    flagged: float = 0
    total: float = 0.0
    worst: list[tuple[float, str]] = field(default_factory=list)

    def add(self, value: float, flagged: bool, badness: float, request_id: str) -> None:
        self.scored += 1
        self.total += value
        if flagged:
            self.flagged += 1
            _keep_top(self.worst, badness, request_id)

    def merge(self, other: ScorePart, weight: float = 1.0) -> None:
        self.scored += other.scored if weight == 1.0 else other.scored * weight
        self.flagged += other.flagged if weight == 1.0 else other.flagged * weight
        self.total += other.total * weight
        for value, rid in other.worst:
            _keep_top(self.worst, value, rid)

    def to_list(self) -> list[Any]:
        return [self.scored, self.flagged, self.total, self.worst]

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> ScorePart:
        worst = [(float(v), str(r)) for v, r in data[3]]
        heapq.heapify(worst)
        return cls(int(data[0]), int(data[1]), float(data[2]), worst)


def _merge_versions(into: dict[str, ScorePart], more: Mapping[str, ScorePart],
                    weight: float = 1.0) -> int:
    """Merge ``more`` into ``into`` version by version (never across versions); keep at
    most :data:`MAX_SCORER_VERSIONS`, the most scored.  Returns the scores left out."""
    for version, part in more.items():
        mine = into.get(version)
        if mine is None:
            mine = into[version] = ScorePart()
        mine.merge(part, weight)
    if len(into) <= MAX_SCORER_VERSIONS:
        return 0
    kept = sorted(into, key=lambda v: (-into[v].scored, v))[:MAX_SCORER_VERSIONS]
    dropped = sum(p.scored for v, p in into.items() if v not in kept)
    for version in [v for v in into if v not in kept]:
        del into[version]
    return round(dropped)


@dataclass
class WindowAggregate:
    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    finish_length: int = 0
    finish_content_filter: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0
    feedback: int = 0  # feedback events (by the time they were given)
    thumbs: int = 0  # of which thumbs up or down
    thumbs_down: int = 0
    rated: int = 0  # of which with a rating (1..5)
    rating_sum: int = 0
    corrections: int = 0
    drift_checks: int = 0  # drift evaluations of the group (one per drift interval)
    drifted: int = 0  # of which found drift
    prompt_drifted: int = 0  # of which found drift in the prompt embeddings
    screened: int = 0  # calls whose user messages were checked for prompt injection
    injections: int = 0  # of which were labelled injection
    scores_overflow: int = 0  # scores of a scorer version past MAX_SCORER_VERSIONS
    latest: float = 0.0  # newest event time (epoch seconds) folded in
    duration: DDSketch = field(default_factory=_sketch)
    ttft: DDSketch = field(default_factory=_sketch)
    tpot: DDSketch = field(default_factory=_sketch)
    slowest: list[tuple[float, str]] = field(default_factory=list)  # min-heaps of top K
    costliest: list[tuple[float, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (request_id, why)
    #: Per scored signal (toxicity, groundedness), per scorer version: never averaged.
    scores: dict[str, dict[str, ScorePart]] = field(default_factory=dict)
    disliked: list[tuple[float, str]] = field(default_factory=list)  # (how negative, id)
    most_injected: list[tuple[float, str]] = field(default_factory=list)  # (injection, id)

    def add(self, record: InferenceRecord, cost_usd: float | None,
            injection: float | None = None) -> None:
        """Fold one call in; ``injection`` is its ``prompt_injection`` score (None: its
        prompt was not checked)."""
        self.calls += 1
        if injection is not None:
            self.screened += 1
            if injection >= INJECTION_THRESHOLD:
                self.injections += 1
                _keep_top(self.most_injected, injection, record.request_id)
        when = record.event_time
        if when is not None:
            self.latest = max(self.latest, when.timestamp())
        error = is_error(record)
        self.errors += error
        self.timeouts += record.error_type is not None and "timeout" in record.error_type.lower()
        length = "length" in record.finish_reasons
        filtered = "content_filter" in record.finish_reasons
        self.finish_length += length
        self.finish_content_filter += filtered
        self.tokens_in += record.input_tokens or 0
        self.tokens_out += record.output_tokens or 0
        if cost_usd is None:
            self.unpriced += 1
        else:
            self.cost_usd += cost_usd
            _keep_top(self.costliest, cost_usd, record.request_id)
        duration = duration_s(record)
        for sketch, value in ((self.duration, duration), (self.ttft, record.time_to_first_chunk),
                              (self.tpot, tpot_s(record))):
            if value is not None:
                sketch.add(max(value, 0.0))
        if duration is not None:
            _keep_top(self.slowest, duration, record.request_id)
        if (error or length or filtered) and len(self.failed) < EVIDENCE_K:
            why = record.error_type or ("length" if length else "content_filter")
            self.failed.append((record.request_id, why or "error"))

    def add_quality(self, result: ScoreResult) -> None:
        """Fold one scorer result in: toxicity and groundedness counts and evidence, each
        under the version of the scorer that gave it."""
        call = result.call
        self.latest = max(self.latest, call.call_time)
        for signal in SCORED_SIGNALS:
            found = result.value(signal)
            if found is None:
                continue
            parts = self.scores.setdefault(signal, {})
            version = scorer_version(found.scorer)
            part = parts.get(version)
            if part is None:
                if len(parts) >= MAX_SCORER_VERSIONS:
                    self.scores_overflow += 1
                    continue
                part = parts[version] = ScorePart()
            badness = found.value if signal == "toxicity" else 1.0 - found.value
            part.add(found.value, found.label == _FLAGGED[signal], badness, call.request_id)

    def versions(self, metric_or_signal: str) -> list[str]:
        """The scorer versions of a quality metric's (or signal's) scores here, the most
        scored first (then by name)."""
        parts = self.scores.get(QUALITY_METRICS.get(metric_or_signal, metric_or_signal), {})
        return sorted(parts, key=lambda v: (-parts[v].scored, v))

    def part(self, metric_or_signal: str, version: str | None = None) -> ScorePart | None:
        """One scorer version's scores of a quality metric's signal; without ``version``
        the most scored version's (the one the window shows by default)."""
        signal = QUALITY_METRICS.get(metric_or_signal, metric_or_signal)
        parts = self.scores.get(signal, {})
        if version is None:
            ranked = self.versions(signal)
            return parts[ranked[0]] if ranked else None
        return parts.get(version)

    def scored(self, signal: str) -> int:
        """Scores of ``signal`` (toxicity, groundedness) of every version: a count only."""
        return round(sum(p.scored for p in self.scores.get(signal, {}).values()))

    def add_feedback(self, event: FeedbackEvent) -> None:
        """Fold one piece of feedback in (its call's keys pick the group)."""
        self.feedback += 1
        self.latest = max(self.latest, event.time.timestamp())
        if event.thumbs is not None:
            self.thumbs += 1
            self.thumbs_down += event.thumbs == "down"
        if event.rating is not None:
            self.rated += 1
            self.rating_sum += event.rating
        self.corrections += event.correction is not None
        badness = ((event.thumbs == "down") + (event.correction is not None)
                   + (0 if event.rating is None else (3 - event.rating) / 2))
        if badness > 0:
            _keep_top(self.disliked, float(badness), event.request_id)

    def late_count(self) -> int:
        """What a partial that came too late would have added: calls, scores, feedback."""
        return (self.calls + sum(self.scored(s) for s in SCORED_SIGNALS) + self.feedback
                + self.drift_checks)

    def count_for(self, metric: str, version: str | None = None) -> float:
        """The count a rule's min_count is checked against for ``metric``; for a quality
        metric, the scores of one scorer version (without ``version``: the most scored)."""
        if metric in QUALITY_METRICS:
            part = self.part(metric, version)
            return float(part.scored) if part is not None else 0.0
        return float(getattr(self, METRIC_COUNTS.get(metric, "calls")))

    def merge(self, other: WindowAggregate, weight: float = 1.0,
              sketches: Iterable[str] = SKETCHES) -> None:
        """Add ``other`` in; a ``weight`` below 1 pro-rates its counts and sums (not its
        sketches), for a pane that only partly overlaps a sliding window.  Only the named
        ``sketches`` are merged (merging is most of the cost)."""
        for name in COUNTERS:
            mine, add = getattr(self, name), getattr(other, name)
            setattr(self, name, mine + (add if weight == 1.0 else add * weight))
        self.cost_usd += other.cost_usd * weight
        for signal, parts in other.scores.items():
            self.scores_overflow += _merge_versions(self.scores.setdefault(signal, {}), parts,
                                                    weight)
        self.latest = max(self.latest, other.latest)
        for name in sketches:
            sketch: DDSketch = getattr(other, name)
            if sketch.count:
                getattr(self, name).merge(sketch)
        for value, rid in other.slowest:
            _keep_top(self.slowest, value, rid)
        for value, rid in other.costliest:
            _keep_top(self.costliest, value, rid)
        for value, rid in other.disliked:
            _keep_top(self.disliked, value, rid)
        for value, rid in other.most_injected:
            _keep_top(self.most_injected, value, rid)
        self.failed.extend(other.failed[:EVIDENCE_K - len(self.failed)])

    def summary(self, version: str | None = None) -> dict[str, Any]:
        """Rates and percentiles, as stored, exported and evaluated by rules.  The quality
        metrics are those of one scorer version (``version``; by default each signal's
        most scored one), never of two versions averaged."""
        n = self.calls
        tox, ground = self.part("toxicity", version), self.part("groundedness", version)
        out: dict[str, Any] = {
            "calls": n, "errors": self.errors, "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out, "cost_usd": self.cost_usd, "unpriced": self.unpriced,
            "error_rate": self.errors / n if n else 0.0,
            "timeout_rate": self.timeouts / n if n else 0.0,
            "length_rate": self.finish_length / n if n else 0.0,
            "content_filter_rate": self.finish_content_filter / n if n else 0.0,
            "toxicity_rate": tox.flagged / tox.scored if tox and tox.scored else None,
            "groundedness_mean": ground.total / ground.scored if ground and ground.scored
                                 else None,
            "ungrounded_rate": (ground.flagged / ground.scored if ground and ground.scored
                                else None),
            "feedback": self.feedback,
            "thumbs_down_rate": self.thumbs_down / self.thumbs if self.thumbs else None,
            "rating_mean": self.rating_sum / self.rated if self.rated else None,
            "correction_rate": self.corrections / self.feedback if self.feedback else None,
            "drift_rate": self.drifted / self.drift_checks if self.drift_checks else None,
            "prompt_drift_rate": (self.prompt_drifted / self.drift_checks
                                  if self.drift_checks else None),
            "injection_rate": self.injections / self.screened if self.screened else None,
        }
        for name in SKETCHES:
            for q in QUANTILES:
                out[f"{name}_p{round(q * 100)}"] = self.quantile(name, q)
        return out

    def quantile(self, sketch: str, q: float) -> float | None:
        s: DDSketch = getattr(self, sketch)
        value = s.get_quantile_value(q) if s.count else None
        return float(value) if value is not None else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {n: getattr(self, n) for n in COUNTERS if getattr(self, n)}
        out["cost_usd"] = self.cost_usd
        if self.scores:
            out["scores"] = {signal: {v: p.to_list() for v, p in parts.items()}
                             for signal, parts in self.scores.items() if parts}
            out.update(self._legacy_fields())
        out["latest"] = self.latest
        for name in SKETCHES:
            sketch: DDSketch = getattr(self, name)
            if sketch.count:
                out[name] = sketch_to_dict(sketch)
        out["slowest"], out["costliest"] = self.slowest, self.costliest
        out["failed"] = self.failed
        for name in QUALITY_HEAPS:
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowAggregate:
        agg = cls(cost_usd=float(data.get("cost_usd", 0.0)),
                  latest=float(data.get("latest", 0.0)))
        for name in COUNTERS:
            setattr(agg, name, int(data.get(name, 0)))
        for name in SKETCHES:
            if name in data:
                setattr(agg, name, sketch_from_dict(data[name]))
        agg.slowest = [(float(v), str(r)) for v, r in data.get("slowest", ())]
        heapq.heapify(agg.slowest)
        agg.costliest = [(float(v), str(r)) for v, r in data.get("costliest", ())]
        heapq.heapify(agg.costliest)
        agg.failed = [(str(r), str(w)) for r, w in data.get("failed", ())]
        for name in QUALITY_HEAPS:
            heap = [(float(v), str(r)) for v, r in data.get(name, ())]
            heapq.heapify(heap)
            setattr(agg, name, heap)
        agg.scores = {signal: {str(v): ScorePart.from_list(p) for v, p in parts.items()}
                      for signal, parts in data.get("scores", {}).items()}
        if "scores" not in data:
            _legacy_scores(agg, data)
        return agg

    def _legacy_fields(self) -> dict[str, Any]:
        """The most scored version's counts under the names a worker not yet upgraded reads
        (its quality rules would otherwise see no scores during a rolling upgrade)."""
        out: dict[str, Any] = {}
        for signal, (scored, flagged, total, heap) in _LEGACY_NAMES.items():
            versions = self.versions(signal)
            if not versions:
                continue
            part = self.scores[signal][versions[0]]
            out[scored], out[flagged], out[heap] = part.scored, part.flagged, part.worst
            if total:
                out[total] = part.total
        return out


#: Per signal, the names of its counts in a partial written before they were kept per
#: scorer version: scored, flagged, sum of values (toxicity had none), worst few.
_LEGACY_NAMES: dict[str, tuple[str, str, str | None, str]] = {
    "toxicity": ("tox_scored", "toxic", None, "most_toxic"),
    "groundedness": ("ground_scored", "ungrounded", "ground_sum", "least_grounded"),
}


def _legacy_scores(agg: WindowAggregate, data: Mapping[str, Any]) -> None:
    """Quality counts of a partial written before they were kept per scorer version (a
    worker not yet upgraded): one part of version ``unknown`` per signal."""
    for signal, (scored, flagged, total, heap) in _LEGACY_NAMES.items():
        if not data.get(scored):
            continue
        part = ScorePart.from_list([data[scored], data.get(flagged, 0),
                                    data.get(total, 0.0) if total else 0.0,
                                    data.get(heap, ())])
        _merge_versions(agg.scores.setdefault(signal, {}), {UNKNOWN_SCORER: part})


def sketch_to_dict(sketch: DDSketch) -> dict[str, Any]:
    """The sketch's non-empty bins by key, with its totals (values are never negative)."""
    store = sketch._store
    bins = {str(i + store.offset): c for i, c in enumerate(store.bins) if c}
    return {"bins": bins, "zero": sketch._zero_count, "count": sketch._count,
            "min": sketch._min, "max": sketch._max, "sum": sketch._sum}


def sketch_from_dict(data: dict[str, Any]) -> DDSketch:
    """The sketch :func:`sketch_to_dict` wrote.  Its store is sized once for the
    lowest and highest key: adding the bins one by one re-centred the store's list
    at every new extreme (about 170 µs for a sketch of 50 bins, a few per partial
    aggregate read from ``llm.windows``)."""
    sketch = _sketch()
    bins = {int(key): float(count) for key, count in data["bins"].items()}
    if bins:
        store = sketch._store
        store._extend_range(min(bins), max(bins))
        for key, count in bins.items():
            store.bins[key - store.offset] += count
        store.count += sum(bins.values())
    sketch._zero_count = float(data["zero"])
    sketch._count = float(data["count"])
    sketch._min, sketch._max = float(data["min"]), float(data["max"])
    sketch._sum = float(data["sum"])
    return sketch


def pane_of(timestamp: float, pane_s: float) -> float:
    return timestamp - timestamp % pane_s


def fold(calls: Iterable[tuple[InferenceRecord, float | None]],
         groupings: Iterable[tuple[str, ...]], pane_s: float, now: float | None = None,
         injection: Mapping[str, float] | None = None
         ) -> dict[tuple[GroupKey, float], WindowAggregate]:
    """Partial aggregates of some calls per (group, pane) for every grouping.

    A request that never got its response is known to have failed only when its
    join times out: it counts at ``now`` (when given), not at its start, which
    is usually past the lateness allowance by then.  ``injection`` holds the
    ``prompt_injection`` score of the calls whose prompt was checked, by request_id.
    """
    scores = injection or {}
    dims = list(groupings)
    out: dict[tuple[GroupKey, float], WindowAggregate] = {}
    for record, cost in calls:
        when = record.event_time
        if when is None:
            continue
        t = now if now is not None and record.join_status == "request_only" else when.timestamp()
        pane = pane_of(t, pane_s)
        for grouping in dims:
            key = (GroupKey.of(record, grouping), pane)
            agg = out.get(key)
            if agg is None:
                agg = out[key] = WindowAggregate()
            agg.add(record, cost, scores.get(record.request_id))
    return out


def fold_feedback(joined: Iterable[tuple[FeedbackEvent, CallRef]],
                  groupings: Iterable[tuple[str, ...]], pane_s: float
                  ) -> dict[tuple[GroupKey, float], WindowAggregate]:
    """Partial aggregates of feedback per (group of its call, pane of the feedback's time):
    a thumbs-down given an hour after the answer counts when it was given."""
    dims = list(groupings)
    out: dict[tuple[GroupKey, float], WindowAggregate] = {}
    for event, call in joined:
        pane = pane_of(event.time.timestamp(), pane_s)
        for grouping in dims:
            key = (GroupKey.of(call, grouping), pane)
            agg = out.get(key)
            if agg is None:
                agg = out[key] = WindowAggregate()
            agg.add_feedback(event)
    return out


def fold_quality(results: Iterable[ScoreResult], groupings: Iterable[tuple[str, ...]],
                 pane_s: float) -> dict[tuple[GroupKey, float], WindowAggregate]:
    """Partial aggregates of scorer results per (group, pane), on the call's event time."""
    dims = list(groupings)
    out: dict[tuple[GroupKey, float], WindowAggregate] = {}
    for result in results:
        pane = pane_of(result.call.call_time, pane_s)
        for grouping in dims:
            key = (GroupKey.of(result.call, grouping), pane)
            agg = out.get(key)
            if agg is None:
                agg = out[key] = WindowAggregate()
            agg.add_quality(result)
    return out


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    start: float
    width_s: float
    group: GroupKey
    aggregate: WindowAggregate


class PaneWindows:
    """Panes per group on event time; trailing views and aligned closed windows.

    ``widths`` are the aligned window widths to close (each a multiple of the
    pane); panes are kept as long as the widest of them (plus the lateness)
    needs.
    """

    def __init__(self, pane_s: float, lateness_s: float, widths: Iterable[float]) -> None:
        self.pane_s = pane_s
        self.lateness_s = lateness_s
        self.widths = sorted(set(widths))
        self.watermark = float("-inf")
        self.newest = float("-inf")  # end of the newest pane
        self.latest = float("-inf")  # the newest event time
        self.first = float("inf")  # the oldest pane this instance has seen
        self.late = 0
        self._panes: dict[GroupKey, dict[float, WindowAggregate]] = {}
        self._closed_until = {w: float("-inf") for w in self.widths}

    def add(self, group: GroupKey, pane: float, partial: WindowAggregate) -> bool:
        """Merge a partial; False (counted as late) if its pane is already closed."""
        if pane + self.pane_s <= self.watermark - self._keep_s():
            self.late += partial.late_count()
            return False
        if any(pane < until for until in self._closed_until.values()):
            self.late += partial.late_count()
            return False
        self.first = min(self.first, pane)
        panes = self._panes.setdefault(group, {})
        if pane in panes:
            panes[pane].merge(partial)
        else:
            panes[pane] = partial
        self.newest = max(self.newest, pane + self.pane_s)
        self.latest = max(self.latest, min(partial.latest, pane + self.pane_s) or pane)
        self.watermark = max(self.watermark, self.newest - self.pane_s - self.lateness_s)
        return True

    def _keep_s(self) -> float:
        return (self.widths[-1] if self.widths else self.pane_s) + self.lateness_s

    def groups(self) -> Iterator[GroupKey]:
        return iter(list(self._panes))

    def drop(self, which: Callable[[GroupKey], bool]) -> None:
        """Forget the panes of some groups (their partition moved to another worker)."""
        for group in [g for g in self._panes if which(g)]:
            del self._panes[group]

    def trailing(self, group: GroupKey, width_s: float, sketches: Iterable[str] = SKETCHES
                 ) -> tuple[float, WindowAggregate]:
        """The group's last ``width_s`` seconds up to the newest event time: (end, merged).

        The oldest pane usually overlaps the window only in part; its counts and sums
        are pro-rated by the overlap (a sliding-window counter), so a sum does not
        dip each time a new pane starts.
        """
        end = self.latest
        start = end - width_s
        merged = WindowAggregate()
        wanted = tuple(sketches)
        for pane, agg in self._panes.get(group, {}).items():
            if pane >= start:
                merged.merge(agg, sketches=wanted)
            elif pane + self.pane_s > start:
                merged.merge(agg, (pane + self.pane_s - start) / self.pane_s, wanted)
        return end, merged

    def close_ready(self) -> list[ClosedWindow]:
        """Aligned windows of every width whose end the watermark has passed, oldest first."""
        closed: list[ClosedWindow] = []
        if self.watermark == float("-inf"):  # nothing seen yet
            return closed
        for width in self.widths:
            last = self.watermark - self.watermark % width  # windows ending by here are done
            if last <= self._closed_until[width]:
                continue
            since = self._closed_until[width]
            for group, panes in self._panes.items():
                merged: dict[float, WindowAggregate] = {}
                for pane, agg in panes.items():
                    start = pane - pane % width
                    if since <= start and start + width <= last:
                        merged.setdefault(start, WindowAggregate()).merge(agg)
                closed.extend(ClosedWindow(s, width, group, a) for s, a in merged.items())
            self._closed_until[width] = last
        self._evict()
        return sorted(closed, key=lambda w: (w.start, w.width_s, w.group))

    def _evict(self) -> None:
        horizon = self.watermark - self._keep_s()
        for group in list(self._panes):
            panes = self._panes[group]
            for pane in [p for p in panes if p + self.pane_s <= horizon]:
                del panes[pane]
            if not panes:
                del self._panes[group]
