"""Screenshots of the demo dashboard (`scripts/screenshots`), taken with headless Chromium.

The demo is started as `scripts/develop` starts it (the same harness), the farm is given time
to get busy, then Debian's Chromium is driven over the DevTools protocol: it logs in with
tokens from Home Assistant's own login flow (stored where the frontend keeps them), opens the
dashboard, waits until its cards have rendered, and writes PNGs into docs/.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from .const import DASHBOARD_URL, ROOT
from .demo import options_from_env, say
from .errors import HarnessError
from .harness import RunningDemo, start_demo
from .hass_client import HomeAssistantClient
from .onboarding import Tokens
from .processes import ManagedProcess, free_port, port_in_use

LOGGER = logging.getLogger("devtools.screenshots")

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)

# Counts the elements of some tags across every shadow root of the page.
COUNT_JS = """
(() => {
  const counts = {};
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      counts[el.localName] = (counts[el.localName] || 0) + 1;
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return JSON.stringify(counts);
})()
"""

# How much taller the page would have to be to show everything: the document's overflow, or
# that of the page's main scrolling container (one at least half the viewport high).
OVERFLOW_JS = """
(() => {
  let extra = document.scrollingElement.scrollHeight - window.innerHeight;
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.clientHeight >= window.innerHeight / 2) {
        extra = Math.max(extra, el.scrollHeight - el.clientHeight);
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return Math.max(0, extra);
})()
"""


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _devtools_port(profile: Path) -> tuple[str, str] | None:
    """Return the port and path Chromium wrote into its profile, once it did."""
    try:
        lines = (profile / "DevToolsActivePort").read_text().splitlines()
    except FileNotFoundError:
        return None
    return (lines[0], lines[1]) if len(lines) >= 2 else None  # noqa: PLR2004


def find_chromium() -> str | None:
    """Return Chromium's executable, or None."""
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    return None


class CdpError(HarnessError):
    """Raised when Chromium answers a DevTools command with an error."""


class DevTools:
    """A connection to Chromium's DevTools protocol, with one page session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap the browser's websocket."""
        self._ws = ws
        self._id = 0
        self.session_id: str | None = None

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Send a command to the page (or the browser before a page is attached)."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": dict(params or {})}
        if self.session_id is not None and not method.startswith("Target."):
            message["sessionId"] = self.session_id
        await self._ws.send_json(message)
        while True:
            answer = await self._ws.receive_json(timeout=60)
            if answer.get("id") != self._id:
                continue
            if "error" in answer:
                msg = f"{method}: {answer['error']}"
                raise CdpError(msg)
            return answer.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page; return its value."""
        result = await self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            msg = f"JavaScript failed: {result['exceptionDetails']}"
            raise CdpError(msg)
        return result.get("result", {}).get("value")

    async def open_page(self, width: int, height: int) -> None:
        """Open a blank page of the given size and attach to it."""
        target = await self.call("Target.createTarget", {"url": "about:blank"})
        attached = await self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        self.session_id = str(attached["sessionId"])
        await self.call("Page.enable")
        await self.resize(width, height)

    async def resize(self, width: int, height: int) -> None:
        """Set the page's viewport."""
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    async def navigate(self, url: str) -> None:
        """Load a URL."""
        await self.call("Page.navigate", {"url": url})

    async def screenshot(self, path: Path) -> None:
        """Write the viewport as PNG."""
        result = await self.call("Page.captureScreenshot", {"format": "png"})
        _write(path, base64.b64decode(result["data"]))

    async def counts(self) -> dict[str, int]:
        """Return how many elements of each tag the page has (through shadow roots)."""
        counts: dict[str, int] = json.loads(await self.evaluate(COUNT_JS))
        return counts

    async def overflow(self) -> float:
        """Return how many CSS pixels the page's content reaches below the viewport."""
        return float(await self.evaluate(OVERFLOW_JS) or 0)


@contextlib.asynccontextmanager
async def chromium(
    session: aiohttp.ClientSession, executable: str, width: int, height: int
) -> AsyncIterator[DevTools]:
    """Run headless Chromium with a new, empty profile; yield a page's DevTools session."""
    profile = Path(tempfile.mkdtemp(prefix="printfarm-chromium-"))
    process = ManagedProcess(
        "Chromium",
        [
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        log_path=ROOT / ".demo" / "chromium.log",
    )
    await process.start()
    try:
        deadline = time.monotonic() + 60
        while (address := _devtools_port(profile)) is None:
            if not process.running:
                process.fail("Chromium exited before it was ready")
            if time.monotonic() > deadline:
                process.fail("Chromium did not open its DevTools port within 60s")
            await asyncio.sleep(0.1)
        port, path = address
        async with session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0) as ws:
            devtools = DevTools(ws)
            await devtools.open_page(width, height)
            yield devtools
    finally:
        await process.stop(grace=10)
        shutil.rmtree(profile, ignore_errors=True)


def hass_tokens(base_url: str, tokens: Tokens) -> dict[str, Any]:
    """Return what the frontend keeps in localStorage['hassTokens'] after logging in."""
    return {
        "access_token": tokens.access_token,
        "token_type": tokens.token_type,
        "expires_in": tokens.expires_in,
        "refresh_token": tokens.refresh_token,
        "hassUrl": base_url,
        "clientId": f"{base_url}/",
        "expires": int(time.time() * 1000) + tokens.expires_in * 1000,
    }


async def log_in(devtools: DevTools, base_url: str, tokens: Tokens) -> None:
    """Store the tokens where the frontend looks for them; a blank same-origin page first."""
    await devtools.navigate(f"{base_url}/robots.txt")
    await asyncio.sleep(0.5)
    storage = {
        "hassTokens": json.dumps(hass_tokens(base_url, tokens)),
        "dockedSidebar": json.dumps("docked"),
        "selectedLanguage": json.dumps("en"),
    }
    script = "".join(
        f"localStorage.setItem({json.dumps(key)}, {json.dumps(value)});"
        for key, value in storage.items()
    )
    await devtools.evaluate(script + "true")


async def wait_rendered(
    devtools: DevTools, tag: str, minimum: int, within: float = 90.0, settle: float = 4.0
) -> dict[str, int]:
    """Wait until at least `minimum` elements of `tag` rendered and the count holds."""
    deadline = time.monotonic() + within
    previous: dict[str, int] = {}
    while True:
        counts = await devtools.counts()
        ready = counts.get(tag, 0) >= minimum and not counts.get("hass-loading-screen")
        if ready and counts.get(tag) == previous.get(tag):
            await asyncio.sleep(settle)
            return counts
        if time.monotonic() > deadline:
            msg = f"the page did not render {minimum} {tag} within {within:g}s: {counts.get(tag)}"
            raise HarnessError(msg)
        previous = counts
        await asyncio.sleep(1.0)


async def capture(
    devtools: DevTools,
    url: str,
    path: Path,
    *,
    tag: str,
    minimum: int,
    width: int,
    height: int,
    fit: bool = True,
    max_height: int = 3000,
) -> None:
    """Open `url`, wait for it to render, fit the viewport to the content, write a PNG."""
    await devtools.resize(width, height)
    await devtools.navigate(url)
    try:
        await wait_rendered(devtools, tag, minimum)
    except HarnessError:
        failed = ROOT / ".demo" / f"failed-{path.name}"
        await devtools.screenshot(failed)
        say(f"  the page did not render; what it showed is in {failed}")
        raise
    if fit and (extra := await devtools.overflow()) > 0:
        await devtools.resize(width, min(max_height, height + math.ceil(extra) + 16))
        await asyncio.sleep(2.0)
    await devtools.screenshot(path)
    say(f"  wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


@dataclass(frozen=True, kw_only=True)
class Shot:
    """One screenshot: a page of the demo and what shows it has rendered."""

    name: str
    path: str
    tag: str
    minimum: int


def _view_shot(name: str, view: Mapping[str, Any]) -> Shot:
    """Return the shot of a dashboard view; it has rendered once 3/4 of its tiles have."""
    tiles = sum(
        1 for section in view.get("sections", []) for c in section["cards"] if c["type"] == "tile"
    )
    return Shot(
        name=name,
        path=f"/{DASHBOARD_URL}/{view['path']}",
        tag="hui-tile-card",
        minimum=max(1, tiles * 3 // 4),
    )


def shots(demo: RunningDemo) -> list[Shot]:
    """Return the pages to capture: the farm view, a printer, the other farm."""
    views = (demo.dashboard or {}).get("views", [])
    result: list[Shot] = []
    if views:
        result.append(_view_shot("dashboard.png", views[0]))
    registry = demo.registry
    if registry is not None and registry.entries:
        printers = registry.printer_devices(str(registry.entries[0]["entry_id"]))
        # The flagship model first: it reports the most (chamber temperature and light)
        printers.sort(key=lambda device: not str(device.get("model", "")).startswith("X1"))
        if printers:
            result.append(
                Shot(
                    name="printer.png",
                    path=f"/config/devices/device/{printers[0]['id']}",
                    tag="ha-device-entities-card",
                    minimum=1,
                )
            )
    if len(views) > 1 and views[1]["path"] != "temperatures":
        result.append(_view_shot("printago.png", views[1]))
    return result


async def wait_busy(demo: RunningDemo, printing: int, within: float) -> int:
    """Wait until `printing` printers print (or `within` seconds); return how many do."""
    registry = demo.registry
    if registry is None or not registry.entries:
        return 0
    entry_id = str(registry.entries[0]["entry_id"])
    progress = [
        entity
        for device in registry.printer_devices(entry_id)
        if (entity := registry.entity_id(str(device["id"]), "progress"))
    ]
    deadline = time.monotonic() + within
    while True:
        states = {s["entity_id"]: s["state"] for s in await demo.client.states()}
        busy = 0
        for entity in progress:
            with contextlib.suppress(ValueError):
                busy += 3 <= float(states.get(entity, "")) <= 97  # noqa: PLR2004
        if busy >= printing or time.monotonic() > deadline:
            return busy
        await asyncio.sleep(2.0)


async def take(
    demo: RunningDemo, out_dir: Path, executable: str, width: int, height: int
) -> list[Path]:
    """Log a browser in and capture every shot."""
    options = demo.options
    login = HomeAssistantClient(demo.url, demo.session)
    tokens = await login.login(options.user.username, options.user.password)
    written = []
    async with chromium(demo.session, executable, width, height) as devtools:
        await log_in(devtools, demo.url, tokens)
        for shot in shots(demo):
            path = out_dir / shot.name
            await capture(
                devtools,
                demo.url + shot.path,
                path,
                tag=shot.tag,
                minimum=shot.minimum,
                width=width,
                height=height,
            )
            written.append(path)
    return written


async def run(
    out_dir: Path, width: int, height: int, busy_printers: int, environ: Mapping[str, str]
) -> int:
    """Start the demo on a free port, capture the screenshots, stop everything."""
    executable = find_chromium()
    if executable is None:
        say("Chromium is missing: apt-get install chromium (scripts/screenshots does it)")
        return 1
    options = options_from_env(environ)
    if "PRINTFARM_DEMO_PORT" not in environ and port_in_use(options.host, options.port):
        options.port = free_port(options.host)
    demo = await start_demo(options, say)
    try:
        say("Waiting for the farm to get busy")
        busy = await wait_busy(demo, busy_printers, within=120.0)
        say(f"{busy} printers printing; taking screenshots")
        await take(demo, out_dir, executable, width, height)
    finally:
        await demo.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Take the screenshots."""
    parser = argparse.ArgumentParser(
        prog="scripts/screenshots",
        description=(
            "Start the printfarm demo headless (as scripts/develop does), wait until the farm "
            "is busy, and write screenshots of its dashboard with headless Chromium."
        ),
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="default docs/")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument(
        "--busy", type=int, default=4, help="printers that should be mid-print (default 4)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run(args.out, args.width, args.height, args.busy, os.environ))
    except HarnessError as err:
        say(f"scripts/screenshots: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
