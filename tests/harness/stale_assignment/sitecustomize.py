"""Makes a worker's first group assignment as a group leader with stale metadata makes
it (``tests/integration/test_table_recovery.py``): put this directory on the worker's
``PYTHONPATH`` and set ``STALE_FIRST_ASSIGNMENT=1``.

Faust creates its tables' changelog topics while the consumer joins the group.  When
the leader's metadata does not show them yet (a fresh deployment, most often on a
fresh broker), Faust's assignor leaves them out (``Ignoring missing topic``) and the
worker gets its input partitions without the changelog partitions; a worker restarted
as the same static member gets that assignment back.  Here the first assignment this
process computes leaves every changelog topic out, whatever the metadata shows; later
ones are computed as usual.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

STALE = os.environ.get("STALE_FIRST_ASSIGNMENT") == "1"


def _load() -> None:
    from faust.assignor.partition_assignor import PartitionAssignor

    groups = PartitionAssignor._get_copartitioned_groups.__func__  # type: ignore[attr-defined]
    computed = []

    def stale_groups(cls: Any, topics: Any, cluster: Any, subscriptions: Any) -> Any:
        if not computed:
            computed.append(True)
            hidden = {topic for topic in topics if topic.endswith("-changelog")}
            for topic in sorted(hidden):
                logging.getLogger(__name__).warning(
                    "Ignoring missing topic: %r (stale metadata, injected)", topic)
            topics = set(topics) - hidden
        return groups(cls, topics, cluster, subscriptions)

    PartitionAssignor._get_copartitioned_groups = classmethod(stale_groups)  # type: ignore[method-assign, assignment]


class _AfterWorkerApp(importlib.abc.MetaPathFinder):
    """Patches the assignor once the worker's Faust wiring is imported."""

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


if STALE:
    sys.meta_path.insert(0, _AfterWorkerApp())
