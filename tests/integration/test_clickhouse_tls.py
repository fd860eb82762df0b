"""A ClickHouse server over HTTPS: the store's client checks the server's certificate
against LLMPULSE_CLICKHOUSE_CA_FILE (or the system's CAs) and says why it refuses one,
with the URL's password masked.  The server is `llmpulse store serve --tls-cert`, the
certificate made by openssl for localhost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.store_server import StoreServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed CA certificate for localhost and 127.0.0.1, and its key (PEM)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is not on PATH: it makes the test certificate")
    cert, key = folder / "server.pem", folder / "server.key"
    done = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return cert, key


def sql(env: dict[str, str], query: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmpulse", "sql", "--format", "arrays", query],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)


def test_https_store_checked_against_the_configured_ca(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    server = StoreServerProcess(tmp_path / "chdb", tmp_path / "logs", tls=(cert, key)).start()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        url = server.url.replace("https://", "https://llmpulse:s3cret-pw@")
        env = {"LLMPULSE_CLICKHOUSE_URL": url, "LLMPULSE_DATA_DIR": str(tmp_path)}
        trusted = sql({**env, "LLMPULSE_CLICKHOUSE_CA_FILE": str(cert)}, "SELECT 40 + 2")
        assert trusted.returncode == 0, trusted.stderr
        assert [json.loads(line) for line in trusted.stdout.splitlines()] == [[42]]

        refused = sql(env, "SELECT 1")  # the system's CAs do not know this certificate
        assert refused.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr or \
            "certificate verify failed" in refused.stderr, refused.stderr
        assert "s3cret-pw" not in refused.stdout + refused.stderr
        assert "llmpulse:***@" in refused.stderr

        unchecked = sql({**env, "LLMPULSE_CLICKHOUSE_VERIFY": "false"}, "SELECT 1")
        assert unchecked.returncode == 0, unchecked.stderr
    finally:
        server.stop()
