"""Start every face of farmsim around one world and describe how to reach them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from . import autoprintfarm, printago
from .admin import create_admin_app
from .bambu import BambuFleet
from .certs import CertificateAuthority
from .clock import SimClock
from .context import SimConfig, SimContext
from .scenario import populate
from .world import World

LOGGER = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 0.5


class FarmSim:
    """A running simulated farm: AutoPrintFarm, Printago and Bambu printers on loopback."""

    def __init__(self, config: SimConfig) -> None:
        """Build the world; nothing listens until `start`."""
        self.config = config
        clock = SimClock(time_scale=config.time_scale)
        world = World(clock=clock, seed=config.seed)
        populate(world, printers=config.printers, demo=config.demo)
        self.ctx = SimContext(config=config, world=world)
        self.ctx.rng.seed(config.seed)
        self._owns_state_dir = config.state_dir is None
        self.state_dir = config.state_dir or Path(tempfile.mkdtemp(prefix="farmsim-"))
        self.ca = CertificateAuthority.create(self.state_dir / "ca")
        self.realtime = printago.Realtime(self.ctx, self.state_dir / "realtime")
        self.fleet = BambuFleet(self.ctx, self.ca, self.state_dir)
        self._runners: list[web.AppRunner] = []
        self._ticker: asyncio.Task[None] | None = None
        self.autoprintfarm_url = ""
        self.printago_url = ""
        self.admin_url = ""

    @property
    def world(self) -> World:
        """Return the simulated world."""
        return self.ctx.world

    async def start(self) -> None:
        """Start the servers, the brokers and the clock."""
        host = self.config.host
        await self.realtime.start()
        apf_port = await self._serve(
            autoprintfarm.create_app(self.ctx), self.config.autoprintfarm_port
        )
        printago_port = await self._serve(
            printago.create_app(self.ctx, self.realtime), self.config.printago_port
        )
        admin_port = await self._serve(create_admin_app(self), self.config.admin_port)
        self.autoprintfarm_url = f"http://{host}:{apf_port}"
        self.printago_url = f"http://{host}:{printago_port}"
        self.admin_url = f"http://{host}:{admin_port}/admin"
        await self.fleet.start()
        self._ticker = asyncio.create_task(self._tick_forever(), name="farmsim-ticker")

    async def close(self) -> None:
        """Stop everything and remove temporary files."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.fleet.close()
        await self.realtime.close()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self._owns_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    async def __aenter__(self) -> Self:
        """Start the farm."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the farm."""
        await self.close()

    @property
    def connection(self) -> dict[str, Any]:
        """Return what a client needs to reach every face (the connection file)."""
        config = self.config
        realtime = self.printago_url.replace("http://", "ws://", 1) + "/mqtt"
        return {
            "autoprintfarm": {
                "base_url": f"{self.autoprintfarm_url}/v1",
                "api_key": config.autoprintfarm_api_key,
                "openapi_url": f"{self.autoprintfarm_url}/openapi.json",
            },
            "printago": {
                "base_url": self.printago_url,
                "api_key": config.printago_api_key,
                "store_id": config.printago_store_id,
                "realtime": {
                    "url": realtime,
                    "username": config.printago_store_id,
                    "password": config.printago_api_key,
                },
            },
            "printers": self.fleet.connection_info(),
            "admin_url": self.admin_url,
        }

    def write_connection_file(self, path: Path) -> None:
        """Write the connection file, readable by the owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.connection, indent=2) + "\n", encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)

    async def _serve(self, app: web.Application, port: int) -> int:
        # Clients' idle keep-alive connections are closed at once on shutdown, not waited for.
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, port, reuse_address=True)
        await site.start()
        self._runners.append(runner)
        server = site._server  # noqa: SLF001
        assert isinstance(server, asyncio.Server)  # noqa: S101
        return int(server.sockets[0].getsockname()[1])

    async def _tick_forever(self) -> None:
        while True:
            try:
                self.world.tick()
            except Exception:
                LOGGER.exception("World tick failed")
            await asyncio.sleep(self.config.tick_interval)
