"""A supervised child process whose output is passed on line by line, prefixed with its
name, and the backoff between restarts of one that died."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from llmpulse.embedded_broker import preexec_die_with_parent

#: Output of every child goes here (the supervisor's stderr), one whole line at a time.
_OUTPUT_LOCK = threading.Lock()


def _write(line: bytes, out: IO[bytes] | None = None) -> None:
    target = out if out is not None else sys.stderr.buffer
    with _OUTPUT_LOCK:
        target.write(line)
        target.flush()


class Child:
    """``argv`` run with ``env``; its stdout and stderr are written to the supervisor's
    stderr as ``[name] line``, and each line is also given to ``on_line`` (if any)."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str],
                 on_line: Callable[[str], None] | None = None,
                 out: IO[bytes] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.on_line = on_line
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._pump: threading.Thread | None = None

    def start(self) -> None:
        """Start it (from the main thread: a child is killed when the thread that
        started it ends, see ``preexec_die_with_parent``)."""
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # its own session: a terminal's Ctrl-C reaches the supervisor only, which
            # passes the stop on once
            start_new_session=True, preexec_fn=preexec_die_with_parent())
        self.started_at = time.monotonic()
        self._pump = threading.Thread(target=self._pass_on, args=(self.proc,),
                                      name=f"output-{self.name}", daemon=True)
        self._pump.start()

    def _pass_on(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        prefix = f"[{self.name}] ".encode()
        for line in proc.stdout:
            _write(prefix + (line if line.endswith(b"\n") else line + b"\n"), self.out)
            if self.on_line is not None:
                self.on_line(line.decode("utf-8", errors="replace").rstrip("\n"))

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def poll(self) -> int | None:
        """The exit status once it exited (None: running, or never started)."""
        return None if self.proc is None else self.proc.poll()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, signum: int) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(signum)

    def kill(self) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.kill()

    def reap(self, timeout: float = 5.0) -> None:
        """Wait for it to exit and its last output to be passed on."""
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._pump is not None:
            self._pump.join(timeout)
            self._pump = None
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


@dataclass
class Backoff:
    """Seconds to wait before restarting a child that died: ``first``, doubling up to
    ``most``; back to ``first`` once it had run ``steady`` seconds before dying."""

    first: float = 1.0
    most: float = 30.0
    steady: float = 60.0
    _next: float = 0.0

    def after(self, ran_s: float) -> float:
        if ran_s >= self.steady or self._next == 0.0:
            self._next = self.first
        delay = self._next
        self._next = min(self.most, self._next * 2)
        return delay
