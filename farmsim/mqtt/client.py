"""Small asyncio MQTT 3.1.1 client with automatic reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Self

from .packets import (
    MAX_PACKET_ID,
    SUBACK_FAILURE,
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
)
from .topics import valid_topic_filter, valid_topic_name

if TYPE_CHECKING:
    import ssl as ssl_module
    from types import TracebackType

_LOGGER = logging.getLogger(__name__)

type MessageCallback = Callable[[str, bytes], None]
type StateCallback = Callable[[], None]

# CONNACK codes that retrying with the same settings cannot fix.
FATAL_CONNACK_CODES: Final = frozenset(
    {
        ConnackCode.UNACCEPTABLE_PROTOCOL_VERSION,
        ConnackCode.IDENTIFIER_REJECTED,
        ConnackCode.BAD_USERNAME_OR_PASSWORD,
        ConnackCode.NOT_AUTHORIZED,
    }
)
_READ_SIZE: Final = 65536
_MIN_PING_SLEEP: Final = 0.05
_QOS_EXACTLY_ONCE: Final = 2


class MqttError(Exception):
    """Base class of MQTT client errors."""


class MqttProtocolError(MqttError):
    """Raised when the broker breaks the MQTT protocol."""


class MqttConnectionRefusedError(MqttError):
    """Raised when the broker answers CONNECT with a non-zero return code."""

    def __init__(self, return_code: int) -> None:
        """Initialize the error with the CONNACK return code."""
        try:
            reason = ConnackCode(return_code).name.lower().replace("_", " ")
        except ValueError:
            reason = "unknown reason"
        super().__init__(f"Connection refused by broker: {reason} (rc {return_code})")
        self.return_code = return_code


class MqttClient:
    """MQTT client that keeps a connection to a broker until stopped."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
        keepalive: int = 30,
        clean_session: bool = True,
        on_message: MessageCallback | None = None,
        on_connect: StateCallback | None = None,
        on_disconnect: StateCallback | None = None,
        connect_timeout: float = 10.0,
        reconnect_min_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
        max_queued: int = 100,
    ) -> None:
        """Initialize the client; nothing happens until start()."""
        self.host = host
        self.port = port
        self.client_id = client_id
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self.reconnect_min_delay = reconnect_min_delay
        self.reconnect_max_delay = reconnect_max_delay
        self.max_queued = max_queued
        self._username = username
        self._password = password
        self._ssl = ssl
        self._server_hostname = server_hostname
        self._clean_session = clean_session
        self._on_message = on_message
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._state = asyncio.Event()
        self._stop = asyncio.Event()
        self._connected = False
        self._failure: MqttError | None = None
        self._subscriptions: dict[str, int] = {}
        self._granted: dict[str, int] = {}
        self._pending_subscribes: dict[int, tuple[str, ...]] = {}
        self._inflight: dict[int, Publish] = {}
        self._awaiting_release: set[int] = set()
        self._packet_ids = itertools.cycle(range(1, MAX_PACKET_ID + 1))
        self._last_sent = 0.0
        self._last_received = 0.0
        self._ping_sent_at: float | None = None
        self.connack_code: int | None = None
        self.last_error: BaseException | None = None
        self.dropped = 0
        self.connect_count = 0

    async def __aenter__(self) -> Self:
        """Start the client."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the client."""
        await self.stop()

    @property
    def connected(self) -> bool:
        """Return whether a session with the broker is up."""
        return self._connected

    @property
    def running(self) -> bool:
        """Return whether the client is connected or still trying to connect."""
        return self._task is not None and not self._task.done()

    @property
    def granted(self) -> dict[str, int]:
        """Return the SUBACK code the broker gave each subscription (0x80 = refused)."""
        return dict(self._granted)

    async def start(self) -> None:
        """Start connecting, and reconnecting after failures, in a background task."""
        if self.running:
            return
        self._stop.clear()
        self._state.clear()
        self._failure = None
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Disconnect cleanly and stop reconnecting."""
        self._stop.set()
        if (writer := self._writer) is not None and self._connected:
            self._write(Disconnect())
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(self.connect_timeout):
                    await writer.drain()
        if (task := self._task) is not None:
            task.cancel()
            await asyncio.wait([task])
        self._state.set()

    async def wait_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until connected; raise TimeoutError, or MqttError once the client gave up."""
        async with asyncio.timeout(timeout):
            while not self._connected:
                if self._failure is not None:
                    raise self._failure
                if not self.running:
                    msg = "MQTT client is not running"
                    raise MqttError(msg)
                await self._state.wait()

    def subscribe(self, topic: str, qos: int = 0) -> None:
        """Subscribe now if connected, and again after every reconnect."""
        if not valid_topic_filter(topic):
            msg = f"Invalid topic filter {topic!r}"
            raise ValueError(msg)
        if qos not in {0, 1, 2}:
            msg = f"Invalid QoS {qos}"
            raise ValueError(msg)
        self._subscriptions[topic] = qos
        if self._connected:
            self._send_subscribe(((topic, qos),))

    def unsubscribe(self, topic: str) -> None:
        """Forget a subscription and unsubscribe if connected."""
        self._subscriptions.pop(topic, None)
        self._granted.pop(topic, None)
        if self._connected:
            self._write(Unsubscribe(self._next_packet_id(), (topic,)))

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 0, *, retain: bool = False
    ) -> bool:
        """Publish without blocking; return False when the message was dropped.

        QoS 0 messages are dropped while disconnected. QoS 1 messages wait (up to
        max_queued of them) until they are acknowledged, and are sent again after a
        reconnect.
        """
        if not valid_topic_name(topic):
            msg = f"Invalid topic name {topic!r}"
            raise ValueError(msg)
        if qos not in {0, 1}:
            msg = f"Unsupported QoS {qos}"
            raise ValueError(msg)
        data = payload.encode() if isinstance(payload, str) else payload
        if qos == 0:
            if not self._connected:
                self.dropped += 1
                return False
            self._write(Publish(topic=topic, payload=data, retain=retain))
            return True
        if len(self._inflight) >= self.max_queued:
            self.dropped += 1
            return False
        packet_id = self._next_packet_id()
        packet = Publish(topic=topic, payload=data, qos=1, retain=retain, packet_id=packet_id)
        self._inflight[packet_id] = packet
        if self._connected:
            self._write(packet)
        return True

    async def _run(self) -> None:
        """Connect, serve and reconnect with a capped exponential backoff until stopped."""
        delay = self.reconnect_min_delay
        while not self._stop.is_set():
            connects = self.connect_count
            try:
                await self._connect_and_serve()
            except MqttConnectionRefusedError as err:
                self.last_error = err
                if err.return_code in FATAL_CONNACK_CODES:
                    _LOGGER.warning("MQTT %s: %s; not retrying", self.client_id, err)
                    self._failure = err
                    self._state.set()
                    return
            except (OSError, TimeoutError, MalformedPacketError, MqttError) as err:
                self.last_error = err
                _LOGGER.debug("MQTT %s: connection lost: %r", self.client_id, err)
            except Exception as err:
                self.last_error = err
                _LOGGER.exception("MQTT %s: unexpected error", self.client_id)
            if self.connect_count != connects:
                delay = self.reconnect_min_delay
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()
            delay = min(delay * 2, self.reconnect_max_delay)

    async def _connect_and_serve(self) -> None:
        """Run one connection from TCP connect to its end."""
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(
                self.host,
                self.port,
                ssl=self._ssl,
                server_hostname=self._server_hostname if self._ssl is not None else None,
            )
        self._writer = writer
        decoder = PacketDecoder()
        try:
            self._write(
                Connect(
                    client_id=self.client_id,
                    clean_session=self._clean_session,
                    keepalive=self.keepalive,
                    username=self._username,
                    password=None if self._password is None else self._password.encode(),
                )
            )
            packets = await self._read_connack(reader, decoder)
            pinger = asyncio.get_running_loop().create_task(self._ping_loop(writer))
            try:
                for packet in packets:
                    self._handle(packet)
                while data := await reader.read(_READ_SIZE):
                    self._last_received = asyncio.get_running_loop().time()
                    self._ping_sent_at = None
                    for packet in decoder.feed(data):
                        self._handle(packet)
                msg = "Connection closed by the broker"
                raise ConnectionError(msg)
            finally:
                pinger.cancel()
                await asyncio.wait([pinger])
        finally:
            self._writer = None
            was_connected = self._connected
            self._connected = False
            if not self._stop.is_set():
                self._state.clear()
            writer.transport.abort()
            if was_connected:
                _LOGGER.debug("MQTT %s: disconnected", self.client_id)
                self._call(self._on_disconnect)

    async def _read_connack(
        self, reader: asyncio.StreamReader, decoder: PacketDecoder
    ) -> list[Packet]:
        """Wait for CONNACK, set up the session, and return packets that came with it."""
        packets: list[Packet] = []
        async with asyncio.timeout(self.connect_timeout):
            while not packets:
                if not (data := await reader.read(_READ_SIZE)):
                    msg = "Connection closed before CONNACK"
                    raise ConnectionError(msg)
                packets = decoder.feed(data)
        connack = packets.pop(0)
        if not isinstance(connack, Connack):
            msg = f"Expected CONNACK, got {type(connack).__name__}"
            raise MqttProtocolError(msg)
        self.connack_code = connack.return_code
        if connack.return_code != ConnackCode.ACCEPTED:
            raise MqttConnectionRefusedError(connack.return_code)
        self._session_up()
        return packets

    def _session_up(self) -> None:
        """Mark the session connected, resubscribe and resend unacknowledged messages."""
        now = asyncio.get_running_loop().time()
        self._last_received = now
        self._ping_sent_at = None
        self._connected = True
        self.connect_count += 1
        self.last_error = None
        self._pending_subscribes.clear()
        self._awaiting_release.clear()
        if self._subscriptions:
            self._send_subscribe(tuple(self._subscriptions.items()))
        for packet_id, packet in list(self._inflight.items()):
            resend = Publish(
                topic=packet.topic,
                payload=packet.payload,
                qos=packet.qos,
                retain=packet.retain,
                dup=True,
                packet_id=packet_id,
            )
            self._write(resend)
        _LOGGER.debug("MQTT %s: connected to %s:%s", self.client_id, self.host, self.port)
        self._state.set()
        self._call(self._on_connect)

    async def _ping_loop(self, writer: asyncio.StreamWriter) -> None:
        """Send PINGREQ when idle and drop the connection when the broker stays silent."""
        if not self.keepalive:
            return
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if self._ping_sent_at is not None:
                due = self._ping_sent_at + self.keepalive
                if now >= due:
                    self.last_error = TimeoutError("No answer to PINGREQ")
                    writer.transport.abort()
                    return
            else:
                due = min(self._last_sent, self._last_received) + self.keepalive
                if now >= due:
                    self._write(Pingreq())
                    self._ping_sent_at = now
                    due = now + self.keepalive
            await asyncio.sleep(max(due - now, _MIN_PING_SLEEP))

    def _handle(self, packet: Packet) -> None:
        """Handle one packet from the broker."""
        match packet:
            case Publish():
                self._handle_publish(packet)
            case Puback(packet_id=packet_id):
                self._inflight.pop(packet_id, None)
            case Pubrel(packet_id=packet_id):
                self._awaiting_release.discard(packet_id)
                self._write(Pubcomp(packet_id))
            case Suback(packet_id=packet_id, return_codes=codes):
                topics = self._pending_subscribes.pop(packet_id, ())
                for topic, code in zip(topics, codes, strict=False):
                    self._granted[topic] = code
                    if code == SUBACK_FAILURE:
                        _LOGGER.warning(
                            "MQTT %s: subscription to %s refused", self.client_id, topic
                        )
            case Unsuback() | Pingresp():
                pass
            case _:
                msg = f"Unexpected {type(packet).__name__} from the broker"
                raise MqttProtocolError(msg)

    def _handle_publish(self, packet: Publish) -> None:
        """Acknowledge a PUBLISH and pass it to the callback once."""
        deliver = True
        if packet.qos == _QOS_EXACTLY_ONCE and packet.packet_id is not None:
            deliver = packet.packet_id not in self._awaiting_release
            self._awaiting_release.add(packet.packet_id)
            self._write(Pubrec(packet.packet_id))
        elif packet.packet_id is not None:
            self._write(Puback(packet.packet_id))
        if deliver and self._on_message is not None:
            try:
                self._on_message(packet.topic, packet.payload)
            except Exception:
                _LOGGER.exception("MQTT %s: on_message callback failed", self.client_id)

    def _send_subscribe(self, topics: tuple[tuple[str, int], ...]) -> None:
        """Send one SUBSCRIBE for topics."""
        packet_id = self._next_packet_id()
        self._pending_subscribes[packet_id] = tuple(topic for topic, _ in topics)
        self._write(Subscribe(packet_id, topics))

    def _next_packet_id(self) -> int:
        """Return a packet identifier not in use."""
        packet_id = next(self._packet_ids)
        while packet_id in self._inflight or packet_id in self._pending_subscribes:
            packet_id = next(self._packet_ids)
        return packet_id

    def _write(self, packet: Packet) -> None:
        """Write a packet to the current connection, if any."""
        if (writer := self._writer) is None or writer.is_closing():
            return
        writer.write(packet.encode())
        self._last_sent = asyncio.get_running_loop().time()

    def _call(self, callback: StateCallback | None) -> None:
        """Run a state callback, logging its errors."""
        if callback is None:
            return
        try:
            callback()
        except Exception:
            _LOGGER.exception("MQTT %s: callback failed", self.client_id)
