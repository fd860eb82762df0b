"""``llmpulse topics create``: llmpulse's Kafka topics made before any service runs (a
Kubernetes pre-install Job, a compose init service), as the worker makes them at start."""

from __future__ import annotations

import click


@click.group()
def topics() -> None:
    """Create llmpulse's Kafka topics."""


@topics.command("create")
def create() -> None:
    """Create llmpulse's topics on LLMPULSE_BROKER, as the worker does at start.

    Each gets LLMPULSE_PARTITIONS partitions and LLMPULSE_REPLICATION_FACTOR replicas;
    topics that exist are kept, and one with another partition count is an error (exit
    2: the inputs must be co-partitioned).  With LLMPULSE_OTLP_TOPIC set, that topic too
    (kept with whatever partitions it has when it exists).  Waits up to 30 s for the
    broker.  Prints each topic and its partition count.  For deployments that create
    topics before services produce to them (the SDK does not create topics).
    """
    from llmpulse.config import load_settings
    from llmpulse.kafka_security import librdkafka_security
    from llmpulse.topics import all_topics, ensure_llmpulse_topics, partition_count

    settings = load_settings()
    broker = ensure_llmpulse_topics(settings)
    wanted = all_topics(settings)
    if settings.otlp_topic:  # kept as it was found when it existed already
        wanted[settings.otlp_topic] = partition_count(broker, settings.otlp_topic,
                                                      librdkafka_security(settings))
    for name, count in sorted(wanted.items()):
        click.echo(f"{name}\t{count}")
    click.echo(f"llmpulse topics: {len(wanted)} topics ready on {broker} "
               f"({settings.partitions} partitions, replication factor "
               f"{settings.replication_factor})", err=True)
