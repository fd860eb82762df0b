"""Makes a worker behave as on a loaded machine, for the backlog scenario
(``tests/harness/backlog.py``): put this directory on the worker's ``PYTHONPATH``.

* ``LOADED_AGENT_DELAY_S``: the ingest agent waits this long before each message, so
  that messages wait in the agents' buffers;
* ``LOADED_DELIVERY_DELAY_S``: Faust takes this much longer to hand each message it
  read to the agents' buffers, so that handing over a fetched batch takes seconds;
* ``LOADED_SEEK_DELAY_S``: looking up the committed offsets (the seek when a worker
  starts or a rebalance ends) takes this much longer, as with a slow group coordinator;
* ``LOADED_COMMITTED_DELAY_S``: that seek looks the partitions up one after another,
  each this much slower, so that the fetcher reads the partitions sought first again
  before the seek is done (the seek of ``bench/crash_backlog.py``'s last gap).

Together they open Faust's start-up race on every start (see
``llmpulse.streams.commits``): the recovery resumes the input partitions, Faust reads
a batch and hands it over (Faust looks at resumed partitions within a second), the
seek to the committed offsets lands while it does, resuming the flow clears the
agents' buffers, and Faust goes on with the batch read before the seek.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

AGENT_DELAY = float(os.environ.get("LOADED_AGENT_DELAY_S") or 0)
DELIVERY_DELAY = float(os.environ.get("LOADED_DELIVERY_DELAY_S") or 0)
SEEK_DELAY = float(os.environ.get("LOADED_SEEK_DELAY_S") or 0)
COMMITTED_DELAY = float(os.environ.get("LOADED_COMMITTED_DELAY_S") or 0)


def _load() -> None:
    import asyncio

    from faust.transport import conductor
    from faust.transport.drivers import aiokafka as faust_aiokafka

    import llmpulse.pipeline

    if AGENT_DELAY:
        handle = llmpulse.pipeline.Pipeline.handle

        async def slow_handle(self: Any, *args: Any, **kwargs: Any) -> None:
            await asyncio.sleep(AGENT_DELAY)
            await handle(self, *args, **kwargs)

        llmpulse.pipeline.Pipeline.handle = slow_handle  # type: ignore[method-assign]
    if DELIVERY_DELAY:
        compile_handler = conductor.Conductor._compile_message_handler

        def slow_handler(self: Any) -> Any:
            on_message = compile_handler(self)

            async def slow_on_message(message: Any) -> Any:
                await asyncio.sleep(DELIVERY_DELAY)
                return await on_message(message)

            return slow_on_message

        conductor.Conductor._compile_message_handler = slow_handler  # type: ignore[method-assign]
    if SEEK_DELAY:
        seek = faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed

        async def slow_seek(self: Any) -> Any:
            await asyncio.sleep(SEEK_DELAY)
            return await seek(self)

        faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed = slow_seek  # type: ignore[method-assign]
    if COMMITTED_DELAY:
        from aiokafka import AIOKafkaConsumer

        committed = AIOKafkaConsumer.committed

        async def slow_committed(self: Any, partition: Any) -> Any:
            await asyncio.sleep(COMMITTED_DELAY)
            return await committed(self, partition)

        AIOKafkaConsumer.committed = slow_committed  # type: ignore[method-assign]


class _AfterWorkerApp(importlib.abc.MetaPathFinder):
    """Applies the delays once the worker's Faust wiring is imported."""

    def find_spec(self, name: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if name != "llmpulse.streams.app":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.loader is not None
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            _load()

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if AGENT_DELAY or DELIVERY_DELAY or SEEK_DELAY or COMMITTED_DELAY:
    sys.meta_path.insert(0, _AfterWorkerApp())
