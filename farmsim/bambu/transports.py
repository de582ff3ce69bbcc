"""How a simulated printer is reached: its own port, relayed to its listener on a Mosquitto."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from farmsim.mosquitto import HOST, TcpEndpoint

from .topics import report_topic, request_topic

if TYPE_CHECKING:
    from farmsim.models import Printer

    from .shard import RequestHandler, Shard

LOGGER = logging.getLogger(__name__)

__all__ = ["HOST", "BambuTransport", "Transport", "report_topic", "request_topic"]


class Transport(Protocol):
    """The MQTT endpoint of one printer."""

    @property
    def port(self) -> int:
        """Return the TLS port clients connect to (0 before the first start)."""

    @property
    def running(self) -> bool:
        """Return whether clients can connect."""

    def attach(self, handler: RequestHandler) -> None:
        """Set the function that gets every request payload."""

    async def start(self) -> None:
        """Accept connections (again on the same port)."""

    async def stop(self) -> None:
        """Drop every connection and stop listening."""

    async def close(self) -> None:
        """Stop for good."""

    def publish(self, payload: bytes) -> bool:
        """Publish a report; return False when it could not be sent."""

    def sync(self) -> None:
        """Follow changes of the printer the endpoint must know (its access code)."""

    def drop_connections(self) -> None:
        """Cut every client connection."""

    def set_refuse(self, *, refuse: bool) -> None:
        """Refuse (or accept again) new client connections."""


class BambuTransport:
    """A printer's port: a relay to its TLS listener on the Mosquitto of its shard.

    Mosquitto checks the TLS certificate, `bblp` with the access code and the topics; the
    relay in front (`broker`) is where the printer's broker stops, drops its clients or
    refuses new ones. A changed access code reaches Mosquitto before the next connection
    is let through, and at the printer's next step (`sync`).
    """

    def __init__(self, printer: Printer, shard: Shard) -> None:
        """Initialize the transport; nothing listens until start()."""
        self._printer = printer
        self.shard = shard
        self.serial = printer.serial
        self.broker = TcpEndpoint(
            broker=shard.broker, listener=printer.serial, before_connect=self._sync_access_code
        )
        self._sync: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """Return the TLS port clients connect to."""
        return self.broker.port

    @property
    def running(self) -> bool:
        """Return whether clients can connect and reports go out."""
        return self.broker.running and self.shard.running

    def attach(self, handler: RequestHandler) -> None:
        """Set the function that gets every request payload."""
        self.shard.attach(self.serial, handler)

    async def start(self) -> None:
        """Start the shard's Mosquitto if needed, then listen on the printer's port."""
        await self.shard.start()
        await self._sync_access_code()
        await self.broker.start()

    async def stop(self) -> None:
        """Stop listening and cut every client; Mosquitto goes on for the other printers."""
        await self.broker.stop()

    async def close(self) -> None:
        """Stop for good; the printer's listener admits nobody any more."""
        if self._sync is not None:
            self._sync.cancel()
            await asyncio.wait([self._sync])
        await self.broker.close()
        await self.shard.release(self.serial)

    def publish(self, payload: bytes) -> bool:
        """Publish a report to the printer's clients."""
        if not self.broker.running:
            return False
        return self.shard.publish(self.serial, payload)

    def sync(self) -> None:
        """Let Mosquitto know a changed access code, in the background."""
        if self.shard.codes.get(self.serial) != self._printer.access_code and self._sync is None:
            self._sync = asyncio.get_running_loop().create_task(self._sync_access_code())
            self._sync.add_done_callback(self._synced)

    def drop_connections(self) -> None:
        """Cut every client connection."""
        self.broker.drop_connections()

    def set_refuse(self, *, refuse: bool) -> None:
        """Close new connections right after accepting them (or accept them again)."""
        self.broker.refuse_connections = refuse

    async def _sync_access_code(self) -> None:
        """Make Mosquitto admit the printer's current access code."""
        await self.shard.set_access_code(self.serial, self._printer.access_code)

    def _synced(self, task: asyncio.Task[None]) -> None:
        """Forget a finished access-code update; log its failure."""
        self._sync = None
        if not task.cancelled() and (err := task.exception()) is not None:
            LOGGER.error("Changing the access code of %s failed: %r", self.serial, err)
