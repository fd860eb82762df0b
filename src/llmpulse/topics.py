"""Kafka topic administration: reach the broker and create co-partitioned topics.

confluent_kafka is imported inside the functions so that importing this module
(and therefore starting the CLI) stays cheap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from llmpulse.errors import BrokerError

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin._metadata import ClusterMetadata

    from llmpulse.config import Settings

log = logging.getLogger(__name__)

_POLL_INTERVAL = 0.1
#: Topics llmpulse writes besides the inputs (``llmpulse.ingest.INPUT_ROLES``).
OUTPUT_ROLES = ("signals", "windows", "alerts", "retrain", "releases", "dlq", "scoring",
                "scores")
#: How long a process waits for the broker before it gives up at start-up.
BROKER_WAIT_S = 30.0


def all_topics(settings: Settings) -> dict[str, int]:
    """Every topic llmpulse owns, with its partition count (inputs co-partitioned)."""
    from llmpulse.ingest import INPUT_ROLES

    topics = {settings.topic(role): settings.partitions for role in INPUT_ROLES + OUTPUT_ROLES}
    if settings.otlp_topic:  # OTLP trace batches (the Collector's Kafka exporter)
        topics[settings.otlp_topic] = settings.partitions
    return topics


def ensure_llmpulse_topics(settings: Settings) -> str:
    """Wait for the configured broker and create llmpulse's topics as the worker wants
    them (partitions and replication factor from the settings); returns the broker.

    Every process that reads or writes them calls this first: a producer that ran
    before any worker would otherwise let the broker auto-create the input topics
    with its own default partition count, which the worker then refuses.
    """
    from llmpulse.kafka_security import librdkafka_security, uses_oauth

    if settings.broker is None:
        raise BrokerError("no broker configured (LLMPULSE_BROKER)")
    if uses_oauth(settings):
        # the identity provider first: a refused client is told at once, naming the
        # settings (librdkafka's refusal would not); the token is kept for the Faust
        # clients
        from llmpulse.kafka_oauth import OAuthClient, first_token, shared_source

        first_token(shared_source(OAuthClient.from_settings(settings)), BROKER_WAIT_S)
    security = librdkafka_security(settings)
    wait_for_broker(settings.broker, timeout=BROKER_WAIT_S, security=security)
    wanted = all_topics(settings)
    if settings.otlp_topic and partition_count(settings.broker, settings.otlp_topic, security):
        # not joined with anything: kept with whatever partitions it has (e.g. made by
        # the Collector or auto-created by the broker)
        del wanted[settings.otlp_topic]
    ensure_topics(settings.broker, wanted, settings.replication_factor, security=security,
                  configs=retention_configs(settings, wanted))
    return settings.broker


def retention_configs(settings: Settings, topics: Mapping[str, int]
                      ) -> dict[str, dict[str, str]]:
    """``retention.ms`` of each topic from LLMPULSE_TOPIC_RETENTION_HOURS (unset: none, the
    broker's default)."""
    if settings.topic_retention_hours is None:
        return {}
    ms = str(round(settings.topic_retention_hours * 3_600_000))
    return {name: {"retention.ms": ms} for name in topics}


def partition_count(bootstrap: str, topic: str, security: Mapping[str, Any] | None) -> int:
    """Partitions of ``topic`` on the broker (0: no such topic)."""
    admin = admin_client(bootstrap, security)
    deadline = time.monotonic() + BROKER_WAIT_S
    return _partition_counts(_metadata(admin, bootstrap, deadline)).get(topic, 0)


def admin_client(bootstrap: str, security: Mapping[str, Any] | None = None,
                 on_error: Callable[[Any], None] | None = None) -> AdminClient:
    """An AdminClient that reconnects quickly and leaves error reporting to its caller.

    librdkafka's own log lines (connection refused while a broker boots) are
    silenced: every failure surfaces as a :class:`BrokerError` instead.
    ``security``: librdkafka's TLS/SASL properties (:mod:`llmpulse.kafka_security`);
    ``on_error`` gets librdkafka's client-level errors (a refused login shows there).
    """
    from confluent_kafka.admin import AdminClient

    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
        "log_level": 0,
        **(security or {}),
    }
    if on_error is not None:
        config["error_cb"] = on_error
    return AdminClient(config)


def wait_for_broker(
    bootstrap: str, timeout: float, check: Callable[[], None] | None = None,
    security: Mapping[str, Any] | None = None, *, announce: bool = True,
) -> None:
    """Block until a metadata request to ``bootstrap`` succeeds.

    With ``announce``, the first failed attempt is logged (what is waited for, how long).

    ``check`` is called between attempts and may raise to abort early (used to
    notice that a broker child process died). Raises :class:`BrokerError` after
    ``timeout`` seconds, and at once when the broker refuses the login or the TLS
    handshake (waiting would not change that).
    """
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + timeout
    refused: list[str] = []
    admin = admin_client(bootstrap, security, on_error=_refusals(refused))
    last_error = "no answer"
    while True:
        if check is not None:
            check()
        admin.poll(0)  # serves the error callback
        if refused:
            raise BrokerError(f"Kafka broker at {bootstrap} refused the connection: "
                              f"{refused[0]}{_security_hint(security)}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrokerError(f"cannot reach Kafka broker at {bootstrap}: {last_error}"
                              + _security_hint(security))
        try:
            admin.list_topics(timeout=min(1.0, max(remaining, 0.05)))
            return
        except KafkaException as exc:
            if announce:  # the first miss: say what is awaited
                log.warning("waiting up to %.0f s for the Kafka broker at %s (%s)",
                            remaining, bootstrap, _describe(exc))
                announce = False
            last_error = _describe(exc)


def _refusals(found: list[str]) -> Callable[[Any], None]:
    """An ``error_cb`` keeping the errors that mean the broker will not let us in."""
    from confluent_kafka import KafkaError

    final = {KafkaError._AUTHENTICATION, KafkaError._SSL,
             KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError.ILLEGAL_SASL_STATE,
             KafkaError.UNSUPPORTED_SASL_MECHANISM}

    def on_error(error: Any) -> None:
        if error.code() in final:
            found.append(str(error.str()))

    return on_error


def _security_hint(security: Mapping[str, Any] | None) -> str:
    protocol = (security or {}).get("security.protocol", "plaintext")
    return (f" (connecting with security.protocol={protocol}; see "
            "LLMPULSE_KAFKA_SECURITY_PROTOCOL)")


def ensure_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    replication_factor: int = 1,
    timeout: float = 30.0,
    security: Mapping[str, Any] | None = None,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Create the missing ``topics`` (name -> partition count) and wait until they are usable.

    Existing topics must already have the wanted partition count: the inputs are
    joined per partition, so they must be co-partitioned. A topic created
    concurrently by someone else (TOPIC_ALREADY_EXISTS) is accepted if its
    partition count matches.  ``configs`` gives topic settings for the topics created
    here (name -> {setting: value}); existing topics are left as they are.
    """
    _check_wanted(topics)
    if not topics:
        return
    deadline = time.monotonic() + timeout
    admin = admin_client(bootstrap, security)
    existing = _partition_counts(_metadata(admin, bootstrap, deadline))
    _check_matching(existing, topics)
    missing = {name: count for name, count in topics.items() if name not in existing}
    if missing:
        _create(admin, missing, replication_factor, deadline, configs or {})
    _await_topics(admin, bootstrap, topics, deadline)


def _check_wanted(topics: Mapping[str, int]) -> None:
    for name, count in topics.items():
        if count < 1:
            raise BrokerError(f"topic {name!r}: partition count must be at least 1, not {count}")


def _check_matching(existing: Mapping[str, int], wanted: Mapping[str, int]) -> None:
    for name, count in wanted.items():
        actual = existing.get(name)
        if actual is not None and actual != count:
            raise BrokerError(
                f"topic {name!r} exists with {actual} partitions but {count} are wanted; "
                "the input topics must be co-partitioned (same partition count), so "
                "recreate the topic or change the configured partition count"
            )


def _metadata(admin: AdminClient, bootstrap: str, deadline: float) -> ClusterMetadata:
    from confluent_kafka import KafkaException

    remaining = max(deadline - time.monotonic(), 0.5)
    try:
        return admin.list_topics(timeout=remaining)
    except KafkaException as exc:
        raise BrokerError(
            f"cannot reach Kafka broker at {bootstrap}: {_describe(exc)}"
        ) from exc


def _partition_counts(metadata: ClusterMetadata) -> dict[str, int]:
    """Partition counts of the topics the broker reports without an error."""
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if topic.error is None
    }


def _create(
    admin: AdminClient, missing: Mapping[str, int], replication_factor: int, deadline: float,
    configs: Mapping[str, Mapping[str, str]],
) -> None:
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.cimpl import NewTopic

    remaining = max(deadline - time.monotonic(), 1.0)
    new = [NewTopic(name, count, replication_factor, config=dict(configs.get(name, {})))
           for name, count in missing.items()]
    futures = admin.create_topics(new, request_timeout=remaining, operation_timeout=remaining)
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise BrokerError(f"cannot create topic {name!r}: {_describe(exc)}") from exc


def _await_topics(
    admin: AdminClient, bootstrap: str, topics: Mapping[str, int], deadline: float
) -> None:
    """Poll metadata until every topic shows all its partitions with a leader."""
    while True:
        metadata = _metadata(admin, bootstrap, deadline)
        counts = _partition_counts(metadata)
        # A just-created topic may briefly show no partitions; that is not a mismatch.
        _check_matching({name: count for name, count in counts.items() if count}, topics)
        pending = [name for name, count in topics.items() if not _ready(metadata, name, count)]
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise BrokerError(
                f"topics not ready on {bootstrap} in time: {', '.join(sorted(pending))}"
            )
        time.sleep(_POLL_INTERVAL)


def _ready(metadata: ClusterMetadata, name: str, count: int) -> bool:
    topic = metadata.topics.get(name)
    if topic is None or topic.error is not None or len(topic.partitions) != count:
        return False
    return all(p.error is None and p.leader >= 0 for p in topic.partitions.values())


def _describe(exc: Exception) -> str:
    """The KafkaError text inside a KafkaException, else the exception text."""
    from confluent_kafka import KafkaError

    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        return f"{error.name()}: {error.str()}"
    return str(exc)
