"""Acknowledged offsets kept until the broker has accepted their commit.

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
recorded committed offsets as they were.  On the input topics
(:attr:`KeepAcksUntilCommitted.strict_topics`) it also asks for the committed
offset itself to be acknowledged: Faust accepts a run starting one past it,
which passes over a message that was never processed.  On the worker's internal
topics Faust's rule stays (there a message lost from the stream after a
rebalance is left behind, not waited for: a replay would count partial windows
twice).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from faust.types import TP


class KeepAcksUntilCommitted:
    """A mixin for Faust's consumer class (before it in the bases)."""

    #: Topics whose commit needs the committed offset itself acknowledged (the inputs,
    #: where a replay is deduplicated); others keep Faust's rule, which lets a run start
    #: one past it (a message at the head that was never delivered is passed over).
    strict_topics: frozenset[str] = frozenset()
    _acked: MutableMapping[TP, list[int]]
    _acked_index: MutableMapping[TP, set[int]]
    _committed_offset: MutableMapping[TP, int | None]
    _gap: MutableMapping[TP, Any]

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit for ``tp`` (one past the acknowledged run that starts at
        the committed offset), or None; the books are left as they are."""
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
            if acked[0] - committed > (0 if tp.topic in self.strict_topics else 1):
                return None
        end = acked[0]
        for offset in acked:
            if offset > end + 1:
                break
            end = max(end, offset)
        return end + 1

    def _take_gaps(self, tp: TP, acked: list[int]) -> None:
        """Offsets the log skips (found while reading) count as acknowledged, as in Faust."""
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
        return done
