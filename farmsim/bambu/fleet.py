"""Every printer of the world as a simulated Bambu printer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Final

from .printer import PublishListener, SimPrinter
from .shard import Shard
from .transports import HOST, BambuTransport

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from farmsim.certs import CertificateAuthority
    from farmsim.context import SimContext
    from farmsim.models import Printer, WorldEvent
    from farmsim.mosquitto import SentListener

LOGGER = logging.getLogger(__name__)

READY_TIMEOUT: Final = 15.0
# The golden ratio's fraction: successive multiples spread evenly over [0, 1) for any count
GOLDEN_FRACTION: Final = (5**0.5 - 1) / 2


class BambuFleet:
    """The simulated Bambu printers of a farm, one MQTT endpoint each.

    The printers the fleet starts with share one Mosquitto (`bambu_broker` "shared"), each
    behind a port of its own; a printer added later gets a Mosquitto of its own, as every
    printer does with "dedicated".
    """

    def __init__(self, ctx: SimContext, ca: CertificateAuthority, state_dir: Path) -> None:
        """Initialize the fleet; nothing runs until start()."""
        self.ctx = ctx
        self.ca = ca
        self.state_dir = state_dir
        self.printers: dict[str, SimPrinter] = {}
        self._starting: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._publish_listeners: list[PublishListener] = []
        self._sent_listeners: list[SentListener] = []
        self._shards: list[Shard] = []
        self._added = 0

    async def start(self) -> None:
        """Start a simulated printer for every world printer, and for printers added later."""
        if self._unsubscribe is None:
            self._unsubscribe = self.ctx.world.subscribe(self._on_event)
        pending = [p for p in self.ctx.world.printers.values() if p.id not in self.printers]
        shared = self.ctx.config.bambu_broker == "shared"
        shard = self._new_shard(pending) if shared and pending else None
        for printer in pending:
            self._add(printer.id, shard)
        await asyncio.gather(*(self.wait_ready(printer_id) for printer_id in self.printers))

    async def close(self) -> None:
        """Stop every simulated printer."""
        if self._unsubscribe is not None:
            with contextlib.suppress(ValueError):
                self._unsubscribe()
            self._unsubscribe = None
        pending = [*self._starting.values(), *self._tasks]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        self._starting.clear()
        for shard in self._shards:
            shard.closing = True
        printers = list(self.printers.values())
        self.printers.clear()
        await asyncio.gather(*(sim.close() for sim in printers))
        shards, self._shards = self._shards, []
        await asyncio.gather(*(shard.close() for shard in shards))

    async def wait_ready(self, printer_id: str, timeout: float = READY_TIMEOUT) -> None:  # noqa: ASYNC109
        """Wait until a printer's MQTT endpoint has been started (starting it if needed)."""
        printer_id = self.ctx.world.printer(printer_id).id
        self._add(printer_id)
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._starting[printer_id])

    def add_publish_listener(self, listener: PublishListener) -> Callable[[], None]:
        """Call `listener` for every message a printer publishes; return an unsubscribe.

        It gets the serial, the message (reports and command answers) and the wall-clock
        time it was handed to the printer's broker, and must not change the message.
        """
        self._publish_listeners.append(listener)
        return lambda: self._publish_listeners.remove(listener)

    def add_sent_listener(self, listener: SentListener) -> Callable[[], None]:
        """Call `listener` once farmsim's paho client wrote a message to Mosquitto.

        It gets the topic, the payload and the wall-clock time: the moment the message
        left farmsim, as close as farmsim sees to when a real printer sends a report
        (Mosquitto passes it on to the clients from there).
        """
        self._sent_listeners.append(listener)
        removers = [shard.publisher.add_sent_listener(listener) for shard in self._shards]

        def remove() -> None:
            self._sent_listeners.remove(listener)
            for remover in removers:
                with contextlib.suppress(ValueError):
                    remover()

        return remove

    def get(self, printer_id: str) -> SimPrinter:
        """Return the simulated printer of a world printer (id, Printago id or serial)."""
        return self.printers[self.ctx.world.printer(printer_id).id]

    def connection_info(self) -> list[dict[str, Any]]:
        """Return how to reach every printer, as the connection file lists them."""
        info: list[dict[str, Any]] = []
        for printer_id, sim in self.printers.items():
            if (printer := self.ctx.world.printers.get(printer_id)) is None:
                continue
            info.append(
                {
                    "name": printer.name,
                    "serial": printer.serial,
                    "model": printer.model.code,
                    "host": HOST,
                    "port": sim.port,
                    "access_code": printer.access_code,
                    "ca_cert": str(self.ca.cert_path),
                    "autoprintfarm_id": printer.id,
                    "printago_id": printer.printago_id,
                }
            )
        return info

    async def stop_broker(self, printer_id: str) -> None:
        """Make a printer's broker unreachable (a fault; the printer stays online)."""
        await self.get(printer_id).stop_broker()

    async def start_broker(self, printer_id: str) -> None:
        """Bring a printer's broker back on the same port."""
        await self.get(printer_id).start_broker()

    def drop_connections(self, printer_id: str | None = None) -> None:
        """Cut the client connections of one printer, or of every printer."""
        for sim in self._select(printer_id):
            sim.drop_connections()

    def set_refuse(self, printer_id: str | None, *, refuse: bool) -> None:
        """Refuse (or accept again) new connections to one printer, or to every printer."""
        for sim in self._select(printer_id):
            sim.set_refuse(refuse=refuse)

    def _select(self, printer_id: str | None) -> list[SimPrinter]:
        """Return one simulated printer, or all of them for None."""
        if printer_id is None:
            return list(self.printers.values())
        return [self.get(printer_id)]

    def _new_shard(self, printers: list[Printer]) -> Shard:
        """Return a new Mosquitto for some printers (started by their transports)."""
        directory = self.state_dir / "mosquitto" / f"{printers[0].serial}-{len(self._shards)}"
        shard = Shard(directory, self.ca, printers)
        for listener in self._sent_listeners:
            shard.publisher.add_sent_listener(listener)
        self._shards.append(shard)
        return shard

    def _add(self, printer_id: str, shard: Shard | None = None) -> None:
        """Create the simulated printer of a world printer and start it in the background."""
        if printer_id in self.printers:
            return
        printer = self.ctx.world.printer(printer_id)
        transport = BambuTransport(printer, shard or self._new_shard([printer]))
        sim = SimPrinter(
            self.ctx, printer_id, transport, phase=self._phase(), on_publish=self._published
        )
        self.printers[printer_id] = sim
        task = asyncio.get_running_loop().create_task(sim.start(), name=f"start-{printer.serial}")
        task.add_done_callback(self._started)
        self._starting[printer_id] = task

    def _phase(self) -> float:
        """Return where in the report interval the next printer added reports."""
        self._added += 1
        if not self.ctx.config.spread_reports:
            return 1.0
        # The first printer reports one interval after its start, the others in the gaps
        return 1.0 - (self._added - 1) * GOLDEN_FRACTION % 1.0

    def _published(self, serial: str, message: dict[str, Any], at: float) -> None:
        """Tell the publish listeners about a message a printer published."""
        for listener in list(self._publish_listeners):
            listener(serial, message, at)

    def _started(self, task: asyncio.Task[None]) -> None:
        """Log a simulated printer that failed to start."""
        if not task.cancelled() and (err := task.exception()) is not None:
            LOGGER.error("Starting a simulated printer failed: %r", err)

    async def _remove(self, printer_id: str) -> None:
        """Close the simulated printer of a removed world printer."""
        if (task := self._starting.pop(printer_id, None)) is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        if (sim := self.printers.pop(printer_id, None)) is not None:
            await sim.close()
        for shard in [shard for shard in self._shards if shard.idle]:
            self._shards.remove(shard)
            await shard.close()

    def _on_event(self, event: WorldEvent) -> None:
        """Follow printers added to and removed from the world."""
        if event.printer_id is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            LOGGER.debug("Ignoring %s from outside the event loop", event.type)
            return
        if event.type == "printer.added":
            self._add(event.printer_id)
        elif event.type == "printer.removed":
            task = asyncio.get_running_loop().create_task(self._remove(event.printer_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
