"""Embedded asyncio MQTT 3.1.1 broker for farmsim (TCP, TLS and WebSocket transports)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, Self

from aiohttp import WSMsgType, web

from .packets import (
    MAX_PACKET_ID,
    SUBACK_FAILURE,
    SUPPORTED_PROTOCOLS,
    Connack,
    ConnackCode,
    Connect,
    Disconnect,
    MalformedPacketError,
    Packet,
    PacketDecoder,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Unsuback,
    Unsubscribe,
    topic_matches,
    valid_topic_filter,
    valid_topic_name,
)

if TYPE_CHECKING:
    import ssl as ssl_module
    from types import TracebackType

_LOGGER = logging.getLogger(__name__)

type TransportName = Literal["tcp", "tls", "websocket"]
type AuthenticateHook = Callable[[str, str | None, str | None], int]
type AuthorizeHook = Callable[[SessionInfo, str], bool]
type MessageHook = Callable[[str, bytes, SessionInfo], None]

KEEPALIVE_FACTOR: Final = 1.5
QOS_EXACTLY_ONCE: Final = 2
MAX_DELIVERY_QOS: Final = 1
WEBSOCKET_PROTOCOLS: Final = ("mqtt", "mqttv3.1")
_READ_SIZE: Final = 65536
_VALID_CONNACK_CODES: Final = frozenset(int(code) for code in ConnackCode)


class _ProtocolViolationError(Exception):
    """Raised when a client breaks the MQTT protocol flow."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionInfo:
    """Describe one connected MQTT client."""

    client_id: str
    username: str | None
    peer: str
    transport: TransportName


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


class _Transport(Protocol):
    """Byte pipe under one MQTT connection."""

    async def read(self) -> bytes:
        """Return the next bytes received, or b"" at the end of the stream."""

    async def write(self, data: bytes) -> None:
        """Send bytes."""

    async def close(self) -> None:
        """Close the connection after flushing."""

    def abort(self) -> None:
        """Drop the connection at once."""


class _StreamTransport:
    """Transport over an asyncio stream (TCP or TLS)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Initialize the transport."""
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        """Return the next bytes received, or b"" at the end of the stream."""
        return await self._reader.read(_READ_SIZE)

    async def write(self, data: bytes) -> None:
        """Send bytes."""
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        """Close the connection after flushing."""
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    def abort(self) -> None:
        """Drop the connection at once."""
        self._writer.transport.abort()


class _WebSocketTransport:
    """Transport over an aiohttp server WebSocket carrying binary frames."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        """Initialize the transport."""
        self._request = request
        self._ws = ws

    async def read(self) -> bytes:
        """Return the next bytes received, or b"" when the WebSocket closes."""
        while True:
            message = await self._ws.receive()
            if message.type is WSMsgType.BINARY:
                data: bytes = message.data
                return data
            if message.type is WSMsgType.TEXT:
                msg = "MQTT over WebSocket must use binary frames"
                raise MalformedPacketError(msg)
            if message.type in {
                WSMsgType.CLOSE,
                WSMsgType.CLOSING,
                WSMsgType.CLOSED,
                WSMsgType.ERROR,
            }:
                return b""

    async def write(self, data: bytes) -> None:
        """Send bytes in one binary frame."""
        await self._ws.send_bytes(data)

    async def close(self) -> None:
        """Close the WebSocket."""
        await self._ws.close()

    def abort(self) -> None:
        """Drop the underlying connection at once."""
        if (transport := self._request.transport) is not None:
            transport.abort()


def _format_peer(peername: Any) -> str:
    """Return host:port for a socket peer name."""
    if isinstance(peername, tuple) and len(peername) >= 2:  # noqa: PLR2004
        return f"{peername[0]}:{peername[1]}"
    return str(peername)


class _Connection:
    """One client connection, from the first byte to the close."""

    def __init__(
        self,
        broker: Broker,
        transport: _Transport,
        *,
        peer: str,
        transport_name: TransportName,
    ) -> None:
        """Initialize the connection."""
        self._broker = broker
        self._transport = transport
        self._decoder = PacketDecoder(max_packet_size=broker.max_packet_size)
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._inflight: dict[int, Publish] = {}
        self._pending: deque[Publish] = deque()
        self._awaiting_release: set[int] = set()
        self._packet_ids = itertools.cycle(range(1, MAX_PACKET_ID + 1))
        self._will: Publish | None = None
        self._closing = False
        self._close_queued = False
        self._aborted = False
        self._suppress_will = False
        self.peer = peer
        self.transport_name: TransportName = transport_name
        self.info: SessionInfo | None = None
        self.subscriptions: dict[str, int] = {}

    async def run(self) -> None:
        """Serve the connection until it closes."""
        writer = asyncio.create_task(self._write_loop())
        try:
            await self._read_loop()
        except MalformedPacketError as err:
            self._broker.note_protocol_error()
            _LOGGER.debug("%s: malformed packet from %s: %s", self._broker.name, self.peer, err)
        except _ProtocolViolationError as err:
            self._broker.note_protocol_error()
            _LOGGER.debug("%s: protocol error from %s: %s", self._broker.name, self.peer, err)
        except TimeoutError:
            _LOGGER.debug("%s: %s timed out", self._broker.name, self.peer)
        except OSError as err:
            _LOGGER.debug("%s: connection error from %s: %s", self._broker.name, self.peer, err)
        except Exception:
            # A bug here must cost one connection, never the broker.
            _LOGGER.exception("%s: unexpected error serving %s", self._broker.name, self.peer)
        finally:
            await self._finish(writer)

    async def _read_loop(self) -> None:
        """Read and handle packets until the client leaves."""
        timeout: float | None = self._broker.connect_timeout
        while True:
            async with asyncio.timeout(timeout):
                data = await self._transport.read()
            if not data:
                return
            for packet in self._decoder.feed(data):
                if self.info is not None:
                    self._handle(packet)
                elif isinstance(packet, Connect):
                    self._handle_connect(packet)
                    timeout = packet.keepalive * KEEPALIVE_FACTOR if packet.keepalive else None
                else:
                    msg = f"First packet is {type(packet).__name__}, not CONNECT"
                    raise _ProtocolViolationError(msg)
                if self._closing:
                    return

    def _handle_connect(self, packet: Connect) -> None:
        """Authenticate a CONNECT and register the session."""
        if (packet.protocol_name, packet.protocol_level) not in SUPPORTED_PROTOCOLS:
            self._refuse(ConnackCode.UNACCEPTABLE_PROTOCOL_VERSION)
            return
        client_id = packet.client_id
        if not client_id:
            if not packet.clean_session:
                self._refuse(ConnackCode.IDENTIFIER_REJECTED)
                return
            client_id = f"auto-{uuid.uuid4().hex}"
        password = None if packet.password is None else packet.password.decode(errors="replace")
        code = self._broker.check_credentials(client_id, packet.username, password)
        if code != ConnackCode.ACCEPTED:
            self._broker.note_refused()
            self._refuse(code)
            return
        self.info = SessionInfo(
            client_id=client_id,
            username=packet.username,
            peer=self.peer,
            transport=self.transport_name,
        )
        if packet.will_topic is not None:
            self._will = Publish(
                topic=packet.will_topic,
                payload=packet.will_payload,
                qos=packet.will_qos,
                retain=packet.will_retain,
            )
        self._broker.attach(self)
        self.send(Connack())

    def _refuse(self, code: int) -> None:
        """Answer CONNECT with a refusal and close."""
        _LOGGER.debug("%s: refused %s with CONNACK %s", self._broker.name, self.peer, code)
        self.send(Connack(return_code=code))
        self.close()

    def _handle(self, packet: Packet) -> None:
        """Handle one packet from a connected client."""
        match packet:
            case Publish():
                self._handle_publish(packet)
            case Puback(packet_id=packet_id):
                self._inflight.pop(packet_id, None)
                self._fill_window()
            case Pubrel(packet_id=packet_id):
                self._awaiting_release.discard(packet_id)
                self.send(Pubcomp(packet_id))
            case Subscribe():
                self._handle_subscribe(packet)
            case Unsubscribe(packet_id=packet_id, topics=topics):
                for topic_filter in topics:
                    self.subscriptions.pop(topic_filter, None)
                self.send(Unsuback(packet_id))
            case Pingreq():
                self.send(Pingresp())
            case Disconnect():
                self._will = None
                self._closing = True
            case _:
                msg = f"Unexpected {type(packet).__name__} from a client"
                raise _ProtocolViolationError(msg)

    def _handle_publish(self, packet: Publish) -> None:
        """Handle a PUBLISH sent by the client."""
        assert self.info is not None  # noqa: S101
        if packet.qos == QOS_EXACTLY_ONCE:
            assert packet.packet_id is not None  # noqa: S101
            if packet.packet_id not in self._awaiting_release:
                self._awaiting_release.add(packet.packet_id)
                self._broker.accept_publish(self.info, packet)
            self.send(Pubrec(packet.packet_id))
            return
        self._broker.accept_publish(self.info, packet)
        if packet.packet_id is not None:
            self.send(Puback(packet.packet_id))

    def _handle_subscribe(self, packet: Subscribe) -> None:
        """Handle a SUBSCRIBE and send matching retained messages."""
        assert self.info is not None  # noqa: S101
        codes: list[int] = []
        granted: list[tuple[str, int]] = []
        for topic_filter, qos in packet.topics:
            if not valid_topic_filter(topic_filter) or not self._broker.may_subscribe(
                self.info, topic_filter
            ):
                codes.append(SUBACK_FAILURE)
                continue
            self.subscriptions[topic_filter] = min(qos, MAX_DELIVERY_QOS)
            codes.append(self.subscriptions[topic_filter])
            granted.append((topic_filter, self.subscriptions[topic_filter]))
        self.send(Suback(packet.packet_id, tuple(codes)))
        for topic_filter, qos in granted:
            self._broker.send_retained(self, topic_filter, qos)

    def matching_qos(self, topic: str) -> int | None:
        """Return the highest QoS among subscriptions matching topic, or None."""
        best: int | None = None
        for topic_filter, qos in self.subscriptions.items():
            if topic_matches(topic_filter, topic) and (best is None or qos > best):
                best = qos
        return best

    def deliver(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> bool:
        """Queue a message for the client; return False if it was dropped."""
        broker = self._broker
        if self._closing or self._queue.qsize() >= broker.max_queued:
            return False
        if qos == 0:
            self.send(Publish(topic=topic, payload=payload, retain=retain))
            return True
        message = Publish(topic=topic, payload=payload, qos=1, retain=retain)
        if len(self._pending) >= broker.max_queued:
            return False
        self._pending.append(message)
        self._fill_window()
        return True

    def _fill_window(self) -> None:
        """Send queued QoS 1 messages while the in-flight window has room."""
        while self._pending and len(self._inflight) < self._broker.max_inflight:
            packet_id = next(self._packet_ids)
            while packet_id in self._inflight:
                packet_id = next(self._packet_ids)
            message = self._pending.popleft()
            packet = Publish(
                topic=message.topic,
                payload=message.payload,
                qos=message.qos,
                retain=message.retain,
                packet_id=packet_id,
            )
            self._inflight[packet_id] = packet
            self.send(packet)

    def send(self, packet: Packet) -> None:
        """Queue a packet for the writer."""
        self._queue.put_nowait(packet.encode())

    def close(self, *, suppress_will: bool = False) -> None:
        """Flush what is queued, then close the connection."""
        self._suppress_will = self._suppress_will or suppress_will
        self._closing = True
        if not self._close_queued:
            self._close_queued = True
            self._queue.put_nowait(None)

    def abort(self, *, suppress_will: bool = False) -> None:
        """Drop the connection without flushing."""
        self._suppress_will = self._suppress_will or suppress_will
        self._closing = True
        self._aborted = True
        self._transport.abort()

    async def _write_loop(self) -> None:
        """Write queued packets, coalescing what is ready, until told to close."""
        try:
            while True:
                chunks: list[bytes] = []
                item = await self._queue.get()
                while item is not None:
                    chunks.append(item)
                    if self._queue.empty():
                        break
                    item = self._queue.get_nowait()
                if chunks:
                    await self._transport.write(b"".join(chunks))
                if item is None:
                    break
            await self._transport.close()
        except (OSError, RuntimeError) as err:
            _LOGGER.debug("%s: write to %s failed: %s", self._broker.name, self.peer, err)
            self.abort()

    async def _finish(self, writer: asyncio.Task[None]) -> None:
        """Unregister, publish the will if due, and close the transport."""
        if self.info is not None:
            will = None if self._suppress_will else self._will
            self._broker.detach(self, will)
        self._broker.forget(self)
        if not self._aborted:
            self.close()
            _, pending = await asyncio.wait([writer], timeout=self._broker.close_timeout)
            if pending:
                self.abort()
        writer.cancel()
        await asyncio.wait([writer])


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
        self._connections: set[_Connection] = set()
        self._sessions: dict[str, _Connection] = {}
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
        conn = _Connection(
            self,
            _WebSocketTransport(request, ws),
            peer=_format_peer(peer),
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

    def send_retained(self, conn: _Connection, topic_filter: str, qos: int) -> None:
        """Deliver retained messages matching a new subscription."""
        for topic, (payload, retained_qos) in list(self._retained.items()):
            if topic_matches(topic_filter, topic):
                self._count(conn.deliver(topic, payload, qos=min(qos, retained_qos), retain=True))

    def attach(self, conn: _Connection) -> None:
        """Register an accepted session, kicking an older one with the same client id."""
        assert conn.info is not None  # noqa: S101
        if (old := self._sessions.get(conn.info.client_id)) is not None:
            _LOGGER.debug("%s: client id %s taken over", self.name, conn.info.client_id)
            old.close()
        self._sessions[conn.info.client_id] = conn
        self._accepted += 1

    def detach(self, conn: _Connection, will: Publish | None) -> None:
        """Unregister a session and publish its will."""
        assert conn.info is not None  # noqa: S101
        if self._sessions.get(conn.info.client_id) is conn:
            del self._sessions[conn.info.client_id]
        if will is not None and self._check(self._authorize_publish, conn.info, will.topic):
            self._route(will.topic, will.payload, qos=will.qos, retain=will.retain)

    def forget(self, conn: _Connection) -> None:
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
        conn = _Connection(
            self,
            _StreamTransport(reader, writer),
            peer=_format_peer(writer.get_extra_info("peername")),
            transport_name=transport_name,
        )
        self._serve(conn)

    def _serve(self, conn: _Connection) -> asyncio.Task[None]:
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
