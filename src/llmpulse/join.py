"""Join requests and responses by request_id, and drop redelivered duplicates.

Pure logic over a mutable mapping (a Faust table in the worker, a dict in
tests); the caller passes the time.  Table values are JSON-ready dicts:

* pending: ``{"k": "p", "req": wire | None, "resp": wire | None, "t": first_seen}``
  (exactly one half is set: the table never holds a finished call)
* done:    ``{"k": "d", "s": status, "t": done_at, "half": wire | None}``

``half`` keeps the lone request (or response) of a timed-out join, so that a
late other half still completes the record.

What may become durable before what
-----------------------------------
The table's changes reach its changelog in bursts (:meth:`DurableJoinTable.persist`),
and a burst carries every change made so far, including those of events whose
batch is not stored yet.  A crash can therefore leave any prefix of the changes
durable, with any suffix of the input unacknowledged.  The join stays exact
because every change it makes is safe to make durable early:

1. A pending entry holds one half.  Durable before its event is acknowledged,
   a replay of that half finds itself in the entry and is a true duplicate:
   the half is kept, and completes or times out from the entry.
2. Completing a call changes nothing in the table.  The finished record lives
   in ``in_flight`` (memory) until it is stored; a crash loses it, and the
   replayed completing half completes it again from the pending entry.
3. A done mark is written only after the call's row is stored, and persisted
   before the events that made the call are acknowledged: a replay after it is
   a duplicate, a replay before it stores the call again (idempotent rows).
4. An inference record deletes stray halves of its request_id; if that is
   durable first, the replayed inference record finds nothing and is recorded.

So: store rows, then done marks (with everything else so far) to the changelog,
then acknowledge.  All of this presumes that a worker reads no input before its
table holds what the changelog holds for the input's partitions: the worker reads
input only under an assignment that carries those changelog partitions, recovered
first (``llmpulse.streams.table_guard``); with an empty table a replayed half was
taken for news and written over its pending other half.
``tests/unit/test_crash_points.py`` crashes a batch at every step boundary and checks
that the replay stores each call once, as what it is.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

from llmpulse.records import InferenceRecord, JoinStatus, from_inference, from_parts
from llmpulse.schema import InferenceEvent, RequestEvent, ResponseEvent, to_wire

JoinTable = MutableMapping[str, dict[str, Any]]
#: Which halves a call being stored holds: one lone half (a timed-out join) or all.
Halves = Literal["req", "resp", "all"]
#: request_id -> halves of the record being stored (finished, not yet done-marked).
InFlight = Mapping[str, Halves]


def halves_of(record: InferenceRecord) -> Halves:
    if record.join_status == "request_only":
        return "req"
    if record.join_status == "response_only":
        return "resp"
    return "all"


class DurableJoinTable(MutableMapping[str, dict[str, Any]]):
    """A join table whose changes are made durable in bursts (the worker's changelog).

    It also keeps the keys of pending entries, so that a sweep need not read the
    whole table (mostly done marks) every few seconds; subclasses call
    :meth:`_track` on every write.  Entries restored by other means (changelog
    recovery) are found by the periodic full sweep.
    """

    pending: set[str]

    @abstractmethod
    async def persist(self) -> None:
        """Make every change so far durable."""

    def _track(self, key: str, value: dict[str, Any] | None) -> None:
        if value is not None and value["k"] == "p":
            self.pending.add(key)
        else:
            self.pending.discard(key)


class MemoryJoinTable(DurableJoinTable):
    """A plain in-memory join table (tests, offline tools): nothing to persist."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self.pending = set()

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self._data[key]

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        self._data[key] = value
        self._track(key, value)

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._track(key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    async def persist(self) -> None:
        return None

#: Which record wins in storage when two versions of one call exist.
RANK: dict[JoinStatus, int] = {"request_only": 1, "response_only": 1, "joined": 2, "inference": 2}


@dataclass
class JoinResult:
    """What one event led to."""

    record: InferenceRecord | None = None
    duplicate: bool = False
    late: bool = False  # completed a call already recorded half (after the join timeout)
    pending: bool = False


@dataclass
class Expired:
    """Timed-out halves and forgotten done markers found by a sweep."""

    records: list[InferenceRecord] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)


def on_event(
    table: JoinTable,
    event: InferenceEvent | RequestEvent | ResponseEvent,
    now: float,
    in_flight: InFlight,
) -> JoinResult:
    """Fold one event into the table; ``in_flight`` holds calls finished but not stored."""
    rid = event.request_id
    state = table.get(rid)
    if rid in in_flight:
        return _while_in_flight(state, event, in_flight[rid])
    if isinstance(event, InferenceEvent):
        if state is not None and state["k"] == "d":
            return JoinResult(duplicate=True)
        if state is not None:
            del table[rid]  # an inference record supersedes stray halves
        return JoinResult(record=from_inference(event))
    mine, other = ("req", "resp") if isinstance(event, RequestEvent) else ("resp", "req")
    if state is None:
        table[rid] = {"k": "p", mine: to_wire(event), other: None, "t": now}
        return JoinResult(pending=True)
    if state["k"] == "d":
        return _late(state, event, mine)
    if state.get(mine) is not None:
        return JoinResult(duplicate=True)
    # The table keeps the pending half until the done mark replaces it (rule 2 above):
    # while the call is stored, ``in_flight`` tells a redelivered half from news.
    return JoinResult(record=_complete(event, state[other]))


def _while_in_flight(state: dict[str, Any] | None,
                     event: InferenceEvent | RequestEvent | ResponseEvent,
                     halves: Halves) -> JoinResult:
    """A call is being stored: only the missing half of a timed-out join is news."""
    if state is None or state["k"] != "p" or isinstance(event, InferenceEvent):
        return JoinResult(duplicate=True)
    other = "resp" if isinstance(event, RequestEvent) else "req"
    if halves != other or state.get(other) is None:
        return JoinResult(duplicate=True)
    return JoinResult(record=_complete(event, state[other]), late=True)


def _late(state: dict[str, Any], event: RequestEvent | ResponseEvent, mine: str) -> JoinResult:
    half = state.get("half")
    lone_kind = "req" if state["s"] == "request_only" else "resp"
    if half is None or lone_kind == mine:
        return JoinResult(duplicate=True)
    return JoinResult(record=_complete(event, half), late=True)


def _complete(event: RequestEvent | ResponseEvent, other_wire: dict[str, Any]) -> InferenceRecord:
    """The joined record of ``event`` and the stored other half."""
    if isinstance(event, RequestEvent):
        return from_parts(event, ResponseEvent.model_validate(other_wire))
    return from_parts(RequestEvent.model_validate(other_wire), event)


def _parse(wire: dict[str, Any] | None, kind: str) -> RequestEvent | ResponseEvent | None:
    if wire is None:
        return None
    model = RequestEvent if kind == "req" else ResponseEvent
    return model.model_validate(wire)


def done_marker(record: InferenceRecord, now: float) -> dict[str, Any]:
    """The table value that remembers a stored call (for dedup and late halves)."""
    half: dict[str, Any] | None = None
    if record.join_status in ("request_only", "response_only"):
        half = _lone_half(record)
    return {"k": "d", "s": record.join_status, "t": now, "half": half}


def _lone_half(record: InferenceRecord) -> dict[str, Any]:
    if record.join_status == "request_only":
        req = RequestEvent.model_validate(
            {name: getattr(record, name) for name in RequestEvent.model_fields
             if name not in ("schema_version", "event_type") and hasattr(record, name)}
        )
        return to_wire(req)
    resp = ResponseEvent.model_validate(
        {name: getattr(record, name) for name in ResponseEvent.model_fields
         if name not in ("schema_version", "event_type") and hasattr(record, name)}
        | {"start_time": record.start_time}
    )
    return to_wire(resp)


def sweep(table: JoinTable, now: float, join_timeout: float, dedup_horizon: float,
          in_flight: InFlight, owns: Callable[[str], bool] = lambda rid: True,
          full: bool = True, expire_halves: bool = True) -> Expired:
    """Records for halves older than the join timeout; done markers past the horizon.
    ``expire_halves=False`` only forgets done markers (the worker is behind its input,
    where the other halves may still be).

    ``owns`` says whether this worker still owns a request_id's partition: after a
    rebalance the local store may hold entries another worker now answers for.
    ``full=False`` looks only at the pending entries a :class:`DurableJoinTable`
    tracks (cheap); a full sweep reads everything and refreshes that tracking.
    """
    out = Expired()
    if full or not isinstance(table, DurableJoinTable):
        entries = list(table.items())
        if isinstance(table, DurableJoinTable):
            table.pending = {rid for rid, state in entries if state["k"] == "p"}
    else:
        entries = [(rid, table[rid]) for rid in list(table.pending) if rid in table]
    for rid, state in entries:
        if rid in in_flight:
            continue
        if state["k"] == "p" and not expire_halves:
            continue
        age = now - float(state["t"])
        expired = age >= (join_timeout if state["k"] == "p" else dedup_horizon)
        if not expired or not owns(rid):
            continue
        if state["k"] == "p":
            req = _parse(state.get("req"), "req")
            resp = _parse(state.get("resp"), "resp")
            out.records.append(from_parts(req, resp))  # type: ignore[arg-type]
        else:
            out.forget.append(rid)
    return out


def pending_count(table: JoinTable) -> int:
    if isinstance(table, DurableJoinTable):
        return len(table.pending)
    return sum(1 for state in table.values() if state["k"] == "p")
