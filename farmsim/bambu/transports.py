"""How a simulated printer is reached: an embedded broker or a real Mosquitto."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, Protocol

from farmsim.mosquitto import BAMBU_USERNAME, MosquittoBroker
from farmsim.mqtt import Broker, ConnackCode, MqttClient, SessionInfo

if TYPE_CHECKING:
    from pathlib import Path

    from farmsim.certs import CertificateAuthority
    from farmsim.context import SimContext
    from farmsim.models import Printer

LOGGER = logging.getLogger(__name__)

HOST: Final = "127.0.0.1"
CONNECT_TIMEOUT: Final = 10.0
# Sent to itself after connecting: once it comes back, the request subscription is active.
READY_MARKER: Final = b'{"farmsim":"subscribed"}'

type RequestHandler = Callable[[bytes], None]


def report_topic(serial: str) -> str:
    """Return the topic a printer publishes reports on."""
    return f"device/{serial}/report"


def request_topic(serial: str) -> str:
    """Return the topic a printer takes commands from."""
    return f"device/{serial}/request"


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

    def drop_connections(self) -> None:
        """Cut every client connection."""

    def set_refuse(self, *, refuse: bool) -> None:
        """Refuse (or accept again) new client connections."""


class EmbeddedTransport:
    """A farmsim MQTT broker with a TLS listener, serving one printer."""

    def __init__(self, printer: Printer, ca: CertificateAuthority) -> None:
        """Initialize the transport; nothing listens until start()."""
        self._printer = printer
        self._ca = ca
        self._handler: RequestHandler | None = None
        self._bound = False
        self._report = report_topic(printer.serial)
        self._request = request_topic(printer.serial)
        self.broker = Broker(
            name=f"bambu-{printer.serial}",
            authenticate=self._authenticate,
            authorize_subscribe=self._may_subscribe,
            authorize_publish=self._may_publish,
            on_message=self._on_message,
        )

    @property
    def port(self) -> int:
        """Return the TLS port."""
        return self.broker.ports[0] if self.broker.ports else 0

    @property
    def running(self) -> bool:
        """Return whether the broker accepts connections."""
        return self.broker.running

    def attach(self, handler: RequestHandler) -> None:
        """Set the function that gets every request payload."""
        self._handler = handler

    async def start(self) -> None:
        """Listen with TLS, on the same port after the first start."""
        if self.broker.running:
            return
        if self._bound:
            await self.broker.start()
            return
        context = self._ca.server_context(self._printer.serial)
        await self.broker.start_tcp(HOST, 0, ssl=context)
        self._bound = True

    async def stop(self) -> None:
        """Close the listener and every connection."""
        await self.broker.stop()

    async def close(self) -> None:
        """Close the broker."""
        await self.broker.close()

    def publish(self, payload: bytes) -> bool:
        """Publish a report to the subscribed clients."""
        if not self.broker.running:
            return False
        self.broker.publish(self._report, payload)
        return True

    def drop_connections(self) -> None:
        """Abort every client connection."""
        self.broker.drop_connections()

    def set_refuse(self, *, refuse: bool) -> None:
        """Close new connections right after accepting them."""
        self.broker.refuse_connections = refuse

    def _authenticate(self, _client_id: str, username: str | None, password: str | None) -> int:
        """Accept `bblp` with the printer's access code; refuse anything else (rc 5)."""
        if username == BAMBU_USERNAME and password == self._printer.access_code:
            return ConnackCode.ACCEPTED
        return ConnackCode.NOT_AUTHORIZED

    def _may_subscribe(self, _info: SessionInfo, topic_filter: str) -> bool:
        """Allow subscribing to the printer's report topic only."""
        return topic_filter == self._report

    def _may_publish(self, _info: SessionInfo, topic: str) -> bool:
        """Allow publishing to the printer's request topic only."""
        return topic == self._request

    def _on_message(self, topic: str, payload: bytes, _info: SessionInfo) -> None:
        """Pass request payloads to the printer."""
        if topic == self._request and self._handler is not None:
            self._handler(payload)


class MosquittoTransport:
    """A real Mosquitto for one printer; farmsim talks to it over a plain loopback port."""

    def __init__(self, printer: Printer, ca: CertificateAuthority, directory: Path) -> None:
        """Initialize the transport; nothing runs until start()."""
        self._printer = printer
        self._handler: RequestHandler | None = None
        self._report = report_topic(printer.serial)
        self._request = request_topic(printer.serial)
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self.broker = MosquittoBroker(
            directory=directory,
            ca=ca,
            serial=printer.serial,
            access_code=printer.access_code,
            host=HOST,
        )
        self.client: MqttClient | None = None
        self._ready = False
        self._echo = asyncio.Event()

    @property
    def port(self) -> int:
        """Return the TLS port of Mosquitto."""
        return self.broker.tls_port

    @property
    def running(self) -> bool:
        """Return whether Mosquitto runs and the printer is connected to it."""
        return self._ready and self.broker.running

    def attach(self, handler: RequestHandler) -> None:
        """Set the function that gets every request payload."""
        self._handler = handler

    async def start(self) -> None:
        """Start Mosquitto and connect the printer to it."""
        async with self._lock:
            await self._start()

    async def stop(self) -> None:
        """Stop Mosquitto; the printer's client keeps trying to reconnect."""
        async with self._lock:
            self._ready = False
            await self.broker.stop()

    async def close(self) -> None:
        """Disconnect the printer and stop Mosquitto."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        async with self._lock:
            self._ready = False
            if self.client is not None:
                await self.client.stop()
                self.client = None
            await self.broker.stop()

    def publish(self, payload: bytes) -> bool:
        """Publish a report through Mosquitto."""
        if self.client is None or not self.broker.running:
            return False
        return self.client.publish(self._report, payload)

    def drop_connections(self) -> None:
        """Cut every connection by restarting Mosquitto on the same ports."""
        self._spawn(self._restart())

    def set_refuse(self, *, refuse: bool) -> None:
        """Refuse new clients (CONNACK not authorised) by withdrawing the access code."""
        code = None if refuse else self._printer.access_code
        self._spawn(self.broker.set_access_code(code))

    async def _start(self) -> None:
        """Start Mosquitto if needed and wait until the printer listens to its requests."""
        if not self.broker.running:
            await self.broker.start()
        if self.client is None:
            self.client = MqttClient(
                host=HOST,
                port=self.broker.internal_port,
                client_id=f"farmsim-printer-{self._printer.serial}",
                username=self.broker.internal_username,
                password=self.broker.internal_password,
                keepalive=30,
                on_message=self._on_message,
                reconnect_min_delay=0.05,
                reconnect_max_delay=0.5,
                max_queued=1000,
            )
            self.client.subscribe(self._request, qos=1)
            await self.client.start()
        await self.client.wait_connected(CONNECT_TIMEOUT)
        self._echo.clear()
        self.client.publish(self._request, READY_MARKER)
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await self._echo.wait()
        self._ready = True

    async def _restart(self) -> None:
        """Restart Mosquitto on the same ports, which drops every connection."""
        async with self._lock:
            self._ready = False
            await self.broker.stop()
            await self._start()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a broker control in a task the transport tracks."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished task and log its failure."""
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            LOGGER.error("Mosquitto control for %s failed: %r", self._printer.serial, err)

    def _on_message(self, topic: str, payload: bytes) -> None:
        """Pass request payloads to the printer."""
        if payload == READY_MARKER:
            self._echo.set()
        elif topic == self._request and self._handler is not None:
            self._handler(payload)


def make_transport(
    ctx: SimContext, printer: Printer, ca: CertificateAuthority, state_dir: Path
) -> EmbeddedTransport | MosquittoTransport:
    """Return the transport `ctx.config.bambu_broker` asks for ("embedded" or "mosquitto")."""
    if ctx.config.bambu_broker == "mosquitto":
        return MosquittoTransport(printer, ca, state_dir / "mosquitto" / printer.serial)
    return EmbeddedTransport(printer, ca)
