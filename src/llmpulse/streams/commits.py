"""Acknowledged offsets kept until the broker has accepted their commit; on the input
topics, only offsets whose message was processed are committed.

Faust (0.11 to 0.15) takes the run of acknowledged offsets of a partition out
of its books when it *computes* the offset to commit, before it commits.  A
commit that fails (the broker restarting, the group coordinator moving: its
Kafka driver then returns False) loses that run.  The next computation finds a
gap at the head of the books and returns nothing, and the partition's
committed offset stays where it was, however much is processed afterwards,
until a rebalance.  That happens when the commit finds the partition missing from
the consumer's assignment for a moment (the group coordinator lost with a broker
restart): Faust discards the run and returns without recording anything.  After
broker restarts the group's committed offsets stood thousands of messages behind
while everything was stored.  Faust also records offsets as committed when the
commit itself failed, so the lag computed from them looked better than it was.

:class:`KeepAcksUntilCommitted` computes the offset without touching the books
and removes the run only once its commit succeeded; a failed commit leaves the
recorded committed offsets as they were.

The input topics (:attr:`KeepAcksUntilCommitted.strict_topics`)
---------------------------------------------------------------
Faust loses messages it has already read, and then commits over them:

* When a worker starts (and after every rebalance) the table recovery resumes the
  input partitions *before* it seeks them to their committed offsets.  The fetcher
  is already running, so a batch read from the old position is handed to the
  agents meanwhile.  The seek then resets Faust's read offset to the committed
  offset, and resuming the flow clears the agents' buffers: the messages still
  waiting there are dropped.  Faust goes on handing over the rest of the batch
  read before the seek; the first of those lies past the reset read offset, and
  Faust records the offsets in between -- the dropped messages -- as a gap in the
  log, which counts as acknowledged.  The commit passed over them: in
  ``bench/crash_backlog.py`` stretches of up to hundreds of messages of a partition
  were committed and never stored.
* A stream acknowledges the messages it skips (taken from its buffer while the
  flow is stopped, or read in an older generation) without handing them over.
* Faust's gap also covers the message being delivered (its end is inclusive).

So on these topics an offset counts as done only when its message was handed to
the application (``Message.tracked``) and acknowledged, or when a fetch showed that
the log holds no record there (compaction, transaction markers; the input topics
have none): the offsets between two records of one fetched batch, or between the
position a partition was sought to and the first record read from there.  Faust's
gaps do not count, and the committed offset itself must be done.

A message that was read but dropped is read again: every
:data:`REDELIVERY_CHECK_S` the consumer looks at the lowest offset not done of each
input partition.  When Faust has delivered a later message of the partition and
the message at that offset is neither held by the application nor waiting in a
stream buffer, the partition is sought back to it (which also resets Faust's read
offset).  The messages after it that were processed already come again; the
pipeline recognises them as duplicates.

On the worker's internal topics Faust's rule stays (there a message lost from the
stream after a rebalance is left behind, not waited for: a replay would count
partial windows twice).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping, MutableMapping
from typing import Any

from faust.types import TP

log = logging.getLogger(__name__)

#: How often the input partitions are checked for messages read but never processed.
REDELIVERY_CHECK_S = 1.0


class KeepAcksUntilCommitted:
    """A mixin for Faust's consumer class (before it in the bases)."""

    #: Topics whose commits count only processed messages and offsets a fetch showed
    #: to be absent (the inputs, where a replay is deduplicated); others keep Faust's
    #: rule, which lets a run start one past the committed offset and counts Faust's
    #: gaps.
    strict_topics: frozenset[str] = frozenset()
    _acked: MutableMapping[TP, list[int]]
    _acked_index: MutableMapping[TP, set[int]]
    _committed_offset: MutableMapping[TP, int | None]
    _gap: MutableMapping[TP, Any]
    app: Any
    callback: Any
    flow_active: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: strict partitions: messages delivered to the streams, not yet processed
        self._delivered: dict[TP, dict[int, Any]] = {}
        #: strict partitions: one past the highest offset delivered since the last seek
        self._next: dict[TP, int | None] = {}
        #: strict partitions: offsets a fetch showed the log has no record at, [begin, end)
        self._absent: dict[TP, list[tuple[int, int]]] = {}
        #: strict partitions sought to a position whose first fetched record is not seen yet
        self._verify: dict[TP, int] = {}
        #: strict partitions without a committed offset: where their log starts
        self._base: dict[TP, int] = {}
        #: strict partitions: [begin, end) known done, so a walk need not start over
        self._walked: dict[TP, tuple[int, int]] = {}
        self._seeks = 0  # seeks started; a fetch during one proves nothing
        self._seeking = 0  # seeks under way
        self._checked_at = float("-inf")
        inner = self.callback

        async def deliver(message: Any) -> None:
            await inner(message)
            self._on_delivered(message)

        self.callback = deliver

    # -- commits -------------------------------------------------------------------------

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit for ``tp`` (one past the done run that starts at the
        committed offset), or None; the books are left as they are."""
        if tp.topic in self.strict_topics:
            start = self._start_of(tp)
            if start is None:
                return None
            end = self._done_until(tp, start)
            return end if end > start else None
        acked = self._acked[tp]
        if not acked:
            return None
        self._take_gaps(tp, acked)
        acked.sort()
        committed = self._committed_offset[tp]
        if committed is not None:
            if acked[0] < committed:  # left from before a seek
                acked[:] = [offset for offset in acked if offset >= committed]
                if not acked:
                    return None
            if acked[0] - committed > 1:
                return None
        end = acked[0]
        for offset in acked:
            if offset > end + 1:
                break
            end = max(end, offset)
        return end + 1

    def _take_gaps(self, tp: TP, acked: list[int]) -> None:
        """Offsets Faust found missing while reading count as acknowledged (internal
        topics only)."""
        gaps = self._gap[tp]
        if not gaps:
            return
        top = max(acked)
        spans = sorted(gaps.overlap(0, top), key=lambda span: span.begin)
        if spans:
            added = [offset for span in spans for offset in range(span.begin, span.end)]
            acked.extend(added)
            gaps.chop(0, max(added[-1], top + 1))

    async def _commit_offsets(self, offsets: Mapping[TP, int],
                              start_new_transaction: bool = True) -> bool:
        before = {tp: self._committed_offset.get(tp) for tp in offsets}
        done: bool = await super()._commit_offsets(  # type: ignore[misc]
            offsets, start_new_transaction=start_new_transaction)
        if not done:  # Faust records the offsets as committed even when they were not
            self._committed_offset.update(before)
        else:
            for tp, offset in offsets.items():
                if tp in self._acked:
                    self._acked[tp][:] = [o for o in self._acked[tp] if o >= offset]
                    self._acked_index[tp].difference_update(
                        [o for o in self._acked_index[tp] if o < offset])
                if tp in self._absent:
                    self._absent[tp] = [(b, e) for b, e in self._absent[tp] if e > offset]
                delivered = self._delivered.get(tp)
                if delivered:
                    for o in [o for o in delivered if o < offset]:
                        del delivered[o]
        return done

    # -- input topics: what counts as done -----------------------------------------------

    def ack(self, message: Any) -> bool:
        tp = message.tp
        if tp.topic not in self.strict_topics:
            return bool(super().ack(message))  # type: ignore[misc]
        if not message.tracked:  # skipped by a stream, never handed to the application
            message.acked = True
            return False
        done = bool(super().ack(message))  # type: ignore[misc]
        offset: int = message.offset
        delivered = self._delivered.get(tp)
        if delivered is not None and delivered.get(offset) is message:
            del delivered[offset]
        return done

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        if tp.topic in self.strict_topics:  # not a proof of absence here: see the module
            return
        await super()._add_gap(tp, offset_from, offset_to)  # type: ignore[misc]

    def _start_of(self, tp: TP) -> int | None:
        committed = self._committed_offset.get(tp)
        return committed if committed is not None else self._base.get(tp)

    def _done_until(self, tp: TP, start: int) -> int:
        """The lowest offset from ``start`` on that is neither acknowledged (processed)
        nor known to be absent from the log."""
        low, high = self._walked.get(tp, (start, start))
        if not low <= start <= high:  # [low, high) is known done
            low = high = start
        offset = high
        acked = self._acked_index[tp]
        absent = self._absent.get(tp, ())
        while True:
            if offset in acked:
                offset += 1
                continue
            for begin, end in absent:
                if begin <= offset < end:
                    offset = end
                    break
            else:
                break
        self._walked[tp] = (low, offset)
        return offset

    def _mark_absent(self, tp: TP, begin: int, end: int) -> None:
        spans = self._absent.setdefault(tp, [])
        spans.append((begin, end))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for b, e in spans:
            if merged and b <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((b, e))
        self._absent[tp] = merged
        self._acked.setdefault(tp, [])  # a key, so that Faust's commit looks at tp

    # -- input topics: delivery --------------------------------------------------------------

    def _on_delivered(self, message: Any) -> None:
        tp = message.tp
        if tp.topic not in self.strict_topics:
            return
        start = self._start_of(tp)
        if start is not None and message.offset < start:
            return
        self._delivered.setdefault(tp, {})[message.offset] = message
        last = self._next.get(tp)
        if last is None or message.offset >= last:
            self._next[tp] = message.offset + 1

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        seeks, seeking = self._seeks, self._seeking
        records = await super()._getmany(active_partitions, timeout)  # type: ignore[misc]
        if not records:
            return records
        if not seeking and not self._seeking and seeks == self._seeks:
            self._note_fetched(records)
        else:  # read from before or after a seek: it cannot show where a seek landed
            for tp in records:
                self._verify.pop(TP(tp.topic, tp.partition), None)
        return records

    def _note_fetched(self, records: Mapping[Any, Any]) -> None:
        """What a fetch (no seek during it) shows of the input topics' logs: no record
        between two consecutive records of a partition, nor between the position a
        partition was sought to and the first record read from there (a fetch returns
        the records from its position on, compacted ones and markers left out)."""
        for tp, batch in records.items():
            if tp.topic not in self.strict_topics or not batch:
                continue
            tp = TP(tp.topic, tp.partition)
            offsets = [record.offset for record in batch]
            position = self._verify.pop(tp, None)
            if position is not None and offsets[0] > position:
                self._mark_absent(tp, position, offsets[0])
            for offset, after in itertools.pairwise(offsets):
                if after > offset + 1:
                    self._mark_absent(tp, offset + 1, after)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        await self._redeliver_dropped()
        async for item in super().getmany(timeout):  # type: ignore[misc]
            yield item

    async def _redeliver_dropped(self) -> None:
        """Seek each input partition back to a message Faust read and dropped.

        Called before each fetch, when Faust has handed over (or dropped) every record of
        the previous one.  A partition counts as read up to the later of what was
        delivered since its last seek and the fetcher's position (one past the last record
        it handed to Faust): a seek to the committed offsets forgets the deliveries made
        while it was under way, and a batch Faust dropped whole was delivered not at all,
        yet the fetcher has moved past it and will not read it again by itself."""
        if (not self._next or not self.flow_active or self.app.rebalancing
                or self._seeking):
            return
        now = time.monotonic()
        if now - self._checked_at < REDELIVERY_CHECK_S:
            return
        self._checked_at = now
        assigned = self.assignment()  # type: ignore[attr-defined]
        unknown = [tp for tp in self._next if tp in assigned and self._start_of(tp) is None]
        if unknown:  # no committed offset yet: the group starts where the log starts
            earliest = await self.earliest_offsets(*unknown)  # type: ignore[attr-defined]
            self._base.update({tp: offset for tp, offset in earliest.items()
                               if offset is not None and tp in self._next})
        for tp, delivered_to in list(self._next.items()):
            start = self._start_of(tp)
            if start is None or tp not in assigned:
                continue
            read_to = max(delivered_to or 0, self._fetch_position(tp) or 0)
            low = self._done_until(tp, start)
            if low >= read_to:
                continue  # not read yet
            message = self._delivered.get(tp, {}).get(low)
            if message is not None and self._alive(message):
                continue
            log.warning("%s[%d]: the message at offset %d was read but never processed "
                        "(read up to %d); reading again from there",
                        tp.topic, tp.partition, low, read_to - 1)
            await self.seek_wait({tp: low})

    def _fetch_position(self, tp: TP) -> int | None:
        """Where the fetcher reads ``tp`` next (None: not known)."""
        position = getattr(getattr(self, "_thread", None), "fetch_position", None)
        return position(tp) if position is not None else None

    def _alive(self, message: Any) -> bool:
        """Held by the application, or waiting in a stream's buffer."""
        if message.acked:
            return False  # acknowledged without being processed: skipped by a stream
        if message.tracked:
            return True
        queues = getattr(getattr(self.app, "flow_control", None), "_queues", None)
        if queues is None:  # cannot tell: wait rather than read again
            return True
        for queue in list(queues):
            for item in list(getattr(queue, "_queue", ())):
                if getattr(item, "message", None) is message:
                    return True
        return False

    # -- seeks and rebalances -----------------------------------------------------------------

    async def perform_seek(self) -> None:
        self._seeks += 1
        self._seeking += 1
        try:
            await super().perform_seek()  # type: ignore[misc]
        finally:
            self._seeking -= 1
        for tp in self.assignment():  # type: ignore[attr-defined]
            if tp.topic in self.strict_topics:
                self._sought(tp, self._committed_offset.get(tp))

    async def seek(self, partition: TP, offset: int) -> None:
        self._seeks += 1
        self._seeking += 1
        try:
            await super().seek(partition, offset)  # type: ignore[misc]
        finally:
            self._seeking -= 1
        if partition.topic in self.strict_topics:
            self._sought(partition, offset)

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        self._seeks += 1
        self._seeking += 1
        try:
            await super().seek_wait(partitions)  # type: ignore[misc]
        finally:
            self._seeking -= 1
        for tp, offset in partitions.items():
            if tp.topic in self.strict_topics:
                self._sought(tp, offset)

    def _sought(self, tp: TP, offset: int | None) -> None:
        """``tp`` reads from ``offset`` now (None: where the log starts)."""
        self._next[tp] = offset
        if offset is None:
            self._verify.pop(tp, None)
        else:
            self._verify[tp] = offset
        self._walked.pop(tp, None)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]
        self._forget(revoked)

    def _forget(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            for books in (self._delivered, self._next, self._absent, self._verify,
                          self._base, self._walked):
                books.pop(tp, None)
