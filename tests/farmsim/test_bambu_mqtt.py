"""Tests for the simulated Bambu printers over MQTT with TLS, on Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from farmsim.bambu import BambuFleet, SimPrinter
from farmsim.certs import CertificateAuthority
from farmsim.clock import SimClock
from farmsim.context import SimConfig, SimContext
from farmsim.models import PRINT_ERROR_CANCELLED, Phase, Printer
from farmsim.scenario import populate
from farmsim.world import World

from .helpers import phase

if TYPE_CHECKING:
    from pathlib import Path

TIMEOUT = 5.0
FAST_PRINT = "https://files.printfarm.invalid/bracket.gcode.3mf?sim_seconds=600&sim_layers=50"
# One Mosquitto for the fleet, or one per printer
BROKERS = ["shared", "dedicated"]

type Report = dict[str, Any]


class Paho:
    """A paho-mqtt 2.1 client of one simulated printer, driven from asyncio tests."""

    def __init__(self, info: dict[str, Any], *, password: str | None = None) -> None:
        """Initialize the client from a connection-file entry."""
        self.info = info
        self.serial = str(info["serial"])
        self._loop = asyncio.get_running_loop()
        self.messages: asyncio.Queue[bytes] = asyncio.Queue()
        self.connack: asyncio.Future[Any] = self._loop.create_future()
        self.disconnected = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"ha-bambulab-{uuid.uuid4()}",
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set("bblp", password or str(info["access_code"]))
        context = ssl.create_default_context(cafile=str(info["ca_cert"]))
        context.check_hostname = False
        self.client.tls_set_context(context)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.reconnect_delay_set(min_delay=cast("int", 0.05), max_delay=cast("int", 0.2))

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc == 0:
            client.subscribe(f"device/{self.serial}/report")
        self._loop.call_soon_threadsafe(self._set_connack, rc)

    def _set_connack(self, rc: Any) -> None:
        if not self.connack.done():
            self.connack.set_result(rc)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._loop.call_soon_threadsafe(self.messages.put_nowait, message.payload)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        self._loop.call_soon_threadsafe(self.subscribed.clear)
        self._loop.call_soon_threadsafe(self.disconnected.set)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _m: Any, _rc: Any, _p: Any) -> None:
        self._loop.call_soon_threadsafe(self.subscribed.set)

    async def connect(self) -> Any:
        """Connect and return the CONNACK reason code."""
        self.client.connect_async("127.0.0.1", int(self.info["port"]), keepalive=5)
        self.client.loop_start()
        async with asyncio.timeout(TIMEOUT):
            rc = await self.connack
            if rc == 0:
                await self.subscribed.wait()
        return rc

    async def close(self) -> None:
        """Disconnect and stop paho's thread."""
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)

    def request(self, message: dict[str, Any] | bytes, qos: int = 0) -> None:
        """Publish a command to the printer."""
        payload = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.client.publish(f"device/{self.serial}/request", payload, qos=qos)

    async def raw(self, timeout: float = TIMEOUT) -> bytes:  # noqa: ASYNC109
        """Return the next payload as received."""
        async with asyncio.timeout(timeout):
            return await self.messages.get()

    async def next(
        self, predicate: Callable[[Report], bool] = lambda _: True, within: float = TIMEOUT
    ) -> Report:
        """Return the next JSON message matching the predicate."""
        async with asyncio.timeout(within):
            while True:
                payload = await self.messages.get()
                with contextlib.suppress(ValueError):
                    message = json.loads(payload)
                    if predicate(message):
                        return dict(message)

    async def status(
        self, predicate: Callable[[Report], bool] = lambda _: True, within: float = TIMEOUT
    ) -> Report:
        """Return the `print` object of the next push_status matching the predicate."""
        message = await self.next(
            lambda m: m.get("print", {}).get("command") == "push_status" and predicate(m["print"]),
            within,
        )
        return dict(message["print"])

    def drain(self) -> None:
        """Forget the messages received so far."""
        while not self.messages.empty():
            self.messages.get_nowait()

    async def pushall(self) -> Report:
        """Ask for and return a full report."""
        self.drain()
        self.request({"pushing": {"sequence_id": "0", "command": "pushall"}})
        return await self.status(lambda p: p["msg"] == 0)

    async def command(self, category: str, command: str, **params: Any) -> Report:
        """Send a command and return its acknowledgement."""
        sequence_id = uuid.uuid4().hex[:8]
        self.request({category: {"sequence_id": sequence_id, "command": command, **params}})
        message = await self.next(lambda m: m.get(category, {}).get("sequence_id") == sequence_id)
        return dict(message[category])

    async def quiet(self, seconds: float) -> list[bytes]:
        """Return whatever arrives within `seconds`."""
        received: list[bytes] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    received.append(await self.messages.get())
        return received


async def eventually(predicate: Callable[[], object], what: str) -> None:
    """Wait until a condition holds, polling it."""
    for _ in range(int(TIMEOUT / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


@dataclass
class Farm:
    """A world with its Bambu fleet running."""

    ctx: SimContext
    world: World
    clock: SimClock
    fleet: BambuFleet

    def printer(self, model: str) -> Printer:
        """Return the first printer of a model."""
        return next(p for p in self.world.printers.values() if p.model.code == model)

    def info(self, printer: Printer) -> dict[str, Any]:
        """Return the connection-file entry of a printer."""
        return next(i for i in self.fleet.connection_info() if i["serial"] == printer.serial)

    def sim(self, printer: Printer) -> SimPrinter:
        """Return the simulated printer of a world printer."""
        return self.fleet.get(printer.id)

    async def advance(self, seconds: float, step: float = 60.0) -> None:
        """Move simulated time forward in steps, letting reports go out."""
        while seconds > 0:
            self.clock.advance(min(step, seconds))
            seconds -= step
            self.world.tick()
            await asyncio.sleep(0.03)


@contextlib.asynccontextmanager
async def running_farm(tmp_path: Path, broker: str, printers: int = 3) -> AsyncIterator[Farm]:
    """Run a world of mixed printers (X1C, P1S, A1, ...) with its fleet."""
    clock = SimClock(start=1_700_000_000.0)
    world = World(clock=clock, seed=7)
    populate(world, printers=printers)
    config = SimConfig(report_interval=0.05, bambu_broker=broker)
    ctx = SimContext(config=config, world=world)
    fleet = BambuFleet(ctx, CertificateAuthority.create(tmp_path / "ca"), tmp_path)
    await fleet.start()
    await eventually(lambda: len(ctx.counters.mqtt_published) == printers, "first reports")
    try:
        yield Farm(ctx=ctx, world=world, clock=clock, fleet=fleet)
    finally:
        await fleet.close()


@pytest.fixture(name="farm", params=BROKERS)
async def farm_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Farm]:
    async with running_farm(tmp_path, request.param) as farm:
        yield farm


@contextlib.asynccontextmanager
async def connected(farm: Farm, printer: Printer) -> AsyncIterator[Paho]:
    """Connect a paho client to a printer."""
    client = Paho(farm.info(printer))
    try:
        assert await client.connect() == 0
        yield client
    finally:
        await client.close()


async def test_pushall_full_report_with_real_types(farm: Farm) -> None:
    printer = farm.printer("P1S")
    async with connected(farm, printer) as client:
        report = await client.pushall()
    assert report["msg"] == 0
    assert isinstance(report["sequence_id"], str)
    assert report["gcode_state"] == "IDLE"
    assert report["print_type"] == "idle"
    for key in ("mc_percent", "mc_remaining_time", "layer_num", "total_layer_num"):
        assert type(report[key]) is int
    for key in ("nozzle_temper", "nozzle_target_temper", "bed_temper", "bed_target_temper"):
        assert type(report[key]) is float
    for key in ("cooling_fan_speed", "big_fan1_speed", "big_fan2_speed", "heatbreak_fan_speed"):
        assert report[key].isdigit()
    assert report["mc_print_stage"] == "1"
    assert report["gcode_file_prepare_percent"] == "0"
    assert report["wifi_signal"].endswith("dBm")
    assert int(report["fun"], 16) & 0x20000000 == 0
    assert report["net"]["info"][0]["ip"] == 16777343
    assert report["stg_cur"] == 255
    assert report["chamber_temper"] == 5
    assert report["spd_lvl"] == 2
    assert report["print_error"] == 0
    assert report["hms"] == []
    assert report["lights_report"] == [{"node": "chamber_light", "mode": "on"}]
    ams = report["ams"]
    unit = ams["ams"][0]
    assert {"id", "humidity", "temp", "tray"} <= unit.keys()
    tray = unit["tray"][0]
    assert tray["state"] == 11
    assert tray["tray_type"] == "PLA"
    assert len(tray["tray_color"]) == 8
    assert type(tray["remain"]) is int
    assert ams["tray_exist_bits"] == "f"
    assert report["vt_tray"]["id"] == "254"
    assert report["vt_tray"]["tray_type"] == ""


async def test_wrong_access_code_is_refused(farm: Farm) -> None:
    client = Paho(farm.info(farm.printer("P1S")), password="00000000")
    try:
        rc = await client.connect()
    finally:
        await client.close()
    assert rc == "Not authorized"


async def test_deltas_carry_only_changes_and_merge(farm: Farm) -> None:
    printer = farm.printer("P1S")
    async with connected(farm, printer) as client:
        state = await client.pushall()
        farm.world.set_light(printer.id, "chamber_light", on=False)
        delta = await client.status(lambda p: "lights_report" in p)
        assert delta["msg"] == 1
        assert delta["lights_report"] == [{"node": "chamber_light", "mode": "off"}]
        assert set(delta) == {"command", "msg", "sequence_id", "lights_report"}
        state.update(delta)
        farm.world.set_speed(printer.id, 4)
        state.update(await client.status(lambda p: "spd_lvl" in p))
        tray = printer.trays[1]
        farm.world.load_spool(printer.id, tray.tray_id, None)
        delta = await client.status(lambda p: "ams" in p)
        assert delta["ams"]["ams"][0]["tray"][1] == {"id": "1", "state": 8}
        assert delta["ams"]["tray_exist_bits"] == "d"
        state.update(delta)
        assert await client.quiet(0.2) == []
        fresh = await client.pushall()
    for key in ("sequence_id", "msg"):
        state.pop(key)
        fresh.pop(key)
    assert state == fresh


async def test_x1c_sends_full_reports(farm: Farm) -> None:
    printer = farm.printer("X1C")
    async with connected(farm, printer) as client:
        first = await client.status()
        second = await client.status()
        version = await client.command("info", "get_version")
    for report in (first, second):
        assert report["msg"] == 0
        assert {"gcode_state", "ams", "lights_report", "t_utc", "vt_tray"} <= report.keys()
    assert int(second["sequence_id"]) > int(first["sequence_id"])
    assert first["stg_cur"] == -1
    assert type(first["chamber_temper"]) is float
    assert first["lights_report"] == [
        {"node": "chamber_light", "mode": "on"},
        {"node": "work_light", "mode": "on"},
    ]
    names = [module["name"] for module in version["module"]]
    assert names == ["ota", "rv1126", "mc", "th", "ams/0"]
    assert version["module"][0]["sn"] == printer.serial
    assert version["module"][0]["sw_ver"] == printer.model.firmware
    assert version["module"][1]["hw_ver"] == "AP05"
    assert version["module"][4]["sn"]


async def test_a1_without_ams_reports_the_external_spool(farm: Farm) -> None:
    printer = farm.printer("A1")
    async with connected(farm, printer) as client:
        report = await client.pushall()
        version = await client.command("info", "get_version")
    assert report["ams"]["ams"] == []
    assert report["vt_tray"]["id"] == "254"
    assert report["vt_tray"]["state"] == 11
    assert "lights_report" not in report
    modules = {module["name"]: module for module in version["module"]}
    assert modules["esp32"]["hw_ver"] == "AP05"
    assert modules["esp32"]["project_name"] == "N2S"
    assert not any(name.startswith("ams") for name in modules)


async def test_commands_reach_the_world(farm: Farm) -> None:
    printer = farm.printer("P1S")
    async with connected(farm, printer) as client:
        ack = await client.command("print", "pause", param="")
        assert ack["result"] == "failed"
        assert ack["reason"]
        farm.world.submit_job(source="autoprintfarm", file_url=FAST_PRINT, printer_id=printer.id)
        await farm.advance(120)
        assert phase(printer) is Phase.RUNNING
        ack = await client.command("print", "pause", param="")
        assert ack == {
            "sequence_id": ack["sequence_id"],
            "command": "pause",
            "param": "",
            "result": "success",
            "reason": "",
        }
        assert phase(printer) is Phase.PAUSE
        await client.status(lambda p: p.get("gcode_state") == "PAUSE")
        assert (await client.command("print", "resume"))["result"] == "success"
        await client.status(lambda p: p.get("gcode_state") == "RUNNING")
        assert (await client.command("print", "print_speed", param="3"))["result"] == "success"
        assert (await client.status(lambda p: "spd_lvl" in p))["spd_lvl"] == 3
        assert (await client.command("print", "print_speed", param="9"))["result"] == "failed"
        ack = await client.command(
            "system",
            "ledctrl",
            led_node="chamber_light",
            led_mode="off",
            led_on_time=500,
            led_off_time=500,
            loop_times=0,
            interval_time=0,
        )
        assert ack["result"] == "success"
        assert ack["led_mode"] == "off"
        report = await client.status(lambda p: "lights_report" in p)
        assert report["lights_report"] == [{"node": "chamber_light", "mode": "off"}]
        ack = await client.command("print", "gcode_line", param="M104 S200\nM140 S60\n")
        assert ack["result"] == "success"
        assert (printer.nozzle_target, printer.bed_target) == (200.0, 60.0)
        assert (await client.command("print", "stop", param=""))["result"] == "success"
        report = await client.status(lambda p: p.get("gcode_state") == "FAILED")
        assert report["print_error"] == PRINT_ERROR_CANCELLED
        await farm.advance(3)
        assert (await client.status(lambda p: "print_error" in p))["print_error"] == 0
        assert (await client.command("print", "ams_change_filament", target=1))["result"] == (
            "success"
        )
    assert farm.ctx.counters.mqtt_commands[printer.id] == 9
    assert farm.ctx.counters.mqtt_published[printer.id] >= 10


async def test_project_file_starts_a_print(farm: Farm) -> None:
    printer = farm.printer("A1")
    async with connected(farm, printer) as client:
        ack = await client.command(
            "print",
            "project_file",
            param="Metadata/plate_1.gcode",
            url="file:///sdcard/cache/widget.3mf?sim_seconds=300",
            subtask_name="widget.3mf",
            bed_levelling=True,
            use_ams=False,
            ams_mapping=[0],
        )
        assert ack["result"] == "success"
        report = await client.status(lambda p: p.get("gcode_state") == "PREPARE")
        assert report["subtask_name"] == "widget"
        assert report["print_type"] == "local"
        ack = await client.command("print", "project_file", url="", subtask_name="x")
        assert ack["result"] == "failed"
        ack = await client.command("print", "project_file", url="file:///sdcard/y.3mf")
        assert ack["result"] == "failed"
    assert phase(printer) is Phase.PREPARE
    job = farm.world.jobs[printer.job_id or ""]
    assert job.source == "lan"
    assert job.name == "widget"


async def test_job_is_seen_from_prepare_to_finish(farm: Farm) -> None:
    printer = farm.printer("P1S")
    async with connected(farm, printer) as client:
        before = (await client.pushall())["ams"]
        job = farm.world.submit_job(source="printago", file_url=FAST_PRINT, printer_id=printer.id)
        report = await client.status(lambda p: p.get("gcode_state") == "PREPARE")
        assert report["subtask_name"] == job.name
        assert report["print_type"] == "cloud"
        assert report["mc_print_stage"] == "2"
        await farm.advance(500, step=100)
        running = await client.pushall()
        assert running["gcode_state"] == "RUNNING"
        assert running["stg_cur"] == 0
        assert running["gcode_file"] == "bracket.gcode.3mf"
        assert running["cooling_fan_speed"] == "15"
        percents = [running["mc_percent"]]
        for _ in range(3):
            await farm.advance(90, step=90)
            percents.append((await client.pushall())["mc_percent"])
        assert percents == sorted(percents)
        assert percents[-1] > percents[0]
        assert 0 < (await client.pushall())["mc_remaining_time"] <= 10
        await farm.advance(300, step=150)
        finished = await client.status(lambda p: p.get("gcode_state") == "FINISH")
        assert (await client.pushall())["mc_percent"] == 100
        after = (await client.pushall())["ams"]
    assert finished["msg"] == 1
    active = int(after["tray_now"])
    assert active != 255
    old = before["ams"][0]["tray"][active]["remain"]
    new = after["ams"][0]["tray"][active]["remain"]
    assert new < old


async def test_silent_printer_sends_nothing_but_obeys(farm: Farm) -> None:
    printer = farm.printer("X1C")
    async with connected(farm, printer) as client:
        await client.status()
        farm.world.set_silent(printer.id, silent=True)
        await client.quiet(0.1)
        published = farm.ctx.counters.mqtt_published[printer.id]
        client.request({"pushing": {"sequence_id": "1", "command": "pushall"}})
        client.request({"print": {"sequence_id": "2", "command": "print_speed", "param": "1"}})
        assert await client.quiet(0.2) == []
        assert printer.speed_level == 1
        assert farm.ctx.counters.mqtt_published[printer.id] == published
        farm.world.set_silent(printer.id, silent=False)
        assert (await client.status())["spd_lvl"] == 1


async def test_offline_printer_is_unreachable_then_back_on_the_same_port(farm: Farm) -> None:
    printer = farm.printer("P1S")
    port = farm.info(printer)["port"]
    context = ssl.create_default_context(cafile=farm.info(printer)["ca_cert"])
    context.check_hostname = False
    async with connected(farm, printer) as client:
        farm.world.set_online(printer.id, online=False)
        async with asyncio.timeout(TIMEOUT):
            await client.disconnected.wait()
        await eventually(lambda: not farm.sim(printer).broker_running, "broker stopped")
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port, ssl=context)
    farm.world.set_online(printer.id, online=True)
    await eventually(lambda: farm.sim(printer).broker_running, "broker back")
    assert farm.info(printer)["port"] == port
    async with connected(farm, printer) as client:
        assert (await client.pushall())["gcode_state"] == "IDLE"


async def test_faulty_reports_arrive_broken_once(farm: Farm) -> None:
    printer = farm.printer("P1S")
    for other in farm.world.printers.values():
        farm.world.set_silent(other.id, silent=other is not printer)

    def broken(payloads: list[bytes]) -> list[bytes]:
        found = []
        for payload in payloads:
            try:
                json.loads(payload)
            except ValueError:
                found.append(payload)
        return found

    async with connected(farm, printer) as client:
        await client.pushall()
        farm.ctx.faults.mqtt.malformed_next = 1
        client.request({"pushing": {"sequence_id": "0", "command": "pushall"}})
        client.request({"pushing": {"sequence_id": "0", "command": "pushall"}})
        assert broken(await client.quiet(0.2)) == [
            b'{"print": {"command": "push_status", "mc_percent": ]]not json'
        ]
        farm.ctx.faults.mqtt.truncated_next = 1
        client.request({"pushing": {"sequence_id": "0", "command": "pushall"}})
        client.request({"pushing": {"sequence_id": "0", "command": "pushall"}})
        [truncated] = broken(await client.quiet(0.2))
        assert truncated.startswith(b'{"print":{"command":"push_status",')
        assert (await client.pushall())["msg"] == 0


async def test_malformed_requests_are_ignored(farm: Farm) -> None:
    printer = farm.printer("A1")
    async with connected(farm, printer) as client:
        for payload in (
            b"not json",
            b"\xff\xfe",
            b"[1, 2]",
            b'{"print": "pause"}',
            b'{"print": {"sequence_id": "1"}}',
            b'{"print": {"sequence_id": "1", "command": "self_destruct"}}',
            b'{"print": {"sequence_id": "1", "command": "gcode_line", "param": 5}}',
            b'{"system": {"sequence_id": "1", "command": "ledctrl", "led_mode": "on"}}',
        ):
            client.request(payload)
        ack = await client.command("print", "gcode_line", param=5)
        assert ack["result"] == "failed"
        ack = await client.command("system", "ledctrl", led_node="chamber_light", led_mode="on")
        assert ack["result"] == "failed"
        assert (await client.pushall())["gcode_state"] == "IDLE"
    assert farm.ctx.counters.mqtt_commands[printer.id] >= 11


async def test_pushing_stop_and_start(farm: Farm) -> None:
    printer = farm.printer("X1C")
    async with connected(farm, printer) as client:
        await client.status()
        client.request({"pushing": {"sequence_id": "0", "command": "stop"}})
        await client.quiet(0.1)
        assert await client.quiet(0.15) == []
        assert not farm.sim(printer).pushing
        assert (await client.pushall())["msg"] == 0
        client.request({"pushing": {"sequence_id": "0", "command": "start"}})
        await client.status()
        assert farm.sim(printer).pushing


async def test_wifi_signal_jitters_without_other_changes(farm: Farm) -> None:
    printer = farm.printer("A1")
    sim = farm.sim(printer)
    async with connected(farm, printer) as client:
        await client.pushall()
        await client.quiet(0.1)
        sim._next_jitter = 0.0
        delta = await client.status(lambda p: "wifi_signal" in p)
    assert set(delta) == {"command", "msg", "sequence_id", "wifi_signal"}
    assert delta["wifi_signal"] != f"{printer.wifi_signal}dBm"
