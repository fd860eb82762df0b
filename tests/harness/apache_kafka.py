"""A real Apache Kafka 4.x broker (KRaft, combined broker+controller, one node) for tests.

The jars come from Maven Central through ``deploy/kafka/pom.xml`` and are cached
in ``$KAFKA_TEST_LIBS`` or ``<repo>/.cache/kafka-libs``; the broker runs on
the machine's ``java`` (17+) with its data and logs in a temporary directory.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO

from llmpulse.embedded_broker import log_tail, preexec_die_with_parent, stop_process
from llmpulse.errors import BrokerError
from llmpulse.topics import wait_for_broker
from tests.harness.net import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LIBS_ENV = "KAFKA_TEST_LIBS"
MVN_TIMEOUT = 900.0


def kafka_libs_dir() -> Path:
    """Where the Kafka jars are cached."""
    configured = os.environ.get(LIBS_ENV)
    return Path(configured) if configured else REPO_ROOT / ".cache" / "kafka-libs"


def has_kafka_jars(libs: Path) -> bool:
    return libs.is_dir() and any(libs.glob("kafka_2.13-*.jar"))


def resolve_kafka_libs(libs: Path | None = None) -> Path:
    """Download the broker jars with Maven unless ``libs`` already holds them.

    Maven writes into a sibling directory that is renamed into place at the end,
    so an interrupted download never looks like a complete one.
    """
    libs = libs or kafka_libs_dir()
    if has_kafka_jars(libs):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Apache Kafka jars are missing and Maven (mvn) is not on PATH")
    libs.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{libs.name}-", dir=libs.parent))
    try:
        _run_maven(mvn, partial)
        try:
            partial.rename(libs)
        except OSError:
            if not has_kafka_jars(libs):  # not a concurrent download that won the race
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return libs


def _run_maven(mvn: str, output: Path) -> None:
    argv = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
            f"-DoutputDirectory={output}"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=MVN_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"mvn did not resolve the Kafka jars in {MVN_TIMEOUT:.0f}s") from exc
    if done.returncode != 0 or not has_kafka_jars(output):
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise BrokerError(f"mvn could not resolve the Kafka jars (exit {done.returncode}):\n"
                          + tail)


def java_binary() -> str:
    """``$JAVA_HOME/bin/java`` if set, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise BrokerError("Apache Kafka needs Java 17+, but java is not on PATH")
    return found


def random_cluster_id() -> str:
    """A KRaft cluster id: a UUID in URL-safe base64 without padding (never starting '-')."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


def server_properties(workdir: Path, broker_port: int, controller_port: int) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{broker_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(workdir / "data"),
        "num.partitions": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def log4j2_properties(log_file: Path) -> str:
    """Warnings (and the start/stop lines) into ``log_file``; nothing on the console."""
    return "\n".join([
        "status = error",
        "name = llmpulse-test-kafka",
        "appender.file.type = File",
        "appender.file.name = file",
        f"appender.file.fileName = {log_file}",
        "appender.file.layout.type = PatternLayout",
        "appender.file.layout.pattern = [%d] %p %m (%c)%n",
        "rootLogger.level = WARN",
        "rootLogger.appenderRef.file.ref = file",
        "logger.raft-server.name = kafka.server.KafkaRaftServer",
        "logger.raft-server.level = INFO",
        "",
    ])


class ApacheKafka:
    """One Apache Kafka node in KRaft combined mode on free loopback ports."""

    def __init__(self, libs_dir: Path | None = None) -> None:
        self.libs_dir = libs_dir
        self.workdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._bootstrap: str | None = None
        self._last_bootstrap: str | None = None
        self._stdout: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        if self._bootstrap is None:
            raise BrokerError("Apache Kafka is not running")
        return self._bootstrap

    @property
    def server_log(self) -> Path | None:
        return None if self.workdir is None else self.workdir / "server.log"

    def start(self, timeout: float = 90.0) -> str:
        """Resolve the jars, format the storage, boot the node and wait for metadata."""
        if self.proc is not None and self.proc.poll() is None:
            return self.bootstrap
        libs = resolve_kafka_libs(self.libs_dir)
        java = java_binary()
        self.workdir = Path(tempfile.mkdtemp(prefix="llmpulse-kafka-"))
        broker_port, controller_port = _two_ports()
        config = self._write_config(broker_port, controller_port)
        try:
            self._format(java, libs, config)
        except BrokerError:
            self.stop()
            raise
        self.proc = self._spawn(java, libs, config)
        return self._wait_ready(f"127.0.0.1:{broker_port}", timeout)

    def _wait_ready(self, bootstrap: str, timeout: float) -> str:
        try:
            wait_for_broker(bootstrap, timeout, check=self._check_alive)
        except BrokerError as exc:
            self._kill()  # the work dir stays for its logs
            raise BrokerError(f"Apache Kafka did not start in {timeout:g}s: {exc}\n"
                              + self.logs()) from None
        self._bootstrap = self._last_bootstrap = bootstrap
        return bootstrap

    def halt(self, timeout: float = 30.0) -> None:
        """Stop the node (SIGTERM, SIGKILL after ``timeout``) but keep its data and ports,
        for :meth:`start_again`: a broker outage."""
        self._kill(timeout)

    def start_again(self, timeout: float = 90.0) -> str:
        """After :meth:`halt`, the same node again: same ports, same data directory."""
        if self.proc is not None and self.proc.poll() is None:
            return self.bootstrap
        if self.workdir is None or self._last_bootstrap is None:
            raise BrokerError("Apache Kafka never ran here; start() it first")
        config = self.workdir / "server.properties"
        self.proc = self._spawn(java_binary(), resolve_kafka_libs(self.libs_dir), config)
        return self._wait_ready(self._last_bootstrap, timeout)

    def restart(self, kill: bool = False, down_s: float = 0.0, timeout: float = 90.0) -> None:
        """An outage: :meth:`halt` (at once if ``kill``), ``down_s`` s, :meth:`start_again`."""
        self.halt(timeout=0.0 if kill else 30.0)
        time.sleep(down_s)
        self.start_again(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (controlled shutdown), SIGKILL after ``timeout``; removes the data."""
        self._kill(timeout)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def logs(self, lines: int = 40) -> str:
        """Tails of the JVM console output and of the broker log (both in the work dir)."""
        if self.workdir is None:
            return ""
        return (f"--- {self.workdir / 'stdout.log'}\n{log_tail(self.workdir / 'stdout.log', lines)}"
                f"\n--- {self.server_log}\n{log_tail(self.server_log, lines)}")

    def __enter__(self) -> ApacheKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _write_config(self, broker_port: int, controller_port: int) -> Path:
        assert self.workdir is not None
        config = self.workdir / "server.properties"
        config.write_text(server_properties(self.workdir, broker_port, controller_port))
        (self.workdir / "log4j2.properties").write_text(
            log4j2_properties(self.workdir / "server.log"))
        return config

    def _jvm(self, java: str, libs: Path) -> list[str]:
        assert self.workdir is not None
        return [java, "-Xmx512m", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
                "-cp", f"{libs}{os.sep}*"]

    def _format(self, java: str, libs: Path, config: Path) -> None:
        argv = [*self._jvm(java, libs), "kafka.tools.StorageTool", "format",
                "--cluster-id", random_cluster_id(), "--config", str(config)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise BrokerError(f"formatting the Kafka storage failed (exit {done.returncode}):\n"
                              + done.stdout + done.stderr)

    def _spawn(self, java: str, libs: Path, config: Path) -> subprocess.Popen[bytes]:
        assert self.workdir is not None
        self._stdout = (self.workdir / "stdout.log").open("ab")
        return subprocess.Popen(
            [*self._jvm(java, libs), "kafka.Kafka", str(config)],
            cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=self._stdout,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=preexec_die_with_parent(),
        )

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BrokerError(f"the Kafka process exited with status {self.proc.returncode}")

    def _kill(self, timeout: float = 10.0) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout)
            self.proc = None
        self._bootstrap = None
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None


def _two_ports() -> tuple[int, int]:
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second
