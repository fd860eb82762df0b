"""Join requests and responses by request_id, and drop redelivered duplicates.

Pure logic over a mutable mapping (a Faust table in the worker, a dict in
tests); the caller passes the time.  Table values are JSON-ready dicts:

* pending: ``{"k": "p", "req": wire | None, "resp": wire | None, "t": first_seen}``
* done:    ``{"k": "d", "s": status, "t": done_at, "half": wire | None}``

A finished call is not marked done here: the caller writes the done marker
only once the record is durably stored (:func:`done_marker`), so a crash
before the store replays the events instead of dropping them as duplicates.
``half`` keeps the lone request (or response) of a timed-out join, so that a
late other half still completes the record.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from llmpulse.records import InferenceRecord, JoinStatus, from_inference, from_parts
from llmpulse.schema import InferenceEvent, RequestEvent, ResponseEvent, to_wire

JoinTable = MutableMapping[str, dict[str, Any]]


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
    in_flight: set[str],
) -> JoinResult:
    """Fold one event into the table; ``in_flight`` holds ids finished but not yet stored."""
    rid = event.request_id
    state = table.get(rid)
    if rid in in_flight:
        return _while_in_flight(table, state, event)
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
    # Keep the completing half too: its redelivery while the call is being stored is
    # a duplicate, not the late half of a timed-out join (the done mark replaces this).
    table[rid] = {**state, mine: to_wire(event)}
    return JoinResult(record=_complete(event, state[other]))


def _while_in_flight(table: JoinTable, state: dict[str, Any] | None,
                     event: InferenceEvent | RequestEvent | ResponseEvent) -> JoinResult:
    """A call is being stored: only the missing half of a timed-out join is news.

    That half is kept with the other, so that its redelivery before the store is a
    duplicate, not a second late upgrade (the done mark replaces the entry)."""
    if state is None or state["k"] != "p" or isinstance(event, InferenceEvent):
        return JoinResult(duplicate=True)
    mine, other = ("req", "resp") if isinstance(event, RequestEvent) else ("resp", "req")
    if state.get(mine) is not None or state.get(other) is None:
        return JoinResult(duplicate=True)
    table[event.request_id] = {**state, mine: to_wire(event)}
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
          in_flight: set[str], owns: Callable[[str], bool] = lambda rid: True,
          full: bool = True) -> Expired:
    """Records for halves older than the join timeout; done markers past the horizon.

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
