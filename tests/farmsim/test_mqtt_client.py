"""Tests for the farmsim MQTT packet codec and asyncio MQTT client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

from farmsim.certs import CertificateAuthority
from farmsim.mqtt import (
    Broker,
    ConnackCode,
    MalformedPacketError,
    MqttClient,
    MqttConnectionRefusedError,
    MqttError,
    MqttProtocolError,
    PacketDecoder,
    SessionInfo,
)
from farmsim.mqtt.packets import (
    Connack,
    Connect,
    Disconnect,
    Packet,
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
    decode_remaining_length,
    encode_packet,
    encode_remaining_length,
)

from .helpers import HOST, WAIT, wait_until

if TYPE_CHECKING:
    from pathlib import Path

ALL_PACKETS: list[Packet] = [
    Connect(client_id="c"),
    Connect(
        client_id="printer-01S00A",
        clean_session=False,
        keepalive=5,
        will_topic="device/01S00A/status",
        will_payload=b"\x00offline",
        will_qos=1,
        will_retain=True,
        username="bblp",
        password=b"12345678",
    ),
    Connect(client_id="old", protocol_name="MQIsdp", protocol_level=3, username="u"),
    Connack(),
    Connack(return_code=ConnackCode.NOT_AUTHORIZED, session_present=True),
    Publish(topic="a/b", payload=b"x" * 300),
    Publish(topic="a", payload=b"", qos=1, retain=True, dup=True, packet_id=65535),
    Publish(topic="ü/ñ", payload=b"{}", qos=2, packet_id=1),
    Puback(1),
    Pubrec(2),
    Pubrel(3),
    Pubcomp(4),
    Subscribe(5, (("a/#", 0), ("+/b", 1), ("c", 2))),
    Suback(5, (0, 1, 2, 0x80)),
    Unsubscribe(6, ("a/#", "c")),
    Unsuback(6),
    Pingreq(),
    Pingresp(),
    Disconnect(),
]


@pytest.mark.parametrize("packet", ALL_PACKETS, ids=lambda packet: type(packet).__name__)
def test_packet_round_trip_byte_by_byte(packet: Packet) -> None:
    """Test every packet type survives encode and a decoder fed one byte at a time."""
    decoder = PacketDecoder()
    data = encode_packet(packet)
    decoded: list[Packet] = []
    for index in range(len(data)):
        decoded += decoder.feed(data[index : index + 1])
        if index < len(data) - 1:
            assert decoded == []
    assert decoded == [packet]
    assert decoder.buffered == 0


def test_decoder_many_packets_in_one_chunk() -> None:
    """Test one chunk holding every packet, then a split packet."""
    decoder = PacketDecoder()
    data = b"".join(packet.encode() for packet in ALL_PACKETS)
    assert decoder.feed(data) == ALL_PACKETS
    tail = Publish(topic="t", payload=b"p" * 200).encode()
    assert decoder.feed(tail[:2]) == []
    assert decoder.buffered == 2
    assert decoder.feed(tail[2:] + Pingreq().encode()) == [
        Publish(topic="t", payload=b"p" * 200),
        Pingreq(),
    ]


def test_unsupported_protocol_level_decodes() -> None:
    """Test an MQTT 5 CONNECT decodes enough for the broker to answer rc 1."""
    body = b"\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x00"
    packet = PacketDecoder().feed(bytes((0x10, len(body))) + body)
    assert packet == [Connect(client_id="", protocol_level=5)]


@pytest.mark.parametrize(
    "value", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455]
)
def test_remaining_length(value: int) -> None:
    """Test the variable byte integer at every size boundary."""
    encoded = encode_remaining_length(value)
    assert decode_remaining_length(encoded) == (value, len(encoded))
    assert decode_remaining_length(encoded[:-1]) is None


def test_remaining_length_errors() -> None:
    """Test out-of-range lengths."""
    with pytest.raises(ValueError, match="out of range"):
        encode_remaining_length(268_435_456)
    with pytest.raises(ValueError, match="out of range"):
        encode_remaining_length(-1)
    with pytest.raises(MalformedPacketError):
        decode_remaining_length(b"\x80\x80\x80\x80\x01")


def test_encode_errors() -> None:
    """Test packets that cannot be encoded."""
    with pytest.raises(ValueError, match="packet identifier"):
        Publish(topic="a", qos=1).encode()
    with pytest.raises(ValueError, match="longer than 65535"):
        Publish(topic="a" * 70_000).encode()


def _frame(first: int, body: bytes) -> bytes:
    """Build a packet from a first byte and a body."""
    return bytes((first,)) + encode_remaining_length(len(body)) + body


CONNECT_HEAD = b"\x00\x04MQTT\x04"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x00\x00", id="reserved type 0"),
        pytest.param(b"\xf0\x00", id="reserved type 15"),
        pytest.param(b"\x31\x00", id="invalid flags"),
        pytest.param(b"\x36\x00", id="publish qos 3"),
        pytest.param(b"\x60\x02\x00\x01", id="pubrel without flags"),
        pytest.param(b"\x30\xff\xff\xff\xff\x01", id="five byte length"),
        pytest.param(_frame(0x40, b"\x00\x01\x00"), id="trailing bytes"),
        pytest.param(_frame(0x40, b"\x00\x00"), id="zero packet id"),
        pytest.param(_frame(0x40, b"\x00"), id="short packet"),
        pytest.param(_frame(0x30, b"\x00\x02\xff\xfe"), id="invalid utf-8"),
        pytest.param(_frame(0x30, b"\x00\x01\x00"), id="null character"),
        pytest.param(_frame(0x30, b"\x00\x03a/+"), id="wildcard topic"),
        pytest.param(_frame(0x30, b"\x00\x00"), id="empty topic"),
        pytest.param(_frame(0x82, b"\x00\x01"), id="subscribe without filters"),
        pytest.param(_frame(0x82, b"\x00\x01\x00\x01a\x03"), id="subscribe qos 3"),
        pytest.param(_frame(0x90, b"\x00\x01\x03"), id="suback invalid code"),
        pytest.param(_frame(0xA2, b"\x00\x01"), id="unsubscribe without filters"),
        pytest.param(_frame(0x20, b"\x02\x00"), id="connack reserved flag"),
        pytest.param(_frame(0xC0, b"\x00"), id="pingreq with body"),
        pytest.param(_frame(0x10, b"\x00\x04HTTP\x04\x02\x00\x00\x00\x00"), id="unknown protocol"),
        pytest.param(_frame(0x10, CONNECT_HEAD + b"\x03\x00\x00\x00\x00"), id="reserved flag"),
        pytest.param(_frame(0x10, CONNECT_HEAD + b"\x18\x00\x00\x00\x00"), id="will qos 3"),
        pytest.param(_frame(0x10, CONNECT_HEAD + b"\x08\x00\x00\x00\x00"), id="qos without will"),
        pytest.param(_frame(0x10, CONNECT_HEAD + b"\x42\x00\x00\x00\x00"), id="password only"),
        pytest.param(
            _frame(0x10, CONNECT_HEAD + b"\x06\x00\x00\x00\x00\x00\x01#\x00\x00"),
            id="wildcard will topic",
        ),
    ],
)
def test_malformed_packets(data: bytes) -> None:
    """Test the decoder rejects malformed packets."""
    with pytest.raises(MalformedPacketError):
        PacketDecoder().feed(data)


def test_packet_size_limit() -> None:
    """Test the decoder refuses packets larger than its limit before buffering them."""
    decoder = PacketDecoder(max_packet_size=64)
    with pytest.raises(MalformedPacketError, match="exceeds"):
        decoder.feed(b"\x30\x80\x01")


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    """Return a started broker on a free loopback port."""
    async with Broker(name="client-tests", close_timeout=0.5) as mqtt_broker:
        await mqtt_broker.start_tcp(HOST)
        yield mqtt_broker


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., MqttClient]]:
    """Return a factory of clients that are stopped after the test."""
    created: list[MqttClient] = []

    def factory(**kwargs: object) -> MqttClient:
        kwargs.setdefault("host", HOST)
        kwargs.setdefault("reconnect_min_delay", 0.05)
        kwargs.setdefault("reconnect_max_delay", 0.2)
        client = MqttClient(**kwargs)  # type: ignore[arg-type]
        created.append(client)
        return client

    yield factory
    for client in created:
        await client.stop()


async def test_client_publish_subscribe(broker: Broker, clients: Callable[..., MqttClient]) -> None:
    """Test connect, subscribe, QoS 0 and 1 publishes and callbacks against the broker."""
    received: list[tuple[str, bytes]] = []
    requests: list[tuple[str, bytes, SessionInfo]] = []
    broker._on_message = lambda topic, payload, info: requests.append((topic, payload, info))
    events: list[str] = []
    client = clients(
        port=broker.ports[0],
        client_id="printer",
        username="bblp",
        password="OMGPUPPIES",
        on_message=lambda topic, payload: received.append((topic, payload)),
        on_connect=lambda: events.append("connect"),
        on_disconnect=lambda: events.append("disconnect"),
    )
    client.subscribe("device/S1/request", qos=1)
    client.subscribe("other/#")
    await client.start()
    await client.start()
    await client.wait_connected(WAIT)
    assert client.connected
    assert client.connack_code == 0
    assert events == ["connect"]
    await wait_until(lambda: client.granted == {"device/S1/request": 1, "other/#": 0})

    assert broker.publish("device/S1/request", b'{"pushing":{}}', qos=1) == 1
    await wait_until(lambda: received)
    assert received == [("device/S1/request", b'{"pushing":{}}')]

    assert client.publish("device/S1/report", b"{}", qos=1)
    assert client.publish("device/S1/report", "text")
    await wait_until(lambda: len(requests) == 2)
    assert requests[0][2] == SessionInfo(
        client_id="printer", username="bblp", peer=requests[0][2].peer, transport="tcp"
    )
    await wait_until(lambda: not client._inflight)

    client.subscribe("late/+", qos=1)
    await wait_until(lambda: "late/+" in client.granted)
    client.unsubscribe("other/#")
    await asyncio.sleep(0.05)
    assert broker.publish("other/x", b"") == 0
    assert "other/#" not in client.granted

    await client.stop()
    assert not client.running
    assert events == ["connect", "disconnect"]
    await wait_until(lambda: not broker.clients)


async def test_client_reconnects_and_resubscribes(
    broker: Broker, clients: Callable[..., MqttClient]
) -> None:
    """Test the client survives a broker restart and dropped sockets, and resubscribes."""
    received: list[bytes] = []
    client = clients(
        port=broker.ports[0],
        client_id="r",
        on_message=lambda _topic, payload: received.append(payload),
    )
    client.subscribe("cmd")
    await client.start()
    await client.wait_connected(WAIT)

    await broker.stop()
    await wait_until(lambda: not client.connected)
    assert not client.publish("lost", b"qos0")
    assert client.dropped == 1
    with pytest.raises(TimeoutError):
        await client.wait_connected(0.05)

    await broker.start()
    await client.wait_connected(WAIT)
    assert client.connect_count == 2
    await wait_until(lambda: broker.publish("cmd", b"after restart") == 1)
    await wait_until(lambda: received)
    assert received[0] == b"after restart"

    broker.drop_connections()
    await wait_until(lambda: client.connect_count == 3)
    await client.wait_connected(WAIT)


async def test_client_queues_qos1_until_reconnect(
    broker: Broker, clients: Callable[..., MqttClient]
) -> None:
    """Test QoS 1 publishes made while disconnected are sent after connecting, within a bound."""
    port = broker.ports[0]
    seen: list[bytes] = []
    broker._on_message = lambda _topic, payload, _info: seen.append(payload)
    await broker.stop()
    client = clients(port=port, client_id="q", max_queued=2)
    await client.start()
    assert client.publish("a", b"1", qos=1)
    assert client.publish("a", b"2", qos=1)
    assert not client.publish("a", b"3", qos=1)
    assert client.dropped == 1
    await broker.start()
    await client.wait_connected(WAIT)
    await wait_until(lambda: sorted(seen) == [b"1", b"2"])
    await wait_until(lambda: not client._inflight)


@pytest.mark.parametrize("code", [ConnackCode.BAD_USERNAME_OR_PASSWORD, ConnackCode.NOT_AUTHORIZED])
async def test_client_bad_credentials_stop_retrying(
    clients: Callable[..., MqttClient], code: int
) -> None:
    """Test rc 4 and 5 make the client give up and report the code."""
    attempts: list[str] = []

    def authenticate(client_id: str, _username: str | None, _password: str | None) -> int:
        attempts.append(client_id)
        return code

    async with Broker(name="auth", authenticate=authenticate) as mqtt_broker:
        port = await mqtt_broker.start_tcp()
        client = clients(port=port, client_id="denied", username="bblp", password="OMGSPIDERS")
        await client.start()
        with pytest.raises(MqttConnectionRefusedError) as excinfo:
            await client.wait_connected(WAIT)
        assert excinfo.value.return_code == code
        assert client.connack_code == code
        assert isinstance(client.last_error, MqttConnectionRefusedError)
        await wait_until(lambda: not client.running)
        await asyncio.sleep(0.15)
        assert attempts == ["denied"]
        with pytest.raises(MqttConnectionRefusedError):
            await client.wait_connected(WAIT)


async def test_client_retries_server_unavailable(clients: Callable[..., MqttClient]) -> None:
    """Test rc 3 is retried until the broker accepts."""
    codes = [ConnackCode.SERVER_UNAVAILABLE, ConnackCode.SERVER_UNAVAILABLE, ConnackCode.ACCEPTED]

    async with Broker(name="busy", authenticate=lambda *_args: codes.pop(0)) as mqtt_broker:
        port = await mqtt_broker.start_tcp()
        client = clients(port=port, client_id="patient")
        await client.start()
        await client.wait_connected(WAIT)
        assert codes == []
        assert client.connack_code == 0
        await client.stop()


async def test_client_not_started_and_unreachable(clients: Callable[..., MqttClient]) -> None:
    """Test wait_connected before start, and retries against a closed port."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    client = clients(port=port, client_id="nobody")
    with pytest.raises(MqttError, match="not running"):
        await client.wait_connected(0.1)
    await client.start()
    with pytest.raises(TimeoutError):
        await client.wait_connected(0.3)
    assert isinstance(client.last_error, OSError)
    assert client.running
    await client.stop()
    with pytest.raises(MqttError, match="not running"):
        await client.wait_connected(0.1)


async def test_client_keepalive_pings(broker: Broker, clients: Callable[..., MqttClient]) -> None:
    """Test an idle client pings often enough to outlive 1.5x its keepalive."""
    client = clients(port=broker.ports[0], client_id="idle", keepalive=1)
    async with client:
        await client.wait_connected(WAIT)
        await asyncio.sleep(1.8)
        assert client.connected
        assert client.connect_count == 1


def test_client_argument_validation() -> None:
    """Test invalid topics and QoS values are rejected."""
    client = MqttClient(host=HOST, port=1, client_id="v")
    with pytest.raises(ValueError, match="topic name"):
        client.publish("a/#", b"")
    with pytest.raises(ValueError, match="QoS"):
        client.publish("a", b"", qos=2)
    with pytest.raises(ValueError, match="topic filter"):
        client.subscribe("a/#/b")
    with pytest.raises(ValueError, match="QoS"):
        client.subscribe("a", qos=3)
    assert str(MqttConnectionRefusedError(99)) == (
        "Connection refused by broker: unknown reason (rc 99)"
    )


async def test_client_tls(tmp_path: Path, clients: Callable[..., MqttClient]) -> None:
    """Test the client over TLS with SNI and a custom CA."""
    ca = CertificateAuthority.create(tmp_path)
    client_context = ca.client_context(check_hostname=True)
    async with Broker(name="tls") as mqtt_broker:
        port = await mqtt_broker.start_tcp(ssl=ca.server_context("localhost"))
        client = clients(
            port=port, client_id="tls", ssl=client_context, server_hostname="localhost"
        )
        await client.start()
        await client.wait_connected(WAIT)
        assert mqtt_broker.clients[0].transport == "tls"
        await client.stop()


type Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


@contextlib.asynccontextmanager
async def fake_broker(handler: Handler) -> AsyncIterator[int]:
    """Run a scripted MQTT server; handler gets the connection number (0-based)."""
    count = 0
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        count += 1
        if (task := asyncio.current_task()) is not None:
            tasks.add(task)
        try:
            await handler(reader, writer, count - 1)
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(serve, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        server.abort_clients()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await server.wait_closed()


class PacketReader:
    """Read whole packets from a connection, keeping packets that arrived together."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        """Wrap a stream reader."""
        self.reader = reader
        self.decoder = PacketDecoder()
        self.pending: list[Packet] = []

    async def next(self) -> Packet:
        """Return the next packet; raise ConnectionError at the end of the stream."""
        while not self.pending:
            if not (data := await self.reader.read(65536)):
                msg = "closed"
                raise ConnectionError(msg)
            self.pending = self.decoder.feed(data)
        return self.pending.pop(0)


def failing_callback() -> None:
    """Raise, to prove callback errors are contained."""
    msg = "callback failure"
    raise RuntimeError(msg)


async def test_client_against_scripted_server(
    clients: Callable[..., MqttClient], caplog: pytest.LogCaptureFixture
) -> None:
    """Test QoS 2 delivery, SUBACK refusals, failing callbacks and protocol errors."""
    seen: list[Packet] = []
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        packets = PacketReader(reader)
        assert isinstance(await packets.next(), Connect)
        if n == 0:
            writer.write(Pingresp().encode())
        if n != 2:
            # 0: wrong first packet, 1: closed before CONNACK, 3+: never answers.
            await reader.read(1 if n != 1 else 0)
            return
        writer.write(Connack().encode() + Pingresp().encode())
        subscribe = await packets.next()
        assert isinstance(subscribe, Subscribe)
        writer.write(Suback(subscribe.packet_id, (0x80,)).encode())
        qos2 = Publish(topic="t", payload=b"exactly once", qos=2, packet_id=9)
        writer.write(qos2.encode() + qos2.encode() + Pubrel(9).encode())
        writer.write(Publish(topic="t", payload=b"boom", qos=1, packet_id=10).encode())
        while len(seen) < 4:
            seen.append(await packets.next())
        writer.write(Subscribe(1, (("x", 0),)).encode())
        await reader.read(1)

    def on_message(_topic: str, payload: bytes) -> None:
        received.append(payload)
        if payload == b"boom":
            failing_callback()

    async with fake_broker(handler) as port:
        client = clients(
            port=port,
            client_id="scripted",
            on_message=on_message,
            on_connect=failing_callback,
        )
        client.subscribe("t", qos=2)
        await client.start()
        await wait_until(lambda: "Unexpected Subscribe" in str(client.last_error))
        assert isinstance(client.last_error, MqttProtocolError)
        assert client.connect_count == 1
        assert seen == [Pubrec(9), Pubrec(9), Pubcomp(9), Puback(10)]
        assert received == [b"exactly once", b"boom"]
        assert client.granted == {"t": 0x80}
        await client.stop()
    assert "on_message callback failed" in caplog.text
    assert "callback failed" in caplog.text


async def test_client_detects_dead_broker(clients: Callable[..., MqttClient]) -> None:
    """Test a broker that stops answering PINGREQ is dropped and reconnected."""
    pings: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        packets = PacketReader(reader)
        await packets.next()
        writer.write(Connack().encode())
        with contextlib.suppress(ConnectionError):
            while True:
                if isinstance(await packets.next(), Pingreq):
                    pings.append(n)

    async with fake_broker(handler) as port:
        client = clients(port=port, client_id="lonely", keepalive=1)
        await client.start()
        await client.wait_connected(WAIT)
        await wait_until(lambda: client.connect_count == 2)
        assert pings[0] == 0
        await client.stop()


async def test_client_stop_sends_disconnect(clients: Callable[..., MqttClient]) -> None:
    """Test stop() sends DISCONNECT before closing."""
    last: list[Packet] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
        packets = PacketReader(reader)
        await packets.next()
        writer.write(Connack(session_present=True).encode())
        with contextlib.suppress(ConnectionError):
            while True:
                last.append(await packets.next())

    async with fake_broker(handler) as port:
        client = clients(port=port, client_id="bye", keepalive=0, clean_session=False)
        await client.start()
        await client.wait_connected(WAIT)
        await client.stop()
        await wait_until(lambda: last)
        assert last == [Disconnect()]


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto binary not on PATH")
async def test_client_against_mosquitto(
    tmp_path: Path, clients: Callable[..., MqttClient], caplog: pytest.LogCaptureFixture
) -> None:
    """Test the client against a real Mosquitto 2.x broker."""
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        f"listener {port} {HOST}\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
    )
    mosquitto = shutil.which("mosquitto")
    assert mosquitto is not None
    process = await asyncio.create_subprocess_exec(
        mosquitto,
        "-c",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        received: list[tuple[str, bytes]] = []
        listener = clients(
            port=port,
            client_id="listener",
            on_message=lambda topic, payload: received.append((topic, payload)),
        )
        listener.subscribe("device/+/report", qos=1)
        printer = clients(port=port, client_id="printer", keepalive=5)
        await listener.start()
        await printer.start()
        await listener.wait_connected(WAIT)
        await printer.wait_connected(WAIT)
        await wait_until(lambda: listener.granted == {"device/+/report": 1})
        assert printer.publish("device/S1/report", b'{"print":{"msg":0}}', qos=1)
        assert printer.publish("device/S1/report", b'{"print":{"msg":1}}')
        await wait_until(lambda: len(received) == 2)
        assert received[0] == ("device/S1/report", b'{"print":{"msg":0}}')
        await wait_until(lambda: not printer._inflight)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
