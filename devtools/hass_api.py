"""Home Assistant's HTTP and websocket APIs, as the frontend uses them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp

from .errors import HarnessError
from .processes import ManagedProcess


class WebSocket:
    """An authenticated connection to Home Assistant's websocket API."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap an authenticated websocket."""
        self._ws = ws
        self._id = 0

    async def call(self, message: Mapping[str, Any]) -> Any:
        """Send one command and return its result."""
        self._id += 1
        await self._ws.send_json({**message, "id": self._id})
        while True:
            answer = await self._ws.receive_json(timeout=60)
            if answer.get("id") != self._id or answer.get("type") != "result":
                continue
            if not answer.get("success"):
                msg = f"websocket command {message.get('type')} failed: {answer.get('error')}"
                raise HarnessError(msg)
            return answer.get("result")


class HassApi:
    """Requests to a Home Assistant instance, authenticated once a token is known."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        """Talk to the instance at `base_url`."""
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.token: str | None = None

    @property
    def client_id(self) -> str:
        """Return the OAuth client id of the frontend served by this instance."""
        return f"{self.base_url}/"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self, method: str, path: str, *, json_body: Any = None, auth: bool = True
    ) -> Any:
        """Send a request; return the JSON answer, raise HarnessError for an error status."""
        headers = self._headers() if auth else {}
        async with self.session.request(
            method, self.base_url + path, json=json_body, headers=headers
        ) as response:
            text = await response.text()
            if response.status >= 400:  # noqa: PLR2004
                msg = f"{method} {path}: HTTP {response.status}: {text[:500]}"
                raise HarnessError(msg)
            return json.loads(text) if text else None

    async def wait_until_up(
        self, within: float = 180.0, process: ManagedProcess | None = None
    ) -> None:
        """Wait until the HTTP server answers (Home Assistant has started)."""
        deadline = time.monotonic() + within
        while True:
            if process is not None and not process.running:
                process.fail("Home Assistant exited while starting")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.session.get(
                    f"{self.base_url}/api/onboarding", timeout=aiohttp.ClientTimeout(total=5)
                ) as response:
                    if response.status == 200:  # noqa: PLR2004
                        return
            if time.monotonic() > deadline:
                msg = f"Home Assistant did not start within {within:g}s"
                if process is not None:
                    process.fail(msg)
                raise HarnessError(msg)
            await asyncio.sleep(0.5)

    @contextlib.asynccontextmanager
    async def websocket(self) -> AsyncIterator[WebSocket]:
        """Open an authenticated websocket connection."""
        url = self.base_url.replace("http", "ws", 1) + "/api/websocket"
        async with self.session.ws_connect(url, max_msg_size=0) as ws:
            hello = await ws.receive_json(timeout=30)
            if hello.get("type") != "auth_required":
                msg = f"unexpected websocket greeting: {hello}"
                raise HarnessError(msg)
            await ws.send_json({"type": "auth", "access_token": self.token})
            answer = await ws.receive_json(timeout=30)
            if answer.get("type") != "auth_ok":
                msg = f"websocket authentication failed: {answer}"
                raise HarnessError(msg)
            yield WebSocket(ws)

    async def ws_call(self, message: Mapping[str, Any]) -> Any:
        """Run one websocket command on a connection of its own."""
        async with self.websocket() as ws:
            return await ws.call(message)

    async def states(self) -> list[dict[str, Any]]:
        """Return every entity's state."""
        states: list[dict[str, Any]] = await self.request("GET", "/api/states")
        return states

    async def expose_to_assist(self, entity_ids: Sequence[str]) -> None:
        """Expose entities to Assist (the conversation agent)."""
        if entity_ids:
            await self.ws_call(
                {
                    "type": "homeassistant/expose_entity",
                    "assistants": ["conversation"],
                    "entity_ids": list(entity_ids),
                    "should_expose": True,
                }
            )
