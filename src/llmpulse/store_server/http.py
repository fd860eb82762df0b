"""The HTTP side: ClickHouse's interface (``/`` and ``/ping``) over the engine."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from llmpulse.store_server.engine import Engine, Outcome
from llmpulse.store_server.errors import ServerError
from llmpulse.store_server.request import read_request

log = logging.getLogger(__name__)

DISPLAY_NAME = "llmpulse-store"
_CONTENT_TYPES = {"TabSeparated": "text/tab-separated-values; charset=UTF-8",
                  "TSV": "text/tab-separated-values; charset=UTF-8",
                  "CSV": "text/csv; charset=UTF-8",
                  "JSON": "application/json; charset=UTF-8",
                  "JSONEachRow": "application/x-ndjson; charset=UTF-8"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    engine: Engine

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._reply(200, b"", {})

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _dispatch(self) -> None:
        path = urlsplit(self.path)
        if path.path in ("/ping", "/replicas_status"):
            self._body()
            self._reply(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            return
        if path.path not in ("/", ""):
            self._body()
            self._error(ServerError(
                0, f"There is no handle {path.path}. Use / or /ping"), status=404)
            return
        query_id = ""
        try:
            request = read_request(path.query, dict(self.headers.items()), self._body())
            query_id = request.query_id
            outcome = self.server.engine.run(request)
        except ServerError as exc:
            self._error(exc, query_id=query_id)
            return
        except Exception as exc:  # a bug here must still answer the client
            log.exception("store server: request failed")
            self._error(ServerError.from_engine(exc), query_id=query_id)
            return
        self._reply(200, outcome.body, self._headers(outcome, query_id))

    def _headers(self, outcome: Outcome, query_id: str) -> dict[str, str]:
        headers = {"X-ClickHouse-Query-Id": query_id,
                   "X-ClickHouse-Summary": json.dumps(outcome.summary),
                   "Content-Type": "text/plain; charset=UTF-8"}
        if outcome.format is not None:
            headers["X-ClickHouse-Format"] = outcome.format
            headers["Content-Type"] = _CONTENT_TYPES.get(outcome.format,
                                                         "application/octet-stream")
        return headers

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _chunked(self) -> bytes:
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    def _error(self, exc: ServerError, status: int = 500, query_id: str = "") -> None:
        engine = self.server.engine
        headers = {"X-ClickHouse-Exception-Code": str(exc.code),
                   "Content-Type": "text/plain; charset=UTF-8"}
        if query_id:
            headers["X-ClickHouse-Query-Id"] = query_id
        self._reply(status, exc.body(engine.version).encode("utf-8"), headers)

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        engine = self.server.engine
        self.send_response(status)
        self.send_header("X-ClickHouse-Server-Display-Name", DISPLAY_NAME)
        self.send_header("X-ClickHouse-Timezone", engine.timezone)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)


class StoreServer:
    """Serves the embedded store at ``path`` over ClickHouse's HTTP interface on
    ``host:port`` (port 0: a free one, see :attr:`port`)."""

    def __init__(self, path: Path, host: str = "127.0.0.1", port: int = 0,
                 handles: int = 4, tls: ssl.SSLContext | None = None) -> None:
        self.path = path
        self.engine = Engine(path, handles=handles)
        try:
            self._server = _Server((host, port), _Handler)
        except OSError:
            self.engine.close()
            raise
        if tls is not None:  # the handshake happens in the request's thread, at its first read
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self._tls = tls is not None
        self._server.engine = self.engine
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> StoreServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="store-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close the engine (requests in flight finish first)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self.engine.close()
