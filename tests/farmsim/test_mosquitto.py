"""Tests for farmsim's Mosquitto process: its files, listeners, log, reloads and failures."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from farmsim.certs import CertificateAuthority
from farmsim.mosquitto import (
    Listener,
    MosquittoBroker,
    MosquittoError,
    free_ports,
    log,
    password_hash,
    ports,
    process,
)

from .helpers import wait_until

if TYPE_CHECKING:
    from pathlib import Path

SERIAL = "01P00A000000042"
CODE = "12345678"


class Client:
    """A paho client in its own thread, recording what it sees."""

    def __init__(self, port: int, username: str, password: str, **options: Any) -> None:
        """Create the client (TLS with `tls`, WebSockets with `transport="websockets"`)."""
        tls: ssl.SSLContext | None = options.pop("tls", None)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=options.pop("client_id", f"test-{os.urandom(4).hex()}"),
            protocol=paho.MQTTv311,
            **options,
        )
        self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=cast("int", 0.05), max_delay=cast("int", 0.2))
        if tls is not None:
            self.client.tls_set_context(tls)
        self.port = port
        self.connacks: list[str] = []
        self.disconnects = 0
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._lock:
            self.connacks.append(str(reason))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        with self._lock:
            self.disconnects += 1

    def _on_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload))

    async def connect(self) -> str:
        """Connect and return the first CONNACK's reason."""
        self.client.connect_async("127.0.0.1", self.port, keepalive=5)
        self.client.loop_start()
        await wait_until(lambda: self.connacks)
        return self.connacks[0]

    async def close(self) -> None:
        """Disconnect and stop the thread."""
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)


@pytest.fixture(name="ca")
def ca_fixture(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca")


def _listeners(ca: CertificateAuthority) -> list[Listener]:
    cert, key = ca.issue(SERIAL)
    return [
        Listener(
            name=SERIAL,
            users={"bblp": CODE},
            acl=["user bblp", f"topic read device/{SERIAL}/report"],
            cafile=ca.cert_path,
            certfile=cert,
            keyfile=key,
        ),
        Listener(
            name="plain", users={"farmsim": "secret"}, acl=["user farmsim", "topic readwrite #"]
        ),
    ]


@pytest.fixture(name="broker")
async def broker_fixture(
    tmp_path: Path, ca: CertificateAuthority
) -> AsyncIterator[MosquittoBroker]:
    async with MosquittoBroker(directory=tmp_path / "m", listeners=_listeners(ca)) as broker:
        yield broker


def _tls(ca: CertificateAuthority) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    context.check_hostname = False
    return context


async def test_listeners_have_their_own_users_and_topics(
    broker: MosquittoBroker, ca: CertificateAuthority
) -> None:
    assert broker.running
    assert broker.pid is not None
    assert broker.port(SERIAL) != broker.port("plain") > 0
    config = broker.config_path.read_text()
    assert "per_listener_settings true" in config
    printer = Client(broker.port(SERIAL), "bblp", CODE, tls=_tls(ca))
    simulator = Client(broker.port("plain"), "farmsim", "secret")
    wrong_door = Client(broker.port("plain"), "bblp", CODE)
    try:
        assert await printer.connect() == "Success"
        assert await simulator.connect() == "Success"
        assert await wrong_door.connect() == "Not authorized"
        printer.client.subscribe("#")
        await asyncio.sleep(0.1)
        simulator.client.publish(f"device/{SERIAL}/report", b"report")
        simulator.client.publish(f"device/{SERIAL}/request", b"request")
        await wait_until(lambda: printer.messages)
        await asyncio.sleep(0.1)
        assert printer.messages == [(f"device/{SERIAL}/report", b"report")]
    finally:
        for client in (printer, simulator, wrong_door):
            await client.close()
    assert "u'bblp'" in broker.log_tail(50)
    assert broker.log_path.read_text().count("New client connected") == 2


async def test_changed_users_take_effect_and_cut_the_old_ones(
    broker: MosquittoBroker, ca: CertificateAuthority
) -> None:
    client = Client(broker.port(SERIAL), "bblp", CODE, tls=_tls(ca))
    try:
        assert await client.connect() == "Success"
        await asyncio.gather(
            broker.set_users(SERIAL, {"bblp": "87654321"}), broker.set_users(SERIAL, {})
        )
        await broker.set_users(SERIAL, {"bblp": "87654321"})
        await wait_until(lambda: client.disconnects)
    finally:
        await client.close()
    # The cut client tried again with the old code
    await asyncio.sleep(0.1)
    before = broker.refusals
    for password, expected in ((CODE, "Not authorized"), ("87654321", "Success")):
        probe = Client(broker.port(SERIAL), "bblp", password, tls=_tls(ca))
        try:
            assert await probe.connect() == expected
        finally:
            await probe.close()
    await wait_until(lambda: broker.refusals == before + 1)
    claims: list[str] = []
    while (withdraw := broker.claim_refusal(lambda: claims.append("logged"))) is None:
        pass
    withdraw()
    withdraw()
    assert claims
    assert set(claims) == {"logged"}


async def test_restart_keeps_the_ports(broker: MosquittoBroker) -> None:
    before = (broker.port(SERIAL), broker.port("plain"))
    pid = broker.pid
    await broker.restart()
    assert (broker.port(SERIAL), broker.port("plain")) == before
    assert broker.pid != pid
    await broker.stop()
    assert not broker.running
    assert broker.pid is None
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", before[1])
    await broker.stop()
    await broker.reload()
    await broker.start()
    await broker.start()
    assert broker.port("plain") == before[1]


async def test_a_dead_mosquitto_starts_again(broker: MosquittoBroker) -> None:
    pid = broker.pid
    assert pid is not None
    os.kill(pid, 9)
    await wait_until(lambda: not broker.running)
    await broker.start()
    assert broker.running
    assert broker.pid != pid


async def test_reload_failures_are_errors(
    broker: MosquittoBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "RELOAD_TIMEOUT", 0.0)
    with pytest.raises(MosquittoError, match="did not reload"):
        await broker.reload()


async def test_reload_without_a_plain_listener(
    tmp_path: Path, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "BARRIER_FALLBACK", 0.01)
    async with MosquittoBroker(directory=tmp_path / "m", listeners=_listeners(ca)[:1]) as broker:
        await broker.set_users(SERIAL, {})
        assert broker.running


def test_password_hash_format() -> None:
    salt = b"0123456789ab"
    expected = hashlib.pbkdf2_hmac("sha512", b"secret", salt, 101)
    value = password_hash("secret", salt=salt)
    _, algorithm, iterations, encoded_salt, encoded_hash = value.split("$")
    assert (algorithm, iterations) == ("7", "101")
    assert base64.b64decode(encoded_salt) == salt
    assert base64.b64decode(encoded_hash) == expected
    assert password_hash("secret") != password_hash("secret")


def test_websocket_listeners_bind_the_loopback_address_only(tmp_path: Path) -> None:
    listener = Listener(name="ws", port=9001, websockets=True)
    lines = listener.lines(tmp_path)
    assert lines[:3] == ["listener 9001 127.0.0.1", "protocol websockets", "socket_domain ipv4"]


def test_log_lines() -> None:
    accepted = log.parse("1: New client connected from 127.0.0.1:4242 as a b (p2, c1, k60, u'x').")
    assert accepted == log.Accepted(address="127.0.0.1:4242", client_id="a b", username="x")
    anonymous = log.parse("New client connected from 127.0.0.1:1 as c (p2, c1, k60).")
    assert anonymous == log.Accepted(address="127.0.0.1:1", client_id="c", username=None)
    assert log.parse("1: Client <unknown> disconnected, not authorised.") == log.Refused()
    assert log.parse("1: Client known disconnected, not authorised.") is None
    # Mosquitto 2.1 (the newest leg's) names the refused client and its connection
    refused = "1: Client ok-1 [127.0.0.1:43611] disconnected: not authorised."
    assert log.parse(refused) == log.Refused()
    assert log.parse("1: Client 127.0.0.1 [127.0.0.1:5] disconnected: not authorised.")
    assert log.parse("1: Client ok-2 [127.0.0.1:37277] disconnected.") is None
    assert log.parse("1: New connection from 127.0.0.1:5 on port 6.") == log.Connection(
        address="127.0.0.1:5"
    )
    assert log.parse("1: mosquitto version 2.0.11 running") == log.Running()
    assert log.parse("1: Reloading config.") == log.Reloading()
    assert log.parse("1: anything else") is None


def test_free_ports_are_distinct() -> None:
    first = free_ports(3)
    second = free_ports(3)
    assert len(set(first) | set(second)) == 6
    assert free_ports(0) == []


async def test_start_failure_reports_the_log(tmp_path: Path, ca: CertificateAuthority) -> None:
    listeners = _listeners(ca)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        listeners[0].port = busy.getsockname()[1]
        listeners[1].port = free_ports(1)[0]
        broker = MosquittoBroker(directory=tmp_path / "m", listeners=listeners)
        with pytest.raises(MosquittoError, match="exited at start"):
            await broker.start()
    assert not broker.running
    assert "Address already in use" in broker.log_tail()


async def test_start_times_out(
    tmp_path: Path, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "START_TIMEOUT", 0.0)
    broker = MosquittoBroker(directory=tmp_path / "m", listeners=_listeners(ca))
    with pytest.raises(MosquittoError, match="did not start in time"):
        await broker.start()
    assert not broker.running


async def test_stop_kills_a_stuck_process(
    broker: MosquittoBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = broker.pid
    assert pid is not None
    monkeypatch.setattr(process, "STOP_TIMEOUT", 0.0)
    await broker.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_missing_binary(
    tmp_path: Path, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MosquittoBroker, "executable", classmethod(lambda _cls: None))
    assert not MosquittoBroker.available()
    broker = MosquittoBroker(directory=tmp_path / "m", listeners=_listeners(ca))
    with pytest.raises(MosquittoError, match="not installed"):
        await broker.start()
    assert broker.log_tail() == ""


def test_executable_fallback_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(os, "access", lambda path, _mode: path == "/usr/sbin/mosquitto")
    assert MosquittoBroker.executable() == "/usr/sbin/mosquitto"


async def test_taken_ports_are_replaced_at_first_start(
    tmp_path: Path, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        choices = iter([[taken, free_ports(1)[0]]])
        real = process.free_ports
        monkeypatch.setattr(process, "free_ports", lambda count: next(choices, None) or real(count))
        broker = MosquittoBroker(directory=tmp_path / "m", listeners=_listeners(ca))
        async with broker:
            assert broker.port(SERIAL) != taken
            assert broker.running


def test_free_ports_without_room_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "range"
    fake.write_text("10500\t60999\n")
    monkeypatch.setattr(ports, "_EPHEMERAL_RANGE", fake)
    assert len(set(free_ports(2))) == 2
    fake.write_text("garbage")
    assert ports._ephemeral_range() == (32768, 60999)


def test_busy_ports_are_skipped() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        assert not ports._bindable("127.0.0.1", port)
