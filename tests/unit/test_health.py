"""/healthz and /readyz: the checks, their composition, the HTTP routes next to /metrics,
and the drain's bound."""

from __future__ import annotations

import gzip
import io
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest

from llmpulse.config import load_settings
from llmpulse.health import (
    BatchState,
    Membership,
    ProcessHealth,
    ProgressWatch,
    Readiness,
    Trouble,
    batch_check,
    loop_check,
    partitions_check,
    progress_check,
    store_check,
)
from llmpulse.lifecycle import ABANDONED_EXIT, Drain, reserve_s
from llmpulse.metrics import build_metrics
from llmpulse.runner import start_metrics_server


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_loop_is_alive_until_its_heartbeat_stalls() -> None:
    starting = loop_check(None, 50.0, 60)
    assert starting.ok and starting.state == "starting"
    assert loop_check(10.0, 69.0, 60).ok
    stalled = loop_check(10.0, 75.0, 60)
    assert not stalled.ok and stalled.state == "stalled"
    assert "65 s" in stalled.reason and "LLMPULSE_LIVE_STALL_S=60" in stalled.reason


def test_membership_starting_recovering_assigned_idle_and_rebalancing() -> None:
    member = Membership(["llm.requests", "llm.responses"])
    assert partitions_check(member.snapshot).state == "starting"
    assert not partitions_check(member.snapshot).ok
    member.assigned([("llm.requests", 1), ("llm.responses", 1), ("llm.windows", 1),
                     ("it-join-changelog", 1)])
    recovering = partitions_check(member.snapshot)
    assert not recovering.ok and recovering.state == "recovering"
    member.completed()
    assigned = partitions_check(member.snapshot)
    assert assigned.ok and assigned.state == "assigned"
    assert assigned.details["input_partitions"] == ["llm.requests[1]", "llm.responses[1]"]
    member.revoked()  # a later rebalance: still ready, says so
    rebalancing = partitions_check(member.snapshot)
    assert rebalancing.ok and rebalancing.state == "rebalancing"
    member.assigned([("llm.windows", 3)])  # more members than partitions: no input left
    assert partitions_check(member.snapshot).ok
    member.completed()
    idle = partitions_check(member.snapshot)
    assert idle.ok and idle.state == "idle" and "more members than partitions" in idle.reason


def test_a_member_that_never_joined_ignores_a_stray_completion() -> None:
    member = Membership(["llm.requests"])
    member.completed()
    assert member.snapshot.state == "starting"


def test_store_check_at_start_up_and_while_writes_fail() -> None:
    assert store_check(None, "", None, 0).state == "starting"
    down = store_check(False, "ConnectionRefusedError: [Errno 111]", None, 0)
    assert not down.ok and down.state == "unreachable" and "Errno 111" in down.reason
    failing = store_check(True, "", Trouble(100.0, 4, "DrillStoreDown: store unavailable"),
                          130.0)
    assert not failing.ok and failing.state == "failing"
    assert "30 s" in failing.reason and "4 attempt(s)" in failing.reason
    assert "DrillStoreDown" in failing.reason
    assert store_check(True, "", None, 0).ok


def test_a_batch_is_stuck_past_the_budget_and_says_since_when_it_fails() -> None:
    assert batch_check(None, 0, 300).state == "idle"
    batch = BatchState(120, since=1000.0, step="store rows").failed("store: boom", 1010.0)
    batch = batch.failed("store: boom again", 1020.0)
    retrying = batch_check(batch, 1100.0, 300)
    assert retrying.ok and retrying.state == "retrying"
    assert retrying.details["failing_since"] == 1010.0 and retrying.details["attempts"] == 2
    stuck = batch_check(batch, 1301.0, 300)
    assert not stuck.ok and stuck.state == "stuck"
    assert "120 message(s)" in stuck.reason and "'store rows'" in stuck.reason
    assert "failing for 291 s" in stuck.reason and "boom again" in stuck.reason
    assert "LLMPULSE_READY_STUCK_S=300" in stuck.reason
    assert batch.recovered().failing is None
    # a step that hangs without failing is stuck too
    hanging = batch_check(BatchState(5, since=0.0, step="signals"), 301.0, 300)
    assert not hanging.ok and "failing" not in hanging.reason


def test_progress_stalls_only_when_messages_wait_and_nothing_is_read() -> None:
    clock = Clock(0.0)
    watch = ProgressWatch(clock)
    watch.observe("llm.requests[0]", end=100, position=100)  # read to the end
    watch.observe("llm.requests[1]", end=100, position=40)  # behind
    clock.now = 200.0
    watch.observe("llm.requests[0]", end=150, position=150)  # keeps up
    watch.observe("llm.requests[1]", end=180, position=40)  # nothing read, more waiting
    assert watch.stalls(300) == []
    clock.now = 301.0
    watch.observe("llm.requests[1]", end=190, position=40)
    [stall] = watch.stalls(300)
    assert (stall.partition, stall.position, stall.waiting, stall.grew) == (
        "llm.requests[1]", 40, 150, 90)
    check = progress_check([stall], 300)
    assert not check.ok and "llm.requests[1]" in check.reason and "150 message(s)" in check.reason
    watch.observe("llm.requests[1]", end=190, position=41)  # it reads again
    assert watch.stalls(300) == []
    clock.now = 700.0
    watch.keep(["llm.requests[0]"])  # partition 1 moved to another member
    assert watch.stalls(300) == []
    assert progress_check([], 300).ok


def _health(clock: Clock, wall: Clock, readiness: Readiness | None = None) -> ProcessHealth:
    return ProcessHealth("worker", stall_s=60, stuck_s=300, input_topics=["llm.requests"],
                         readiness=readiness, monotonic=clock, wall=wall)


def test_readyz_goes_from_starting_to_ready_and_names_what_fails() -> None:
    clock, wall = Clock(), Clock(5000.0)
    readiness = Readiness()
    health = _health(clock, wall, readiness)
    status, body = health.readyz()
    assert status == 503 and body["status"] == "starting"
    assert set(body["failing"]) == {"partitions", "store"}
    assert body["checks"]["store"]["state"] == "starting"
    readiness.set("store", True)
    health.heartbeat.beat(clock.now)
    health.membership.assigned([("llm.requests", 0)])
    health.membership.completed()
    status, body = health.readyz()
    assert status == 200 and body["status"] == "ready" and body["failing"] == []
    assert list(body["checks"]) == ["loop", "partitions", "store", "batch", "progress",
                                    "shutdown"]
    health.store_writes = lambda: Trouble(4990.0, 3, "DrillStoreDown: store unavailable")
    status, body = health.readyz()
    assert status == 503 and body["failing"] == ["store"]
    assert "DrillStoreDown" in body["checks"]["store"]["reason"]
    assert health.healthz()[0] == 200  # alive all the same
    clock.now += 61  # the loop stopped beating
    assert health.healthz()[0] == 503
    assert "loop" in health.readyz()[1]["failing"]


def test_readyz_says_idle_and_draining() -> None:
    clock, wall = Clock(), Clock()
    health = _health(clock, wall)
    health.heartbeat.beat(clock.now)
    health.membership.assigned([])
    health.membership.completed()
    status, body = health.readyz()
    assert status == 200 and body["status"] == "idle"
    health.draining = lambda: (1.5, "SIGTERM", "finishing the batch in flight")
    status, body = health.readyz()
    assert status == 503 and body["status"] == "draining" and body["failing"] == ["shutdown"]
    assert "SIGTERM" in body["checks"]["shutdown"]["reason"]
    assert health.healthz()[0] == 200  # draining is alive


def test_the_drain_budget_leaves_a_reserve_and_the_watchdog_says_what_it_abandoned() -> None:
    clock = Clock(0.0)
    exited: list[int] = []
    done = threading.Event()
    err = io.StringIO()

    def exit_(code: int) -> None:
        exited.append(code)
        done.set()

    drain = Drain("worker", 0.2, clock=clock, exit=exit_, stderr=err)
    assert drain.remaining() == 0.2 and drain.batch_budget() == pytest.approx(0.1)
    assert (reserve_s(60), reserve_s(25), reserve_s(10), reserve_s(4), reserve_s(1)) == (
        5, 5, 2, 2, 0.5)
    assert drain.state() == (None, "", "")
    drain.begin("SIGTERM")
    drain.begin("SIGINT")  # a second signal changes nothing
    drain.at("finishing the batch in flight")
    drain.abandon("a batch of 7 message(s)")
    clock.now = 0.1
    assert drain.state() == (0.1, "SIGTERM", "finishing the batch in flight")
    assert done.wait(5)
    assert exited == [ABANDONED_EXIT]
    message = err.getvalue()
    assert "did not finish within 0.2 s (LLMPULSE_DRAIN_TIMEOUT_S)" in message
    assert "finishing the batch in flight" in message and "7 message(s)" in message
    assert "redelivered" in message


def test_a_drain_that_finishes_stops_its_watchdog() -> None:
    exited: list[int] = []
    drain = Drain("scorer", 0.05, exit=exited.append)
    drain.begin("SIGTERM")
    drain.finish()
    time.sleep(0.2)
    assert exited == []
    assert "drained in" in drain.summary("left the consumer group")


# --- the HTTP routes -----------------------------------------------------------------


def _get(url: str, headers: dict[str, str] | None = None, method: str = "GET"
         ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def served() -> Any:
    settings = load_settings({"LLMPULSE_METRICS_HOST": "127.0.0.1",
                              "LLMPULSE_METRICS_PORT": "0"})
    metrics = build_metrics(process="worker")
    metrics.store_up.set(1)
    clock = Clock()
    health = _health(clock, Clock(), Readiness())
    server = start_metrics_server(settings, metrics, "worker", health)
    try:
        yield f"http://127.0.0.1:{server.port}", health, clock
    finally:
        server.stop()


def test_healthz_and_readyz_answer_json_on_the_metrics_port(served: Any) -> None:
    base, health, clock = served
    status, headers, body = _get(base + "/readyz")
    assert status == 503 and headers["Content-Type"] == "application/json"
    assert orjson.loads(body)["status"] == "starting"
    health.readiness.set("store", True)
    health.heartbeat.beat(clock.now)
    health.membership.assigned([("llm.requests", 2)])
    health.membership.completed()
    status, _, body = _get(base + "/readyz")
    assert status == 200 and orjson.loads(body)["checks"]["partitions"]["state"] == "assigned"
    status, _, body = _get(base + "/healthz")
    assert status == 200 and orjson.loads(body) == {
        "process": "worker", "status": "alive", "failing": [],
        "checks": {"loop": {"ok": True, "state": "running",
                            "reason": "the event loop ran 0.0 s ago", "heartbeat_age_s": 0.0}}}
    status, _, body = _get(base + "/healthz", method="HEAD")
    assert status == 200 and body == b""
    status, headers, _ = _get(base + "/readyz", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_metrics_are_served_as_before(served: Any) -> None:
    base, _, _ = served
    status, headers, body = _get(base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"llmpulse_store_up 1.0" in body
    status, headers, body = _get(base + "/metrics",
                                 {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    status, headers, body = _get(base + "/metrics", {"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert b"llmpulse_store_up 1.0" in gzip.decompress(body)
    status, _, body = _get(base + "/")  # any other path is /metrics, as prometheus_client's
    assert status == 200 and b"llmpulse_store_up" in body


def test_a_failing_health_check_still_answers(served: Any) -> None:
    base, health, _ = served

    def broken() -> None:
        raise RuntimeError("bug")

    health.batch = broken
    status, _, body = _get(base + "/readyz")
    assert status == 500 and "RuntimeError: bug" in orjson.loads(body)["error"]
