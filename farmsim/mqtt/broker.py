"""Embedded asyncio MQTT 3.1.1 broker for farmsim (TCP, TLS and WebSocket transports).

The broker routes messages between sessions and keeps the retained ones; each client's
protocol flow is a `Connection` (connection.py) over a transport (transports.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Self

from aiohttp import web

from .connection import Connection, SessionInfo
from .packets import ConnackCode, Publish
from .topics import topic_matches, valid_topic_name
from .transports import StreamTransport, TransportName, WebSocketTransport, format_peer

if TYPE_CHECKING:
    import ssl as ssl_module
    from types import TracebackType

__all__ = [
    "AuthenticateHook",
    "AuthorizeHook",
    "Broker",
    "BrokerStats",
    "MessageHook",
    "SessionInfo",
    "TransportName",
]

_LOGGER = logging.getLogger(__name__)

type AuthenticateHook = Callable[[str, str | None, str | None], int]
type AuthorizeHook = Callable[[SessionInfo, str], bool]
type MessageHook = Callable[[str, bytes, SessionInfo], None]

WEBSOCKET_PROTOCOLS: Final = ("mqtt", "mqttv3.1")
_VALID_CONNACK_CODES: Final = frozenset(int(code) for code in ConnackCode)


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerStats:
    """Counters of a broker since it was created."""

    connections_accepted: int
    connections_refused: int
    connections_rejected: int
    protocol_errors: int
    clients: int
    published_total: int
    delivered_total: int
    dropped_total: int
    published_by_topic: dict[str, int]


@dataclass(slots=True)
class _Listener:
    """A TCP listener remembered so it can be bound again after stop()."""

    host: str
    port: int
    ssl: ssl_module.SSLContext | None
    server: asyncio.Server | None = None


class Broker:
    """Embedded MQTT 3.1.1 broker with fault controls for tests and simulations."""

    def __init__(
        self,
        *,
        name: str,
        authenticate: AuthenticateHook | None = None,
        authorize_subscribe: AuthorizeHook | None = None,
        authorize_publish: AuthorizeHook | None = None,
        on_message: MessageHook | None = None,
        max_packet_size: int = 8 * 1024 * 1024,
        max_inflight: int = 20,
        max_queued: int = 1000,
        connect_timeout: float = 10.0,
        close_timeout: float = 2.0,
    ) -> None:
        """Initialize the broker; authenticate=None accepts every client."""
        self.name = name
        self.max_packet_size = max_packet_size
        self.max_inflight = max_inflight
        self.max_queued = max_queued
        self.connect_timeout = connect_timeout
        self.close_timeout = close_timeout
        self._authenticate = authenticate
        self._authorize_subscribe = authorize_subscribe
        self._authorize_publish = authorize_publish
        self._on_message = on_message
        self._listeners: list[_Listener] = []
        self._connections: set[Connection] = set()
        self._sessions: dict[str, Connection] = {}
        self._retained: dict[str, tuple[bytes, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._refuse = False
        self._accepted = 0
        self._refused = 0
        self._rejected = 0
        self._protocol_errors = 0
        self._published_total = 0
        self._delivered_total = 0
        self._dropped_total = 0
        self._published_by_topic: dict[str, int] = {}

    async def __aenter__(self) -> Self:
        """Enter the context; the broker closes on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the broker."""
        await self.close()

    @property
    def running(self) -> bool:
        """Return whether the broker accepts connections."""
        return self._running

    @property
    def ports(self) -> list[int]:
        """Return the TCP ports of every listener, in the order they were added."""
        return [listener.port for listener in self._listeners]

    @property
    def refuse_connections(self) -> bool:
        """Return whether new connections are closed right after they are accepted."""
        return self._refuse

    @refuse_connections.setter
    def refuse_connections(self, value: bool) -> None:
        """Set whether new connections are closed right after they are accepted."""
        self._refuse = value

    @property
    def clients(self) -> list[SessionInfo]:
        """Return the sessions currently connected."""
        return [conn.info for conn in self._sessions.values() if conn.info is not None]

    @property
    def retained(self) -> dict[str, bytes]:
        """Return a copy of the retained messages by topic."""
        return {topic: payload for topic, (payload, _) in self._retained.items()}

    @property
    def stats(self) -> BrokerStats:
        """Return the broker counters."""
        return BrokerStats(
            connections_accepted=self._accepted,
            connections_refused=self._refused,
            connections_rejected=self._rejected,
            protocol_errors=self._protocol_errors,
            clients=len(self._sessions),
            published_total=self._published_total,
            delivered_total=self._delivered_total,
            dropped_total=self._dropped_total,
            published_by_topic=dict(self._published_by_topic),
        )

    async def start_tcp(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl: ssl_module.SSLContext | None = None,
    ) -> int:
        """Listen on host:port (TLS when ssl is given) and return the bound port."""
        listener = _Listener(host=host, port=port, ssl=ssl)
        await self._bind(listener)
        self._listeners.append(listener)
        self._running = True
        return listener.port

    async def start(self) -> None:
        """Bind every known listener again on its previous port and accept connections."""
        for listener in self._listeners:
            if listener.server is None:
                await self._bind(listener)
        self._running = True

    async def restart(self) -> None:
        """Stop and start again on the same ports."""
        await self.stop()
        await self.start()

    async def stop(self) -> None:
        """Close every listener and connection; start() binds the same ports again."""
        self._running = False
        servers = [listener.server for listener in self._listeners if listener.server is not None]
        for listener in self._listeners:
            listener.server = None
        for server in servers:
            server.close()
        for conn in list(self._connections):
            conn.close(suppress_will=True)
        await self._wait_tasks()
        for server in servers:
            server.abort_clients()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.close_timeout):
                    await server.wait_closed()

    async def close(self) -> None:
        """Shut the broker down and forget its listeners."""
        await self.stop()
        self._listeners.clear()

    def drop_connections(self) -> int:
        """Abort every client connection without DISCONNECT; return how many."""
        connections = list(self._connections)
        for conn in connections:
            conn.abort()
        return len(connections)

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> int:
        """Publish a message from inside the process; return the number of deliveries."""
        if not valid_topic_name(topic):
            msg = f"Invalid topic name {topic!r}"
            raise ValueError(msg)
        if qos not in {0, 1, 2}:
            msg = f"Invalid QoS {qos}"
            raise ValueError(msg)
        self._published_by_topic[topic] = self._published_by_topic.get(topic, 0) + 1
        return self._route(topic, payload, qos=qos, retain=retain)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Serve MQTT over a WebSocket; use as an aiohttp route handler."""
        if not self._running:
            msg = f"MQTT broker {self.name} is stopped"
            raise web.HTTPServiceUnavailable(reason=msg)
        ws = web.WebSocketResponse(
            protocols=WEBSOCKET_PROTOCOLS,
            timeout=self.close_timeout,
            max_msg_size=self.max_packet_size,
        )
        await ws.prepare(request)
        if self._refuse:
            self._rejected += 1
            await ws.close()
            return ws
        peer = request.transport.get_extra_info("peername") if request.transport else None
        conn = Connection(
            self,
            WebSocketTransport(request, ws),
            peer=format_peer(peer),
            transport_name="websocket",
        )
        task = self._serve(conn)
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            conn.abort()
            raise
        return ws

    # Hooks used by connections.

    def check_credentials(self, client_id: str, username: str | None, password: str | None) -> int:
        """Run the authenticate hook and return a CONNACK code."""
        if self._authenticate is None:
            return ConnackCode.ACCEPTED
        try:
            code = int(self._authenticate(client_id, username, password))
        except Exception:
            _LOGGER.exception("%s: authenticate hook failed for %s", self.name, client_id)
            return ConnackCode.NOT_AUTHORIZED
        return code if code in _VALID_CONNACK_CODES else ConnackCode.NOT_AUTHORIZED

    def may_subscribe(self, info: SessionInfo, topic_filter: str) -> bool:
        """Run the authorize_subscribe hook."""
        return self._check(self._authorize_subscribe, info, topic_filter)

    def _check(self, hook: AuthorizeHook | None, info: SessionInfo, topic: str) -> bool:
        """Run an authorization hook; a failing hook denies."""
        if hook is None:
            return True
        try:
            return bool(hook(info, topic))
        except Exception:
            _LOGGER.exception("%s: authorization hook failed for %s", self.name, topic)
            return False

    def accept_publish(self, info: SessionInfo, packet: Publish) -> None:
        """Route a PUBLISH sent by a client if it is authorised."""
        if not self._check(self._authorize_publish, info, packet.topic):
            _LOGGER.debug(
                "%s: dropped publish to %s by %s", self.name, packet.topic, info.client_id
            )
            return
        self._route(packet.topic, packet.payload, qos=packet.qos, retain=packet.retain)
        if self._on_message is not None:
            try:
                self._on_message(packet.topic, packet.payload, info)
            except Exception:
                _LOGGER.exception("%s: on_message hook failed for %s", self.name, packet.topic)

    def send_retained(self, conn: Connection, topic_filter: str, qos: int) -> None:
        """Deliver retained messages matching a new subscription."""
        for topic, (payload, retained_qos) in list(self._retained.items()):
            if topic_matches(topic_filter, topic):
                self._count(conn.deliver(topic, payload, qos=min(qos, retained_qos), retain=True))

    def attach(self, conn: Connection) -> None:
        """Register an accepted session, kicking an older one with the same client id."""
        assert conn.info is not None  # noqa: S101
        if (old := self._sessions.get(conn.info.client_id)) is not None:
            _LOGGER.debug("%s: client id %s taken over", self.name, conn.info.client_id)
            old.close()
        self._sessions[conn.info.client_id] = conn
        self._accepted += 1

    def detach(self, conn: Connection, will: Publish | None) -> None:
        """Unregister a session and publish its will."""
        assert conn.info is not None  # noqa: S101
        if self._sessions.get(conn.info.client_id) is conn:
            del self._sessions[conn.info.client_id]
        if will is not None and self._check(self._authorize_publish, conn.info, will.topic):
            self._route(will.topic, will.payload, qos=will.qos, retain=will.retain)

    def forget(self, conn: Connection) -> None:
        """Drop a finished connection."""
        self._connections.discard(conn)

    def note_refused(self) -> None:
        """Count a connection refused by the authenticate hook."""
        self._refused += 1

    def note_protocol_error(self) -> None:
        """Count a connection closed for a protocol error."""
        self._protocol_errors += 1

    # Internals.

    def _route(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> int:
        """Store a retained message and deliver to every matching subscriber."""
        self._published_total += 1
        if retain:
            if payload:
                self._retained[topic] = (payload, qos)
            else:
                self._retained.pop(topic, None)
        deliveries = 0
        for conn in list(self._sessions.values()):
            if (granted := conn.matching_qos(topic)) is not None:
                deliveries += self._count(
                    conn.deliver(topic, payload, qos=min(qos, granted), retain=False)
                )
        return deliveries

    def _count(self, delivered: bool) -> int:  # noqa: FBT001
        """Count a delivery attempt and return 1 if it was delivered."""
        if delivered:
            self._delivered_total += 1
            return 1
        self._dropped_total += 1
        return 0

    async def _bind(self, listener: _Listener) -> None:
        """Open the listening socket of a listener."""
        transport_name: TransportName = "tcp" if listener.ssl is None else "tls"

        def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            """Start serving an accepted TCP connection."""
            self._on_tcp_client(reader, writer, transport_name)

        server = await asyncio.start_server(
            on_client,
            listener.host,
            listener.port,
            ssl=listener.ssl,
            reuse_address=True,
            family=socket.AF_INET if ":" not in listener.host else socket.AF_UNSPEC,
        )
        listener.server = server
        listener.port = server.sockets[0].getsockname()[1]

    def _on_tcp_client(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        transport_name: TransportName,
    ) -> None:
        """Serve a TCP connection, or close it at once when refusing."""
        if self._refuse or not self._running:
            self._rejected += 1
            writer.close()
            return
        conn = Connection(
            self,
            StreamTransport(reader, writer),
            peer=format_peer(writer.get_extra_info("peername")),
            transport_name=transport_name,
        )
        self._serve(conn)

    def _serve(self, conn: Connection) -> asyncio.Task[None]:
        """Run a connection in a task the broker tracks."""
        self._connections.add(conn)
        return self._spawn(conn.run())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Create a task that close() waits for."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _wait_tasks(self) -> None:
        """Wait for every connection task, cancelling those that do not finish in time."""
        if not (tasks := set(self._tasks)):
            return
        # Connections get close_timeout themselves; the margin lets them finish first.
        _, pending = await asyncio.wait(tasks, timeout=self.close_timeout + 1)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
