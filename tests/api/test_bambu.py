"""Tests for the Bambu LAN printer client against farmsim's printers (embedded and Mosquitto)."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from custom_components.printfarm.api.bambu.client import (
    BambuPrinterClient,
    async_create_ssl_context,
    create_ssl_context,
)
from custom_components.printfarm.api.errors import (
    PrintFarmAuthenticationError,
    PrintFarmConflictError,
    PrintFarmConnectionError,
    PrintFarmPermissionError,
    PrintFarmTimeoutError,
    PrintFarmValidationError,
)
from custom_components.printfarm.api.models import PrinterStatus
from custom_components.printfarm.api.state import (
    PrinterEvent,
    PrinterEventType,
    PrinterState,
    PrinterUpdate,
)
from farmsim import FarmSim
from farmsim.models import PRINT_ERROR_CANCELLED, Phase, Printer
from farmsim.mosquitto import MosquittoBroker
from farmsim.testing import running_farmsim

from .helpers import TIMEOUT, wait_until

P1S = 1  # index of the P1S (delta reports) in the default farm; 0 is an X1C (full reports)
JOB_URL = "https://x.example/a.3mf?sim_seconds=600&sim_grams=5"
E = PrinterEventType

BROKERS = [
    pytest.param("embedded", id="embedded"),
    pytest.param(
        "mosquitto",
        id="mosquitto",
        marks=pytest.mark.skipif(
            not MosquittoBroker.available(), reason="mosquitto is not installed"
        ),
    ),
]


class Recorder:
    """Collects the callbacks of a client."""

    def __init__(self) -> None:
        """Initialize empty records."""
        self.updates: list[PrinterUpdate] = []
        self.events: list[PrinterEvent] = []
        self.auth_failures: list[PrintFarmAuthenticationError] = []

    def types(self) -> list[PrinterEventType]:
        """Return the event types seen so far."""
        return [event.type for event in self.events]

    def count(self, event_type: PrinterEventType) -> int:
        """Return how often an event was seen."""
        return self.types().count(event_type)


class RequestSpy:
    """Records every request a simulated printer receives."""

    def __init__(self, sim: FarmSim, printer_id: str) -> None:
        """Initialize the spy on the simulated printer's request handler."""
        self.requests: list[tuple[float, dict[str, Any]]] = []
        self._printer = sim.fleet.get(printer_id)
        self._printer.transport.attach(self._handle)

    def _handle(self, payload: bytes) -> None:
        self.requests.append((asyncio.get_running_loop().time(), json.loads(payload)))
        self._printer.handle_request(payload)

    def commands(self, category: str) -> list[str]:
        """Return the commands received in a category."""
        return [body[category]["command"] for _, body in self.requests if category in body]

    def times(self, category: str, command: str) -> list[float]:
        """Return when a command was received."""
        return [
            at
            for at, body in self.requests
            if category in body and body[category].get("command") == command
        ]


@pytest.fixture(params=BROKERS)
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[FarmSim]:
    """Run a farm of two printers behind the embedded broker or a real Mosquitto."""
    async with running_farmsim(
        printers=2, report_interval=0.05, bambu_broker=request.param
    ) as farm:
        yield farm


@pytest.fixture
async def embedded() -> AsyncIterator[FarmSim]:
    """Run a farm of two printers behind the embedded broker."""
    async with running_farmsim(printers=2, report_interval=0.05) as farm:
        yield farm


def info_of(sim: FarmSim, index: int = P1S) -> dict[str, Any]:
    """Return the connection-file entry of a printer."""
    info: dict[str, Any] = sim.connection["printers"][index]
    return info


def make_client(
    sim: FarmSim, recorder: Recorder, *, index: int = P1S, **kwargs: Any
) -> BambuPrinterClient:
    """Return a client of a simulated printer with fast timings."""
    info = info_of(sim, index)
    options: dict[str, Any] = {
        "host": info["host"],
        "port": info["port"],
        "serial": info["serial"],
        "access_code": info["access_code"],
        "ca_file": info["ca_cert"],
        "reconnect_min_delay": 0.05,
        "reconnect_max_delay": 0.2,
        "pushall_interval": 0.2,
        "command_timeout": 3.0,
        "stale_timeout": 5.0,
        "on_update": recorder.updates.append,
        "on_event": recorder.events.append,
        "on_auth_failed": recorder.auth_failures.append,
    }
    options.update(kwargs)
    return BambuPrinterClient(**options)


def phase_of(printer: Printer) -> Phase:
    """Return the phase of a world printer (read afresh, never narrowed)."""
    return printer.phase


async def run_clock(sim: FarmSim, until: Callable[[], bool], *, step: float = 10.0) -> None:
    """Move simulated time forward in steps until a condition holds."""
    async with asyncio.timeout(TIMEOUT):
        while not until():
            sim.world.clock.advance(step)
            await asyncio.sleep(0.02)


async def start_job(sim: FarmSim, client: BambuPrinterClient) -> None:
    """Put a job on the client's printer and wait until it prints."""
    printer_id = info_of(sim)["autoprintfarm_id"]
    sim.world.submit_job(source="test", file_url=JOB_URL, printer_id=printer_id)
    await run_clock(sim, lambda: client.state.status is PrinterStatus.PRINTING)


async def test_connects_with_the_ca(sim: FarmSim) -> None:
    """Test the client verifies the printer's CA and reports the printer as the world has it."""
    recorder = Recorder()
    info = info_of(sim)
    async with make_client(sim, recorder) as client:
        state = await client.wait_ready(timeout=TIMEOUT)
        await wait_until(lambda: client.state.model is not None)
        assert client.connected
        assert client.available
        assert state.online
        assert state.status is PrinterStatus.IDLE
        state = client.state
        assert state.model == info["model"] == "P1S"
        assert state.firmware == "01.08.01.00"
        assert state.chamber is None
        assert len([tray for tray in state.trays if tray.loaded]) == 4
        printer = sim.world.printer(info["autoprintfarm_id"])
        assert state.speed_level == printer.speed_level
        assert state.lights == {"chamber_light": True}
        assert recorder.updates[0].changed == frozenset(
            recorder.updates[0].state.changed_fields(None)
        )
        assert recorder.updates[0].printer_key == info["serial"]
        assert recorder.types() == [E.ONLINE]
    assert client._connection is None
    assert not client._available
    assert client.state.status is PrinterStatus.OFFLINE


async def test_wrong_access_code(sim: FarmSim) -> None:
    """Test a refused access code is an authentication error, reported once, with no retries."""
    recorder = Recorder()
    client = make_client(sim, recorder, access_code="OMGSPIDERS")
    await client.start()
    with pytest.raises(PrintFarmAuthenticationError):
        await client.wait_ready(timeout=TIMEOUT)
    assert client.auth_failed
    await asyncio.sleep(0.3)
    assert len(recorder.auth_failures) == 1
    assert recorder.updates == []
    assert client._supervisor is not None
    assert not client._supervisor.running
    transport = sim.fleet.get(info_of(sim)["autoprintfarm_id"]).transport
    if (broker := getattr(transport, "broker", None)) is not None and hasattr(broker, "stats"):
        assert broker.stats.connections_refused == 1
        assert broker.stats.connections_accepted == 0
    await client.stop()


async def test_job_lifecycle(sim: FarmSim) -> None:
    """Test a job is seen preparing, printing with rising progress, then finished, with events."""
    recorder = Recorder()
    async with make_client(sim, recorder) as client:
        await client.wait_ready(timeout=TIMEOUT)
        printer_id = info_of(sim)["autoprintfarm_id"]
        sim.world.submit_job(source="test", file_url=JOB_URL, printer_id=printer_id)
        await run_clock(sim, lambda: client.state.status is PrinterStatus.FINISHED, step=15.0)
        await asyncio.sleep(0.2)
    statuses = [update.state.status for update in recorder.updates]
    assert PrinterStatus.PREPARING in statuses
    first_printing = statuses.index(PrinterStatus.PRINTING)
    assert statuses.index(PrinterStatus.PREPARING) < first_printing
    assert statuses.index(PrinterStatus.FINISHED) > first_printing
    progress = [
        update.state.progress
        for update in recorder.updates
        if update.state.status is PrinterStatus.PRINTING and update.state.progress is not None
    ]
    assert progress == sorted(progress)
    assert len(set(progress)) > 3
    assert recorder.updates[-1].state.job_name == "a"
    assert recorder.count(E.PRINT_STARTED) == 1
    assert recorder.count(E.PRINT_FINISHED) == 1
    assert recorder.types().index(E.PRINT_STARTED) < recorder.types().index(E.PRINT_FINISHED)
    assert E.PRINT_FAILED not in recorder.types()
    finished = recorder.events[recorder.types().index(E.PRINT_FINISHED)]
    assert finished.data["job_name"] == "a"


async def test_commands_reach_the_printer(sim: FarmSim) -> None:
    """Test every command reaches the simulated printer, is acknowledged and shows in the state."""
    recorder = Recorder()
    printer_id = info_of(sim)["autoprintfarm_id"]
    printer = sim.world.printer(printer_id)
    async with make_client(sim, recorder) as client:
        await client.wait_ready(timeout=TIMEOUT)
        spy = RequestSpy(sim, printer_id)
        await start_job(sim, client)

        await client.pause()
        assert phase_of(printer) is Phase.PAUSE
        await wait_until(lambda: client.state.status is PrinterStatus.PAUSED)
        await client.resume()
        assert phase_of(printer) is Phase.RUNNING
        await wait_until(lambda: client.state.status is PrinterStatus.PRINTING)
        await client.set_print_speed(4)
        assert printer.speed_level == 4
        await wait_until(lambda: client.state.speed_level == 4)
        await client.set_light(on=False)
        assert printer.lights == {"chamber_light": False}
        await wait_until(lambda: client.state.lights == {"chamber_light": False})
        await client.set_light(on=True, node="chamber_light")
        assert printer.lights == {"chamber_light": True}
        await client.stop_print()
        assert phase_of(printer) is Phase.FAILED
        assert printer.print_error == PRINT_ERROR_CANCELLED
        await wait_until(lambda: E.PRINT_CANCELLED in recorder.types())
        assert client.state.status is PrinterStatus.FINISHED
        assert E.PRINT_FAILED not in recorder.types()

        sim.world.clear_bed(printer_id)
        await client.start_print(
            url="file:///sdcard/benchy.3mf", name="benchy", plate=2, ams_mapping=[0, -1]
        )
        assert printer.job_id is not None
        job = sim.world.jobs[printer.job_id]
        assert (job.source, job.file_url, job.name) == (
            "lan",
            "file:///sdcard/benchy.3mf",
            "benchy",
        )
        await wait_until(lambda: client.state.job_name == "benchy")
        state = await client.request_full_report(timeout=TIMEOUT)
        assert state.job_name == "benchy"

    sent = {body["print"]["command"]: body["print"] for _, body in spy.requests if "print" in body}
    assert sent["print_speed"]["param"] == "4"
    assert sent["project_file"]["param"] == "Metadata/plate_2.gcode"
    assert sent["project_file"]["ams_mapping"] == [0, -1]
    assert sent["project_file"]["use_ams"] is True
    assert isinstance(sent["pause"]["sequence_id"], str)
    light = next(body["system"] for _, body in spy.requests if "system" in body)
    assert {"led_on_time", "led_off_time", "loop_times", "interval_time"} <= light.keys()
    sequence_ids = [
        body[category]["sequence_id"]
        for _, body in spy.requests
        for category in body
        if category in ("print", "system")
    ]
    assert len(sequence_ids) == len(set(sequence_ids))
    assert spy.commands("pushing").count("pushall") >= 1


async def test_refused_commands(embedded: FarmSim) -> None:
    """Test a refused command is a conflict, and bad arguments never leave the client."""
    recorder = Recorder()
    async with make_client(embedded, recorder) as client:
        await client.wait_ready(timeout=TIMEOUT)
        with pytest.raises(PrintFarmConflictError, match="refused pause"):
            await client.pause()
        with pytest.raises(PrintFarmConflictError, match="no such light"):
            await client.set_light(on=True, node="OMG")
        with pytest.raises(PrintFarmValidationError):
            await client.set_print_speed(7)
        with pytest.raises(PrintFarmValidationError):
            await client.start_print(url="", name="x")
        client.command_timeout = 0.2
        with pytest.raises(PrintFarmTimeoutError, match="did not acknowledge"):
            await client._command("print", "OMGPUPPIES", {})
        embedded.world.set_silent(info_of(embedded)["autoprintfarm_id"], silent=True)
        with pytest.raises(PrintFarmTimeoutError, match="no full report"):
            await client.request_full_report(timeout=0.2)
        embedded.world.set_silent(info_of(embedded)["autoprintfarm_id"], silent=False)
        raw = client._raw
        client._raw = {"print": {"fun": "3EC1AFFF9CFF"}}
        with pytest.raises(PrintFarmPermissionError, match="developer mode"):
            await client.pause()
        client._raw = raw
        assert client.connected
    with pytest.raises(PrintFarmConnectionError, match="Not connected"):
        await client.pause()
    with pytest.raises(PrintFarmConnectionError, match="Not connected"):
        await client.request_full_report()


async def test_failed_ack_reason(embedded: FarmSim, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test the printer's error code of a failed acknowledgement goes into the conflict."""
    recorder = Recorder()
    async with make_client(embedded, recorder) as client:
        await client.wait_ready(timeout=TIMEOUT)
        sim_printer = embedded.fleet.get(info_of(embedded)["autoprintfarm_id"])

        def refuse(payload: bytes) -> None:
            body = json.loads(payload)
            if "print" in body:
                reply = {"print": {**body["print"], "result": "FAIL", "err_code": 84033543}}
                sim_printer._send(reply)

        sim_printer.transport.attach(refuse)
        with pytest.raises(PrintFarmConflictError) as excinfo:
            await client.resume()
        assert excinfo.value.code == "84033543"
        assert "no reason given" in str(excinfo.value)


async def test_lost_connection_fails_waiting_commands(embedded: FarmSim) -> None:
    """Test a command waiting for its acknowledgement fails when the connection drops."""
    recorder = Recorder()
    async with make_client(embedded, recorder) as client:
        await client.wait_ready(timeout=TIMEOUT)
        pending = asyncio.create_task(client._command("print", "OMGPUPPIES", {}))
        await asyncio.sleep(0.1)
        embedded.fleet.drop_connections(info_of(embedded)["autoprintfarm_id"])
        with pytest.raises(PrintFarmConnectionError, match="Lost the connection"):
            await pending
        await wait_until(lambda: client.available)


async def test_reconnect_after_broker_restart(sim: FarmSim) -> None:
    """Test a broker restart: offline, reconnect, state recovered by pushall, online again."""
    recorder = Recorder()
    printer_id = info_of(sim)["autoprintfarm_id"]
    async with make_client(sim, recorder) as client:
        await client.wait_ready(timeout=TIMEOUT)
        await client.set_print_speed(1)
        await wait_until(lambda: client.state.speed_level == 1)
        await sim.fleet.stop_broker(printer_id)
        await wait_until(lambda: not client.available)
        assert client.state.status is PrinterStatus.OFFLINE
        assert recorder.types() == [E.ONLINE, E.OFFLINE]
        with pytest.raises(PrintFarmConnectionError):
            await client.set_print_speed(2)
        sim.world.set_speed(printer_id, 3)
        sim.world.set_light(printer_id, "chamber_light", on=False)
        spy = RequestSpy(sim, printer_id)
        await asyncio.sleep(0.3)
        await sim.fleet.start_broker(printer_id)
        await wait_until(lambda: client.available and client.state.speed_level == 3)
        await wait_until(lambda: client.state.lights == {"chamber_light": False})
        assert recorder.types() == [E.ONLINE, E.OFFLINE, E.ONLINE]
        # pushall is asked for (again, until answered) and a full report arrives.
        await wait_until(lambda: "pushall" in spy.commands("pushing"))
        await wait_until(lambda: not client._awaiting_full)
        await client.set_print_speed(2)
        assert sim.world.printer(printer_id).speed_level == 2


async def test_stale_detection(sim: FarmSim) -> None:
    """Test a printer that stops reporting goes offline once, is nudged, and comes back."""
    recorder = Recorder()
    printer_id = info_of(sim)["autoprintfarm_id"]
    async with make_client(sim, recorder, stale_timeout=0.4) as client:
        await client.wait_ready(timeout=TIMEOUT)
        spy = RequestSpy(sim, printer_id)
        sim.world.set_silent(printer_id, silent=True)
        await wait_until(lambda: not client.available)
        assert client.connected
        stale = client.state
        assert stale.status is PrinterStatus.OFFLINE
        assert not stale.online
        await asyncio.sleep(0.8)
        assert recorder.types() == [E.ONLINE, E.OFFLINE]
        assert "start" in spy.commands("pushing")
        pushalls = spy.times("pushing", "pushall")
        # Nudged more than once, but rate-limited (every 0.2 s at most), not flooded; counted,
        # not timed, since a broker in between may batch deliveries.
        assert 2 <= len(pushalls) <= (pushalls[-1] - pushalls[0]) / 0.2 + 3
        sim.world.set_silent(printer_id, silent=False)
        await wait_until(lambda: client.available)
        assert client.state.status is PrinterStatus.IDLE
        assert recorder.types() == [E.ONLINE, E.OFFLINE, E.ONLINE]


async def test_malformed_and_truncated_reports(
    sim: FarmSim, caplog: pytest.LogCaptureFixture
) -> None:
    """Test malformed and truncated reports are ignored and later good reports apply."""
    recorder = Recorder()
    printer_id = info_of(sim)["autoprintfarm_id"]
    async with make_client(sim, recorder) as client:
        await client.wait_ready(timeout=TIMEOUT)
        before = client.state
        with caplog.at_level(logging.WARNING):
            sim.ctx.faults.mqtt.malformed_next = 1
            sim.ctx.faults.mqtt.truncated_next = 1
            sim.world.set_speed(printer_id, 4)
            await wait_until(lambda: sim.ctx.faults.mqtt.truncated_next == 0)
            assert client.state.trays == before.trays
            sim.world.set_light(printer_id, "chamber_light", on=False)
            await client.request_full_report(timeout=TIMEOUT)
            await wait_until(lambda: client.state.lights == {"chamber_light": False})
            assert client.state.speed_level == 4
            assert client.state.trays == before.trays
        assert client.connected
        assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


async def test_updates_only_when_something_changed(embedded: FarmSim) -> None:
    """Test repeated identical full reports (X1C) cause no callbacks."""
    recorder = Recorder()
    async with make_client(embedded, recorder, index=0) as client:
        await client.wait_ready(timeout=TIMEOUT)
        await wait_until(lambda: client.state.model == "X1C")
        assert client.state.chamber is not None
        await asyncio.sleep(0.3)
        count = len(recorder.updates)
        await asyncio.sleep(0.5)
        assert len(recorder.updates) == count
        embedded.world.set_speed(info_of(embedded, 0)["autoprintfarm_id"], 3)
        await wait_until(lambda: len(recorder.updates) == count + 1)
        assert recorder.updates[-1].changed == {"speed_level"}


async def test_failing_callbacks_are_logged(
    embedded: FarmSim, caplog: pytest.LogCaptureFixture
) -> None:
    """Test a consumer callback that raises is logged and the client goes on."""
    events: list[PrinterEvent] = []

    def explode(_update: PrinterUpdate) -> None:
        msg = "OMGSPIDERS"
        raise RuntimeError(msg)

    async with make_client(
        embedded, Recorder(), on_update=explode, on_event=events.append
    ) as client:
        await client.wait_ready(timeout=TIMEOUT)
        await wait_until(lambda: bool(events))
        assert "Error in a printer callback" in caplog.text
        await client.set_print_speed(3)
        await wait_until(lambda: client.state.speed_level == 3)
        assert client.connected


async def test_connection_check(embedded: FarmSim) -> None:
    """Test the config flow check: state on success, typed errors otherwise."""
    info = info_of(embedded)
    options = {"host": info["host"], "serial": info["serial"], "port": info["port"]}
    state = await BambuPrinterClient.test_connection(
        **options, access_code=info["access_code"], ca_file=info["ca_cert"], timeout=TIMEOUT
    )
    assert state.online
    assert state.model == "P1S"
    assert state.firmware == "01.08.01.00"
    state = await BambuPrinterClient.test_connection(
        **options, access_code=info["access_code"], insecure=True, timeout=TIMEOUT
    )
    assert state.status is PrinterStatus.IDLE
    pem = Path(info["ca_cert"]).read_text(encoding="utf-8")
    context = await async_create_ssl_context(ca_data=pem)
    state = await BambuPrinterClient.test_connection(
        **options, access_code=info["access_code"], ssl_context=context, timeout=TIMEOUT
    )
    assert state.online
    with pytest.raises(PrintFarmAuthenticationError):
        await BambuPrinterClient.test_connection(
            **options, access_code="OMGSPIDERS", ca_file=info["ca_cert"]
        )
    with pytest.raises(PrintFarmConnectionError, match="certificate verify failed"):
        await BambuPrinterClient.test_connection(
            **options, access_code=info["access_code"], ssl_context=ssl.create_default_context()
        )
    embedded.world.set_silent(info["autoprintfarm_id"], silent=True)
    with pytest.raises(PrintFarmTimeoutError, match="no report"):
        await BambuPrinterClient.test_connection(
            **options, access_code=info["access_code"], ca_file=info["ca_cert"], timeout=0.5
        )
    await embedded.fleet.stop_broker(info["autoprintfarm_id"])
    with pytest.raises(PrintFarmConnectionError):
        await BambuPrinterClient.test_connection(
            **options, access_code=info["access_code"], ca_file=info["ca_cert"], timeout=2.0
        )


async def test_wait_ready_timeout(embedded: FarmSim) -> None:
    """Test waiting for a printer that never reports times out; start twice is harmless."""
    info = info_of(embedded)
    embedded.world.set_silent(info["autoprintfarm_id"], silent=True)
    client = make_client(embedded, Recorder())
    await client.start()
    await client.start()
    with pytest.raises(PrintFarmTimeoutError):
        await client.wait_ready(timeout=0.3)
    assert client.connected
    assert not client.available
    await client.stop()
    await client.stop()


async def test_tls_contexts(tmp_path: Path) -> None:
    """Test the CA, insecure and unreadable-CA contexts."""
    secure = create_ssl_context()
    assert secure.verify_mode is ssl.CERT_REQUIRED
    assert not secure.check_hostname
    assert not secure.verify_flags & ssl.VERIFY_X509_STRICT
    insecure = await async_create_ssl_context(insecure=True)
    assert insecure.verify_mode is ssl.CERT_NONE
    missing = tmp_path / "missing.pem"
    with pytest.raises(PrintFarmConnectionError, match="CA certificate"):
        await async_create_ssl_context(ca_file=missing)
    with pytest.raises(PrintFarmConnectionError, match="CA certificate"):
        await async_create_ssl_context(ca_data="OMG PUPPIES")
    client = BambuPrinterClient(
        host="127.0.0.127", serial="OMG", access_code="OMGPUPPIES", ca_file=missing
    )
    with pytest.raises(PrintFarmConnectionError):
        await client.start()
    assert "OMGPUPPIES" not in repr(client)


async def test_many_printers_without_threads() -> None:
    """Test one process holds many printers on the event loop: threads stay a small constant."""
    async with running_farmsim(printers=50, report_interval=0.5) as sim:
        printers = sim.connection["printers"]
        context = await async_create_ssl_context(ca_file=printers[0]["ca_cert"])
        recorder = Recorder()
        clients = [
            BambuPrinterClient(
                host=info["host"],
                port=info["port"],
                serial=info["serial"],
                access_code=info["access_code"],
                ssl_context=context,
                on_update=recorder.updates.append,
            )
            for info in printers
        ]
        baseline = threading.active_count()
        await asyncio.gather(*(client.start() for client in clients))
        states: list[PrinterState] = await asyncio.gather(
            *(client.wait_ready(timeout=20.0) for client in clients)
        )
        assert all(state.online for state in states)
        assert {update.printer_key for update in recorder.updates} == {
            info["serial"] for info in printers
        }
        assert threading.active_count() <= baseline + 8
        await asyncio.gather(*(client.stop() for client in clients))


# Lifecycle events across (re)connections


class WithheldPushall:
    """Keeps a simulated printer from answering `pushall` until released."""

    def __init__(self, sim: FarmSim, printer_id: str) -> None:
        """Initialize the filter on the simulated printer's request handler."""
        self.withheld = 0
        self._printer = sim.fleet.get(printer_id)
        self._printer.transport.attach(self._handle)

    def _handle(self, payload: bytes) -> None:
        if json.loads(payload).get("pushing", {}).get("command") == "pushall":
            self.withheld += 1
            return
        self._printer.handle_request(payload)

    def release(self) -> None:
        """Answer `pushall` again."""
        self._printer.transport.attach(self._printer.handle_request)


async def print_in_world(sim: FarmSim, until: Phase = Phase.RUNNING) -> Printer:
    """Put a job on the P1S in the world alone and move time until it reaches a phase."""
    printer_id = info_of(sim)["autoprintfarm_id"]
    printer = sim.world.printer(printer_id)
    if phase_of(printer) is not Phase.RUNNING:
        sim.world.submit_job(source="test", file_url=JOB_URL, printer_id=printer_id)
    await run_clock(sim, lambda: phase_of(printer) is until)
    return printer


async def test_connect_to_a_printing_printer(sim: FarmSim) -> None:
    """Test connecting to a printer that already prints: online, and no print_started."""
    await print_in_world(sim)
    recorder = Recorder()
    async with make_client(sim, recorder) as client:
        await client.wait_ready(timeout=TIMEOUT)
        # Deltas go on (the bed heats); none of them starts a print.
        await wait_until(lambda: len(recorder.updates) > 3)
    assert recorder.types() == [E.ONLINE]
    first = recorder.updates[0].state
    assert (first.status, first.model, first.job_name) == (PrinterStatus.PRINTING, "P1S", "a")


async def test_nothing_is_published_before_the_first_full_report(embedded: FarmSim) -> None:
    """Test the version reply and deltas before the first full report publish nothing."""
    printer = await print_in_world(embedded)
    recorder = Recorder()
    withheld = WithheldPushall(embedded, printer.id)
    async with make_client(embedded, recorder) as client:
        # The version reply and several deltas (a progress each) arrive, but no full report.
        for _ in range(5):
            embedded.world.clock.advance(10.0)
            await asyncio.sleep(0.1)
        assert withheld.withheld >= 2
        assert "info" in client._raw
        assert client.connected
        assert not client.available
        assert recorder.updates == []
        assert recorder.events == []
        withheld.release()
        state = await client.wait_ready(timeout=TIMEOUT)
        assert state.status is PrinterStatus.PRINTING
        assert state.model == "P1S"
        assert recorder.types() == [E.ONLINE]
        assert recorder.updates[0].changed == state.changed_fields(None)


@pytest.mark.parametrize("cut", ["drop", "broker"])
async def test_reconnect_while_printing(embedded: FarmSim, cut: str) -> None:
    """Test a connection cut while the printer keeps printing gives offline, online, no more."""
    printer = await print_in_world(embedded)
    recorder = Recorder()
    async with make_client(embedded, recorder) as client:
        await client.wait_ready(timeout=TIMEOUT)
        if cut == "drop":
            embedded.fleet.drop_connections(printer.id)
        else:
            await embedded.fleet.stop_broker(printer.id)
        await wait_until(lambda: not client.available)
        embedded.world.clock.advance(30.0)
        await embedded.fleet.start_broker(printer.id)
        await wait_until(lambda: client.available)
        assert client.state.status is PrinterStatus.PRINTING
        assert recorder.types() == [E.ONLINE, E.OFFLINE, E.ONLINE]
        count = len(recorder.updates)
        embedded.world.clock.advance(30.0)
        await wait_until(lambda: len(recorder.updates) > count + 2)
        assert phase_of(printer) is Phase.RUNNING
        assert recorder.types() == [E.ONLINE, E.OFFLINE, E.ONLINE]


async def test_print_finished_while_disconnected(sim: FarmSim) -> None:
    """Test a print that finished while the printer was unreachable is one finished event."""
    printer = await print_in_world(sim)
    recorder = Recorder()
    async with make_client(sim, recorder) as client:
        await client.wait_ready(timeout=TIMEOUT)
        await sim.fleet.stop_broker(printer.id)
        await wait_until(lambda: not client.available)
        await run_clock(sim, lambda: phase_of(printer) is Phase.FINISH, step=30.0)
        await sim.fleet.start_broker(printer.id)
        await wait_until(lambda: client.available)
        await asyncio.sleep(0.3)
        assert client.state.status is PrinterStatus.FINISHED
    assert recorder.types() == [E.ONLINE, E.OFFLINE, E.ONLINE, E.PRINT_FINISHED]
    assert recorder.events[3].data["job_name"] == "a"


async def test_print_started_while_disconnected(embedded: FarmSim) -> None:
    """Test a print that started while the printer was unreachable is one started event."""
    recorder = Recorder()
    printer_id = info_of(embedded)["autoprintfarm_id"]
    async with make_client(embedded, recorder) as client:
        await client.wait_ready(timeout=TIMEOUT)
        await embedded.fleet.stop_broker(printer_id)
        await wait_until(lambda: not client.available)
        await print_in_world(embedded)
        await embedded.fleet.start_broker(printer_id)
        await wait_until(lambda: client.available)
        assert client.state.status is PrinterStatus.PRINTING
        assert recorder.types() == [E.ONLINE, E.OFFLINE, E.ONLINE, E.PRINT_STARTED]
