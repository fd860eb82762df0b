"""Read and replay the dead-letter topic (confluent-kafka; used by the CLI and tests)."""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from llmpulse.config import Settings
from llmpulse.dlq_redaction import REDACTED_HEADER
from llmpulse.errors import BrokerError, ConfigError
from llmpulse.kafka_security import librdkafka_security

HEADER_PREFIX = "llmpulse."
T = TypeVar("T")


def _broker(settings: Settings) -> str:
    if settings.broker is None:
        raise ConfigError("LLMPULSE_BROKER: not set; the dead-letter topic lives on the broker")
    return settings.broker


@contextlib.contextmanager
def _reader(settings: Settings, group: str,
            starts: Callable[[list[Any]], dict[int, int]] | None = None
            ) -> Iterator[tuple[Any, dict[int, tuple[int, int]]]]:
    """A consumer assigned to every DLQ partition from ``starts(partitions)`` (partition
    -> offset; default: the beginning), and each partition's (first offset to read, end
    offset now)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": _broker(settings), "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         **librdkafka_security(settings)})
    topic = settings.topic("dlq")
    try:
        meta = consumer.list_topics(timeout=15).topics.get(topic)
        if meta is None or meta.error is not None:
            raise ConfigError(f"no dead-letter topic {topic} on {settings.broker}")
        parts = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        marks = {tp.partition: consumer.get_watermark_offsets(tp, timeout=15) for tp in parts}
        wanted = starts(parts) if starts is not None else {}
        bounds: dict[int, tuple[int, int]] = {}
        for tp in parts:
            low, high = marks[tp.partition]
            tp.offset = max(low, wanted.get(tp.partition, 0), 0)
            bounds[tp.partition] = (tp.offset, high)
        consumer.assign(parts)
        yield consumer, bounds
    finally:
        consumer.close()


def _until_end(consumer: Any, bounds: dict[int, tuple[int, int]], limit: int | None,
               drain: bool) -> Iterator[tuple[Any, Any]]:
    remaining = {p for p, (first, end) in bounds.items() if end > first}
    seen = 0
    idle = 0
    while remaining and (limit is None or seen < limit) and idle < 20:
        message = consumer.poll(1.0)
        if message is None:
            idle += 1
            continue
        idle = 0
        if message.error():
            continue
        if message.offset() + 1 >= bounds[message.partition()][1]:
            remaining.discard(message.partition())
        seen += 1
        yield consumer, message
    # Some brokers report a high watermark below the last offset (seen on Tansu):
    # a reader keeps reading until the topic stays quiet.
    while drain and (limit is None or seen < limit):
        message = consumer.poll(1.0)
        if message is None:
            return
        if not message.error():
            seen += 1
            yield consumer, message


def read_dead_letters(settings: Settings, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Every dead letter from the start of the topic to its current end."""
    group = f"{settings.app_id}-dlq-reader-{uuid.uuid4().hex[:8]}"
    with _reader(settings, group) as (consumer, bounds):
        for _, message in _until_end(consumer, bounds, limit, drain=True):
            yield _describe(message)


def _describe(message: Any) -> dict[str, Any]:
    headers = {k: v.decode("utf-8", "replace") for k, v in (message.headers() or [])
               if k.startswith(HEADER_PREFIX)}
    value = message.value() or b""
    try:
        shown: Any = value.decode("utf-8")
    except UnicodeDecodeError:
        shown = {"base64": base64.b64encode(value).decode()}
    return {
        "redacted": headers.get(REDACTED_HEADER) == "1",
        "reason": headers.get("llmpulse.reason", ""),
        "detail": headers.get("llmpulse.detail", ""),
        "source_topic": headers.get("llmpulse.source.topic", ""),
        "source_partition": int(headers.get("llmpulse.source.partition", "-1")),
        "source_offset": int(headers.get("llmpulse.source.offset", "-1")),
        "key": (message.key() or b"").decode("utf-8", "replace"),
        "value": shown,
        "dlq_offset": message.offset(),
        "dlq_partition": message.partition(),
    }


def replay_group(settings: Settings, reason: str | None) -> str:
    """The consumer group whose committed offsets are the progress of ``dlq replay``
    (``--reason R``: of the letters with reason R)."""
    return f"{settings.app_id}-dlq-replay" + (f"-{reason}" if reason else "")


def _committed(settings: Settings, group: str, parts: list[Any]) -> dict[int, int]:
    """A group's committed offset of each DLQ partition (0 where it has none)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": _broker(settings), "group.id": group,
                         "enable.auto.commit": False, **librdkafka_security(settings)})
    try:
        done = _coordinated(lambda: consumer.committed(
            [TopicPartition(tp.topic, tp.partition) for tp in parts], timeout=15))
        return {tp.partition: max(tp.offset, 0) for tp in done}
    finally:
        consumer.close()


def _coordinated(call: Callable[[], T], timeout: float = 30.0) -> T:
    """``call``, again while the group's coordinator is not ready (a group new to the
    cluster: Apache Kafka answers NOT_COORDINATOR while it loads its offsets)."""
    from confluent_kafka import KafkaError, KafkaException

    retriable = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                 KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError._TIMED_OUT,
                 KafkaError.REQUEST_TIMED_OUT}
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            code = error.code() if isinstance(error, KafkaError) else None
            if code not in retriable or time.monotonic() > deadline:
                raise BrokerError(f"dead-letter replay: {error or exc}") from None
            time.sleep(0.5)


@dataclass(frozen=True)
class Unreplayable:
    """A letter stored redacted (``LLMPULSE_DLQ_PAYLOAD=redacted``): not the message."""

    partition: int
    offset: int
    reason: str
    source_topic: str


@dataclass(frozen=True)
class Replayed:
    """What a replay did: letters sent, letters skipped because an earlier replay with
    their ``--reason`` sent them already, and letters that cannot be replayed because
    they hold a redacted copy (each reported by the one replay that reads it)."""

    sent: int
    skipped: int = 0
    unreplayable: tuple[Unreplayable, ...] = ()


def replay_dead_letters(settings: Settings, reason: str | None = None,
                        limit: int | None = None) -> Replayed:
    """Produce the original bytes of dead letters not replayed yet back to their source
    topics (``reason``: only letters with that reason; ``limit``: at most that many).

    Progress is kept per letter, by its DLQ partition and offset and its reason, in the
    committed offsets of two kinds of consumer groups: ``<app_id>-dlq-replay`` (every
    letter below its offset was replayed) and ``<app_id>-dlq-replay-<R>`` (every letter
    *with reason R* below its offset was replayed).  A letter with reason R at offset o
    was replayed iff o is below either group's offset for its partition: a replay of
    every reason skips the letters an earlier ``--reason`` replay sent, and a replay of
    reason R starts after both.  A run reads the letters not yet replayed first, then
    sends the chosen ones, then commits its own group's offset past the letters it read:
    nothing is sent while reading, so letters that fail again (and come back to the DLQ)
    are not picked up by the same run; a failed delivery aborts before the commit, so
    the letters stay replayable (at least once: a crash between sending and committing
    sends them again).  Letters stored redacted are not sent: they are returned in
    ``unreplayable`` and passed like the sent ones.  Run one replay at a time.
    Committed offsets are kept by the broker as long as its
    ``offsets.retention.minutes`` (7 days by default, the default retention of the DLQ
    topic too).
    """
    from confluent_kafka import Producer, TopicPartition

    group = replay_group(settings, reason)
    parts_of: list[Any] = []
    by_reason: dict[str, dict[int, int]] = {}  # the --reason groups' offsets, when needed

    def starts(parts: list[Any]) -> dict[int, int]:
        parts_of.extend(parts)
        every = _committed(settings, replay_group(settings, None), parts)
        if reason is None:
            return every
        mine = _committed(settings, group, parts)
        return {p: max(every.get(p, 0), mine.get(p, 0)) for p in every.keys() | mine.keys()}

    def replayed_before(message: Any, letter_reason: str) -> bool:
        """Sent by an earlier replay with this letter's ``--reason``."""
        if not letter_reason:
            return False
        if letter_reason not in by_reason:
            by_reason[letter_reason] = _committed(
                settings, replay_group(settings, letter_reason), parts_of)
        return bool(message.offset() < by_reason[letter_reason].get(message.partition(), 0))

    producer = Producer({"bootstrap.servers": _broker(settings), "partitioner": "murmur2_random",
                         "enable.idempotence": True, **librdkafka_security(settings)})
    failures: list[str] = []

    def delivered(err: Any, _: Any) -> None:
        if err is not None:
            failures.append(str(err))

    with _reader(settings, group, starts) as (consumer, bounds):
        chosen: list[tuple[Any, dict[str, Any]]] = []
        read_to: dict[int, int] = {}
        skipped = 0
        redacted: list[Unreplayable] = []
        for _, message in _until_end(consumer, bounds, None, drain=True):
            read_to[message.partition()] = message.offset() + 1
            letter = _describe(message)
            if reason is not None and letter["reason"] != reason:
                continue
            if reason is None and replayed_before(message, letter["reason"]):
                skipped += 1
                continue
            if letter["redacted"]:
                redacted.append(Unreplayable(message.partition(), message.offset(),
                                             letter["reason"], letter["source_topic"]))
                continue
            chosen.append((message, letter))
            if limit is not None and len(chosen) >= limit:
                break
        for message, letter in chosen:
            producer.produce(letter["source_topic"], key=message.key(), value=message.value(),
                             on_delivery=delivered)
        producer.flush(60)
        if failures or len(producer):
            raise BrokerError(f"replay failed, nothing committed: {failures[:3]}")
        done = [TopicPartition(settings.topic("dlq"), p, o) for p, o in read_to.items()
                if o > bounds[p][0]]
        if done:
            _coordinated(lambda: consumer.commit(offsets=done, asynchronous=False))
    return Replayed(len(chosen), skipped, tuple(redacted))
