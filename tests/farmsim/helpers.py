"""Helpers for the farmsim tests: simulated worlds, the faces' servers and waiting."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from farmsim.autoprintfarm import create_app
from farmsim.clock import SimClock
from farmsim.context import SimConfig, SimContext
from farmsim.models import Phase, Printer
from farmsim.scenario import populate
from farmsim.world import World

HOST = "127.0.0.1"
WAIT = 5.0
START = 1_750_000_000.0
TIMEOUT = aiohttp.ClientTimeout(total=10)


async def wait_until(predicate: Callable[[], object], seconds: float = WAIT) -> None:
    """Poll predicate until it is true, failing the test after the given seconds."""
    # Polling, because paho changes state from its own thread.
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def phase(printer: Printer) -> Phase:
    """Return a printer's phase (a call, so type checkers do not narrow it)."""
    return printer.phase


def sim_context(config: SimConfig, *, printers: int, start: float | None = None) -> SimContext:
    """Return a context of a populated world seeded like its configuration."""
    world = World(clock=SimClock(start=start), seed=config.seed)
    populate(world, printers=printers)
    return SimContext(config=config, world=world)


async def call(
    session: aiohttp.ClientSession, method: str, path: str, body: Any = None, **params: str
) -> tuple[int, Any]:
    """Send a request to the Printago API; return status and JSON body."""
    async with session.request(method, path, json=body, params=params or None) as response:
        return response.status, await response.json()


@dataclass
class Farm:
    """A running AutoPrintFarm API with a client session."""

    ctx: SimContext
    app: web.Application
    server: TestServer
    session: aiohttp.ClientSession
    base: str

    @property
    def world(self) -> World:
        """Return the world."""
        return self.ctx.world

    async def call(
        self, method: str, path: str, *, key: str | None = None, **kwargs: Any
    ) -> tuple[int, Any, Any]:
        """Send a request with the main key; return status, body (JSON or CSV) and headers."""
        headers = dict(kwargs.pop("headers", {}))
        headers.setdefault(
            "Authorization", f"Bearer {key or self.ctx.config.autoprintfarm_api_key}"
        )
        async with self.session.request(
            method, self.base + path, headers=headers, **kwargs
        ) as response:
            if response.content_type == "text/csv":
                return response.status, await response.text(), response.headers
            return response.status, await response.json(), response.headers


@contextlib.asynccontextmanager
async def serve_autoprintfarm[F: Farm](ctx: SimContext, kind: type[F]) -> AsyncIterator[F]:
    """Serve the AutoPrintFarm API of a context on a free loopback port."""
    app = create_app(ctx)
    server = TestServer(app, host=HOST)
    await server.start_server()
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            base = str(server.make_url(""))
            yield kind(ctx=ctx, app=app, server=server, session=session, base=base)
    finally:
        await server.close()


def printer_named(farm: Farm, name: str) -> str:
    """Return the ID of a printer by its name."""
    return next(p.id for p in farm.world.printers.values() if p.name == name)
