"""A real headless Chromium driven over the DevTools protocol (a websocket, with aiohttp):
load a page, collect its console messages, errors and network requests, evaluate
JavaScript in it, take a full-page screenshot."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageRun:
    """What happened while a page loaded and was inspected."""

    console: list[str] = field(default_factory=list)  # "level: text" of each message
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, log errors
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    value: Any = None  # the result of the evaluated expression
    screenshot: Path | None = None


@contextmanager
def _chromium(binary: str) -> Iterator[str]:
    """A headless Chromium of its own (fresh profile); yields its browser websocket URL."""
    with tempfile.TemporaryDirectory(prefix="llmpulse-chromium-") as profile:
        proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr is not None
            seen: list[str] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = proc.stderr.readline()
                if not line and proc.poll() is not None:
                    break
                seen.append(line)
                found = LISTENING.search(line)
                if found:
                    yield found[1]
                    return
            raise RuntimeError("chromium did not start its DevTools endpoint:\n"
                               + "".join(seen[-30:]))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class _Session:
    """Commands and events on one page target (flattened session of the browser socket)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.session: str | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            else:
                await self.events.put(data)

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   timeout: float = 60) -> dict[str, Any]:
        number = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[number] = future
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if self.session is not None:
            message["sessionId"] = self.session
        await self.ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return dict(reply.get("result", {}))


def _record(event: dict[str, Any], run: PageRun) -> bool:
    """Note one event; True once the page's load event fired."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled":
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        run.console.append(f"{params['type']}: {text}")
        if params["type"] in ("error", "assert"):
            run.errors.append(f"console.{params['type']}: {text}")
    elif method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        run.errors.append("exception: " + str(details.get("exception", {}).get(
            "description", details.get("text"))))
    elif method == "Log.entryAdded":
        entry = params["entry"]
        run.console.append(f"{entry['level']}: {entry['text']}")
        if entry["level"] == "error":
            run.errors.append(f"log ({entry.get('source')}): {entry['text']}")
    elif method == "Network.requestWillBeSent":
        run.requests.append(params["request"]["url"])
    elif method == "Network.loadingFailed":
        run.errors.append(f"request failed: {params.get('errorText')}")
    return method == "Page.loadEventFired"


async def _inspect(ws_url: str, url: str, expression: str, screenshot: Path | None,
                   width: int) -> PageRun:
    run = PageRun()
    async with aiohttp.ClientSession() as http, http.ws_connect(
            ws_url, max_msg_size=0) as ws:
        cdp = _Session(ws)
        target = await cdp.send("Target.createTarget", {"url": "about:blank"})
        attached = await cdp.send("Target.attachToTarget",
                                  {"targetId": target["targetId"], "flatten": True})
        cdp.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            await cdp.send(f"{domain}.enable")
        await cdp.send("Emulation.setDeviceMetricsOverride",
                       {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        await cdp.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + 60
        loaded = False
        while not loaded:
            event = await asyncio.wait_for(cdp.events.get(), max(deadline - time.monotonic(), 0.1))
            loaded = _record(event, run)
        await asyncio.sleep(0.5)  # late console messages
        result = await cdp.send("Runtime.evaluate", {"expression": expression,
                                                     "returnByValue": True})
        if "exceptionDetails" in result:
            run.errors.append(f"evaluate: {result['exceptionDetails']}")
        run.value = result.get("result", {}).get("value")
        if screenshot is not None:
            shot = await cdp.send("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True})
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            run.screenshot = screenshot
        while not cdp.events.empty():
            _record(cdp.events.get_nowait(), run)
        cdp.reader.cancel()
    return run


def inspect_page(binary: str, url: str, expression: str, screenshot: Path | None = None,
                 width: int = 1200) -> PageRun:
    """Load ``url`` in a fresh headless Chromium, evaluate ``expression`` once it loaded
    (its JSON value is ``value``), optionally save a full-page PNG screenshot."""
    with _chromium(binary) as ws_url:
        return asyncio.run(_inspect(ws_url, url, expression, screenshot, width))
