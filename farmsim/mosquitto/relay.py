"""A loopback port in front of one Mosquitto listener, relaying every byte both ways.

Mosquitto can neither close one of its listeners, nor cut one client, nor add a listener
while it runs. farmsim puts this relay in front of each listener so that one Mosquitto can
serve a whole fleet while every printer's broker still stops, starts, drops its clients or
refuses new ones on its own. The relay carries the bytes as they are: TLS and MQTT stay
between the client and Mosquitto.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Final

from .config import HOST
from .ports import free_ports
from .sessions import ClientInfo, EndpointStats, Session, Sessions, TransportName, format_peer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .process import MosquittoBroker

LOGGER = logging.getLogger(__name__)

CLOSE_TIMEOUT: Final = 2.0

type BeforeConnect = Callable[[], Awaitable[None]]


class TcpEndpoint:
    """The public port of one Mosquitto listener, with the faults of a broker of its own."""

    def __init__(
        self,
        *,
        broker: MosquittoBroker,
        listener: str,
        transport: TransportName = "tls",
        host: str = HOST,
        before_connect: BeforeConnect | None = None,
    ) -> None:
        """Initialize the endpoint; nothing listens until start()."""
        self.broker = broker
        self.listener = listener
        self.host = host
        self.before_connect = before_connect
        self.sessions = Sessions(broker, transport)
        self.refuse_connections = False
        self._port = 0
        self._server: asyncio.Server | None = None
        self._relays: set[_Relay] = set()

    @property
    def port(self) -> int:
        """Return the port clients connect to (0 before the first start)."""
        return self._port

    @property
    def running(self) -> bool:
        """Return whether the endpoint accepts connections."""
        return self._server is not None

    @property
    def clients(self) -> list[ClientInfo]:
        """Return the clients Mosquitto accepted through this endpoint."""
        return self.sessions.clients

    @property
    def stats(self) -> EndpointStats:
        """Return the endpoint's counters."""
        return self.sessions.stats

    async def start(self) -> None:
        """Listen, on the same port after the first start."""
        if self._server is not None:
            return
        if not self._port:
            (self._port,) = free_ports(1, self.host)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Downstream(self), self.host, self._port, reuse_address=True
        )

    async def stop(self) -> None:
        """Stop listening and cut every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self.drop_connections()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await server.wait_closed()

    async def close(self) -> None:
        """Stop for good."""
        await self.stop()
        self.sessions.decide()

    def drop_connections(self) -> int:
        """Cut every client connection at once, without a word; return how many."""
        relays = list(self._relays)
        for relay in relays:
            relay.abort()
        return len(relays)

    def _accept(self, downstream: _Downstream, transport: asyncio.Transport) -> _Relay | None:
        """Return the relay of a new connection, or None after closing it (refusing)."""
        if self.refuse_connections or self._server is None:
            self.sessions.rejected += 1
            transport.close()
            return None
        peer = format_peer(transport.get_extra_info("peername"))
        relay = _Relay(self, downstream, transport, self.sessions.open(peer))
        self._relays.add(relay)
        return relay


class _Relay:
    """One client connection and farmsim's connection to Mosquitto on its behalf."""

    def __init__(
        self,
        endpoint: TcpEndpoint,
        downstream: _Downstream,
        transport: asyncio.Transport,
        session: Session,
    ) -> None:
        """Connect to Mosquitto in the background; the client waits until then."""
        self.endpoint = endpoint
        self.downstream = transport
        self.upstream: asyncio.Transport | None = None
        self.session = session
        self._done = False
        transport.pause_reading()
        self._task = asyncio.get_running_loop().create_task(self._connect(downstream))

    async def _connect(self, downstream: _Downstream) -> None:
        """Open the connection to Mosquitto, then let the client's bytes through."""
        endpoint = self.endpoint
        try:
            if endpoint.before_connect is not None:
                await endpoint.before_connect()
            upstream, _ = await asyncio.get_running_loop().create_connection(
                lambda: _Upstream(self),
                endpoint.broker.listeners[endpoint.listener].host,
                endpoint.broker.port(endpoint.listener),
            )
        except Exception as err:  # noqa: BLE001 - whatever failed, the client goes unserved
            LOGGER.debug("Relaying %s failed: %r", self.session.peer, err)
            self.abort()
            return
        if self._done or downstream.lost:
            upstream.close()
            return
        self.upstream = upstream
        self.session.upstream(format_peer(upstream.get_extra_info("sockname")))
        self.downstream.resume_reading()

    def finish(self) -> None:
        """Close both sides once either is gone."""
        if self._done:
            return
        self._done = True
        self.endpoint._relays.discard(self)  # noqa: SLF001
        self.session.close(suspect=True)
        self.downstream.close()
        if self.upstream is not None:
            self.upstream.close()

    def abort(self) -> None:
        """Cut both sides at once (and stop connecting to Mosquitto)."""
        if self._task is not asyncio.current_task():
            self._task.cancel()
        if not self._done:
            self._done = True
            self.endpoint._relays.discard(self)  # noqa: SLF001
            self.session.close(suspect=False)
        self.downstream.abort()
        if self.upstream is not None:
            self.upstream.abort()


class _Downstream(asyncio.Protocol):
    """The client's side of a relay."""

    def __init__(self, endpoint: TcpEndpoint) -> None:
        """Initialize before the connection is made."""
        self.endpoint = endpoint
        self.relay: _Relay | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Accept or refuse the connection."""
        assert isinstance(transport, asyncio.Transport)  # noqa: S101
        self.relay = self.endpoint._accept(self, transport)  # noqa: SLF001

    def data_received(self, data: bytes) -> None:
        """Pass the client's bytes on to Mosquitto."""
        if self.relay is not None and self.relay.upstream is not None:
            self.relay.upstream.write(data)

    def eof_received(self) -> bool:
        """Close both sides when the client is done."""
        if self.relay is not None:
            self.relay.finish()
        return False

    def connection_lost(self, _exc: Exception | None) -> None:
        """Close Mosquitto's side too."""
        self.lost = True
        if self.relay is not None:
            self.relay.finish()

    def pause_writing(self) -> None:
        """Stop reading from Mosquitto while the client is slow."""
        if self.relay is not None and self.relay.upstream is not None:
            self.relay.upstream.pause_reading()

    def resume_writing(self) -> None:
        """Read from Mosquitto again."""
        if self.relay is not None and self.relay.upstream is not None:
            self.relay.upstream.resume_reading()


class _Upstream(asyncio.Protocol):
    """Mosquitto's side of a relay."""

    def __init__(self, relay: _Relay) -> None:
        """Initialize for a relay."""
        self.relay = relay

    def data_received(self, data: bytes) -> None:
        """Pass Mosquitto's bytes on to the client."""
        self.relay.downstream.write(data)

    def eof_received(self) -> bool:
        """Close both sides when Mosquitto is done."""
        self.relay.finish()
        return False

    def connection_lost(self, _exc: Exception | None) -> None:
        """Close the client's side too."""
        self.relay.finish()

    def pause_writing(self) -> None:
        """Stop reading from the client while Mosquitto is slow."""
        self.relay.downstream.pause_reading()

    def resume_writing(self) -> None:
        """Read from the client again."""
        self.relay.downstream.resume_reading()
