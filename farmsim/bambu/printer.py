"""One simulated Bambu Lab printer: its MQTT endpoint, its reports and its commands."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import random
import time
from typing import TYPE_CHECKING, Any, Final

from .commands import Request, execute, parse_request
from .reports import changed_fields, push_status, status_fields, version_reply

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from farmsim.context import SimContext
    from farmsim.models import Printer, WorldEvent

    from .transports import Transport

LOGGER = logging.getLogger(__name__)

WIFI_JITTER_SECONDS: Final = 10.0
WIFI_OFFSETS: Final = (-2, -1, 0, 1, 2)
RETRY_SECONDS: Final = 5.0
# World events after which a printer pushes its changes at once instead of at the next tick.
PUSH_EVENTS: Final = frozenset(
    {
        "job.assigned",
        "job.started",
        "job.paused",
        "job.resumed",
        "job.completed",
        "job.failed",
        "job.cancelled",
        "printer.ready",
        "printer.updated",
        "printer.error",
        "printer.error_cleared",
    }
)
REACHABILITY_EVENTS: Final = frozenset({"printer.online", "printer.offline"})

# Called with the serial, the message and the wall-clock time of each publish on the report topic
type PublishListener = Callable[[str, dict[str, Any], float], None]


class SimPrinter:
    """A world printer as a Bambu printer on the LAN: reports out, commands in."""

    def __init__(
        self,
        ctx: SimContext,
        printer_id: str,
        transport: Transport,
        *,
        phase: float = 1.0,
        on_publish: PublishListener | None = None,
    ) -> None:
        """Initialize the printer; nothing runs until start().

        `phase` (0 to 1) places the periodic reports in the report interval: a printer
        starts reporting `phase` intervals after start(), then once every interval.
        """
        self.ctx = ctx
        self.printer_id = printer_id
        self.transport = transport
        self.phase = phase
        self._on_publish = on_publish
        self.serial = ctx.world.printer(printer_id).serial
        self.ready = asyncio.Event()
        self._rng = random.Random(self.serial)  # noqa: S311
        self._sequence = itertools.count(self._rng.randint(100, 9000))
        self._last: dict[str, Any] = {}
        self._pushing = True
        self._held = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Any = None
        self._wifi_offset = 0
        self._next_jitter = 0.0
        self._retry_at = 0.0
        transport.attach(self.handle_request)

    @property
    def printer(self) -> Printer:
        """Return the world printer."""
        return self.ctx.world.printers[self.printer_id]

    @property
    def port(self) -> int:
        """Return the TLS port clients connect to."""
        return self.transport.port

    @property
    def pushing(self) -> bool:
        """Return whether periodic reports are on (`pushing.stop` turns them off)."""
        return self._pushing

    @property
    def broker_running(self) -> bool:
        """Return whether the printer's broker accepts connections."""
        return self.transport.running

    async def start(self) -> None:
        """Open the MQTT endpoint (unless the printer is offline) and start reporting."""
        loop = asyncio.get_running_loop()
        self._next_jitter = loop.time() + WIFI_JITTER_SECONDS
        self._unsubscribe = self.ctx.world.subscribe(self._on_event)
        await self._sync_transport()
        self._loop_task = loop.create_task(self._run(), name=f"bambu-{self.serial}")
        self.ready.set()

    async def close(self) -> None:
        """Stop reporting and close the MQTT endpoint."""
        if self._unsubscribe is not None:
            with contextlib.suppress(ValueError):
                self._unsubscribe()
            self._unsubscribe = None
        tasks = [*self._tasks, *([self._loop_task] if self._loop_task else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._loop_task = None
        await self.transport.close()

    async def stop_broker(self) -> None:
        """Make the printer unreachable although it is online (a fault)."""
        self._held = True
        await self._sync_transport()

    async def start_broker(self) -> None:
        """Undo stop_broker: reachable again on the same port if the printer is online."""
        self._held = False
        await self._sync_transport()

    def drop_connections(self) -> None:
        """Cut every client connection."""
        self.transport.drop_connections()

    def set_refuse(self, *, refuse: bool) -> None:
        """Refuse (or accept again) new client connections."""
        self.transport.set_refuse(refuse=refuse)

    def push_now(self) -> None:
        """Publish pending changes without waiting for the next interval."""
        self._wake.set()

    def handle_request(self, payload: bytes) -> None:
        """Handle one message from `device/{serial}/request`."""
        self.ctx.counters.mqtt_commands[self.printer_id] += 1
        for request in parse_request(payload):
            try:
                self._handle(request)
            except Exception:
                LOGGER.exception("%s: command %s failed", self.serial, request.command)

    def publish_status(self, *, full: bool) -> None:
        """Publish a full report, or a delta of what changed since the last one."""
        printer = self.printer
        if printer.silent or not self.transport.running:
            return
        full = full or not self._last
        wifi = printer.wifi_signal + self._wifi_offset
        fields = status_fields(self.ctx.world, printer, wifi_signal=wifi)
        body = fields if full else changed_fields(self._last, fields)
        if not body:
            return
        self._last = fields
        self._send(push_status(body, sequence_id=str(next(self._sequence)), full=full))

    def _handle(self, request: Request) -> None:
        """Answer one command."""
        key = (request.category, request.command)
        if key == ("pushing", "pushall"):
            self.ctx.world.tick_printer(self.printer_id)
            self.publish_status(full=True)
        elif key == ("pushing", "stop"):
            self._pushing = False
        elif key == ("pushing", "start"):
            self._pushing = True
            self._wake.set()
        elif key == ("info", "get_version"):
            sequence_id = request.body.get("sequence_id", "0")
            self._reply(version_reply(self.printer, sequence_id=sequence_id))
        elif (ack := execute(self.ctx.world, self.printer_id, request)) is not None:
            self._reply(ack)

    def _reply(self, message: dict[str, Any]) -> None:
        """Publish an answer unless the printer is silent or unreachable."""
        if self.printer.silent or not self.transport.running:
            return
        self._send(message)

    def _send(self, message: dict[str, Any]) -> None:
        """Publish a message on the report topic, through the MQTT faults, and count it."""
        payload = json.dumps(message, separators=(",", ":")).encode()
        payload = self.ctx.faults.mqtt.mangle(self.ctx.rng, payload)
        if self.transport.publish(payload):
            self.ctx.counters.mqtt_published[self.printer_id] += 1
            if self._on_publish is not None:
                self._on_publish(self.serial, message, time.time())

    async def _run(self) -> None:
        """Report on the printer's own beat of the interval, and at once when woken by an event."""
        loop = asyncio.get_running_loop()
        interval = self.ctx.config.report_interval
        due = loop.time() + self.phase * interval
        while self.printer_id in self.ctx.world.printers:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(due):
                    await self._wake.wait()
            self._wake.clear()
            if (late := loop.time() - due) >= 0:
                # Reports an overloaded loop missed are skipped, as the beat stays put
                due += (math.floor(late / interval) + 1) * interval
            try:
                self._step()
            except Exception:
                LOGGER.exception("%s: report failed", self.serial)

    def _step(self) -> None:
        """Advance the printer, keep the endpoint in line with it, and report."""
        self.ctx.world.tick_printer(self.printer_id)
        self.transport.sync()
        now = asyncio.get_running_loop().time()
        if (
            self._wanted() != self.transport.running
            and not self._lock.locked()
            and now >= self._retry_at
        ):
            self._spawn(self._sync_transport())
        if now >= self._next_jitter:
            self._next_jitter = now + WIFI_JITTER_SECONDS
            self._wifi_offset = self._rng.choice(
                [offset for offset in WIFI_OFFSETS if offset != self._wifi_offset]
            )
        if self._pushing:
            self.publish_status(full=self.printer.model.full_reports)

    def _wanted(self) -> bool:
        """Return whether the endpoint should accept connections."""
        return self.printer.online and not self._held

    async def _sync_transport(self) -> None:
        """Start or stop the endpoint to match the printer's reachability."""
        async with self._lock:
            if self.printer_id not in self.ctx.world.printers:
                return
            wanted = self._wanted()
            if wanted and not self.transport.running:
                await self.transport.start()
                LOGGER.debug("%s: reachable on port %s", self.serial, self.transport.port)
            elif not wanted and self.transport.running:
                await self.transport.stop()
                LOGGER.debug("%s: unreachable", self.serial)

    def _on_event(self, event: WorldEvent) -> None:
        """React to world events about this printer."""
        if event.printer_id != self.printer_id:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # Changed from another thread: the next report tick catches up.
            return
        if event.type in REACHABILITY_EVENTS:
            self._spawn(self._sync_transport())
        elif event.type in PUSH_EVENTS:
            self._wake.set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine in a task the printer tracks."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished task; log its failure and wait before retrying."""
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            self._retry_at = asyncio.get_running_loop().time() + RETRY_SECONDS
            LOGGER.error("%s: broker control failed: %r", self.serial, err)
