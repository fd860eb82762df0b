"""A dead receiver delays only its own channel: real worker, broker and loopback receivers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from llmpulse.alerting.message import AlertMessage
from llmpulse.alerting.notifiers import DELIVERY_HEADER
from tests.harness.receiver import Received, Receiver, Reply
from tests.integration.stack import Stack, make_stack, wait_metrics

DEAD_TIMEOUT_S = 0.5
DEAD_RETRIES = 2
#: The notifier's backoff before retry n (1-based): 0.5 * 2**(n-1) s plus up to 0.5 s jitter.
DEAD_BACKOFF_MAX_S = sum(0.5 * 2 ** n + 0.5 for n in range(DEAD_RETRIES))
#: The longest one delivery to the dead channel can take: every attempt times out.
DEAD_BUDGET_S = (DEAD_RETRIES + 1) * DEAD_TIMEOUT_S + DEAD_BACKOFF_MAX_S
INCIDENTS = 4  # each a trigger and its resolve


def alerts(run: str) -> list[AlertMessage]:
    end = datetime.now(UTC)
    out = []
    for i in range(INCIDENTS):
        for kind, state in (("trigger", "firing"), ("resolve", "resolved")):
            out.append(AlertMessage(
                id=f"{run}-{i}-{kind}", dedup_key=f"{run}-incident-{i}", kind=kind,
                state=state, rule="route_slow", severity="critical",
                summary=f"incident {i}", metric="duration_p95", operator=">", value=40.0,
                threshold=30.0, group={"route": f"r{i}"}, count=20, window_s=5.0,
                window_start=end - timedelta(seconds=5), window_end=end, since=end, time=end,
                channels=("healthy", "dead")))
    return out


def publish(stack: Stack, messages: list[AlertMessage]) -> None:
    producer = Producer({"bootstrap.servers": stack.broker, "partitioner": "murmur2_random"})
    for m in messages:
        producer.produce(f"{stack.prefix}alerts", m.to_wire(), m.dedup_key.encode())
    assert producer.flush(30) == 0


def committed(stack: Stack, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": stack.broker, "group.id": stack.app_id,
                         "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(f"{stack.prefix}alerts", p)
                                  for p in range(partitions)], timeout=10)
    finally:
        consumer.close()
    return sum(max(tp.offset, 0) for tp in tps)


@contextmanager
def dead_receiver(variant: str) -> Iterator[tuple[str, Receiver | None]]:
    """A URL where nobody answers: a closed port, or a server that never replies."""
    if variant == "refused":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        yield f"http://127.0.0.1:{port}/dead", None
        return
    with Receiver() as silent:
        silent.defaults["/dead"] = Reply(delay_s=600)
        yield silent.url("/dead"), silent


def delivery_id(request: Received) -> str:
    return next(v for k, v in request.headers.items() if k.lower() == DELIVERY_HEADER.lower())


@pytest.mark.parametrize("variant", ["refused", "silent"])
def test_a_dead_receiver_delays_only_its_own_channel(broker: str, tmp_path: Path,
                                                      variant: str) -> None:
    stack = make_stack(broker, tmp_path)
    sent = alerts(stack.app_id)
    with Receiver() as healthy, dead_receiver(variant) as (dead_url, silent):
        rules = tmp_path / "rules.yml"
        rules.write_text(f"""
channels:
  healthy: {{type: slack, url: "{healthy.url('/ok')}", retries: 2}}
  dead: {{type: slack, url: "{dead_url}", timeout_s: {DEAD_TIMEOUT_S}, retries: {DEAD_RETRIES}}}
rules:
  - {{name: route_slow, metric: duration_p95, group_by: [route], window: 5s, threshold: 30,
      channels: [healthy, dead]}}
""")
        worker = stack.worker(LLMPULSE_RULES_FILE=str(rules))
        try:
            publish(stack, sent)
            got = healthy.wait_for(lambda r: len(r) >= len(sent), timeout=90,
                                   what="every alert at the healthy receiver")
            failed = len(sent) * DEAD_BUDGET_S + 60
            values = wait_metrics(
                worker, lambda m: sum(v for k, v in m.items() if k.startswith(
                    "llmpulse_alert_notifications_total{channel=dead,")) == len(sent),
                timeout=failed, what="a final outcome for every dead delivery")
            deadline = time.monotonic() + 60
            while committed(stack, stack.settings().partitions) < len(sent):
                assert time.monotonic() < deadline, "alert offsets were not all committed"
                time.sleep(0.5)
        finally:
            worker.stop()
    # Every alert reached the healthy receiver, in order per incident, and all of
    # them within one dead delivery's retry budget of the first: one after another
    # behind the dead channel they would be spread over (N-1) of its deliveries.
    order = [delivery_id(r) for r in got]
    assert sorted(order) == sorted(m.id for m in sent)
    for i in range(INCIDENTS):
        assert order.index(f"{stack.app_id}-{i}-trigger") < \
            order.index(f"{stack.app_id}-{i}-resolve")
    spread = max(r.at for r in got) - min(r.at for r in got)
    assert spread < DEAD_BUDGET_S, f"healthy deliveries spread over {spread:.1f}s"
    # the dead channel had all its attempts, and every outcome is counted and stored
    if silent is not None:
        assert len(silent.received("/dead")) == len(sent) * (DEAD_RETRIES + 1)
    assert values["llmpulse_alert_notifications_total{channel=healthy,kind=trigger,"
                  "outcome=ok}"] == INCIDENTS
    rows = stack.sql("SELECT channel, ok, attempts, count() FROM alert_notifications FINAL "
                     "GROUP BY channel, ok, attempts ORDER BY channel")
    assert rows == [["dead", 0, DEAD_RETRIES + 1, len(sent)], ["healthy", 1, 1, len(sent)]]
