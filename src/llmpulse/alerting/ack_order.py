"""Acknowledge messages per partition in offset order, whatever order they finish in.

Faust commits the highest *contiguous* acknowledged offset of a partition, so
a message acknowledged before an earlier one still in progress would either
be ignored until the gap closes or, worse, cover it.  :class:`AckOrder` holds
each message's token from intake until it is done and releases the tokens of
a partition only as a contiguous run from its oldest message.  Pure: no I/O,
no clock, no event loop.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=False, slots=True)
class Ticket(Generic[T]):
    """One message taken in: its partition, the token to release and whether it is done."""

    partition: int
    token: T
    done: bool = field(default=False)


class AckOrder(Generic[T]):
    """Per partition, a queue of tickets in intake order."""

    def __init__(self) -> None:
        self._lines: dict[int, deque[Ticket[T]]] = {}
        self._pending = 0

    def __len__(self) -> int:
        """Messages taken in and not yet released."""
        return self._pending

    def add(self, partition: int, token: T) -> Ticket[T]:
        """Take in the next message of ``partition`` (call in offset order)."""
        ticket = Ticket(partition, token)
        self._lines.setdefault(partition, deque()).append(ticket)
        self._pending += 1
        return ticket

    def finish(self, ticket: Ticket[T]) -> list[T]:
        """Mark ``ticket`` done; returns the tokens that may be acknowledged now, in order.

        Finishing a ticket twice releases nothing the second time.
        """
        if ticket.done:
            return []
        ticket.done = True
        line = self._lines.get(ticket.partition)
        released: list[T] = []
        while line and line[0].done:
            released.append(line.popleft().token)
        if line is not None and not line:
            del self._lines[ticket.partition]
        self._pending -= len(released)
        return released

    def waiting(self, partition: int) -> int:
        """Messages of ``partition`` held back (in progress, or done behind one that is)."""
        line = self._lines.get(partition)
        return len(line) if line else 0
