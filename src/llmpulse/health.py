"""Health of a process: what ``/healthz`` and ``/readyz`` answer, from state kept in one place.

``/healthz`` (alive): the event loop runs.  A callback the loop runs every second
(:class:`Heartbeat`) stamps the time; the process is unhealthy when the stamp has not
moved for ``LLMPULSE_LIVE_STALL_S`` (a loop blocked or hung).  Before the loop runs
(checks, waiting for the store) the process counts as alive and starting.

``/readyz`` (doing its job), each check with its state and reason:

* ``loop``: as above;
* ``partitions``: the consumer group gave this member its partitions and its tables
  are restored (:class:`Membership`).  A member the group assigned no input
  partition (more members than partitions) is ready and says ``idle``;
* ``store`` (worker): the store opened (:class:`Readiness`, set while the worker waits
  for it at start-up) and its writes are not failing now;
* ``batch``: no batch has been in flight for longer than ``LLMPULSE_READY_STUCK_S``
  (the pipeline retries a failing step for ever; the body says since when, at which
  step and the last error);
* ``progress``: no assigned input partition has had messages waiting while nothing
  was read from it for ``LLMPULSE_READY_STUCK_S`` (:class:`ProgressWatch`);
* ``shutdown``: not draining after SIGTERM.

The state is written on the event loop and read by the HTTP server's threads: every
shared value is an immutable snapshot replaced whole (or guarded by a lock).  The
``*_check`` functions are pure: they take the snapshot and the time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

OnChange = Callable[[str, bool], None]
Clock = Callable[[], float]


class Readiness:
    """Component -> up (with the reason when down); thread-safe (an HTTP handler thread
    reads it).  The worker marks ``store`` while it opens it at start-up;
    ``on_change`` mirrors the changes (the runner sets ``llmpulse_store_up``)."""

    def __init__(self, on_change: OnChange | None = None) -> None:
        self._states: dict[str, bool] = {}
        self._reasons: dict[str, str] = {}
        self._lock = threading.Lock()
        self._on_change = on_change

    def set(self, component: str, up: bool, reason: str = "") -> None:
        with self._lock:
            changed = self._states.get(component) != up
            self._states[component] = up
            self._reasons[component] = reason
        if changed and self._on_change is not None:
            self._on_change(component, up)

    def is_up(self, component: str) -> bool | None:
        """None: not checked yet."""
        with self._lock:
            return self._states.get(component)

    def reason(self, component: str) -> str:
        with self._lock:
            return self._reasons.get(component, "")

    @property
    def ready(self) -> bool:
        """Every component checked so far is up (and at least one was checked)."""
        with self._lock:
            return bool(self._states) and all(self._states.values())

    def down(self) -> list[str]:
        with self._lock:
            return sorted(name for name, up in self._states.items() if not up)


@dataclass(frozen=True, slots=True)
class Check:
    """One check of a health answer: whether it passes, a one-word state, why."""

    ok: bool
    state: str
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "state": self.state, "reason": self.reason, **self.details}


def answer(checks: Mapping[str, Check], good: str, bad: str) -> tuple[int, dict[str, Any]]:
    """HTTP status (200 when every check passes, else 503) and the JSON body."""
    ok = all(check.ok for check in checks.values())
    return (200 if ok else 503), {
        "status": good if ok else bad,
        "failing": [name for name, check in checks.items() if not check.ok],
        "checks": {name: check.as_json() for name, check in checks.items()},
    }


# --- /healthz: the event loop -------------------------------------------------------


class Heartbeat:
    """The last time the event loop ran its once-a-second callback (monotonic)."""

    EVERY_S = 1.0

    def __init__(self) -> None:
        self.last: float | None = None

    def beat(self, now: float) -> None:
        self.last = now


def loop_check(last: float | None, now: float, stall_s: float) -> Check:
    if last is None:
        return Check(True, "starting", "the event loop has not started yet (start-up checks, "
                     "opening the store)")
    age = max(0.0, now - last)
    if age > stall_s:
        return Check(False, "stalled", f"the event loop has not run for {age:.0f} s "
                     f"(LLMPULSE_LIVE_STALL_S={stall_s:g})", {"heartbeat_age_s": round(age, 1)})
    return Check(True, "running", f"the event loop ran {age:.1f} s ago",
                 {"heartbeat_age_s": round(age, 1)})


# --- /readyz: group membership -------------------------------------------------------

MemberState = Literal["starting", "recovering", "active", "rebalancing"]


@dataclass(frozen=True, slots=True)
class MemberSnapshot:
    state: MemberState = "starting"
    #: input partitions assigned, as ``topic[partition]``
    inputs: tuple[str, ...] = ()
    #: whether the member was active once (a later rebalance does not make it unready)
    was_active: bool = False


class Membership:
    """Follows the consumer group through Faust's signals (on the event loop): joining,
    partitions assigned (tables restoring), rebalance complete, partitions revoked."""

    def __init__(self, input_topics: Iterable[str] = ()) -> None:
        self.input_topics = frozenset(input_topics)
        self.snapshot = MemberSnapshot()

    def assigned(self, partitions: Iterable[tuple[str, int]]) -> None:
        inputs = tuple(sorted(f"{topic}[{partition}]" for topic, partition in partitions
                              if topic in self.input_topics))
        state: MemberState = "rebalancing" if self.snapshot.was_active else "recovering"
        self.snapshot = replace(self.snapshot, state=state, inputs=inputs)

    def completed(self) -> None:
        """The rebalance is complete: tables restored, streams resumed."""
        if self.snapshot.state != "starting":
            self.snapshot = replace(self.snapshot, state="active", was_active=True)

    def revoked(self) -> None:
        if self.snapshot.was_active:
            self.snapshot = replace(self.snapshot, state="rebalancing")


def partitions_check(member: MemberSnapshot) -> Check:
    n = len(member.inputs)
    details = {"input_partitions": list(member.inputs)}
    if member.state == "starting":
        return Check(False, "starting", "waiting to join the consumer group", details)
    if member.state == "recovering":
        return Check(False, "recovering", f"{n} input partition(s) assigned; restoring the "
                     "tables from their changelogs before reading", details)
    if member.state == "rebalancing":
        return Check(True, "rebalancing", f"the consumer group is rebalancing ({n} input "
                     "partition(s) in the last assignment)", details)
    if n == 0:
        return Check(True, "idle", "the consumer group assigned this member no input "
                     "partition (more members than partitions); it stays in the group and "
                     "takes partitions over when a member leaves", details)
    return Check(True, "assigned", f"{n} input partition(s) assigned", details)


# --- /readyz: the store -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trouble:
    """A dependency failing: since when (wall clock), how many attempts, the last error."""

    since: float
    attempts: int
    error: str

    def again(self, error: str) -> Trouble:
        return Trouble(self.since, self.attempts + 1, error)


def store_check(opened: bool | None, open_reason: str, writes: Trouble | None,
                now: float) -> Check:
    """``opened``: the start-up state (None: not tried yet); ``writes``: the pipeline's
    store operations failing now (None: the last one succeeded)."""
    if opened is None:
        return Check(False, "starting", "opening the store")
    if not opened:
        return Check(False, "unreachable", f"waiting for the store at start-up: "
                     f"{open_reason or 'unreachable'}")
    if writes is not None:
        age = max(0.0, now - writes.since)
        return Check(False, "failing", f"store operations failing for {age:.0f} s "
                     f"({writes.attempts} attempt(s)): {writes.error}; the batch is held and "
                     "retried, consumption waits behind it",
                     {"failing_since": round(writes.since, 3), "attempts": writes.attempts})
    return Check(True, "up", "the store answers")


# --- /readyz: the batch in flight ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchState:
    """The batch being written (worker) or scored and delivered (scorer)."""

    messages: int
    since: float  # wall clock: when its write began
    step: str
    failing: Trouble | None = None

    def at(self, step: str) -> BatchState:
        return replace(self, step=step)

    def failed(self, error: str, now: float) -> BatchState:
        failing = Trouble(now, 1, error) if self.failing is None else self.failing.again(error)
        return replace(self, failing=failing)

    def recovered(self) -> BatchState:
        return self if self.failing is None else replace(self, failing=None)

    def describe(self, now: float) -> str:
        text = (f"a batch of {self.messages} message(s), in flight for "
                f"{max(0.0, now - self.since):.0f} s, at step '{self.step}'")
        if self.failing is not None:
            text += (f", failing for {max(0.0, now - self.failing.since):.0f} s "
                     f"({self.failing.attempts} attempt(s), last: {self.failing.error})")
        return text


def batch_check(batch: BatchState | None, now: float, budget_s: float) -> Check:
    if batch is None:
        return Check(True, "idle", "no batch in flight")
    age = max(0.0, now - batch.since)
    details: dict[str, Any] = {"messages": batch.messages, "step": batch.step,
                               "in_flight_since": round(batch.since, 3),
                               "in_flight_s": round(age, 1)}
    if batch.failing is not None:
        details.update(failing_since=round(batch.failing.since, 3),
                       attempts=batch.failing.attempts, error=batch.failing.error)
    if age > budget_s:
        return Check(False, "stuck", f"{batch.describe(now)}: past LLMPULSE_READY_STUCK_S="
                     f"{budget_s:g} (nothing is lost: its messages stay unacknowledged and "
                     "it is retried)", details)
    state = "retrying" if batch.failing is not None else "writing"
    return Check(True, state, batch.describe(now), details)


# --- /readyz: progress on the input partitions ---------------------------------------


@dataclass(frozen=True, slots=True)
class Stall:
    partition: str
    position: int  # the next offset to read
    waiting: int  # messages between it and the end of the partition
    grew: int  # how much that grew while nothing was read
    for_s: float


class ProgressWatch:
    """Per input partition: the read position and since when it has not moved while
    messages were waiting (``observe`` on the event loop; ``stalls`` from anywhere)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        #: partition -> (position, end offset when it stopped moving, since when)
        self._still: dict[str, tuple[int, int, float | None]] = {}
        self._ends: dict[str, int] = {}

    def observe(self, partition: str, end: int, position: int) -> None:
        """``end``: the partition's end offset; ``position``: the next offset to read."""
        now = self._clock()
        with self._lock:
            last = self._still.get(partition)
            self._ends[partition] = end
            if end <= position:
                self._still[partition] = (position, end, None)
            elif last is None or last[0] != position or last[2] is None:
                self._still[partition] = (position, end, now)

    def keep(self, partitions: Iterable[str]) -> None:
        """Forget the partitions not in ``partitions`` (no longer assigned)."""
        wanted = set(partitions)
        with self._lock:
            for gone in set(self._still) - wanted:
                del self._still[gone]
                self._ends.pop(gone, None)

    def stalls(self, budget_s: float) -> list[Stall]:
        now = self._clock()
        with self._lock:
            out = [Stall(p, position, self._ends[p] - position, self._ends[p] - end0,
                         now - since)
                   for p, (position, end0, since) in sorted(self._still.items())
                   if since is not None and now - since > budget_s]
        return out


def progress_check(stalls: list[Stall], budget_s: float) -> Check:
    if not stalls:
        return Check(True, "reading", "every assigned input partition is read (or has "
                     "nothing waiting)")
    first = stalls[0]
    more = f" and {len(stalls) - 1} more partition(s)" if len(stalls) > 1 else ""
    return Check(False, "stalled", f"nothing read from {first.partition}{more} for "
                 f"{first.for_s:.0f} s while {first.waiting} message(s) wait (grew by "
                 f"{first.grew}): past LLMPULSE_READY_STUCK_S={budget_s:g}",
                 {"stalled": [{"partition": s.partition, "position": s.position,
                               "waiting": s.waiting, "grew": s.grew,
                               "for_s": round(s.for_s, 1)} for s in stalls]})


# --- /readyz: shutdown ---------------------------------------------------------------


def shutdown_check(draining_for: float | None, signal: str, phase: str) -> Check:
    if draining_for is None:
        return Check(True, "running", "not stopping")
    return Check(False, "draining", f"stopping after {signal or 'a stop request'} "
                 f"{draining_for:.1f} s ago: {phase or 'draining'}")


# --- the process -----------------------------------------------------------------------


class ProcessHealth:
    """Everything /healthz and /readyz answer from, for one worker or scorer.

    The wiring fills it in: the runner starts the heartbeat and the drain, the Faust
    app feeds :attr:`membership` and :attr:`progress`, the pipeline (or the scoring
    stage) is :attr:`batch`, the worker's store state is :attr:`readiness` plus
    :attr:`store_writes`."""

    def __init__(self, process: str, *, stall_s: float, stuck_s: float,
                 input_topics: Iterable[str] = (), readiness: Readiness | None = None,
                 monotonic: Clock = time.monotonic, wall: Clock = time.time) -> None:
        self.process = process
        self.stall_s = stall_s
        self.stuck_s = stuck_s
        self.readiness = readiness
        self.heartbeat = Heartbeat()
        self.membership = Membership(input_topics)
        self.progress = ProgressWatch(monotonic)
        self.batch: Callable[[], BatchState | None] = lambda: None
        self.store_writes: Callable[[], Trouble | None] = lambda: None
        #: (draining for how long or None, the signal, the phase): set by the drain
        self.draining: Callable[[], tuple[float | None, str, str]] = lambda: (None, "", "")
        self._monotonic = monotonic
        self._wall = wall

    def healthz(self) -> tuple[int, dict[str, Any]]:
        checks = {"loop": loop_check(self.heartbeat.last, self._monotonic(), self.stall_s)}
        status, body = answer(checks, "alive", "stalled")
        return status, {"process": self.process, **body}

    def readyz(self) -> tuple[int, dict[str, Any]]:
        now = self._wall()
        checks = {
            "loop": loop_check(self.heartbeat.last, self._monotonic(), self.stall_s),
            "partitions": partitions_check(self.membership.snapshot),
        }
        if self.readiness is not None:
            checks["store"] = store_check(self.readiness.is_up("store"),
                                          self.readiness.reason("store"),
                                          self.store_writes(), now)
        checks["batch"] = batch_check(self.batch(), now, self.stuck_s)
        checks["progress"] = progress_check(self.progress.stalls(self.stuck_s), self.stuck_s)
        checks["shutdown"] = shutdown_check(*self.draining())
        status, body = answer(checks, "ready", "not ready")
        if status == 200 and checks["partitions"].state == "idle":
            body["status"] = "idle"
        elif checks["shutdown"].state == "draining":
            body["status"] = "draining"
        elif not checks["partitions"].ok and checks["partitions"].state in ("starting",
                                                                              "recovering"):
            body["status"] = "starting"
        return status, {"process": self.process, **body}
