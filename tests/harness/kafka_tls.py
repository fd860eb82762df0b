"""Apache Kafka with a SASL_SSL listener, as managed Kafka services offer it.

The node keeps its PLAINTEXT listener (for the test's own checks) and adds
``SASL_SSL://localhost:PORT`` with two mechanisms: PLAIN (user ``alice``) and
SCRAM-SHA-512 (user ``bob``, created when the storage is formatted).  Its TLS
certificate is signed by a throwaway CA, both made by the JRE's ``keytool``; clients
check the broker against ``ca_file`` and the name ``localhost``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from llmpulse.errors import BrokerError
from tests.harness.apache_kafka import (
    ApacheKafka,
    java_binary,
    random_cluster_id,
    server_properties,
)
from tests.harness.net import free_port

PLAIN_USER, PLAIN_PASSWORD = "alice", "alice-secret"
SCRAM_USER, SCRAM_PASSWORD = "bob", "bob-secret"
_STORE_PASSWORD = "llmpulse-test"
_DAYS = "2"


def keytool_binary() -> str:
    java = Path(java_binary()).resolve()
    beside = java.parent / "keytool"
    found = str(beside) if beside.is_file() else shutil.which("keytool")
    if found is None:
        raise BrokerError("keytool (part of the JRE) is not on PATH: it makes the test "
                          "certificates")
    return found


def make_certificates(folder: Path) -> tuple[Path, Path]:
    """A CA and a broker key pair for ``localhost`` signed by it; returns the broker's
    PKCS12 keystore and the CA certificate (PEM)."""
    keytool = keytool_binary()
    folder.mkdir(parents=True, exist_ok=True)
    ca_store, ca_pem = folder / "ca.p12", folder / "ca.pem"
    broker_store, csr, crt = folder / "broker.p12", folder / "broker.csr", folder / "broker.crt"
    common = ["-storetype", "PKCS12", "-storepass", _STORE_PASSWORD, "-keypass", _STORE_PASSWORD]
    san = "SAN=dns:localhost,ip:127.0.0.1"
    steps = [
        ["-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048",
         "-dname", "CN=llmpulse test CA", "-ext", "bc:c", "-validity", _DAYS,
         "-keystore", str(ca_store), *common],
        ["-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca_store),
         "-storepass", _STORE_PASSWORD, "-file", str(ca_pem)],
        ["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
         "-dname", "CN=localhost", "-ext", san, "-validity", _DAYS,
         "-keystore", str(broker_store), *common],
        ["-certreq", "-alias", "broker", "-keystore", str(broker_store),
         "-storepass", _STORE_PASSWORD, "-file", str(csr)],
        ["-gencert", "-alias", "ca", "-keystore", str(ca_store), "-storepass", _STORE_PASSWORD,
         "-infile", str(csr), "-outfile", str(crt), "-ext", san, "-validity", _DAYS, "-rfc"],
        ["-importcert", "-noprompt", "-alias", "ca", "-file", str(ca_pem),
         "-keystore", str(broker_store), "-storepass", _STORE_PASSWORD],
        ["-importcert", "-noprompt", "-alias", "broker", "-file", str(crt),
         "-keystore", str(broker_store), "-storepass", _STORE_PASSWORD],
    ]
    for step in steps:
        done = subprocess.run([keytool, *step], capture_output=True, text=True, timeout=60,
                              check=False)
        if done.returncode != 0:
            raise BrokerError(f"keytool {step[0]} failed: {done.stdout}{done.stderr}")
    return broker_store, ca_pem


class SecureApacheKafka(ApacheKafka):
    """:class:`ApacheKafka` plus a SASL_SSL listener on ``localhost``."""

    def __init__(self) -> None:
        super().__init__()
        self.secure_port = 0
        self.ca_file: Path | None = None

    @property
    def secure_bootstrap(self) -> str:
        return f"localhost:{self.secure_port}"

    def _write_config(self, broker_port: int, controller_port: int) -> Path:
        assert self.workdir is not None
        keystore, self.ca_file = make_certificates(self.workdir / "tls")
        self.secure_port = free_port()
        while self.secure_port in (broker_port, controller_port):
            self.secure_port = free_port()
        config = super()._write_config(broker_port, controller_port)
        base = server_properties(self.workdir, broker_port, controller_port)
        settings = dict(line.split("=", 1) for line in base.splitlines() if "=" in line)
        settings["listeners"] += f",SASL_SSL://localhost:{self.secure_port}"
        settings["advertised.listeners"] += f",SASL_SSL://localhost:{self.secure_port}"
        settings["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL"
        plain = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
                 f'user_{PLAIN_USER}="{PLAIN_PASSWORD}";')
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        settings.update({
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": plain,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(keystore),
            "ssl.keystore.password": _STORE_PASSWORD,
            "ssl.key.password": _STORE_PASSWORD,
        })
        config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        return config

    def _format(self, java: str, libs: Path, config: Path) -> None:
        argv = [*self._jvm(java, libs), "kafka.tools.StorageTool", "format",
                "--cluster-id", random_cluster_id(), "--config", str(config),
                "--add-scram", f"SCRAM-SHA-512=[name={SCRAM_USER},password={SCRAM_PASSWORD}]"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise BrokerError(f"formatting the Kafka storage failed (exit {done.returncode}):\n"
                              + done.stdout + done.stderr)
