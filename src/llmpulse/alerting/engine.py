"""The rule engine: partial window aggregates in, alert messages out.  Pure, clock passed in.

Each rule is evaluated per group over its trailing window (whole panes up to
the newest event time) whenever new partials for the group arrive, so an alert
fires seconds after the breaching calls, not when a minute closes.  Baseline
rules learn from the group's closed, aligned windows of the rule's width; a
window is not learnt while the rule is pending or firing, so an incident does
not become the new normal.

A quality metric (toxicity, groundedness) is never computed over the scores of
two scorer versions (during a rolling upgrade of the scorers both write): each
version present in the window with ``min_count`` scores is evaluated on its own
values against its own baseline, the rule breaches when one of them does and
clears when all of them do, and the alert names the version whose value it
shows (:func:`pick_reading`).

Per (rule, group) the engine keeps a :class:`RuleStatus` (the state machine's
status plus the baseline history) in a :class:`StatusStore`; statuses that
changed in a way worth keeping are listed by :meth:`AlertEngine.take_changes`
for the caller to persist after it has published the messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from llmpulse.alerting.evaluate import Threshold, condition, threshold
from llmpulse.alerting.message import AlertMessage, Evidence
from llmpulse.alerting.rules import Rule, RulesFile
from llmpulse.alerting.state import (
    AlertState,
    AlertStateMachine,
    AlertStatus,
    Evaluation,
    Notification,
    dedup_key,
)
from llmpulse.windows import (
    DIMENSIONS,
    MAX_SCORER_VERSIONS,
    QUALITY_EVIDENCE,
    QUALITY_METRICS,
    SKETCHES,
    ClosedWindow,
    GroupKey,
    PaneWindows,
    WindowAggregate,
)

GAUGE_WIDTH_S = 60.0


class StatusStore(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


@dataclass
class RuleStatus:
    rule: str
    group: GroupKey
    status: AlertStatus = field(default_factory=AlertStatus)
    history: list[float] = field(default_factory=list)
    threshold: float | None = None
    #: Baseline history of a quality rule per scorer version (``history`` is unused then:
    #: a history learnt before this split mixed versions and is not carried over).
    histories: dict[str, list[float]] = field(default_factory=dict)
    scorer: str | None = None  # the scorer version of the last value (quality rules)

    def history_of(self, version: str | None) -> list[float]:
        return self.history if version is None else self.histories.get(version, [])

    def learn(self, version: str | None, value: float, keep: int) -> None:
        """Add a closed window's value to the baseline history (of one scorer version);
        the histories of at most :data:`MAX_SCORER_VERSIONS` versions are kept, the
        ones learnt most recently."""
        if version is None:
            self.history = [*self.history, value][-keep:]
            return
        learnt = [*self.histories.pop(version, []), value][-keep:]
        self.histories[version] = learnt
        while len(self.histories) > MAX_SCORER_VERSIONS:
            del self.histories[next(iter(self.histories))]

    def to_dict(self) -> dict[str, Any]:
        status = asdict(self.status)
        status["changes"] = list(self.status.changes)
        out = {"rule": self.rule, "group": self.group.encode(), "status": status,
               "history": self.history, "threshold": self.threshold}
        if self.histories:
            out["histories"] = self.histories
        if self.scorer is not None:
            out["scorer"] = self.scorer
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleStatus:
        raw = dict(data["status"])
        raw["state"] = AlertState(raw["state"])
        raw["changes"] = tuple(raw.get("changes", ()))
        return cls(data["rule"], GroupKey.decode(data["group"]), AlertStatus(**raw),
                   list(data.get("history", [])), data.get("threshold"),
                   {str(v): list(h) for v, h in data.get("histories", {}).items()},
                   data.get("scorer"))


def status_key(rule: str, group: GroupKey) -> str:
    """Table key: the group first (it decides the partition), then the rule."""
    return f"{group.encode()}\x1e{rule}"


def group_of_key(key: str) -> str:
    return key.split("\x1e", 1)[0]


def cached_status(cache: dict[str, RuleStatus], store: StatusStore, rule: str,
                  group: GroupKey) -> RuleStatus:
    """The status of (rule, group): from the cache, else the store, else a fresh one."""
    key = status_key(rule, group)
    rs = cache.get(key)
    if rs is None:
        stored = store.get(key)
        rs = RuleStatus.from_dict(stored) if stored else RuleStatus(rule, group)
        cache[key] = rs
    return rs


def grouping_of(group: GroupKey) -> tuple[str, ...]:
    return tuple(d for d in DIMENSIONS if getattr(group, d) != "*")


class AlertEngine:
    def __init__(self, rules: RulesFile, pane_s: float, lateness_s: float,
                 store: StatusStore) -> None:
        rules.check_panes(pane_s)
        self.rules = rules
        widths = {r.window for r in rules.rules} | {GAUGE_WIDTH_S}
        self.windows = PaneWindows(pane_s, lateness_s, widths)
        self._store = store
        self._statuses: dict[str, RuleStatus] = {}
        self._machines = {r.name: AlertStateMachine(r.policy(), r.name) for r in rules.rules}
        self._by_grouping: dict[tuple[str, ...], list[Rule]] = {}
        for rule in rules.rules:
            self._by_grouping.setdefault(rule.group_by, []).append(rule)
        self._dirty: set[GroupKey] = set()
        self._changes: dict[str, dict[str, Any]] = {}
        self._started: float | None = None

    def add(self, partials: Iterable[tuple[GroupKey, float, WindowAggregate]]) -> None:
        for group, pane, partial in partials:
            if self.windows.add(group, pane, partial):
                self._dirty.add(group)

    def evaluate(self, now: float) -> tuple[list[AlertMessage], list[ClosedWindow]]:
        """Learn from closed windows, evaluate touched groups, check stale alerts."""
        if self._started is None:
            self._started = now
        closed = self.windows.close_ready()
        for window in closed:
            self._learn(window)
        messages: list[AlertMessage] = []
        dirty, self._dirty = self._dirty, set()
        for group in dirty:
            for rule in self._by_grouping.get(grouping_of(group), ()):
                messages.extend(self._evaluate(rule, group, now))
        for rs in list(self._statuses.values()):
            if rs.group not in dirty and rs.status.state is not AlertState.OK:
                messages.extend(self._step(self.rules.rule(rs.rule), rs, None, now, None))
        return messages, [w for w in closed if w.width_s == GAUGE_WIDTH_S]

    def adopt(self, stored: Iterable[dict[str, Any]]) -> int:
        """Load persisted statuses not yet in memory that are not OK (after a start or
        a rebalance), so quiet groups still resolve; statuses of rules no longer in
        the file are left alone.  Returns how many were loaded."""
        names = {r.name for r in self.rules.rules}
        loaded = 0
        for data in stored:
            if not data or data.get("rule") not in names:
                continue
            rs = RuleStatus.from_dict(data)
            key = status_key(rs.rule, rs.group)
            if key not in self._statuses and rs.status.state is not AlertState.OK:
                self._statuses[key] = rs
                loaded += 1
        return loaded

    def drop(self, which: Callable[[GroupKey], bool]) -> None:
        """Forget the statuses and panes of groups this worker no longer owns."""
        for key in [k for k, rs in self._statuses.items() if which(rs.group)]:
            del self._statuses[key]
        self.windows.drop(which)
        self._dirty = {g for g in self._dirty if not which(g)}

    def forget_unsent(self) -> None:
        """Publishing failed: reload statuses from the store, so what was not sent is
        sent at the next evaluation."""
        self._statuses.clear()
        self._changes.clear()

    def take_changes(self) -> dict[str, dict[str, Any]]:
        changes, self._changes = self._changes, {}
        return changes

    def statuses(self) -> list[RuleStatus]:
        return list(self._statuses.values())

    def _status(self, rule: str, group: GroupKey) -> RuleStatus:
        return cached_status(self._statuses, self._store, rule, group)

    def _learn(self, window: ClosedWindow) -> None:
        for rule in self._by_grouping.get(grouping_of(window.group), ()):
            if rule.baseline is None or rule.window != window.width_s:
                continue
            agg = window.aggregate
            counted = [v for v in versions_for(rule.metric, agg)
                       if agg.count_for(rule.metric, v) >= rule.min_count]
            if not counted or window.start < self.windows.first:
                continue  # too few calls, or only partly seen (this process started in it)
            rs = self._status(rule.name, window.group)
            if rs.status.state in (AlertState.PENDING, AlertState.FIRING):
                continue
            learnt = False
            for version in counted:  # each scorer version learns its own baseline
                value = agg.summary(version)[rule.metric]
                if value is not None:
                    rs.learn(version, float(value), rule.baseline.windows)
                    learnt = True
            if learnt:
                self._changes[status_key(rule.name, window.group)] = rs.to_dict()

    def _evaluate(self, rule: Rule, group: GroupKey, now: float) -> list[AlertMessage]:
        end, agg = self.windows.trailing(group, rule.window, sketches_for(rule.metric))
        rs = self._status(rule.name, group)
        readings = [r for v in versions_for(rule.metric, agg)
                    if (r := reading(rule, agg, v, rs.history_of(v))) is not None]
        if not readings:
            stale = rs.status.last_data is None or now - rs.status.last_data > rule.stale_after
            if rs.status.state is AlertState.OK or not stale:
                return []
            return self._step(rule, rs, None, now, None)
        shown = pick_reading(readings)
        rs.threshold = shown.limit.value
        rs.scorer = shown.version
        evaluation = Evaluation(time=now, value=shown.value,
                                breach=any(r.breach for r in readings),
                                clear=all(r.clear for r in readings))
        return self._step(rule, rs, evaluation, now, (end, agg, shown.limit))

    def _step(self, rule: Rule, rs: RuleStatus, evaluation: Evaluation | None, now: float,
              window: tuple[float, WindowAggregate, Threshold] | None) -> list[AlertMessage]:
        if evaluation is None and (
                (rs.status.last_data is not None and now - rs.status.last_data <= rule.stale_after)
                or now - (self._started or now) < rule.stale_after):
            return []  # not stale yet; or warming up (after a restart panes refill first)
        before = rs.status
        machine = self._machines[rule.name]
        machine.key = dedup_key(rule.name, rs.group.labels())
        rs.status, note = machine.step(before, evaluation, now)
        if _worth_keeping(before, rs.status):
            self._changes[status_key(rule.name, rs.group)] = rs.to_dict()
        if note is None:
            return []
        return [build_message(rule, rs, note, window)]


@dataclass(frozen=True, slots=True)
class Reading:
    """A rule's value over one window: of one scorer version for a quality metric
    (``version`` None otherwise), with its threshold."""

    version: str | None
    value: float
    count: float
    limit: Threshold
    breach: bool
    clear: bool


def versions_for(metric: str, agg: WindowAggregate) -> list[str | None]:
    """What a rule on ``metric`` evaluates separately: each scorer version of a quality
    metric's scores in the window (the most scored first), else the window as a whole."""
    if metric in QUALITY_METRICS:
        return list(agg.versions(metric))
    return [None]


def reading(rule: Rule, agg: WindowAggregate, version: str | None,
            history: list[float]) -> Reading | None:
    """The rule's value over ``agg`` (only ``version``'s scores for a quality metric) and
    its threshold; None with too few calls or scores, or while a baseline is learning."""
    count = agg.count_for(rule.metric, version)
    if count < rule.min_count:
        return None
    value = agg.summary(version)[rule.metric]
    limit = threshold(rule, history) if value is not None else None
    if value is None or limit is None:
        return None
    breach, clear = condition(rule, float(value), limit)
    return Reading(version, float(value), count, limit, breach, clear)


def pick_reading(readings: list[Reading]) -> Reading:
    """The reading an alert shows: one that breaches, else one not yet clear (what keeps
    a firing alert firing), else any; among those the one with the most scores."""
    return min(readings, key=lambda r: (not r.breach, r.clear, -r.count, r.version or ""))


def sketches_for(metric: str) -> tuple[str, ...]:
    """The one sketch a percentile metric reads; none for counts, rates and sums."""
    name = metric.partition("_p")[0]
    return (name,) if name in SKETCHES and metric != name else ()


def _worth_keeping(before: AlertStatus, after: AlertStatus) -> bool:
    """Changes beyond the last value and time (those are refreshed with every evaluation)."""
    return replace(before, last_value=None, last_data=None) != \
        replace(after, last_value=None, last_data=None)


def _iso(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def evidence(rule: Rule, agg: WindowAggregate, version: str | None = None
             ) -> tuple[Evidence, ...]:
    """The calls that best show what the rule saw, worst first; ``value`` is the call's
    own measure (seconds, USD, toxicity, groundedness, dislike score, injection score)
    and ``detail`` says which it is.  For a quality metric, the answers scored by
    ``version`` (by default the most scored version)."""
    if rule.metric.startswith(("duration", "ttft", "tpot")):
        slowest = sorted(agg.slowest, reverse=True)
        return tuple(Evidence(request_id=r, value=v,
                              detail=f"duration {v:.3g}s, among the slowest calls of the window")
                     for v, r in slowest)
    if rule.metric in ("cost_usd", "tokens_in", "tokens_out"):
        return tuple(Evidence(request_id=r, value=v,
                              detail=f"cost ${v:.4g}, among the costliest calls of the window")
                     for v, r in sorted(agg.costliest, reverse=True))
    if rule.metric in QUALITY_EVIDENCE:  # most toxic / least grounded / most disliked
        heap_name = QUALITY_EVIDENCE[rule.metric]
        heap: list[tuple[float, str]]
        if rule.metric in QUALITY_METRICS:
            part = agg.part(rule.metric, version)
            heap = part.worst if part is not None else []
        else:
            heap = getattr(agg, heap_name)
        return tuple(_quality_evidence(heap_name, v, r) for v, r in sorted(heap, reverse=True))
    return tuple(Evidence(request_id=r, detail=why) for r, why in agg.failed)


def _quality_evidence(heap: str, kept: float, request_id: str) -> Evidence:
    """One answer of a quality heap, with its score as the scorer gave it (the heaps keep
    the worst on top: 1 - groundedness for the least grounded)."""
    if heap == "least_grounded":
        grounded = 1.0 - kept
        return Evidence(request_id=request_id, value=grounded,
                        detail=f"groundedness {grounded:.3f} (ungrounded; 1 = fully supported "
                               "by its context)")
    if heap == "most_injected":
        return Evidence(request_id=request_id, value=kept,
                        detail=f"prompt_injection {kept:.3f} (labelled injection; 0 = clean)")
    if heap == "most_toxic":
        return Evidence(request_id=request_id, value=kept,
                        detail=f"toxicity {kept:.3f} (toxic; 0 = harmless, 1 = toxic)")
    return Evidence(request_id=request_id, value=kept,
                    detail=f"dislike score {kept:g} (thumbs down 1 + correction 1 + "
                           "(3 - rating) / 2)")


def build_message(rule: Rule, rs: RuleStatus, note: Notification,
                  window: tuple[float, WindowAggregate, Threshold] | None) -> AlertMessage:
    end = window[0] if window else note.time
    agg = window[1] if window else WindowAggregate()
    limit = window[2] if window else None
    firing = note.state is AlertState.FIRING
    labels = rs.group.labels()
    usual = limit.baseline.value if limit and limit.baseline else None
    scorer = rs.scorer if rule.metric in QUALITY_METRICS else None
    fields: dict[str, Any] = {**{d: "*" for d in DIMENSIONS}, **labels, "value": note.value,
                              "threshold": limit.value if limit else rs.threshold,
                              "metric": rule.metric, "window": rule.window, "rule": rule.name,
                              "baseline": usual, "scorer": scorer or ""}
    if fields["baseline"]:
        fields["factor"] = (note.value or 0.0) / fields["baseline"]
    return AlertMessage(
        id=f"{note.dedup_key}:{note.kind}:{int(_id_time(note, rs) * 1000)}",
        dedup_key=note.dedup_key, kind=note.kind, state="firing" if firing else "resolved",
        rule=rule.name, severity=rule.severity, summary=render_summary(rule, fields, firing),
        metric=rule.metric, operator=rule.operator, value=note.value,
        threshold=fields["threshold"], baseline=limit.baseline if limit else None,
        group=labels, count=round(agg.count_for(rule.metric, scorer)), window_s=rule.window,
        window_start=_iso(end - rule.window), window_end=_iso(end), since=_iso(rs.status.since),
        time=_iso(note.time), runbook_url=rule.runbook_url, labels=dict(rule.labels),
        channels=rule.channels, evidence=evidence(rule, agg, scorer) if firing else (),
        scorer=scorer)


def _id_time(note: Notification, rs: RuleStatus) -> float:
    """The same trigger or resolve has the same id (a republish is recognised); each
    re-notification is a new one."""
    return note.time if note.kind == "renotify" else rs.status.since


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_summary(rule: Rule, fields: dict[str, Any], firing: bool) -> str:
    where = ", ".join(f"{k}={v}" for k, v in fields.items() if k in DIMENSIONS and v != "*")
    if rule.summary:
        try:
            text = rule.summary.format_map(_Missing(fields))
        except (ValueError, TypeError):  # a format spec on a missing value
            text = rule.summary
    else:
        value, limit = fields["value"], fields["threshold"]
        shown = f"{value:.4g}" if isinstance(value, float) else "no data"
        limit_shown = f"{limit:.4g}" if isinstance(limit, float) else "?"
        text = (f"{rule.metric} = {shown} {rule.operator} {limit_shown} over "
                f"{rule.window:g}s for {where or 'all traffic'}")
        if fields.get("scorer"):
            text += f" (scorer {fields['scorer']})"
    return text if firing else f"resolved: {text}"


def build_test_message(rule: Rule, now: datetime) -> AlertMessage:
    """A clearly labelled test notification for ``rule`` (``llmpulse alerts test``)."""
    group = {d: "test" for d in rule.group_by}
    key = dedup_key(rule.name, {**group, "test": "1"})
    ts = now.timestamp()
    return AlertMessage(
        id=f"{key}:test:{int(ts * 1000)}", dedup_key=key, kind="test", state="firing",
        rule=rule.name, severity=rule.severity,
        summary=f"TEST notification for rule {rule.name} (no action needed)",
        metric=rule.metric, operator=rule.operator, value=rule.threshold,
        threshold=rule.threshold, group=group, count=0, window_s=rule.window,
        window_start=_iso(ts - rule.window), window_end=now, since=now, time=now,
        runbook_url=rule.runbook_url, labels={**rule.labels, "test": "true"},
        channels=rule.channels)
