"""The end of a partition the worker's lag is measured against."""

from __future__ import annotations

from typing import Any

from llmpulse.streams.lifecycle import partition_end


class _Consumer:
    def __init__(self, highwaters: dict[Any, int | None], fail: bool = False) -> None:
        self.highwaters = highwaters
        self.fail = fail

    def highwater(self, tp: Any) -> int | None:
        if self.fail:
            raise RuntimeError("partition moving")
        return self.highwaters.get(tp)


class _App:
    def __init__(self, consumer: _Consumer) -> None:
        self.consumer = consumer


def test_the_brokers_answer_when_it_is_the_highest() -> None:
    app: Any = _App(_Consumer({"p": 90}))
    assert partition_end(app, "p", {"p": 120}, {"p": 80}) == 120


def test_a_low_listed_end_is_raised_to_what_was_read() -> None:
    # the embedded broker lists the start of the last multi-record batch (1 here)
    app: Any = _App(_Consumer({}))
    assert partition_end(app, "p", {"p": 1}, {"p": 727}) == 728


def test_the_last_fetch_counts_and_a_moving_partition_does_not_fail() -> None:
    assert partition_end(_App(_Consumer({"p": 50})), "p", {}, {}) == 50  # type: ignore[arg-type]
    app: Any = _App(_Consumer({}, fail=True))
    assert partition_end(app, "p", {"p": 7}, {}) == 7
    assert partition_end(app, "p", {}, {}) is None
