"""The report in a real browser: headless Chromium loads it offline, without errors,
and decodes every chart. The screenshot is kept in tests/artifacts/ (ignored by git).

Chromium is driven through the DevTools protocol (aiohttp's WebSocket client): the
page's console and exceptions are collected while it loads, then each `<img>` is
asked whether it decoded (`complete` and a natural width). `make test` installs
Debian's `chromium` when it is missing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.services.suite import Services
from bot.report.build import build_report, write_atomically
from tests.core.services.conftest import import_community, load_catalog, train_model

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"
)


class DevTools:
    """One page target over the DevTools protocol: commands, and the events seen so far."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.events: list[dict[str, Any]] = []
        self._next = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        await self.socket.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads((await self.socket.receive(timeout=60)).data)
            if message.get("id") == ident:
                assert "error" not in message, message
                return dict(message.get("result", {}))
            self.events.append(message)

    async def until(self, event: str) -> None:
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads((await self.socket.receive(timeout=60)).data))


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[DevTools]:
    """A headless Chromium with no network, and a DevTools session on a blank page."""
    assert CHROMIUM is not None
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--remote-debugging-port=0", f"--user-data-dir={profile}",
        "--proxy-server=127.0.0.1:9", "--window-size=1100,1400", "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(600):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                targets = await answer.json()
            page = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield DevTools(ws)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


async def test_report_loads_in_chromium_without_errors_and_every_chart_decodes(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """Headless Chromium opens the file offline: no console error, every image decoded."""
    services = sqlite_services
    await load_catalog(services.context.cohort)
    await import_community(services.context.cohort, tmp_path, members=40)
    await train_model(services)
    report = tmp_path / "report.html"
    write_atomically(report, await build_report(services.context, services.funnel, days=30))

    async with chromium(tmp_path / "profile") as browser:
        for domain in ("Page", "Runtime", "Log"):
            await browser.call(f"{domain}.enable")
        await browser.call("Page.navigate", url=report.as_uri())
        await browser.until("Page.loadEventFired")
        found = await browser.call(
            "Runtime.evaluate",
            expression="JSON.stringify(Array.from(document.images).map("
            "i => [i.complete, i.naturalWidth, i.naturalHeight]))",
            returnByValue=True,
        )
        shot = await browser.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True
        )

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    print(f"screenshot: {screenshot}")
    problems = [
        e
        for e in browser.events
        if e.get("method") in ("Runtime.exceptionThrown", "Log.entryAdded")
        or (
            e.get("method") == "Runtime.consoleAPICalled"
            and e["params"]["type"] in ("error", "warning", "assert")
        )
    ]
    assert problems == []
    decoded = json.loads(found["result"]["value"])
    assert len(decoded) == report.read_text("utf-8").count("<img ") >= 5
    assert all(complete and width > 300 and height > 100 for complete, width, height in decoded)
