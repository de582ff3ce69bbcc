"""Tests for the event-loop driven MQTT connection and its reconnecting supervisor."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from paho.mqtt.enums import MQTTErrorCode

from custom_components.printfarm.api.errors import (
    PrintFarmAuthenticationError,
    PrintFarmConnectionError,
    PrintFarmTimeoutError,
)
from custom_components.printfarm.api.transport import mqtt as mqtt_module
from custom_components.printfarm.api.transport.mqtt import (
    MqttConnection,
    MqttSupervisor,
    backoff_delays,
)
from farmsim.certs import CertificateAuthority
from farmsim.mosquitto import StandaloneBroker

from .helpers import wait_until

HOST = "127.0.0.1"
TIMEOUT = 5.0
USERNAME = "frenck"
PASSWORD = "OMGPUPPIES"


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    """Return a certificate authority for the broker."""
    return CertificateAuthority.create(tmp_path / "ca")


@pytest.fixture
async def broker(ca: CertificateAuthority, tmp_path: Path) -> AsyncIterator[StandaloneBroker]:
    """Run Mosquitto with a plain and a TLS port and a WebSocket face."""
    async with StandaloneBroker(
        tmp_path / "mosquitto", ca, username=USERNAME, password=PASSWORD
    ) as broker:
        yield broker


@pytest.fixture
async def ws_server(broker: StandaloneBroker) -> AsyncIterator[TestServer]:
    """Serve the broker over WebSockets on /mqtt."""
    app = web.Application()
    app.router.add_get("/mqtt", broker.handle_websocket)
    server = TestServer(app, host=HOST)
    await server.start_server()
    yield server
    await server.close()


class Recorder:
    """Collects what a connection reports."""

    def __init__(self) -> None:
        """Initialize empty records."""
        self.messages: list[tuple[str, bytes]] = []
        self.disconnects = 0

    def on_message(self, topic: str, payload: bytes) -> None:
        """Record a message."""
        self.messages.append((topic, payload))

    def on_disconnect(self) -> None:
        """Record a disconnect."""
        self.disconnects += 1


def connection(port: int, recorder: Recorder | None = None, **kwargs: object) -> MqttConnection:
    """Return a connection to the test broker."""
    recorder = recorder or Recorder()
    options: dict[str, object] = {
        "host": HOST,
        "port": port,
        "client_id": "test-client",
        "username": USERNAME,
        "password": PASSWORD,
        "connect_timeout": 2.0,
        "on_message": recorder.on_message,
        "on_disconnect": recorder.on_disconnect,
    }
    options.update(kwargs)
    return MqttConnection(**options)  # type: ignore[arg-type]


def client_context(ca: CertificateAuthority, *, check_hostname: bool = False) -> ssl.SSLContext:
    """Return a TLS context that trusts the test CA."""
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    context.check_hostname = check_hostname
    return context


async def test_tcp_round_trip(broker: StandaloneBroker) -> None:
    """Test connect, subscribe, publish, receive and a quiet disconnect over TCP."""
    recorder = Recorder()
    conn = connection(broker.ports[0], recorder)
    await conn.connect()
    assert conn.connected
    await wait_until(lambda: bool(broker.clients))
    assert broker.clients[0].client_id == "test-client"
    conn.subscribe("farm/#", qos=1)
    await asyncio.sleep(0.05)
    conn.publish("farm/echo", b"OMG", qos=1)
    broker.publish("farm/from-broker", b"PUPPIES")
    await wait_until(lambda: len(recorder.messages) == 2)
    assert sorted(recorder.messages) == [("farm/echo", b"OMG"), ("farm/from-broker", b"PUPPIES")]
    await conn.disconnect()
    await wait_until(lambda: not broker.clients)
    assert recorder.disconnects == 0
    await conn.disconnect()
    assert conn._client is None


@pytest.mark.parametrize("check_hostname", [False, True])
async def test_tls_round_trip_with_bursts(
    broker: StandaloneBroker, ca: CertificateAuthority, check_hostname: bool
) -> None:
    """Test TLS with the CA: bursts and large messages are all read, none left in TLS buffers."""
    recorder = Recorder()
    context = client_context(ca, check_hostname=check_hostname)
    conn = connection(broker.ports[1], recorder, tls_context=context)
    await conn.connect()
    conn.subscribe("burst/#")
    await asyncio.sleep(0.05)
    big = bytes(range(256)) * 1024
    for index in range(200):
        broker.publish(f"burst/{index}", str(index).encode())
    broker.publish("burst/big", big)
    await wait_until(lambda: len(recorder.messages) == 201)
    assert recorder.messages[-1] == ("burst/big", big)
    assert [payload for _, payload in recorder.messages[:200]] == [
        str(index).encode() for index in range(200)
    ]
    await wait_until(lambda: bool(broker.clients))
    assert broker.clients[0].transport == "tls"
    await conn.disconnect()


async def test_tls_untrusted_certificate(broker: StandaloneBroker, tmp_path: Path) -> None:
    """Test a certificate from an unknown CA is a connection error."""
    other = CertificateAuthority.create(tmp_path / "other")
    conn = connection(broker.ports[1], tls_context=client_context(other))
    with pytest.raises(PrintFarmConnectionError, match="certificate verify failed"):
        await conn.connect()
    assert not conn.connected


async def test_websockets_round_trip(broker: StandaloneBroker, ws_server: TestServer) -> None:
    """Test the WebSockets transport with a path."""
    recorder = Recorder()
    conn = connection(ws_server.port or 0, recorder, transport="websockets", ws_path="/mqtt")
    await conn.connect()
    conn.subscribe("ws/#")
    await asyncio.sleep(0.05)
    broker.publish("ws/a", b"over websocket")
    await wait_until(lambda: bool(recorder.messages))
    assert recorder.messages == [("ws/a", b"over websocket")]
    await wait_until(lambda: bool(broker.clients))
    assert broker.clients[0].transport == "websocket"
    await conn.disconnect()


async def test_websockets_wrong_path(broker: StandaloneBroker, ws_server: TestServer) -> None:
    """Test a failed WebSocket upgrade is a connection error."""
    conn = connection(ws_server.port or 0, transport="websockets", ws_path="/nope")
    with pytest.raises(PrintFarmConnectionError):
        await conn.connect()


@pytest.mark.parametrize(
    ("username", "password"), [("OMGSPIDERS", PASSWORD), (USERNAME, "OMGSPIDERS")]
)
async def test_refused_credentials(broker: StandaloneBroker, username: str, password: str) -> None:
    """Test Mosquitto refusing the credentials (CONNACK 5) is an authentication error."""
    conn = connection(broker.ports[0], username=username, password=password)
    with pytest.raises(PrintFarmAuthenticationError) as excinfo:
        await conn.connect()
    assert excinfo.value.code == "connack_5"
    assert not conn.connected
    await wait_until(lambda: broker.stats.connections_refused == 1)


async def _connack_server(code: int) -> asyncio.Server:
    """Return a server answering CONNECT with an MQTT 3.1.1 CONNACK of a return code."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(bytes((0x20, 0x02, 0x00, code)))
        await writer.drain()
        await reader.read(1024)

    return await asyncio.start_server(handle, HOST, 0)


@pytest.mark.parametrize("code", [2, 4])
async def test_refused_client_id_or_user_name(code: int) -> None:
    """Test CONNACK refusals Mosquitto never sends a 3.1.1 client are authentication errors."""
    server = await _connack_server(code)
    conn = connection(server.sockets[0].getsockname()[1])
    with pytest.raises(PrintFarmAuthenticationError) as excinfo:
        await conn.connect()
    assert excinfo.value.code == f"connack_{code}"
    server.close()


async def test_server_unavailable() -> None:
    """Test other CONNACK refusals are connection errors."""
    server = await _connack_server(3)
    conn = connection(server.sockets[0].getsockname()[1])
    with pytest.raises(PrintFarmConnectionError, match="Server unavailable") as excinfo:
        await conn.connect()
    assert not isinstance(excinfo.value, PrintFarmAuthenticationError)
    server.close()


async def test_connection_refused() -> None:
    """Test nothing listening is a connection error."""
    server = await asyncio.start_server(lambda _r, _w: None, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(PrintFarmConnectionError, match="Error connecting"):
        await connection(port).connect()


async def _silent_server(*, close: bool) -> asyncio.Server:
    """Return a server that never answers CONNECT (or closes at once)."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        if close:
            writer.close()

    return await asyncio.start_server(handle, HOST, 0)


async def test_connect_timeout() -> None:
    """Test a broker that never sends CONNACK times out."""
    server = await _silent_server(close=False)
    port = server.sockets[0].getsockname()[1]
    conn = connection(port, connect_timeout=0.3)
    with pytest.raises(PrintFarmTimeoutError):
        await conn.connect()
    assert not conn.connected
    server.close()


async def test_closed_before_connack() -> None:
    """Test a broker closing before CONNACK is a connection error."""
    server = await _silent_server(close=True)
    port = server.sockets[0].getsockname()[1]
    with pytest.raises(PrintFarmConnectionError, match="before CONNACK"):
        await connection(port).connect()
    server.close()


@pytest.mark.parametrize("delay", [0.0, 0.2])
async def test_cancel_while_connecting(ca: CertificateAuthority, delay: float) -> None:
    """Test cancelling during the blocking TLS handshake; the abandoned connect still ends.

    paho bounds the handshake by the keepalive: the executor thread ends after it, its
    socket is closed and its connect slot freed.
    """
    server = await _silent_server(close=False)
    port = server.sockets[0].getsockname()[1]
    conn = connection(port, tls_context=client_context(ca), connect_timeout=0.5, keepalive=1)
    task = asyncio.create_task(conn.connect())
    await asyncio.sleep(delay)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not conn.connected
    slots = mqtt_module._connect_slots(asyncio.get_running_loop())
    await wait_until(lambda: slots._value == mqtt_module.CONNECT_CONCURRENCY, timeout=5)
    server.close()


async def test_connect_twice(broker: StandaloneBroker) -> None:
    """Test a connection cannot be opened twice."""
    conn = connection(broker.ports[0])
    await conn.connect()
    with pytest.raises(PrintFarmConnectionError, match="Already"):
        await conn.connect()
    await conn.disconnect()


async def test_broker_drop(broker: StandaloneBroker) -> None:
    """Test a dropped connection calls on_disconnect once and refuses to publish."""
    recorder = Recorder()
    conn = connection(broker.ports[0], recorder)
    await conn.connect()
    broker.drop_connections()
    await wait_until(lambda: recorder.disconnects == 1)
    assert not conn.connected
    with pytest.raises(PrintFarmConnectionError, match="Not connected"):
        conn.publish("farm/x", b"x")
    with pytest.raises(PrintFarmConnectionError, match="Not connected"):
        conn.subscribe("farm/#")
    await conn.disconnect()
    assert recorder.disconnects == 1


async def test_reconnect_same_object(broker: StandaloneBroker) -> None:
    """Test a connection object connects again after a disconnect."""
    conn = connection(broker.ports[0])
    await conn.connect()
    await conn.disconnect()
    await conn.connect()
    assert conn.connected
    await conn.disconnect()


async def test_publish_error(broker: StandaloneBroker) -> None:
    """Test paho refusing a publish is a connection error."""
    conn = connection(broker.ports[0])
    await conn.connect()
    with pytest.raises(ValueError, match="Invalid QoS"):
        conn.publish("farm/x", b"x", qos=7)
    with pytest.raises(PrintFarmConnectionError, match="Could not publish"):
        conn._check(MQTTErrorCode.MQTT_ERR_QUEUE_SIZE, "publish to farm/x")
    await conn.disconnect()


async def test_callback_errors_are_logged(
    broker: StandaloneBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Test an exception in a callback is logged and the connection goes on."""

    def explode(_topic: str, _payload: bytes) -> None:
        msg = "OMG"
        raise RuntimeError(msg)

    def explode_disconnect() -> None:
        msg = "OMG"
        raise RuntimeError(msg)

    conn = connection(broker.ports[0], on_message=explode, on_disconnect=explode_disconnect)
    await conn.connect()
    conn.subscribe("farm/#")
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.ERROR):
        broker.publish("farm/a", b"1")
        await wait_until(lambda: "Error handling an MQTT message" in caplog.text)
        assert conn.connected
        broker.drop_connections()
        await wait_until(lambda: "Error handling the MQTT disconnect" in caplog.text)
    await conn.disconnect()


async def test_no_message_callback(broker: StandaloneBroker) -> None:
    """Test messages are dropped quietly without a callback."""
    conn = connection(broker.ports[0], on_message=None)
    await conn.connect()
    conn.subscribe("farm/#")
    await asyncio.sleep(0.05)
    assert broker.publish("farm/a", b"1")
    await asyncio.sleep(0.05)
    assert conn.connected
    await conn.disconnect()


async def test_keepalive_and_ping_timeout(
    broker: StandaloneBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test keepalive pings keep a connection up, and a broker that stops answering is noticed."""
    monkeypatch.setattr(mqtt_module, "MISC_INTERVAL", 0.05)
    recorder = Recorder()
    conn = connection(broker.ports[0], recorder, keepalive=1)
    await conn.connect()
    await asyncio.sleep(1.3)
    assert conn.connected
    await conn.disconnect()

    # A broker that answers CONNECT and then nothing else, until the client hangs up.
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"\x20\x02\x00\x00")
        await writer.drain()
        while await reader.read(1024):
            pass
        writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    silent = connection(port, recorder, keepalive=1)
    await silent.connect()
    await wait_until(lambda: recorder.disconnects == 1)
    assert not silent.connected
    await silent.disconnect()
    server.close()
    # Its handler has ended too: nothing of the test outlives it
    await asyncio.wait_for(server.wait_closed(), 5)


async def test_disconnect_when_broker_does_not_close(broker: StandaloneBroker) -> None:
    """Test disconnect gives up waiting and closes the socket itself."""
    conn = connection(broker.ports[0])
    await conn.connect()
    assert conn._client is not None
    conn._client.on_disconnect = None
    await conn.disconnect()
    assert not conn.connected


def test_backoff_delays() -> None:
    """Test delays double from the minimum up to the cap, with jitter of at most half."""
    delays = backoff_delays(1.0, 8.0)
    values = [delays() for _ in range(40)]
    for value, ceiling in zip(values, [1.0, 2.0, 4.0, 8.0, 8.0], strict=False):
        assert ceiling / 2 <= value <= ceiling
    assert all(4.0 <= value <= 8.0 for value in values[3:])


async def test_supervisor_reconnects_and_stops(broker: StandaloneBroker) -> None:
    """Test the supervisor reconnects after the broker restarts and stops cleanly."""
    connected: list[MqttConnection] = []
    lost: list[None] = []
    supervisor = MqttSupervisor(
        name="test",
        factory=lambda: connection(broker.ports[0]),
        on_connected=connected.append,
        on_disconnected=lambda: lost.append(None),
        on_auth_failed=lambda err: pytest.fail(f"unexpected {err}"),
        min_delay=0.02,
        max_delay=0.1,
    )
    supervisor.start()
    task = supervisor._task
    supervisor.start()
    assert supervisor._task is task
    await wait_until(lambda: supervisor.connection is not None)
    await broker.stop()
    await wait_until(lambda: len(lost) == 1)
    assert supervisor.connection is None
    await asyncio.sleep(0.2)
    await broker.start()
    await wait_until(lambda: len(connected) == 2 and supervisor.connection is not None)
    supervisor.healthy()
    await supervisor.stop()
    assert not supervisor.running
    assert len(lost) == 1
    await wait_until(lambda: not broker.clients)
    await supervisor.stop()


async def test_supervisor_connection_lost_while_starting(broker: StandaloneBroker) -> None:
    """Test an error in on_connected counts as a lost connection."""
    calls: list[MqttConnection] = []
    lost: list[None] = []

    def on_connected(conn: MqttConnection) -> None:
        calls.append(conn)
        if len(calls) == 1:
            msg = "gone"
            raise PrintFarmConnectionError(msg)

    supervisor = MqttSupervisor(
        name="test",
        factory=lambda: connection(broker.ports[0]),
        on_connected=on_connected,
        on_disconnected=lambda: lost.append(None),
        on_auth_failed=lambda err: pytest.fail(f"unexpected {err}"),
        min_delay=0.01,
        max_delay=0.02,
    )
    supervisor.start()
    await wait_until(lambda: len(calls) == 2)
    assert len(lost) == 1
    await supervisor.stop()


async def test_supervisor_survives_unexpected_errors(
    broker: StandaloneBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Test an unexpected error is logged and the supervisor keeps trying."""
    attempts: list[None] = []

    def factory() -> MqttConnection:
        attempts.append(None)
        if len(attempts) == 1:
            msg = "OMGSPIDERS"
            raise RuntimeError(msg)
        return connection(broker.ports[0])

    supervisor = MqttSupervisor(
        name="test",
        factory=factory,
        on_connected=lambda _conn: None,
        on_disconnected=lambda: None,
        on_auth_failed=lambda err: pytest.fail(f"unexpected {err}"),
        min_delay=0.01,
        max_delay=0.02,
    )
    supervisor.start()
    await wait_until(lambda: supervisor.connection is not None)
    assert "unexpected error; reconnecting" in caplog.text
    await supervisor.stop()


async def test_supervisor_stops_on_auth_failure(broker: StandaloneBroker) -> None:
    """Test refused credentials stop the supervisor after one attempt."""
    failures: list[PrintFarmAuthenticationError] = []
    supervisor = MqttSupervisor(
        name="test",
        factory=lambda: connection(broker.ports[0], password="OMGSPIDERS"),
        on_connected=lambda _conn: pytest.fail("connected"),
        on_disconnected=lambda: None,
        on_auth_failed=failures.append,
        min_delay=0.01,
        max_delay=0.02,
    )
    supervisor.start()
    await wait_until(lambda: not supervisor.running)
    await asyncio.sleep(0.1)
    assert len(failures) == 1
    assert supervisor.auth_error is failures[0]
    await wait_until(lambda: broker.stats.connections_refused == 1)
    await supervisor.stop()


async def test_many_connections_without_threads(broker: StandaloneBroker) -> None:
    """Test many connections share the loop: threads do not grow with the connection count."""
    await asyncio.get_running_loop().run_in_executor(None, lambda: None)
    before = threading.active_count()
    conns = [connection(broker.ports[0], client_id=f"client-{n}") for n in range(60)]
    await asyncio.gather(*(conn.connect() for conn in conns))
    assert all(conn.connected for conn in conns)
    assert threading.active_count() <= before + mqtt_module.CONNECT_CONCURRENCY
    await asyncio.gather(*(conn.disconnect() for conn in conns))
