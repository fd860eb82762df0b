"""The supervisor: the store server (embedded store), N workers, their stops and restarts.

It opens no port of its own.  SIGTERM or SIGINT is passed on to every worker (each
drains, see "Health and lifecycle"), then the store server is stopped; a worker that
exits on its own is restarted after a backoff; the store server exiting stops the
workers and the supervisor exits non-zero.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from llmpulse.config import Settings, redacted_url
from llmpulse.errors import StoreError
from llmpulse.supervisor.child import Backoff, Child
from llmpulse.supervisor.members import (
    check_fleet,
    fleet_warnings,
    member_env,
    member_instance_id,
    member_name,
    member_port,
)

log = logging.getLogger(__name__)

#: What ``llmpulse store serve`` prints once it listens.
URL_PREFIX = "export LLMPULSE_CLICKHOUSE_URL="
STORE_START_S = 120.0
#: Beyond the workers' drain bound, how long they get before SIGKILL.
STOP_MARGIN_S = 10.0
TICK_S = 0.2


@dataclass
class Member:
    """One worker of the fleet and its restarts."""

    index: int
    child: Child
    ready_file: Path
    backoff: Backoff = field(default_factory=Backoff)
    restart_at: float | None = None
    restarts: int = 0
    port: int | None = None

    @property
    def name(self) -> str:
        return member_name(self.index)


class StoreServerChild:
    """``llmpulse store serve`` for the embedded store's path, on a free loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.url: str | None = None
        self._listening = threading.Event()
        handles = min(64, max(4, settings.workers + 2))
        self.child = Child(
            "store", [sys.executable, "-m", "llmpulse", "store", "serve", "--path",
                      str(settings.chdb_path), "--host", "127.0.0.1", "--port", "0",
                      "--handles", str(handles)],
            os.environ, on_line=self._line)

    def _line(self, line: str) -> None:
        if line.startswith(URL_PREFIX) and self.url is None:
            self.url = line.removeprefix(URL_PREFIX).strip()
            self._listening.set()

    def start(self, timeout: float = STORE_START_S) -> str:
        self.child.start()
        deadline = time.monotonic() + timeout
        while not self._listening.wait(TICK_S):
            code = self.child.poll()
            if code is not None:
                self.child.reap()
                raise StoreError(f"the store server exited with status {code} before it "
                                 "listened (its output is above)")
            if time.monotonic() > deadline:
                self.stop()
                raise StoreError(f"the store server did not listen within {timeout:.0f}s")
        assert self.url is not None
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        self.child.send(signal.SIGTERM)
        self.child.reap(timeout)


class Fleet:
    """N workers (and the store server of an embedded store) until a stop signal."""

    def __init__(self, settings: Settings, ready_file: Path | None = None) -> None:
        self.settings = settings
        self.ready_file = ready_file
        self.stop_signal: int | None = None
        self.store: StoreServerChild | None = None
        self.members: list[Member] = []
        self._ready_dir = Path(tempfile.mkdtemp(prefix="llmpulse-fleet-"))
        self._published: list[int] | None = None

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum

    def run(self) -> int:
        try:
            return self._run()
        finally:
            shutil.rmtree(self._ready_dir, ignore_errors=True)

    def _run(self) -> int:
        settings = self.settings
        url = settings.clickhouse_url
        if settings.embedded_store:
            settings.chdb_path.mkdir(parents=True, exist_ok=True)
            self.store = StoreServerChild(settings)
            url = self.store.start()
            log.info("store server for chdb://%s at %s (pid %s)", settings.chdb_path, url,
                     self.store.child.pid)
        store_gone: int | None = None
        try:
            for index in range(settings.workers):
                self.members.append(self._member(index, url))
            for member in self.members:
                if self.stop_signal is None:
                    self._start(member)
            log.info("llmpulse fleet: %d workers, store %s", settings.workers,
                     redacted_url(url))
            store_gone = self._supervise()
            code = self._stop_workers(signal.SIGTERM if store_gone is not None
                                      else self.stop_signal or signal.SIGTERM)
        finally:
            for member in self.members:
                member.child.kill()
                member.child.reap()
            if self.store is not None:
                self.store.stop()
        if store_gone is not None:
            print(f"llmpulse worker: the store server exited with status {store_gone}; "
                  "the workers were stopped", file=sys.stderr)
            return 1
        return code

    def _member(self, index: int, url: str) -> Member:
        ready = self._ready_dir / f"{member_name(index)}.ready"
        env = {**os.environ, **member_env(self.settings, index, url)}
        return Member(index, Child(member_name(index), worker_argv(ready), env), ready)

    def _start(self, member: Member) -> None:
        member.ready_file.unlink(missing_ok=True)
        member.port = None
        member.child.start()
        port = member_port(self.settings, member.index)
        log.info("%s started (pid %s, /metrics port %s, instance id %s, data %s)",
                 member.name, member.child.pid, port or "free",
                 member_instance_id(self.settings, member.index),
                 member.child.env["LLMPULSE_DATA_DIR"])

    def _supervise(self) -> int | None:
        """Until a stop signal (None) or the store server's exit (its status)."""
        while self.stop_signal is None:
            if self.store is not None:
                code = self.store.child.poll()
                if code is not None:
                    log.error("the store server exited with status %s", code)
                    return code
            now = time.monotonic()
            for member in self.members:
                self._look_after(member, now)
            self._publish_ready()
            time.sleep(TICK_S)
        log.info("%s received: stopping %d workers",
                 signal.Signals(self.stop_signal).name, len(self.members))
        return None

    def _look_after(self, member: Member, now: float) -> None:
        if member.restart_at is not None:
            if now >= member.restart_at:
                member.restart_at = None
                member.restarts += 1
                self._start(member)
            return
        code = member.child.poll()
        if code is None:
            if member.port is None and member.ready_file.exists():
                text = member.ready_file.read_text(encoding="utf-8").strip()
                member.port = int(text) if text else None
            return
        member.child.reap()
        ran = now - member.child.started_at
        delay = member.backoff.after(ran)
        member.restart_at = now + delay
        log.warning("%s exited unexpectedly with status %s after %.0f s; restarting it in "
                    "%.0f s (restart %d)", member.name, code, ran, delay, member.restarts + 1)

    def _publish_ready(self) -> None:
        """Once every worker is up, the ready file lists their /metrics ports, one a line
        (again after a restart on a free port)."""
        if self.ready_file is None:
            return
        ports = [m.port for m in self.members]
        if any(p is None for p in ports):
            return
        known = [int(p) for p in ports if p is not None]
        if known != self._published:
            self.ready_file.write_text("".join(f"{p}\n" for p in known), encoding="utf-8")
            self._published = known

    def _stop_workers(self, signum: int) -> int:
        """Pass the stop on and wait for the drains; the fleet's exit status."""
        for member in self.members:
            member.restart_at = None
            member.child.send(signum)
        deadline = time.monotonic() + self.settings.drain_timeout_s + STOP_MARGIN_S
        while time.monotonic() < deadline and any(m.child.running() for m in self.members):
            time.sleep(TICK_S)
        code = 0
        for member in self.members:
            if member.child.running():
                log.error("%s did not stop within %.0f s: killed", member.name,
                          self.settings.drain_timeout_s + STOP_MARGIN_S)
                member.child.kill()
            member.child.reap()
            status = member.child.poll()
            if status not in (0, None) and code == 0:
                code = status if status > 0 else 1
        log.info("workers stopped (exit status %d)", code)
        return code


def worker_argv(ready_file: Path) -> list[str]:
    """The command of one worker of the fleet."""
    return [sys.executable, "-m", "llmpulse", "worker", "--ready-file", str(ready_file)]


def run_fleet(settings: Settings, ready_file: Path | None = None) -> int:
    """Run ``settings.workers`` workers until SIGTERM/SIGINT; returns the exit code."""
    from llmpulse.runner import checked_broker

    check_fleet(settings)
    checked_broker(settings, "worker")  # one clear failure, before any process starts
    for warning in fleet_warnings(settings):
        log.warning("%s", warning)
    fleet = Fleet(settings, ready_file)
    previous = {s: signal.signal(s, fleet.on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return fleet.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
