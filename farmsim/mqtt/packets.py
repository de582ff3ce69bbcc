"""MQTT 3.1.1 packet codec with an incremental decoder."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final, Self

from .topics import valid_topic_name

PROTOCOL_NAME: Final = "MQTT"
PROTOCOL_LEVEL: Final = 4
PROTOCOL_NAME_V31: Final = "MQIsdp"
PROTOCOL_LEVEL_V31: Final = 3
SUPPORTED_PROTOCOLS: Final = frozenset(
    {(PROTOCOL_NAME, PROTOCOL_LEVEL), (PROTOCOL_NAME_V31, PROTOCOL_LEVEL_V31)}
)

MAX_REMAINING_LENGTH: Final = 268_435_455
MAX_PACKET_ID: Final = 0xFFFF
MAX_QOS: Final = 2
SUBACK_FAILURE: Final = 0x80
DEFAULT_MAX_PACKET_SIZE: Final = 8 * 1024 * 1024

_VARINT_MAX_BYTES: Final = 4
_CONTINUATION_BIT: Final = 0x80
_VARINT_MASK: Final = 0x7F
_PUBREL_FLAGS: Final = 0x02
_U16: Final = struct.Struct("!H")
_MAX_FIELD_LENGTH: Final = 0xFFFF

_CONNECT_RESERVED: Final = 0x01
_CONNECT_CLEAN_SESSION: Final = 0x02
_CONNECT_WILL: Final = 0x04
_CONNECT_WILL_QOS_SHIFT: Final = 3
_CONNECT_WILL_RETAIN: Final = 0x20
_CONNECT_PASSWORD: Final = 0x40
_CONNECT_USERNAME: Final = 0x80

_PUBLISH_RETAIN: Final = 0x01
_PUBLISH_QOS_SHIFT: Final = 1
_PUBLISH_DUP: Final = 0x08
_QOS_MASK: Final = 0x03

_CONNACK_SESSION_PRESENT: Final = 0x01


class MalformedPacketError(ValueError):
    """Raised when bytes received do not form a valid MQTT 3.1.1 packet."""


class PacketType(IntEnum):
    """MQTT control packet types (upper nibble of the first byte)."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class ConnackCode(IntEnum):
    """CONNACK return codes of MQTT 3.1.1."""

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL_VERSION = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USERNAME_OR_PASSWORD = 4
    NOT_AUTHORIZED = 5


# Fixed-header flags each packet type must carry (PUBLISH carries its own).
_REQUIRED_FLAGS: Final[dict[PacketType, int]] = {
    PacketType.PUBREL: _PUBREL_FLAGS,
    PacketType.SUBSCRIBE: _PUBREL_FLAGS,
    PacketType.UNSUBSCRIBE: _PUBREL_FLAGS,
}


def encode_remaining_length(length: int) -> bytes:
    """Encode a remaining length as an MQTT variable byte integer."""
    if not 0 <= length <= MAX_REMAINING_LENGTH:
        msg = f"Remaining length {length} out of range"
        raise ValueError(msg)
    out = bytearray()
    while True:
        byte = length & _VARINT_MASK
        length >>= 7
        if length:
            out.append(byte | _CONTINUATION_BIT)
        else:
            out.append(byte)
            return bytes(out)


def decode_remaining_length(data: bytes | bytearray, offset: int = 0) -> tuple[int, int] | None:
    """Decode a variable byte integer at offset; return (value, length) or None if incomplete."""
    value = 0
    for index in range(_VARINT_MAX_BYTES):
        if offset + index >= len(data):
            return None
        byte = data[offset + index]
        value |= (byte & _VARINT_MASK) << (7 * index)
        if not byte & _CONTINUATION_BIT:
            return value, index + 1
    msg = "Remaining length uses more than four bytes"
    raise MalformedPacketError(msg)


def _encode_string(value: str) -> bytes:
    """Encode a UTF-8 string with its two-byte length prefix."""
    return _encode_binary(value.encode())


def _encode_binary(value: bytes) -> bytes:
    """Encode binary data with its two-byte length prefix."""
    if len(value) > _MAX_FIELD_LENGTH:
        msg = "String or binary field longer than 65535 bytes"
        raise ValueError(msg)
    return _U16.pack(len(value)) + value


def _frame(first_byte: int, body: bytes) -> bytes:
    """Prefix a packet body with its fixed header."""
    return bytes((first_byte,)) + encode_remaining_length(len(body)) + body


class _Reader:
    """Cursor over the variable header and payload of one packet."""

    def __init__(self, data: bytes) -> None:
        """Initialize the reader."""
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Return how many bytes are left."""
        return len(self._data) - self._pos

    def take(self, count: int) -> bytes:
        """Return the next count bytes."""
        if count > self.remaining:
            msg = "Packet shorter than its fields"
            raise MalformedPacketError(msg)
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def byte(self) -> int:
        """Return the next byte."""
        return self.take(1)[0]

    def u16(self) -> int:
        """Return the next big-endian 16-bit integer."""
        value: int = _U16.unpack(self.take(2))[0]
        return value

    def packet_id(self) -> int:
        """Return the next packet identifier, which must be non-zero."""
        value = self.u16()
        if value == 0:
            msg = "Packet identifier must not be zero"
            raise MalformedPacketError(msg)
        return value

    def binary(self) -> bytes:
        """Return the next length-prefixed binary field."""
        return self.take(self.u16())

    def string(self) -> str:
        """Return the next length-prefixed UTF-8 string."""
        raw = self.binary()
        try:
            value = raw.decode()
        except UnicodeDecodeError as err:
            msg = "String is not valid UTF-8"
            raise MalformedPacketError(msg) from err
        if "\x00" in value:
            msg = "String contains U+0000"
            raise MalformedPacketError(msg)
        return value

    def rest(self) -> bytes:
        """Return all remaining bytes."""
        return self.take(self.remaining)

    def finish(self) -> None:
        """Ensure no bytes are left over."""
        if self.remaining:
            msg = "Unexpected trailing bytes in packet"
            raise MalformedPacketError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect:
    """CONNECT packet."""

    client_id: str
    protocol_name: str = PROTOCOL_NAME
    protocol_level: int = PROTOCOL_LEVEL
    clean_session: bool = True
    keepalive: int = 60
    will_topic: str | None = None
    will_payload: bytes = b""
    will_qos: int = 0
    will_retain: bool = False
    username: str | None = None
    password: bytes | None = None

    def encode(self) -> bytes:
        """Encode the packet."""
        flags = 0
        if self.clean_session:
            flags |= _CONNECT_CLEAN_SESSION
        payload = _encode_string(self.client_id)
        if self.will_topic is not None:
            flags |= _CONNECT_WILL | (self.will_qos << _CONNECT_WILL_QOS_SHIFT)
            if self.will_retain:
                flags |= _CONNECT_WILL_RETAIN
            payload += _encode_string(self.will_topic) + _encode_binary(self.will_payload)
        if self.username is not None:
            flags |= _CONNECT_USERNAME
            payload += _encode_string(self.username)
        if self.password is not None:
            flags |= _CONNECT_PASSWORD
            payload += _encode_binary(self.password)
        header = (
            _encode_string(self.protocol_name)
            + bytes((self.protocol_level, flags))
            + _U16.pack(self.keepalive)
        )
        return _frame(PacketType.CONNECT << 4, header + payload)

    @classmethod
    def decode(cls, reader: _Reader, flags: int) -> Connect:
        """Decode the packet body."""
        name = reader.string()
        if name not in {PROTOCOL_NAME, PROTOCOL_NAME_V31}:
            msg = f"Unknown protocol name {name!r}"
            raise MalformedPacketError(msg)
        level = reader.byte()
        if (name, level) not in SUPPORTED_PROTOCOLS:
            # The rest may follow another version's layout; the broker answers rc 1.
            reader.rest()
            return cls(client_id="", protocol_name=name, protocol_level=level)
        flags = reader.byte()
        keepalive = reader.u16()
        if flags & _CONNECT_RESERVED:
            msg = "CONNECT reserved flag is set"
            raise MalformedPacketError(msg)
        will_qos = (flags >> _CONNECT_WILL_QOS_SHIFT) & _QOS_MASK
        will_retain = bool(flags & _CONNECT_WILL_RETAIN)
        has_will = bool(flags & _CONNECT_WILL)
        if will_qos > MAX_QOS or (not has_will and (will_qos or will_retain)):
            msg = "Invalid will flags in CONNECT"
            raise MalformedPacketError(msg)
        if flags & _CONNECT_PASSWORD and not flags & _CONNECT_USERNAME:
            msg = "Password flag set without username flag"
            raise MalformedPacketError(msg)
        client_id = reader.string()
        will_topic: str | None = None
        will_payload = b""
        if has_will:
            will_topic = reader.string()
            will_payload = reader.binary()
            if not valid_topic_name(will_topic):
                msg = "Invalid will topic"
                raise MalformedPacketError(msg)
        username = reader.string() if flags & _CONNECT_USERNAME else None
        password = reader.binary() if flags & _CONNECT_PASSWORD else None
        reader.finish()
        return cls(
            client_id=client_id,
            protocol_name=name,
            protocol_level=level,
            clean_session=bool(flags & _CONNECT_CLEAN_SESSION),
            keepalive=keepalive,
            will_topic=will_topic,
            will_payload=will_payload,
            will_qos=will_qos,
            will_retain=will_retain,
            username=username,
            password=password,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Connack:
    """CONNACK packet."""

    return_code: int = ConnackCode.ACCEPTED
    session_present: bool = False

    def encode(self) -> bytes:
        """Encode the packet."""
        flags = _CONNACK_SESSION_PRESENT if self.session_present else 0
        return _frame(PacketType.CONNACK << 4, bytes((flags, self.return_code)))

    @classmethod
    def decode(cls, reader: _Reader, flags: int) -> Connack:
        """Decode the packet body."""
        flags = reader.byte()
        return_code = reader.byte()
        reader.finish()
        if flags & ~_CONNACK_SESSION_PRESENT:
            msg = "CONNACK reserved flags are set"
            raise MalformedPacketError(msg)
        return cls(return_code=return_code, session_present=bool(flags))


@dataclass(frozen=True, slots=True, kw_only=True)
class Publish:
    """PUBLISH packet."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None

    def encode(self) -> bytes:
        """Encode the packet."""
        first = (PacketType.PUBLISH << 4) | (self.qos << _PUBLISH_QOS_SHIFT)
        if self.retain:
            first |= _PUBLISH_RETAIN
        if self.dup:
            first |= _PUBLISH_DUP
        body = _encode_string(self.topic)
        if self.qos:
            if self.packet_id is None:
                msg = "QoS > 0 PUBLISH needs a packet identifier"
                raise ValueError(msg)
            body += _U16.pack(self.packet_id)
        return _frame(first, body + self.payload)

    @classmethod
    def decode(cls, reader: _Reader, flags: int) -> Publish:
        """Decode the packet body."""
        qos = (flags >> _PUBLISH_QOS_SHIFT) & _QOS_MASK
        topic = reader.string()
        if not valid_topic_name(topic):
            msg = f"Invalid topic name {topic!r} in PUBLISH"
            raise MalformedPacketError(msg)
        packet_id = reader.packet_id() if qos else None
        return cls(
            topic=topic,
            payload=reader.rest(),
            qos=qos,
            retain=bool(flags & _PUBLISH_RETAIN),
            dup=bool(flags & _PUBLISH_DUP),
            packet_id=packet_id,
        )


@dataclass(frozen=True, slots=True)
class _PacketIdOnly:
    """Base for packets that carry only a packet identifier."""

    packet_id: int
    packet_type: ClassVar[PacketType] = PacketType.PUBACK

    def encode(self) -> bytes:
        """Encode the packet."""
        flags = _REQUIRED_FLAGS.get(self.packet_type, 0)
        return _frame((self.packet_type << 4) | flags, _U16.pack(self.packet_id))

    @classmethod
    def decode(cls, reader: _Reader, flags: int) -> Self:  # noqa: ARG003
        """Decode the packet body."""
        packet = cls(reader.packet_id())
        reader.finish()
        return packet


@dataclass(frozen=True, slots=True)
class Puback(_PacketIdOnly):
    """PUBACK packet."""

    packet_type: ClassVar[PacketType] = PacketType.PUBACK


@dataclass(frozen=True, slots=True)
class Pubrec(_PacketIdOnly):
    """PUBREC packet."""

    packet_type: ClassVar[PacketType] = PacketType.PUBREC


@dataclass(frozen=True, slots=True)
class Pubrel(_PacketIdOnly):
    """PUBREL packet."""

    packet_type: ClassVar[PacketType] = PacketType.PUBREL


@dataclass(frozen=True, slots=True)
class Pubcomp(_PacketIdOnly):
    """PUBCOMP packet."""

    packet_type: ClassVar[PacketType] = PacketType.PUBCOMP


@dataclass(frozen=True, slots=True)
class Unsuback(_PacketIdOnly):
    """UNSUBACK packet."""

    packet_type: ClassVar[PacketType] = PacketType.UNSUBACK


@dataclass(frozen=True, slots=True)
class Subscribe:
    """SUBSCRIBE packet: (topic filter, requested QoS) pairs."""

    packet_id: int
    topics: tuple[tuple[str, int], ...]

    def encode(self) -> bytes:
        """Encode the packet."""
        body = _U16.pack(self.packet_id) + b"".join(
            _encode_string(topic) + bytes((qos,)) for topic, qos in self.topics
        )
        return _frame((PacketType.SUBSCRIBE << 4) | _PUBREL_FLAGS, body)

    @classmethod
    def decode(cls, reader: _Reader, flags: int) -> Subscribe:  # noqa: ARG003
        """Decode the packet body."""
        packet_id = reader.packet_id()
        topics: list[tuple[str, int]] = []
        while reader.remaining:
            topic = reader.string()
            qos = reader.byte()
            if qos > MAX_QOS:
                msg = "SUBSCRIBE requested QoS is invalid"
                raise MalformedPacketError(msg)
            topics.append((topic, qos))
        if not topics:
            msg = "SUBSCRIBE without topic filters"
            raise MalformedPacketError(msg)
        return cls(packet_id, tuple(topics))


@dataclass(frozen=True, slots=True)
class Suback:
    """SUBACK packet: one return code per requested filter."""

    packet_id: int
    return_codes: tuple[int, ...]

    def encode(self) -> bytes:
        """Encode the packet."""
        return _frame(PacketType.SUBACK << 4, _U16.pack(self.packet_id) + bytes(self.return_codes))

    @classmethod
    def decode(cls, reader: _Reader, flags: int) -> Suback:  # noqa: ARG003
        """Decode the packet body."""
        packet_id = reader.packet_id()
        codes = tuple(reader.rest())
        if any(code > MAX_QOS and code != SUBACK_FAILURE for code in codes):
            msg = "Invalid SUBACK return code"
            raise MalformedPacketError(msg)
        return cls(packet_id, codes)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """UNSUBSCRIBE packet."""

    packet_id: int
    topics: tuple[str, ...]

    def encode(self) -> bytes:
        """Encode the packet."""
        body = _U16.pack(self.packet_id) + b"".join(_encode_string(topic) for topic in self.topics)
        return _frame((PacketType.UNSUBSCRIBE << 4) | _PUBREL_FLAGS, body)

    @classmethod
    def decode(cls, reader: _Reader, flags: int) -> Unsubscribe:  # noqa: ARG003
        """Decode the packet body."""
        packet_id = reader.packet_id()
        topics: list[str] = []
        while reader.remaining:
            topics.append(reader.string())
        if not topics:
            msg = "UNSUBSCRIBE without topic filters"
            raise MalformedPacketError(msg)
        return cls(packet_id, tuple(topics))


@dataclass(frozen=True, slots=True)
class _Empty:
    """Base for packets without a body."""

    packet_type: ClassVar[PacketType] = PacketType.PINGREQ

    def encode(self) -> bytes:
        """Encode the packet."""
        return bytes((self.packet_type << 4, 0))

    @classmethod
    def decode(cls, reader: _Reader, flags: int) -> Self:  # noqa: ARG003
        """Decode the (empty) packet body."""
        reader.finish()
        return cls()


@dataclass(frozen=True, slots=True)
class Pingreq(_Empty):
    """PINGREQ packet."""

    packet_type: ClassVar[PacketType] = PacketType.PINGREQ


@dataclass(frozen=True, slots=True)
class Pingresp(_Empty):
    """PINGRESP packet."""

    packet_type: ClassVar[PacketType] = PacketType.PINGRESP


@dataclass(frozen=True, slots=True)
class Disconnect(_Empty):
    """DISCONNECT packet."""

    packet_type: ClassVar[PacketType] = PacketType.DISCONNECT


type Packet = (
    Connect
    | Connack
    | Publish
    | Puback
    | Pubrec
    | Pubrel
    | Pubcomp
    | Subscribe
    | Suback
    | Unsubscribe
    | Unsuback
    | Pingreq
    | Pingresp
    | Disconnect
)

_PACKET_CLASSES: Final[dict[PacketType, type[Packet]]] = {
    PacketType.CONNECT: Connect,
    PacketType.CONNACK: Connack,
    PacketType.PUBLISH: Publish,
    PacketType.PUBACK: Puback,
    PacketType.PUBREC: Pubrec,
    PacketType.PUBREL: Pubrel,
    PacketType.PUBCOMP: Pubcomp,
    PacketType.SUBSCRIBE: Subscribe,
    PacketType.SUBACK: Suback,
    PacketType.UNSUBSCRIBE: Unsubscribe,
    PacketType.UNSUBACK: Unsuback,
    PacketType.PINGREQ: Pingreq,
    PacketType.PINGRESP: Pingresp,
    PacketType.DISCONNECT: Disconnect,
}


def decode_packet(first_byte: int, body: bytes) -> Packet:
    """Decode one packet from its first byte and its body (after the remaining length)."""
    packet_type = _check_first_byte(first_byte)
    return _PACKET_CLASSES[packet_type].decode(_Reader(body), first_byte & 0x0F)


def _check_first_byte(first_byte: int) -> PacketType:
    """Validate the packet type and fixed-header flags of a first byte."""
    try:
        packet_type = PacketType(first_byte >> 4)
    except ValueError as err:
        msg = f"Reserved packet type {first_byte >> 4}"
        raise MalformedPacketError(msg) from err
    flags = first_byte & 0x0F
    if packet_type is PacketType.PUBLISH:
        if (flags >> _PUBLISH_QOS_SHIFT) & _QOS_MASK > MAX_QOS:
            msg = "PUBLISH with QoS 3"
            raise MalformedPacketError(msg)
    elif flags != _REQUIRED_FLAGS.get(packet_type, 0):
        msg = f"Invalid fixed header flags {flags:#x} for {packet_type.name}"
        raise MalformedPacketError(msg)
    return packet_type


class PacketDecoder:
    """Incremental decoder: feed it bytes as they arrive, get whole packets back."""

    def __init__(self, *, max_packet_size: int = DEFAULT_MAX_PACKET_SIZE) -> None:
        """Initialize the decoder."""
        self._buffer = bytearray()
        self._max_packet_size = max_packet_size

    @property
    def buffered(self) -> int:
        """Return the number of bytes waiting for the rest of their packet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Packet]:
        """Add data and return every packet completed by it, in order."""
        self._buffer += data
        packets: list[Packet] = []
        while self._buffer:
            _check_first_byte(self._buffer[0])
            decoded = decode_remaining_length(self._buffer, 1)
            if decoded is None:
                break
            length, used = decoded
            if length + 1 + used > self._max_packet_size:
                msg = f"Packet of {length} bytes exceeds the limit of {self._max_packet_size}"
                raise MalformedPacketError(msg)
            end = 1 + used + length
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[1 + used : end])
            first_byte = self._buffer[0]
            del self._buffer[:end]
            packets.append(decode_packet(first_byte, body))
        return packets


def encode_packet(packet: Packet) -> bytes:
    """Encode any packet to bytes."""
    return packet.encode()
