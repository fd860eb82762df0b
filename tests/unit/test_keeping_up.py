"""When halves may time out: only while the worker reads close to the present."""

from __future__ import annotations

from llmpulse.streams.keeping_up import PartitionPosition, keeping_up

NOW = 1_800_000_000.0


def test_read_to_the_end_is_keeping_up_however_old_the_last_message() -> None:
    assert keeping_up([PartitionPosition(0, NOW - 3600), PartitionPosition(0, None)], NOW, 30)
    assert keeping_up([], NOW, 30)


def test_unread_messages_behind_a_recent_one_are_keeping_up() -> None:
    assert keeping_up([PartitionPosition(400, NOW - 2), PartitionPosition(0, None)], NOW, 30)


def test_unread_messages_behind_an_old_one_are_not() -> None:
    # a store outage: nothing read for five minutes while the producers went on
    assert not keeping_up([PartitionPosition(0, NOW), PartitionPosition(12, NOW - 300)],
                          NOW, 30)


def test_unread_messages_on_a_partition_never_read_are_not() -> None:
    # a restart: the backlog waits, nothing read yet
    assert not keeping_up([PartitionPosition(5, None)], NOW, 30)
