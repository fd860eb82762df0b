"""A backlog read through two SIGKILLs (``tests/harness/backlog.py``; several runs:
``bench/crash_backlog.py``): every input message is stored once, as what it is, and
the group's committed offsets reach the end.

The workers run as on a loaded machine (``tests/harness/loaded_worker``), which opens
Faust's start-up race on every restart: input messages handed to the agents before
the seek to the committed offsets were dropped from their buffers, and Faust
committed over them (``llmpulse.streams.commits``).  Before the fix every run lost
messages that way.  Each partition's committed-offset lookup is slowed too, so that the
fetcher reads the partitions sought first again before the seek is done: before the
consumer counted the fetcher's position as read, Faust dropped those batches and the
partitions were never read again (2 of 2 runs stalled on every inference partition)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.backlog import run_backlog

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def test_backlog_through_two_kills(broker: str, tmp_path: Path) -> None:
    result = run_backlog(broker, tmp_path, loaded=True)
    assert not result.problems, " | ".join(result.problems)
