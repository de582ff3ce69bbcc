"""Tests for the Bambu fleet: connection info, added printers and broker faults."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from farmsim.bambu import BambuFleet, BambuTransport, Shard
from farmsim.bambu import printer as printer_module
from tests.farmsim.test_bambu_mqtt import (
    BROKERS,
    TIMEOUT,
    Farm,
    Paho,
    connected,
    eventually,
    running_farm,
)

INFO_KEYS = {
    "name",
    "serial",
    "model",
    "host",
    "port",
    "access_code",
    "ca_cert",
    "autoprintfarm_id",
    "printago_id",
}


@pytest.fixture(name="farm", params=BROKERS)
async def farm_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Farm]:
    async with running_farm(tmp_path, request.param) as farm:
        yield farm


async def _can_connect(info: dict[str, Any], timeout: float = 0.5) -> bool:  # noqa: ASYNC109
    client = Paho(info)
    try:
        async with asyncio.timeout(timeout):
            return bool(await client.connect() == 0)
    except TimeoutError:
        return False
    finally:
        await client.close()


async def _refused(info: dict[str, Any]) -> bool:
    return not await _can_connect(info)


async def _connects_eventually(info: dict[str, Any], *, expected: bool) -> None:
    for _ in range(20):
        if await _can_connect(info, 0.3) is expected:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"connecting did not become {'possible' if expected else 'impossible'}")


async def test_connection_info(farm: Farm) -> None:
    info = farm.fleet.connection_info()
    assert [entry["model"] for entry in info] == ["X1C", "P1S", "A1"]
    for entry in info:
        assert set(entry) == INFO_KEYS
        printer = farm.world.printer(entry["autoprintfarm_id"])
        assert entry["serial"] == printer.serial
        assert entry["printago_id"] == printer.printago_id
        assert entry["access_code"] == printer.access_code
        assert entry["host"] == "127.0.0.1"
        assert entry["port"] > 0
        assert Path(entry["ca_cert"]).is_absolute()
        assert Path(entry["ca_cert"]).is_file()
    assert len({entry["port"] for entry in info}) == 3
    serial = info[1]["serial"]
    assert farm.fleet.get(serial) is farm.fleet.get(info[1]["autoprintfarm_id"])


async def test_printers_added_later_get_an_endpoint(farm: Farm) -> None:
    printer = farm.world.add_printer(model="A1MINI", name="Mini")
    await farm.fleet.wait_ready(printer.id)
    async with connected(farm, printer) as client:
        report = await client.pushall()
        version = await client.command("info", "get_version")
    assert report["vt_tray"]["state"] == 8
    assert version["module"][1]["project_name"] == "N1"


async def test_stop_and_start_broker_on_the_same_port(farm: Farm) -> None:
    printer = farm.printer("P1S")
    info = farm.info(printer)
    await farm.fleet.stop_broker(printer.id)
    assert not farm.sim(printer).broker_running
    assert await _refused(info)
    farm.world.tick()
    await asyncio.sleep(0.1)
    assert not farm.sim(printer).broker_running
    await farm.fleet.start_broker(printer.id)
    assert farm.info(printer)["port"] == info["port"]
    assert await _can_connect(info)
    farm.world.set_online(printer.id, online=False)
    await eventually(lambda: not farm.sim(printer).broker_running, "offline")
    await farm.fleet.start_broker(printer.id)
    assert not farm.sim(printer).broker_running


async def test_drop_connections(farm: Farm) -> None:
    printer = farm.printer("A1")
    async with connected(farm, printer) as client:
        farm.fleet.drop_connections(printer.id)
        async with asyncio.timeout(TIMEOUT):
            await client.disconnected.wait()
        async with asyncio.timeout(TIMEOUT):
            await client.subscribed.wait()
        await eventually(lambda: farm.sim(printer).broker_running, "broker back")
        assert (await client.pushall())["gcode_state"] == "IDLE"
    farm.fleet.drop_connections(None)


async def test_refuse_connections(farm: Farm) -> None:
    printer = farm.printer("X1C")
    info = farm.info(printer)
    farm.fleet.set_refuse(printer.id, refuse=True)
    await _connects_eventually(info, expected=False)
    farm.fleet.set_refuse(None, refuse=False)
    await _connects_eventually(info, expected=True)


async def test_removed_printers_are_closed(farm: Farm) -> None:
    printer = farm.printer("A1")
    info = farm.info(printer)
    del farm.world.printers[printer.id]
    farm.world.emit("printer.removed", printer_id=printer.id)
    await eventually(lambda: printer.id not in farm.fleet.printers, "removal")
    await eventually(lambda: not farm.fleet._tasks, "closed")
    assert [entry["model"] for entry in farm.fleet.connection_info()] == ["X1C", "P1S"]
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", info["port"])
    farm.world.emit("printer.removed", printer_id="prt_unknown")
    farm.world.emit("job.created", job_id="job_x")


async def test_clients_cannot_forge_reports_or_wildcard(tmp_path: Path) -> None:
    async with running_farm(tmp_path, "shared", printers=2) as farm:
        printer = farm.printer("P1S")
        async with connected(farm, printer) as victim, connected(farm, printer) as forger:
            forger.client.subscribe("#")
            forger.client.publish(f"device/{printer.serial}/report", b'{"print":{"forged":1}}')
            await asyncio.sleep(0.2)
            payloads = [*await victim.quiet(0.1), *await forger.quiet(0.05)]
        assert not any(b"forged" in payload for payload in payloads)


async def test_a_client_of_one_printer_sees_nothing_of_another(tmp_path: Path) -> None:
    async with running_farm(tmp_path, "shared", printers=2) as farm:
        mine, other = farm.printer("X1C"), farm.printer("P1S")
        assert farm.sim(mine).transport.shard is farm.sim(other).transport.shard  # type: ignore[attr-defined]
        async with connected(farm, mine) as client:
            client.client.subscribe("#")
            client.client.subscribe(f"device/{other.serial}/report")
            await asyncio.sleep(0.1)
            client.drain()
            client.client.publish(
                f"device/{other.serial}/request",
                json.dumps({"print": {"sequence_id": "1", "command": "print_speed", "param": "4"}}),
            )
            await farm.advance(1.0)
            received = await client.quiet(0.3)
        assert received
        assert all(f'"{other.serial}"'.encode() not in payload for payload in received)
        assert other.speed_level == 2
        # Its access code is not the other printer's
        other_info = farm.info(other)
        intruder = Paho({**other_info, "port": farm.info(mine)["port"]})
        try:
            assert await intruder.connect() == "Not authorized"
        finally:
            await intruder.close()


async def test_a_new_access_code_is_the_only_one_let_in(tmp_path: Path) -> None:
    async with running_farm(tmp_path, "shared", printers=2) as farm:
        printer = farm.printer("P1S")
        old = farm.info(printer)
        async with connected(farm, printer) as client:
            printer.access_code = "87654321"
            assert await _refused(old)
            # Mosquitto cut the client that logged in with the old code
            async with asyncio.timeout(TIMEOUT):
                await client.disconnected.wait()
        assert await _can_connect({**old, "access_code": "87654321"})
        printer.access_code = "11223344"
        await eventually(
            lambda: farm.sim(printer).transport.shard.codes[printer.serial] == "11223344",
            "sync at a report",
        )  # type: ignore[attr-defined]


async def test_failures_in_the_loop_are_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_farm(tmp_path, "embedded", printers=2) as farm:
        printer = farm.printer("P1S")
        original = farm.world.tick_printer
        calls = {"n": 0}

        def tick_printer(printer_id: str) -> None:
            calls["n"] += 1
            if calls["n"] == 1:
                msg = "boom"
                raise RuntimeError(msg)
            original(printer_id)

        monkeypatch.setattr(farm.world, "tick_printer", tick_printer)
        await eventually(lambda: "report failed" in caplog.text, "loop error")
        monkeypatch.setattr(farm.world, "tick_printer", original)

        def explode(*_args: object) -> None:
            msg = "kaboom"
            raise RuntimeError(msg)

        monkeypatch.setattr(printer_module, "execute", explode)
        async with connected(farm, printer) as client:
            client.request({"print": {"sequence_id": "1", "command": "pause"}})
            await eventually(lambda: "command pause failed" in caplog.text, "command error")
            assert (await client.pushall())["gcode_state"] == "IDLE"


async def test_offline_from_another_thread_is_reconciled(tmp_path: Path) -> None:
    async with running_farm(tmp_path, "embedded", printers=2) as farm:
        printer = farm.printer("P1S")
        await asyncio.to_thread(farm.world.set_online, printer.id, online=False)
        await eventually(lambda: not farm.sim(printer).broker_running, "reconciled stop")
        await asyncio.to_thread(farm.world.set_online, printer.id, online=True)
        await eventually(lambda: farm.sim(printer).broker_running, "reconciled start")


async def test_printer_removed_from_the_world_stops_its_loop(tmp_path: Path) -> None:
    async with running_farm(tmp_path, "embedded", printers=2) as farm:
        printer = farm.printer("P1S")
        sim = farm.sim(printer)
        del farm.world.printers[printer.id]
        await asyncio.sleep(0.15)
        assert sim._loop_task is not None
        assert sim._loop_task.done()
        await sim.start_broker()
        farm.world.printers[printer.id] = printer


async def test_fleet_lifecycle(tmp_path: Path) -> None:
    async with running_farm(tmp_path, "shared", printers=1) as farm:
        printer = farm.world.add_printer(model="P1S", name="Late")
        fleet = BambuFleet(farm.ctx, farm.fleet.ca, tmp_path / "other")
        await fleet.wait_ready(printer.id)
        assert [entry["name"] for entry in fleet.connection_info()] == ["Late"]
        await fleet.start()
        assert len(fleet.printers) == 2
        farm.world.printers.pop(printer.id)
        assert [entry["name"] for entry in fleet.connection_info()] == ["X1C-01"]
        farm.world.printers[printer.id] = printer
        await fleet.close()
        await fleet.close()
        assert fleet.printers == {}
        transport = farm.sim(farm.printer("X1C")).transport
        assert isinstance(transport, BambuTransport)
        await transport.start()
        assert transport.running


@pytest.mark.parametrize("broker", ["shared", "dedicated"])
async def test_printers_share_a_mosquitto_or_get_their_own(tmp_path: Path, broker: str) -> None:
    async with running_farm(tmp_path, broker, printers=3) as farm:
        shards = {id(farm.sim(p).transport.shard) for p in farm.world.printers.values()}  # type: ignore[attr-defined]
        assert len(shards) == (1 if broker == "shared" else 3)
        late = farm.world.add_printer(model="A1", name="Late")
        await farm.fleet.wait_ready(late.id)
        late_shard = farm.sim(late).transport.shard  # type: ignore[attr-defined]
        assert id(late_shard) not in shards
        assert late_shard.serials == [late.serial]
        async with connected(farm, late) as client:
            assert (await client.pushall())["gcode_state"] == "IDLE"
        farm.world.remove_printer(late.id)
        await eventually(lambda: not late_shard.broker.running, "its Mosquitto stopped")


async def test_transport_details(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_farm(tmp_path, "shared", printers=1) as farm:
        printer = farm.printer("X1C")
        shard = Shard(tmp_path / "unstarted", farm.fleet.ca, [printer])
        transport = BambuTransport(printer, shard)
        assert transport.port == 0
        assert not transport.running
        assert not transport.publish(b"{}")
        transport.attach(lambda _payload: None)
        await transport.close()
        await shard.close()

        running = farm.sim(printer).transport
        assert isinstance(running, BambuTransport)

        async def fail(_serial: str, _code: str | None) -> None:
            msg = "no reload"
            raise OSError(msg)

        monkeypatch.setattr(running.shard, "set_access_code", fail)
        caplog.set_level(logging.ERROR)
        printer.access_code = "99999999"
        await eventually(lambda: "Changing the access code" in caplog.text, "sync error")


async def test_start_failures_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_farm(tmp_path, "shared", printers=1) as farm:

        async def broken(_self: object) -> None:
            msg = "no port"
            raise OSError(msg)

        monkeypatch.setattr(printer_module.SimPrinter, "start", broken)
        printer = farm.world.add_printer(model="P1S", name="Broken")
        with pytest.raises(OSError, match="no port"):
            await farm.fleet.wait_ready(printer.id)
        assert "Starting a simulated printer failed" in caplog.text
        monkeypatch.undo()
        late = farm.world.add_printer(model="A1", name="Gone")
        farm.world.emit("printer.removed", printer_id=late.id)
        await eventually(lambda: not farm.fleet._tasks, "removal")
        assert late.id not in farm.fleet.printers


async def test_broker_control_failures_are_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_farm(tmp_path, "shared", printers=1) as farm:
        printer = farm.printer("X1C")
        sim = farm.sim(printer)
        async with connected(farm, printer) as client:
            await client.status()
            sim._pushing = False
            await client.quiet(0.1)
            farm.world.set_speed(printer.id, 3)
            assert await client.quiet(0.15) == []
            sim._pushing = True
            sim.push_now()
            assert (await client.status())["spd_lvl"] == 3
        farm.world.set_online(printer.id, online=False)
        await eventually(lambda: not sim.broker_running, "offline")

        async def broken() -> None:
            msg = "port taken"
            raise OSError(msg)

        monkeypatch.setattr(sim.transport, "start", broken)
        farm.world.set_online(printer.id, online=True)
        await eventually(lambda: "broker control failed" in caplog.text, "control error")


async def test_transport_close_cancels_a_pending_access_code_change(tmp_path: Path) -> None:
    async with running_farm(tmp_path, "shared", printers=1) as farm:
        printer = farm.printer("X1C")
        shard = farm.sim(printer).transport.shard  # type: ignore[attr-defined]
        # A second transport of the same listener, which no simulated printer drives
        transport = BambuTransport(printer, shard)
        await transport.start()
        printer.access_code = "24682468"
        transport.sync()
        assert transport._sync is not None
        await transport.close()
        assert not transport.broker.running


async def test_printers_added_from_another_thread(tmp_path: Path) -> None:
    async with running_farm(tmp_path, "shared", printers=1) as farm:
        printer = await asyncio.to_thread(farm.world.add_printer, model="A1", name="Threaded")
        assert printer.id not in farm.fleet.printers
        await farm.fleet.wait_ready(printer.id)
        assert farm.sim(printer).broker_running


async def test_a_dead_mosquitto_is_started_again(tmp_path: Path) -> None:
    async with running_farm(tmp_path, "shared", printers=2) as farm:
        printer = farm.printer("P1S")
        shard = farm.sim(printer).transport.shard  # type: ignore[attr-defined]
        port = farm.info(printer)["port"]
        assert shard.broker.pid is not None
        os.kill(shard.broker.pid, signal.SIGKILL)
        await eventually(lambda: not farm.sim(printer).broker_running, "noticed")
        await eventually(lambda: farm.sim(printer).broker_running, "started again")
        assert farm.info(printer)["port"] == port
        async with connected(farm, printer) as client:
            assert (await client.pushall())["gcode_state"] == "IDLE"


async def test_sent_listeners_see_what_left_for_mosquitto(tmp_path: Path) -> None:
    async with running_farm(tmp_path, "shared", printers=1) as farm:
        sent: list[tuple[str, bytes, float]] = []
        remove = farm.fleet.add_sent_listener(lambda *args: sent.append(args))
        late = farm.world.add_printer(model="A1", name="Late")
        await farm.fleet.wait_ready(late.id)
        serials = {farm.printer("X1C").serial, late.serial}
        await eventually(
            lambda: {topic.split("/")[1] for topic, _, _ in sent} == serials, "both shards"
        )
        assert all(topic.endswith("/report") and payload for topic, payload, _ in sent)
        remove()
        count = len(sent)
        await asyncio.sleep(0.2)
        assert len(sent) == count
