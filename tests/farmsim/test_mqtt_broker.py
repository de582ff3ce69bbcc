"""Tests for the farmsim embedded MQTT broker, using paho-mqtt as an independent client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import ClientSession, WSMsgType, web
from aiohttp.test_utils import TestServer
from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion

from farmsim.certs import CertificateAuthority
from farmsim.mqtt import Broker, ConnackCode, SessionInfo, topic_matches
from farmsim.mqtt.packets import (
    Connack,
    Connect,
    Disconnect,
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
from farmsim.mqtt.topics import valid_topic_filter

from .helpers import HOST, WAIT, wait_until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path


class Paho:
    """A paho-mqtt client running its network loop in a thread."""

    def __init__(
        self,
        client_id: str,
        *,
        transport: str = "tcp",
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 60,
    ) -> None:
        """Create the paho client and record its callbacks."""
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
            transport=transport,  # type: ignore[arg-type]
        )
        self.keepalive = keepalive
        self.messages: list[paho.MQTTMessage] = []
        self.connects: list[Any] = []
        self.disconnects = 0
        self.subacks: list[list[Any]] = []
        self.published: list[int] = []
        self._lock = threading.Lock()
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=0.2)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._lock:
            self.connects.append(reason)

    def _on_disconnect(self, *_args: Any) -> None:
        with self._lock:
            self.disconnects += 1

    def _on_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, codes: list[Any], _p: Any) -> None:
        with self._lock:
            self.subacks.append(codes)

    def _on_publish(self, _c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._lock:
            self.published.append(mid)

    @property
    def topics(self) -> list[str]:
        """Return the topics of the messages received so far."""
        with self._lock:
            return [message.topic for message in self.messages]

    def start(self, port: int) -> None:
        """Connect in the background."""
        self.client.connect_async(HOST, port, keepalive=self.keepalive)
        self.client.loop_start()

    async def connected(self, count: int = 1) -> None:
        """Wait for count successful connections."""
        await wait_until(lambda: sum(not rc.is_failure for rc in self.connects) >= count)

    async def subscribe(self, topic: str, qos: int = 0) -> list[Any]:
        """Subscribe and wait for the SUBACK."""
        before = len(self.subacks)
        self.client.subscribe(topic, qos=qos)
        await wait_until(lambda: len(self.subacks) > before)
        return self.subacks[-1]

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    """Return a started broker on a free loopback port."""
    async with Broker(name="test", close_timeout=0.5) as mqtt_broker:
        await mqtt_broker.start_tcp(HOST)
        yield mqtt_broker


async def stop_clients(*clients: Paho) -> None:
    """Stop paho clients without blocking the event loop the broker runs in."""
    for client in clients:
        await asyncio.to_thread(client.stop)


@pytest.fixture
async def pahos() -> AsyncIterator[Callable[..., Paho]]:
    """Return a factory of paho clients that are stopped after the test."""
    created: list[Paho] = []

    def factory(client_id: str, **kwargs: Any) -> Paho:
        client = Paho(client_id, **kwargs)
        created.append(client)
        return client

    yield factory
    await stop_clients(*created)


class RawClient:
    """A bare MQTT connection for sending exact packets and bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Wrap an open connection."""
        self.reader = reader
        self.writer = writer
        self.decoder = PacketDecoder()
        self.packets: list[Packet] = []

    @classmethod
    async def open(cls, port: int) -> RawClient:
        """Open a TCP connection to the broker."""
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    @classmethod
    async def connect(cls, port: int, client_id: str, **kwargs: Any) -> RawClient:
        """Open a connection and complete CONNECT/CONNACK."""
        raw = await cls.open(port)
        raw.send(Connect(client_id=client_id, **kwargs))
        assert await raw.recv() == Connack()
        return raw

    def send(self, packet: Packet) -> None:
        """Send a packet."""
        self.writer.write(packet.encode())

    async def recv(self, seconds: float = WAIT) -> Packet:
        """Return the next packet from the broker."""
        async with asyncio.timeout(seconds):
            while not self.packets:
                data = await self.reader.read(65536)
                assert data, "connection closed"
                self.packets.extend(self.decoder.feed(data))
        return self.packets.pop(0)

    async def closed(self, seconds: float = WAIT) -> bool:
        """Return True once the broker closes the connection."""
        async with asyncio.timeout(seconds):
            with contextlib.suppress(ConnectionError):
                while data := await self.reader.read(65536):
                    self.packets.extend(self.decoder.feed(data))
        return True

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


@pytest.fixture
async def raw_clients() -> AsyncIterator[list[RawClient]]:
    """Collect raw clients and close them after the test."""
    clients: list[RawClient] = []
    yield clients
    for raw in clients:
        raw.close()
        with contextlib.suppress(OSError):
            await raw.writer.wait_closed()


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/+/c", "a/b/c", True),
        ("+/+", "/b", True),
        ("+", "a", True),
        ("+", "a/b", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "a/b", True),
        ("#", "$SYS/x", False),
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("a/b/c", "a/b", False),
        ("device/+/report", "device/01S00A/report", True),
    ],
)
def test_topic_matches(topic_filter: str, topic: str, *, expected: bool) -> None:
    """Test wildcard matching per MQTT 3.1.1 section 4.7."""
    assert topic_matches(topic_filter, topic) is expected


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [("a/#", True), ("#", True), ("+/a/+", True), ("", False), ("a/#/b", False), ("a+", False)],
)
def test_valid_topic_filter(topic_filter: str, *, expected: bool) -> None:
    """Test topic filter validation."""
    assert valid_topic_filter(topic_filter) is expected


async def test_tcp_publish_subscribe(broker: Broker, pahos: Callable[..., Paho]) -> None:
    """Test internal and client publishes reach paho subscribers over TCP."""
    received: list[tuple[str, bytes, SessionInfo]] = []
    broker._on_message = lambda topic, payload, info: received.append((topic, payload, info))
    sub = pahos("sub")
    pub = pahos("pub")
    sub.start(broker.ports[0])
    pub.start(broker.ports[0])
    await sub.connected()
    await pub.connected()
    assert [code.value for code in await sub.subscribe("device/+/report")] == [0]

    assert broker.publish("device/S1/report", b'{"print":{}}') == 1
    assert broker.publish("device/S1/request", b"nobody") == 0
    pub.client.publish("device/S2/report", b"from paho")
    await wait_until(lambda: len(sub.messages) == 2)

    assert sub.topics == ["device/S1/report", "device/S2/report"]
    assert sub.messages[1].payload == b"from paho"
    await wait_until(lambda: received)
    topic, payload, info = received[0]
    assert (topic, payload) == ("device/S2/report", b"from paho")
    assert info.client_id == "pub"
    assert info.transport == "tcp"
    assert info.peer.startswith("127.0.0.1:")
    assert {session.client_id for session in broker.clients} == {"sub", "pub"}
    stats = broker.stats
    assert stats.clients == 2
    assert stats.connections_accepted == 2
    assert stats.published_total == 3
    assert stats.delivered_total == 2
    assert stats.published_by_topic == {"device/S1/report": 1, "device/S1/request": 1}


async def test_qos1_and_qos2(broker: Broker, pahos: Callable[..., Paho]) -> None:
    """Test QoS 1 in both directions and QoS 2 publishes delivered at QoS 1."""
    sub = pahos("sub")
    pub = pahos("pub")
    sub.start(broker.ports[0])
    pub.start(broker.ports[0])
    await sub.connected()
    await pub.connected()
    assert [code.value for code in await sub.subscribe("q/#", qos=2)] == [1]

    assert broker.publish("q/internal", b"1", qos=1) == 1
    info1 = pub.client.publish("q/one", b"2", qos=1)
    info2 = pub.client.publish("q/two", b"3", qos=2)
    await wait_until(lambda: len(sub.messages) == 3)
    await wait_until(lambda: {info1.mid, info2.mid} <= set(pub.published))
    assert [message.qos for message in sub.messages] == [1, 1, 1]
    assert sub.topics == ["q/internal", "q/one", "q/two"]
    # Every PUBACK from paho was processed.
    await wait_until(lambda: not broker._sessions["sub"]._inflight)


async def test_retained_messages(broker: Broker, pahos: Callable[..., Paho]) -> None:
    """Test retained messages are stored, delivered on subscribe and cleared."""
    broker.publish("stores/1/printer-stats/a", b"A", retain=True)
    broker.publish("stores/1/printer-stats/b", b"B", qos=1, retain=True)
    broker.publish("stores/1/printer-stats/c", b"C", retain=True)
    broker.publish("stores/1/printer-stats/c", b"", retain=True)
    assert broker.retained == {"stores/1/printer-stats/a": b"A", "stores/1/printer-stats/b": b"B"}

    sub = pahos("sub")
    sub.start(broker.ports[0])
    await sub.connected()
    await sub.subscribe("stores/1/printer-stats/#", qos=1)
    await wait_until(lambda: len(sub.messages) == 2)
    by_topic = {message.topic: message for message in sub.messages}
    assert by_topic["stores/1/printer-stats/a"].retain
    assert by_topic["stores/1/printer-stats/a"].qos == 0
    assert by_topic["stores/1/printer-stats/b"].qos == 1
    assert by_topic["stores/1/printer-stats/b"].payload == b"B"

    broker.publish("stores/1/printer-stats/a", b"A2", retain=True)
    await wait_until(lambda: len(sub.messages) == 3)
    assert not sub.messages[2].retain


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (ConnackCode.BAD_USERNAME_OR_PASSWORD, "Bad user name or password"),
        (ConnackCode.NOT_AUTHORIZED, "Not authorized"),
    ],
)
async def test_authentication_refused(
    pahos: Callable[..., Paho], code: ConnackCode, reason: str
) -> None:
    """Test the authenticate hook decides the CONNACK code paho sees."""
    calls: list[tuple[str, str | None, str | None]] = []

    def authenticate(client_id: str, username: str | None, password: str | None) -> int:
        calls.append((client_id, username, password))
        return ConnackCode.ACCEPTED if password == "OMGPUPPIES" else code

    async with Broker(name="auth", authenticate=authenticate) as mqtt_broker:
        port = await mqtt_broker.start_tcp()
        bad = pahos("bad", username="bblp", password="OMGSPIDERS")
        good = pahos("good", username="bblp", password="OMGPUPPIES")
        bad.start(port)
        good.start(port)
        await good.connected()
        await wait_until(lambda: bad.connects)
        assert bad.connects[0].is_failure
        assert str(bad.connects[0]) == reason
        assert ("bad", "bblp", "OMGSPIDERS") in calls
        assert [session.username for session in mqtt_broker.clients] == ["bblp"]
        assert mqtt_broker.stats.connections_refused >= 1
        await stop_clients(bad, good)


async def test_subscribe_and_publish_acl(pahos: Callable[..., Paho]) -> None:
    """Test denied filters get SUBACK 0x80 and denied publishes are dropped but acknowledged."""
    messages: list[str] = []

    def may_subscribe(info: SessionInfo, topic_filter: str) -> bool:
        return info.username == "admin" or not topic_filter.startswith("secret")

    def may_publish(info: SessionInfo, topic: str) -> bool:
        return info.username == "admin" or not topic.startswith("secret")

    async with Broker(
        name="acl",
        authorize_subscribe=may_subscribe,
        authorize_publish=may_publish,
        on_message=lambda topic, _payload, _info: messages.append(topic),
    ) as mqtt_broker:
        port = await mqtt_broker.start_tcp()
        user = pahos("user", username="user", password="x")
        admin = pahos("admin", username="admin", password="x")
        user.start(port)
        admin.start(port)
        await user.connected()
        await admin.connected()
        codes = await user.subscribe("secret/#")
        assert codes[0].is_failure
        assert [code.value for code in await user.subscribe("a/+/b")] == [0]
        await admin.subscribe("#")

        info = user.client.publish("secret/x", b"no", qos=1)
        user.client.publish("public/x", b"yes")
        await wait_until(lambda: info.mid in user.published)
        await wait_until(lambda: admin.topics == ["public/x"])
        assert messages == ["public/x"]
        assert mqtt_broker.publish("secret/y", b"internal") == 1
        await stop_clients(user, admin)


async def test_tls_transport(tmp_path: Path, pahos: Callable[..., Paho]) -> None:
    """Test MQTT over TLS with a throwaway CA."""
    ca = CertificateAuthority.create(tmp_path)
    async with Broker(name="tls") as mqtt_broker:
        port = await mqtt_broker.start_tcp(ssl=ca.server_context("localhost"))
        client = pahos("tls-client")
        client.client.tls_set(ca_certs=str(ca.cert_path))
        client.start(port)
        await client.connected()
        await client.subscribe("t")
        assert mqtt_broker.publish("t", b"secure") == 1
        await wait_until(lambda: client.messages)
        assert mqtt_broker.clients[0].transport == "tls"
        await stop_clients(client)


@pytest.fixture
async def ws_server(broker: Broker) -> AsyncIterator[TestServer]:
    """Serve the broker's WebSocket handler on /mqtt."""
    app = web.Application()
    app.router.add_get("/mqtt", broker.handle_websocket)
    server = TestServer(app, host=HOST)
    await server.start_server()
    yield server
    await broker.stop()
    await server.close()


async def test_websocket_with_paho(
    broker: Broker, ws_server: TestServer, pahos: Callable[..., Paho]
) -> None:
    """Test paho's websockets transport against handle_websocket."""
    client = pahos("ws-client", transport="websockets")
    client.client.ws_set_options(path="/mqtt")
    client.start(ws_server.port or 0)
    await client.connected()
    await client.subscribe("ws/#", qos=1)
    assert broker.publish("ws/a", b"over websocket", qos=1) == 1
    client.client.publish("ws/b", b"echo", qos=1)
    await wait_until(lambda: len(client.messages) == 2)
    assert client.messages[0].payload == b"over websocket"
    assert broker.clients[0].transport == "websocket"
    assert broker.clients[0].peer.startswith("127.0.0.1:")


async def test_websocket_frames(broker: Broker, ws_server: TestServer) -> None:
    """Test packets split across frames and several packets in one frame."""
    decoder = PacketDecoder()
    async with (
        ClientSession() as session,
        session.ws_connect(ws_server.make_url("/mqtt"), protocols=("mqtt",)) as ws,
    ):
        assert ws.protocol == "mqtt"
        connect = Connect(client_id="frames").encode()
        await ws.send_bytes(connect[:3])
        await ws.send_bytes(connect[3:])
        message = await ws.receive(timeout=WAIT)
        assert decoder.feed(message.data) == [Connack()]
        await ws.send_bytes(Subscribe(1, (("f/#", 0),)).encode() + Pingreq().encode())
        packets: list[Packet] = []
        while len(packets) < 2:
            packets += decoder.feed((await ws.receive(timeout=WAIT)).data)
        assert packets == [Suback(1, (0,)), Pingresp()]
        broker.publish("f/x", b"1")
        assert decoder.feed((await ws.receive(timeout=WAIT)).data) == [
            Publish(topic="f/x", payload=b"1")
        ]
        await ws.send_str("text is not MQTT")
        assert (await ws.receive(timeout=WAIT)).type in {WSMsgType.CLOSE, WSMsgType.CLOSED}
    await wait_until(lambda: not broker.clients)


async def test_websocket_refused_and_stopped(broker: Broker, ws_server: TestServer) -> None:
    """Test WebSocket connections are closed when refusing and get 503 when stopped."""
    async with ClientSession() as session:
        broker.refuse_connections = True
        async with session.ws_connect(ws_server.make_url("/mqtt"), protocols=("mqtt",)) as ws:
            assert (await ws.receive(timeout=WAIT)).type in {WSMsgType.CLOSE, WSMsgType.CLOSED}
        assert broker.stats.connections_rejected == 1
        await broker.stop()
        async with session.get(ws_server.make_url("/mqtt")) as response:
            assert response.status == 503


async def test_websocket_drop(broker: Broker, ws_server: TestServer) -> None:
    """Test drop_connections aborts WebSocket clients."""
    async with (
        ClientSession() as session,
        session.ws_connect(ws_server.make_url("/mqtt"), protocols=("mqtt",)) as ws,
    ):
        await ws.send_bytes(Connect(client_id="ws-drop").encode())
        await ws.receive(timeout=WAIT)
        assert broker.drop_connections() == 1
        assert (await ws.receive(timeout=WAIT)).type in {
            WSMsgType.CLOSE,
            WSMsgType.CLOSED,
            WSMsgType.ERROR,
        }
    await wait_until(lambda: not broker.clients)


async def test_keepalive_expiry(broker: Broker, raw_clients: list[RawClient]) -> None:
    """Test a client silent for 1.5x its keepalive is disconnected, and pings keep it alive."""
    silent = await RawClient.connect(broker.ports[0], "silent", keepalive=1)
    pinging = await RawClient.connect(broker.ports[0], "pinging", keepalive=1)
    forever = await RawClient.connect(broker.ports[0], "forever", keepalive=0)
    raw_clients.extend([silent, pinging, forever])
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < 1.7:
        pinging.send(Pingreq())
        assert await pinging.recv() == Pingresp()
        await asyncio.sleep(0.4)
    assert await silent.closed(seconds=1)
    assert {session.client_id for session in broker.clients} == {"pinging", "forever"}


async def test_client_id_takeover(broker: Broker, raw_clients: list[RawClient]) -> None:
    """Test a second CONNECT with the same client id kicks the first and fires its will."""
    watcher = await RawClient.connect(broker.ports[0], "watcher")
    raw_clients.append(watcher)
    watcher.send(Subscribe(1, (("status/#", 0),)))
    assert await watcher.recv() == Suback(1, (0,))

    first = await RawClient.connect(
        broker.ports[0], "printer", will_topic="status/printer", will_payload=b"offline"
    )
    second = await RawClient.connect(broker.ports[0], "printer")
    raw_clients.extend([first, second])
    assert await first.closed()
    assert await watcher.recv() == Publish(topic="status/printer", payload=b"offline")
    sessions = [session for session in broker.clients if session.client_id == "printer"]
    assert len(sessions) == 1
    second.send(Pingreq())
    assert await second.recv() == Pingresp()


async def test_will_on_abort_not_on_disconnect(
    broker: Broker, raw_clients: list[RawClient]
) -> None:
    """Test the will is published when a client vanishes but not after DISCONNECT."""
    watcher = await RawClient.connect(broker.ports[0], "watcher")
    raw_clients.append(watcher)
    watcher.send(Subscribe(1, (("will/#", 1),)))
    await watcher.recv()

    polite = await RawClient.connect(broker.ports[0], "polite", will_topic="will/polite")
    raw_clients.append(polite)
    polite.send(Disconnect())
    assert await polite.closed()
    rude = await RawClient.connect(
        broker.ports[0], "rude", will_topic="will/rude", will_payload=b"gone", will_qos=1
    )
    raw_clients.append(rude)
    rude.writer.transport.abort()
    packet = await watcher.recv()
    assert isinstance(packet, Publish)
    assert (packet.topic, packet.payload, packet.qos) == ("will/rude", b"gone", 1)
    assert packet.packet_id is not None
    watcher.send(Puback(packet.packet_id))


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\xff\xff\xff\xff\xff",
        b"\x10\xff\xff\xff\xff\x01",
        Pingreq().encode(),
        b"\x10\x04\x00\x02MQ",
        Connect(client_id="x").encode()[:-1] + b"\x00\x00\x00",
    ],
)
async def test_malformed_input_closes_only_that_connection(
    broker: Broker, pahos: Callable[..., Paho], raw_clients: list[RawClient], data: bytes
) -> None:
    """Test malformed bytes close the offending connection and the broker keeps serving."""
    healthy = pahos("healthy")
    healthy.start(broker.ports[0])
    await healthy.connected()
    await healthy.subscribe("still/#")

    raw = await RawClient.open(broker.ports[0])
    raw_clients.append(raw)
    raw.writer.write(data)
    assert await raw.closed()
    assert not any(isinstance(packet, Connack) for packet in raw.packets)
    assert broker.publish("still/alive", b"yes") == 1
    await wait_until(lambda: healthy.messages)
    assert broker.stats.protocol_errors == 1


@pytest.mark.parametrize(
    ("connect", "code"),
    [
        (Connect(client_id="v5", protocol_level=5), ConnackCode.UNACCEPTABLE_PROTOCOL_VERSION),
        (
            Connect(client_id="x", protocol_name="MQIsdp", protocol_level=4),
            ConnackCode.UNACCEPTABLE_PROTOCOL_VERSION,
        ),
        (Connect(client_id="", clean_session=False), ConnackCode.IDENTIFIER_REJECTED),
    ],
)
async def test_connect_refused_codes(
    broker: Broker, raw_clients: list[RawClient], connect: Connect, code: int
) -> None:
    """Test unsupported protocol levels and empty persistent client ids are refused."""
    raw = await RawClient.open(broker.ports[0])
    raw_clients.append(raw)
    raw.send(connect)
    assert await raw.recv() == Connack(return_code=code)
    assert await raw.closed()


async def test_connect_variants(broker: Broker, raw_clients: list[RawClient]) -> None:
    """Test MQTT 3.1, an empty client id and cleanSession=0 are accepted."""
    v31 = await RawClient.connect(broker.ports[0], "v31", protocol_name="MQIsdp", protocol_level=3)
    anonymous = await RawClient.connect(broker.ports[0], "")
    persistent = await RawClient.connect(broker.ports[0], "persistent", clean_session=False)
    raw_clients.extend([v31, anonymous, persistent])
    client_ids = {session.client_id for session in broker.clients}
    assert {"v31", "persistent"} <= client_ids
    assert any(client_id.startswith("auto-") for client_id in client_ids)


async def test_protocol_violations(broker: Broker, raw_clients: list[RawClient]) -> None:
    """Test a second CONNECT and server-only packets from a client close the connection."""
    for packet in (Connect(client_id="again"), Connack(), Pubrec(1), Pubcomp(1)):
        raw = await RawClient.connect(broker.ports[0], "violator")
        raw_clients.append(raw)
        raw.send(packet)
        assert await raw.closed()
    assert broker.stats.protocol_errors == 4


async def test_qos2_from_client(broker: Broker, raw_clients: list[RawClient]) -> None:
    """Test the PUBREC/PUBREL/PUBCOMP flow and duplicate suppression for QoS 2."""
    received: list[bytes] = []
    broker._on_message = lambda _topic, payload, _info: received.append(payload)
    raw = await RawClient.connect(broker.ports[0], "qos2")
    raw_clients.append(raw)
    message = Publish(topic="x/y", payload=b"once", qos=2, packet_id=7)
    raw.send(message)
    assert await raw.recv() == Pubrec(7)
    raw.send(Publish(topic="x/y", payload=b"once", qos=2, packet_id=7, dup=True))
    assert await raw.recv() == Pubrec(7)
    raw.send(Pubrel(7))
    assert await raw.recv() == Pubcomp(7)
    assert received == [b"once"]


async def test_unsubscribe(broker: Broker, raw_clients: list[RawClient]) -> None:
    """Test UNSUBSCRIBE stops deliveries."""
    raw = await RawClient.connect(broker.ports[0], "unsub")
    raw_clients.append(raw)
    raw.send(Subscribe(1, (("u/#", 0), ("v", 0))))
    assert await raw.recv() == Suback(1, (0, 0))
    raw.send(Unsubscribe(2, ("u/#", "never")))
    assert await raw.recv() == Unsuback(2)
    assert broker.publish("u/1", b"") == 0
    assert broker.publish("v", b"") == 1


async def test_qos1_window_and_queue_limits(raw_clients: list[RawClient]) -> None:
    """Test the in-flight window, the pending queue bound and QoS 0 drops."""
    async with Broker(name="limits", max_inflight=1, max_queued=2) as mqtt_broker:
        port = await mqtt_broker.start_tcp()
        raw = await RawClient.connect(port, "slow")
        raw_clients.append(raw)
        raw.send(Subscribe(1, (("w/#", 1),)))
        await raw.recv()
        assert [mqtt_broker.publish("w/q1", bytes([n]), qos=1) for n in range(4)] == [1, 1, 1, 0]
        first = await raw.recv()
        assert isinstance(first, Publish)
        assert first.payload == b"\x00"
        assert first.packet_id is not None
        with pytest.raises(TimeoutError):
            await raw.recv(seconds=0.2)
        raw.send(Puback(first.packet_id))
        second = await raw.recv()
        assert isinstance(second, Publish)
        assert second.payload == b"\x01"
        assert second.packet_id != first.packet_id

        results = [mqtt_broker.publish("w/q0", b"0") for _ in range(5)]
        assert results.count(0) >= 3
        assert mqtt_broker.stats.dropped_total >= 4


async def test_stop_start_same_port(broker: Broker, pahos: Callable[..., Paho]) -> None:
    """Test a restarted broker binds the same port and paho reconnects by itself."""
    port = broker.ports[0]
    client = pahos("reconnecting")
    client.start(port)
    await client.connected()

    await broker.stop()
    stopped_state = (broker.running, broker.clients)
    assert stopped_state == (False, [])
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(HOST, port)
    await wait_until(lambda: client.disconnects >= 1)

    await broker.start()
    assert broker.running
    assert broker.ports == [port]
    await client.connected(count=2)
    await client.subscribe("back")
    assert broker.publish("back", b"again") == 1
    await wait_until(lambda: client.messages)

    await broker.restart()
    await client.connected(count=3)
    assert broker.ports == [port]


async def test_drop_connections(broker: Broker, pahos: Callable[..., Paho]) -> None:
    """Test drop_connections breaks the sockets and clients reconnect."""
    client = pahos("dropped")
    client.start(broker.ports[0])
    await client.connected()
    assert broker.drop_connections() == 1
    await wait_until(lambda: client.disconnects >= 1)
    await client.connected(count=2)
    assert broker.stats.connections_accepted == 2


async def test_refuse_connections(broker: Broker, raw_clients: list[RawClient]) -> None:
    """Test refuse_connections accepts and closes new connections until switched off."""
    broker.refuse_connections = True
    assert broker.refuse_connections
    raw = await RawClient.open(broker.ports[0])
    raw_clients.append(raw)
    raw.send(Connect(client_id="refused"))
    assert await raw.closed()
    assert broker.stats.connections_rejected == 1
    broker.refuse_connections = False
    raw_clients.append(await RawClient.connect(broker.ports[0], "accepted"))


async def test_failing_hooks(
    raw_clients: list[RawClient], caplog: pytest.LogCaptureFixture
) -> None:
    """Test exceptions in hooks are logged and never crash the broker."""

    def explode(*_args: object) -> Any:
        msg = "boom"
        raise RuntimeError(msg)

    async with Broker(name="hooks", authenticate=explode) as mqtt_broker:
        port = await mqtt_broker.start_tcp()
        raw = await RawClient.open(port)
        raw_clients.append(raw)
        raw.send(Connect(client_id="x"))
        assert await raw.recv() == Connack(return_code=ConnackCode.NOT_AUTHORIZED)

    async with Broker(
        name="hooks",
        authenticate=lambda *_args: 99,
    ) as mqtt_broker:
        port = await mqtt_broker.start_tcp()
        raw = await RawClient.open(port)
        raw_clients.append(raw)
        raw.send(Connect(client_id="x"))
        assert await raw.recv() == Connack(return_code=ConnackCode.NOT_AUTHORIZED)

    async with Broker(
        name="hooks",
        authorize_subscribe=explode,
        authorize_publish=explode,
        on_message=explode,
    ) as mqtt_broker:
        port = await mqtt_broker.start_tcp()
        raw = await RawClient.connect(port, "x")
        raw_clients.append(raw)
        raw.send(Subscribe(1, (("a", 0),)))
        assert await raw.recv() == Suback(1, (0x80,))
        raw.send(Publish(topic="a", payload=b"", qos=1, packet_id=1))
        assert await raw.recv() == Puback(1)

    async with Broker(name="hooks", on_message=explode) as mqtt_broker:
        port = await mqtt_broker.start_tcp()
        raw = await RawClient.connect(port, "x")
        raw_clients.append(raw)
        raw.send(Publish(topic="a", payload=b"", qos=1, packet_id=1))
        assert await raw.recv() == Puback(1)
    assert "hook failed" in caplog.text


async def test_publish_validation(broker: Broker) -> None:
    """Test broker.publish rejects wildcard topics and bad QoS."""
    with pytest.raises(ValueError, match="Invalid topic"):
        broker.publish("a/+", b"")
    with pytest.raises(ValueError, match="Invalid QoS"):
        broker.publish("a", b"", qos=3)


async def test_close_with_stalled_tls_handshake(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Test close() finishes while a client is stuck in the TLS handshake or mid-packet."""
    server_context = CertificateAuthority.create(tmp_path).server_context("localhost")
    caplog.set_level(logging.DEBUG)
    mqtt_broker = Broker(name="stall", close_timeout=0.2)
    tls_port = await mqtt_broker.start_tcp(ssl=server_context)
    tcp_port = await mqtt_broker.start_tcp()
    with socket.create_connection((HOST, tls_port)):
        _, writer = await asyncio.open_connection(HOST, tcp_port)
        writer.write(Connect(client_id="half").encode()[:5])
        await writer.drain()
        await asyncio.sleep(0.05)
        async with asyncio.timeout(WAIT):
            await mqtt_broker.close()
        writer.close()
    assert mqtt_broker.ports == []
