"""Run the Printago face on a loopback port, for tests and tools."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from aiohttp import web

from .app import REALTIME_PATH, create_app
from .realtime import Realtime

if TYPE_CHECKING:
    from types import TracebackType

    from farmsim.context import SimContext


class PrintagoServer:
    """The Printago REST app and its realtime broker, served on one port."""

    def __init__(
        self, ctx: SimContext, *, realtime: bool = True, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        """Initialize the server; `start()` binds it."""
        self.ctx = ctx
        self.host = host
        self.port = port
        self.realtime = Realtime(ctx) if realtime else None
        self.app = create_app(ctx, self.realtime)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Return the REST base URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def realtime_url(self) -> str:
        """Return the MQTT-over-WebSocket URL."""
        return f"ws://{self.host}:{self.port}{REALTIME_PATH}"

    @property
    def headers(self) -> dict[str, str]:
        """Return the headers that authenticate a REST request."""
        config = self.ctx.config
        return {
            "authorization": f"ApiKey {config.printago_api_key}",
            "x-printago-storeid": config.printago_store_id,
        }

    async def start(self) -> None:
        """Start the realtime broker and listen for HTTP."""
        if self.realtime is not None:
            await self.realtime.start()
        self._runner = web.AppRunner(self.app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        """Close the broker (and its clients), then the HTTP server."""
        if self.realtime is not None:
            await self.realtime.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the server."""
        await self.close()
