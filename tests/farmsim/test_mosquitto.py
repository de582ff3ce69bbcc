"""Tests for the Mosquitto launcher."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import socket
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from farmsim import mosquitto
from farmsim.certs import CertificateAuthority
from farmsim.mosquitto import MosquittoBroker, MosquittoError, free_ports, password_hash
from farmsim.mqtt import ConnackCode, MqttClient, MqttConnectionRefusedError

from .helpers import wait_until

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.skipif(not MosquittoBroker.available(), reason="no mosquitto")

SERIAL = "01P00A000000042"
CODE = "12345678"
TIMEOUT = 5.0


@pytest.fixture(name="ca")
def ca_fixture(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca")


@pytest.fixture(name="broker")
async def broker_fixture(
    tmp_path: Path, ca: CertificateAuthority
) -> AsyncIterator[MosquittoBroker]:
    broker = MosquittoBroker(
        directory=tmp_path / "mosquitto", ca=ca, serial=SERIAL, access_code=CODE
    )
    async with broker:
        yield broker


def _tls(ca: CertificateAuthority) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    context.check_hostname = False
    return context


def _client(
    broker: MosquittoBroker,
    *,
    tls: ssl.SSLContext | None = None,
    username: str = "bblp",
    password: str = CODE,
    received: list[tuple[str, bytes]] | None = None,
) -> MqttClient:
    def on_message(topic: str, payload: bytes) -> None:
        if received is not None:
            received.append((topic, payload))

    return MqttClient(
        host="127.0.0.1",
        port=broker.tls_port if tls else broker.internal_port,
        client_id=f"test-{username}-{os.urandom(4).hex()}",
        username=username,
        password=password,
        ssl=tls,
        server_hostname=SERIAL if tls else None,
        on_message=on_message,
        reconnect_min_delay=0.05,
        reconnect_max_delay=0.2,
    )


async def test_printer_and_simulator_users(
    broker: MosquittoBroker, ca: CertificateAuthority
) -> None:
    assert broker.running
    assert broker.pid is not None
    assert broker.tls_port != broker.internal_port
    assert broker.ports == (broker.tls_port, broker.internal_port)
    from_printer: list[tuple[str, bytes]] = []
    from_client: list[tuple[str, bytes]] = []
    printer = _client(
        broker,
        username=broker.internal_username,
        password=broker.internal_password,
        received=from_printer,
    )
    client = _client(broker, tls=_tls(ca), received=from_client)
    async with printer, client:
        await printer.wait_connected(TIMEOUT)
        await client.wait_connected(TIMEOUT)
        printer.subscribe(f"device/{SERIAL}/request")
        client.subscribe(f"device/{SERIAL}/report")
        client.subscribe(f"device/{SERIAL}/request")
        await wait_until(lambda: len(client.granted) == 2 and printer.granted)
        client.publish(f"device/{SERIAL}/request", b'{"pushing":{"command":"pushall"}}')
        client.publish(f"device/{SERIAL}/report", b"forged")
        printer.publish(f"device/{SERIAL}/report", b'{"print":{}}')
        await wait_until(lambda: from_printer and from_client)
        await asyncio.sleep(0.1)
    assert from_printer == [(f"device/{SERIAL}/request", b'{"pushing":{"command":"pushall"}}')]
    assert from_client == [(f"device/{SERIAL}/report", b'{"print":{}}')]
    assert "u'bblp'" in broker.log_tail(50)


async def test_wrong_access_code_is_not_authorised(
    broker: MosquittoBroker, ca: CertificateAuthority
) -> None:
    client = _client(broker, tls=_tls(ca), password="87654321")
    async with client:
        with pytest.raises(MqttConnectionRefusedError) as err:
            await client.wait_connected(TIMEOUT)
    assert err.value.return_code == ConnackCode.NOT_AUTHORIZED


async def test_restart_keeps_the_ports(broker: MosquittoBroker, ca: CertificateAuthority) -> None:
    ports = broker.ports
    pid = broker.pid
    client = _client(broker, tls=_tls(ca))
    async with client:
        await client.wait_connected(TIMEOUT)
        await broker.restart()
        assert broker.ports == ports
        assert broker.pid != pid
        await wait_until(lambda: client.connect_count == 2 and client.connected)
    await broker.stop()
    assert not broker.running
    assert broker.pid is None
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", ports[0])
    await broker.stop()
    await broker.start()
    await broker.start()
    assert broker.ports == ports


async def _connack(broker: MosquittoBroker, ca: CertificateAuthority) -> int:
    client = _client(broker, tls=_tls(ca))
    async with client:
        try:
            await client.wait_connected(TIMEOUT)
        except MqttConnectionRefusedError as err:
            return err.return_code
    return ConnackCode.ACCEPTED


async def _until_connack(broker: MosquittoBroker, ca: CertificateAuthority, code: int) -> None:
    for _ in range(50):
        if await _connack(broker, ca) == code:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"CONNACK never became {code}")


async def test_access_code_can_be_withdrawn(
    broker: MosquittoBroker, ca: CertificateAuthority
) -> None:
    await broker.set_access_code(None)
    await _until_connack(broker, ca, ConnackCode.NOT_AUTHORIZED)
    await broker.set_access_code(CODE)
    await _until_connack(broker, ca, ConnackCode.ACCEPTED)


async def test_password_file_without_mosquitto_passwd(
    tmp_path: Path, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name: None if name == "mosquitto_passwd" else which(name)
    )
    broker = MosquittoBroker(directory=tmp_path / "m", ca=ca, serial=SERIAL, access_code=CODE)
    async with broker:
        lines = broker.password_path.read_text().splitlines()
        assert [line.split(":")[0] for line in lines] == ["farmsim", "bblp"]
        assert all(line.split(":")[1].startswith("$7$101$") for line in lines)
        client = _client(broker, tls=_tls(ca))
        async with client:
            await client.wait_connected(TIMEOUT)


def test_password_hash_format() -> None:
    salt = b"0123456789ab"
    expected = hashlib.pbkdf2_hmac("sha512", b"secret", salt, 101)
    value = password_hash("secret", salt=salt)
    _, algorithm, iterations, encoded_salt, encoded_hash = value.split("$")
    assert (algorithm, iterations) == ("7", "101")
    assert base64.b64decode(encoded_salt) == salt
    assert base64.b64decode(encoded_hash) == expected
    assert password_hash("secret") != password_hash("secret")


def test_free_ports_are_distinct() -> None:
    first = free_ports(3)
    second = free_ports(3)
    assert len(set(first) | set(second)) == 6


async def test_start_failure_reports_the_log(tmp_path: Path, ca: CertificateAuthority) -> None:
    broker = MosquittoBroker(directory=tmp_path / "m", ca=ca, serial=SERIAL, access_code=CODE)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        broker._tls_port = busy.getsockname()[1]
        broker._internal_port = free_ports(1)[0]
        with pytest.raises(MosquittoError, match="exited at start"):
            await broker.start()
    assert not broker.running
    assert "Address already in use" in broker.log_tail()


async def test_start_times_out(
    tmp_path: Path, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = MosquittoBroker(directory=tmp_path / "m", ca=ca, serial=SERIAL, access_code=CODE)

    async def never(_port: int) -> bool:
        return False

    monkeypatch.setattr(broker, "_accepts", never)
    monkeypatch.setattr(mosquitto, "START_TIMEOUT", 0.3)
    with pytest.raises(MosquittoError, match="did not listen"):
        await broker.start()
    assert not broker.running


async def test_stop_kills_a_stuck_process(
    broker: MosquittoBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = broker.pid
    assert pid is not None
    monkeypatch.setattr(mosquitto, "STOP_TIMEOUT", 0.0)
    await broker.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_stop_after_the_process_died(broker: MosquittoBroker) -> None:
    pid = broker.pid
    assert pid is not None
    os.kill(pid, 9)
    await wait_until(lambda: not broker.running)
    await broker.stop()
    assert broker.pid is None


async def test_missing_binaries(
    tmp_path: Path, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MosquittoBroker, "executable", classmethod(lambda _cls: None))
    assert not MosquittoBroker.available()
    broker = MosquittoBroker(directory=tmp_path / "m", ca=ca, serial=SERIAL, access_code=CODE)
    with pytest.raises(MosquittoError, match="not installed"):
        await broker.start()
    assert broker.log_tail() == ""


async def test_failing_mosquitto_passwd(
    tmp_path: Path, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    which = shutil.which
    monkeypatch.setattr(
        shutil,
        "which",
        lambda name: "/bin/false" if name == "mosquitto_passwd" else which(name),
    )
    broker = MosquittoBroker(directory=tmp_path / "m", ca=ca, serial=SERIAL, access_code=CODE)
    with pytest.raises(MosquittoError, match="false failed"):
        await broker.start()


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
        real = mosquitto.free_ports
        monkeypatch.setattr(
            mosquitto, "free_ports", lambda count, host: next(choices, None) or real(count, host)
        )
        broker = MosquittoBroker(directory=tmp_path / "m", ca=ca, serial=SERIAL, access_code=CODE)
        async with broker:
            assert broker.tls_port != taken
            assert broker.running


def test_free_ports_without_room_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "range"
    fake.write_text("10500\t60999\n")
    monkeypatch.setattr(mosquitto, "_EPHEMERAL_RANGE", fake)
    assert len(set(free_ports(2))) == 2
    fake.write_text("garbage")
    assert mosquitto._ephemeral_range() == (32768, 60999)


def test_busy_ports_are_skipped() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        assert not mosquitto._bindable("127.0.0.1", port)
