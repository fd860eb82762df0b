"""Back off between failed metadata requests of Faust's aiokafka clients.

aiokafka retries a failed metadata update at once whenever a caller asks for
one: the producer's sender asks again as soon as the previous update failed
while a partition's leader is unknown.  With the broker down every attempt
fails within a millisecond (connection refused), so the worker spins: measured
here, about 2,600 connection attempts and twice as many ERROR lines a second,
on a CPU the rest of the worker needs once the broker is back.

:func:`throttle_metadata_updates` makes a client wait after each failed update,
doubling from :data:`FIRST_DELAY_S` up to :data:`MAX_DELAY_S`, and not at all
after a success: once the broker answers, the client notices within
``MAX_DELAY_S``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

FIRST_DELAY_S = 0.1
MAX_DELAY_S = 1.0


class MetadataBackoff:
    """The delay after the next failed update: doubles per failure, reset by a success."""

    def __init__(self, first: float = FIRST_DELAY_S, cap: float = MAX_DELAY_S) -> None:
        self._first = first
        self._cap = cap
        self._delay = 0.0

    def after(self, succeeded: bool) -> float:
        """Seconds to wait after an update that ``succeeded`` (or not)."""
        if succeeded:
            self._delay = 0.0
        else:
            self._delay = min(self._cap, max(self._first, self._delay * 2))
        return self._delay


def throttle_metadata_updates(client: Any, backoff: MetadataBackoff | None = None) -> None:
    """Wrap ``client._metadata_update`` (an ``AIOKafkaClient``) with :class:`MetadataBackoff`.

    The wrapper runs inside the client's metadata task, before the update's
    result is handed to whoever asked, so every caller waits with it.
    """
    update: Callable[[Any, Any], Awaitable[bool]] = client._metadata_update
    delays = backoff or MetadataBackoff()

    async def throttled(cluster: Any, topics: Any) -> bool:
        succeeded = await update(cluster, topics)
        delay = delays.after(bool(succeeded))
        if delay:
            await asyncio.sleep(delay)
        return succeeded

    client._metadata_update = throttled


class ThrottledProducer(faust_aiokafka.Producer):
    """Faust's aiokafka producer whose client backs off between failed metadata updates."""

    def _new_producer(self, transactional_id: str | None = None) -> Any:
        producer = super()._new_producer(transactional_id)
        throttle_metadata_updates(producer.client)
        return producer


def use_metadata_backoff(app: faust.App) -> None:
    """Make ``app`` build its producer with :class:`ThrottledProducer` (before it starts);
    the consumer side is in :mod:`llmpulse.streams.fetch`."""
    app.transport.Producer = ThrottledProducer  # type: ignore[misc]  # this app only
