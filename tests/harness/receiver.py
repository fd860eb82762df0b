"""A real HTTP receiver on 127.0.0.1 for notification tests: records every POST."""

from __future__ import annotations

import json
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.time() when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Threaded HTTP server on an ephemeral loopback port; replies scripted per path."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.defaults: dict[str, Reply] = {}  # per path, once its script is used up
        self.release = threading.Event()  # cuts slow replies short at shutdown
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts[path] = list(replies)

    def received(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, predicate: Any, timeout: float, what: str) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if predicate(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; received: "
                             + "; ".join(f"{r.path} {r.body[:200]!r}" for r in self.received()))

    def _record(self, request: Received) -> Reply:
        with self.lock:
            self.requests.append(request)
            queue = self.scripts.get(request.path)
            return queue.pop(0) if queue else self.defaults.get(request.path, Reply())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                reply = receiver._record(Received(self.path, dict(self.headers.items()), body,
                                                  time.time()))
                if reply.delay_s:
                    receiver.release.wait(reply.delay_s)
                with suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    self.send_response(reply.status)
                    for name, value in {**reply.headers,
                                        "Content-Length": len(reply.body)}.items():
                        self.send_header(name, str(value))
                    self.end_headers()
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
