"""MQTT over WebSockets on an aiohttp route, relayed frame by frame to Mosquitto's listener.

The realtime feed shares its port with the REST API (`/mqtt` next to `/v1`), so the
aiohttp app takes the client's WebSocket and opens one of its own to Mosquitto's
WebSocket listener; every frame goes across as it came. Like the TCP relay, this is where
the feed's broker stops, drops its clients or refuses new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Final

import aiohttp
from aiohttp import WSMsgType, web

from .sessions import ClientInfo, EndpointStats, Sessions, format_peer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .process import MosquittoBroker
    from .sessions import Session

LOGGER = logging.getLogger(__name__)

PROTOCOLS: Final = ("mqtt", "mqttv3.1")
MAX_MESSAGE: Final = 8 * 1024 * 1024
CLOSE_TIMEOUT: Final = 2.0

type Socket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse


class WebSocketEndpoint:
    """The public MQTT-over-WebSocket face of one Mosquitto WebSocket listener."""

    def __init__(
        self,
        *,
        broker: MosquittoBroker,
        listener: str,
        name: str = "mqtt",
        before_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Initialize the endpoint; it turns clients away until start()."""
        self.broker = broker
        self.listener = listener
        self.name = name
        self.before_connect = before_connect
        self.sessions = Sessions(broker, "websocket")
        self.refuse_connections = False
        self._running = False
        self._http: aiohttp.ClientSession | None = None
        self._transports: set[asyncio.BaseTransport] = set()

    @property
    def running(self) -> bool:
        """Return whether the endpoint accepts connections."""
        return self._running

    @property
    def clients(self) -> list[ClientInfo]:
        """Return the clients Mosquitto accepted through this endpoint."""
        return self.sessions.clients

    @property
    def stats(self) -> EndpointStats:
        """Return the endpoint's counters."""
        return self.sessions.stats

    async def start(self) -> None:
        """Accept WebSocket clients."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        self._running = True

    async def stop(self) -> None:
        """Turn new clients away (503) and cut every connection."""
        self._running = False
        self.drop_connections()

    async def close(self) -> None:
        """Stop for good."""
        await self.stop()
        self.sessions.decide()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def drop_connections(self) -> int:
        """Cut every client connection at once, without a word; return how many."""
        transports = list(self._transports)
        for transport in transports:
            if isinstance(transport, asyncio.Transport):
                transport.abort()
        return len(transports)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one MQTT-over-WebSocket client (an aiohttp route handler)."""
        if not self._running or self._http is None:
            raise web.HTTPServiceUnavailable(reason=f"MQTT broker {self.name} is stopped")
        client = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=MAX_MESSAGE)
        await client.prepare(request)
        if self.refuse_connections:
            self.sessions.rejected += 1
            await client.close()
            return client
        if (transport := request.transport) is None:
            return client
        session = self.sessions.open(format_peer(transport.get_extra_info("peername")))
        self._transports.add(transport)
        try:
            await self._relay(client, session, self._http)
        finally:
            self._transports.discard(transport)
        return client

    async def _relay(
        self, client: web.WebSocketResponse, session: Session, http: aiohttp.ClientSession
    ) -> None:
        """Open the WebSocket to Mosquitto and carry frames both ways until one side closes."""
        port = self.broker.port(self.listener)
        host = self.broker.listeners[self.listener].host
        try:
            if self.before_connect is not None:
                await self.before_connect()
            upstream = await http.ws_connect(
                f"ws://{host}:{port}/mqtt",
                protocols=(client.ws_protocol or PROTOCOLS[0],),
                max_msg_size=MAX_MESSAGE,
            )
        except Exception as err:  # noqa: BLE001 - whatever failed, the client goes unserved
            LOGGER.debug("Relaying %s failed: %r", session.peer, err)
            session.close(suspect=False)
            await client.close(code=aiohttp.WSCloseCode.TRY_AGAIN_LATER)
            return
        session.upstream(format_peer(upstream.get_extra_info("sockname")))
        pumps = (
            _pump_task(client, upstream),
            _pump_task(upstream, client, session.note_answer),
        )
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            # Mosquitto answered a client it never accepted: it refused the CONNECT
            session.close(suspect=session.answered, logged=False)
            with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await upstream.close()
                    await client.close()


def _pump_task(
    source: Socket, target: Socket, on_frame: Callable[[], object] | None = None
) -> asyncio.Future[None]:
    """Return a task pumping frames from one WebSocket to the other."""
    return asyncio.ensure_future(_pump(source, target, on_frame))


async def _pump(source: Socket, target: Socket, on_frame: Callable[[], object] | None) -> None:
    """Send every frame from one WebSocket to the other until the source closes."""
    async for message in source:
        if on_frame is not None:
            on_frame()
        if message.type is WSMsgType.BINARY:
            await target.send_bytes(message.data)
        elif message.type is WSMsgType.TEXT:
            await target.send_str(message.data)
