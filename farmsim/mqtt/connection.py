"""The broker's side of one MQTT client connection: the protocol flow from CONNECT to close."""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

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
)
from .topics import topic_matches, valid_topic_filter
from .transports import Transport, TransportName

if TYPE_CHECKING:
    from .broker import Broker

_LOGGER = logging.getLogger(__name__)

KEEPALIVE_FACTOR: Final = 1.5
QOS_EXACTLY_ONCE: Final = 2
MAX_DELIVERY_QOS: Final = 1


class _ProtocolViolationError(Exception):
    """Raised when a client breaks the MQTT protocol flow."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionInfo:
    """Describe one connected MQTT client."""

    client_id: str
    username: str | None
    peer: str
    transport: TransportName


class Connection:
    """One client connection, from the first byte to the close."""

    def __init__(
        self,
        broker: Broker,
        transport: Transport,
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
