"""Tests for the Printago realtime feed over MQTT over WebSockets, against farmsim."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from custom_components.printfarm.api.errors import (
    PrintFarmAuthenticationError,
    PrintFarmTimeoutError,
    PrintFarmValidationError,
)
from custom_components.printfarm.api.models import PrinterStatus
from custom_components.printfarm.api.printago.client import Printago
from custom_components.printfarm.api.printago.realtime import (
    PrintagoRealtime,
    client_id_for,
    parse_printer_stat,
    stat_lifetime,
)
from custom_components.printfarm.api.state import (
    FilamentTray,
    PrinterEvent,
    PrinterEventType,
    PrinterUpdate,
    Temperature,
)
from farmsim import FarmSim
from farmsim.testing import running_farmsim

from .helpers import FAST, TIMEOUT, admin, wait_until

VALIDITY = 0.6
GRACE = 0.2
JOB_URL = "https://x.example/a.3mf?sim_seconds=600&sim_grams=5"
E = PrinterEventType
HMS_ATTR = 50331904
HMS_SERIOUS = 0x00020007


class Recorder:
    """Collects the callbacks of a feed."""

    def __init__(self) -> None:
        """Initialize empty records."""
        self.updates: list[PrinterUpdate] = []
        self.events: list[PrinterEvent] = []
        self.entities: list[tuple[str, str, tuple[str, ...]]] = []
        self.auth_failures: list[PrintFarmAuthenticationError] = []

    def on_entities(self, entity_type: str, action: str, ids: tuple[str, ...]) -> None:
        """Record an entity change."""
        self.entities.append((entity_type, action, ids))

    def types(self, printer_key: str) -> list[PrinterEventType]:
        """Return the events of one printer."""
        return [event.type for event in self.events if event.printer_key == printer_key]


@pytest.fixture
async def sim() -> AsyncIterator[FarmSim]:
    """Run a farm of two printers."""
    async with running_farmsim(printers=2, report_interval=0.05) as farm:
        yield farm


def make_feed(sim: FarmSim, recorder: Recorder, **kwargs: Any) -> PrintagoRealtime:
    """Return a realtime feed of the simulated store with fast timings."""
    printago = sim.connection["printago"]
    options: dict[str, Any] = {
        "url": printago["realtime"]["url"],
        "store_id": printago["store_id"],
        "api_key": printago["api_key"],
        "client_suffix": "frenck",
        "reconnect_min_delay": 0.05,
        "reconnect_max_delay": 0.2,
        "on_update": recorder.updates.append,
        "on_event": recorder.events.append,
        "on_entities": recorder.on_entities,
        "on_auth_failed": recorder.auth_failures.append,
    }
    options.update(kwargs)
    return PrintagoRealtime(**options)


def printago_id(sim: FarmSim, index: int = 0) -> str:
    """Return the Printago id of a printer."""
    printer_id: str = sim.connection["printers"][index]["printago_id"]
    return printer_id


def world_id(sim: FarmSim, index: int = 0) -> str:
    """Return the world id of a printer."""
    printer_id: str = sim.connection["printers"][index]["autoprintfarm_id"]
    return printer_id


async def test_printer_states_and_entity_events(sim: FarmSim) -> None:
    """Test printer states from the stats and entity events, through a whole job."""
    recorder = Recorder()
    key = printago_id(sim)
    async with make_feed(sim, recorder) as feed:
        await feed.wait_connected(timeout=TIMEOUT)
        await feed.start()
        assert feed.connected
        assert feed.client_id == f"apiclient_{feed.api_key[:24]}_frenck"
        await wait_until(lambda: len(feed.states) == 2)
        state = feed.states[key]
        printer = sim.world.printer(world_id(sim))
        assert state.online
        assert state.status is PrinterStatus.IDLE
        assert state.gcode_state == "IDLE"
        assert state.nozzle == Temperature(current=printer.nozzle_temp, target=0.0)
        assert state.chamber is not None
        assert state.lights == {"chamber_light": True, "work_light": True}
        assert [tray.tray_id for tray in state.trays] == ["0", "1", "2", "3"]
        assert all(tray.loaded and tray.color for tray in state.trays)
        assert recorder.types(key) == [E.ONLINE]

        job = sim.world.submit_job(source="test", file_url=JOB_URL, printer_id=world_id(sim))
        async with asyncio.timeout(TIMEOUT):
            while feed.states[key].status is not PrinterStatus.FINISHED:
                sim.world.clock.advance(15.0)
                await asyncio.sleep(0.02)
        await wait_until(lambda: ("print-jobs", "INSERT", (job.printago_id,)) in recorder.entities)
    statuses = [update.state.status for update in recorder.updates if update.printer_key == key]
    assert statuses.index(PrinterStatus.PREPARING) < statuses.index(PrinterStatus.PRINTING)
    progress = [
        update.state.progress
        for update in recorder.updates
        if update.printer_key == key
        and update.state.status is PrinterStatus.PRINTING
        and update.state.progress is not None
    ]
    assert progress == sorted(progress)
    assert len(set(progress)) > 3
    assert recorder.types(key) == [E.ONLINE, E.PRINT_STARTED, E.PRINT_FINISHED]
    assert any(
        entity_type == "printers" and action == "UPDATE" and key in ids
        for entity_type, action, ids in recorder.entities
    )
    assert not feed.connected


async def test_errors_offline_and_partial_updates(sim: FarmSim) -> None:
    """Test health errors, an offline printer and sparse stats merged into the last ones."""
    recorder = Recorder()
    key = printago_id(sim, 1)
    async with make_feed(sim, recorder) as feed:
        await feed.wait_connected(timeout=TIMEOUT)
        await wait_until(lambda: key in feed.states)
        sim.world.raise_hms(world_id(sim, 1), attr=HMS_ATTR, code=HMS_SERIOUS)
        await wait_until(lambda: feed.states[key].status is PrinterStatus.ERROR)
        assert feed.states[key].health[0].code == "0300_0100_0002_0007"
        sim.world.clear_hms(world_id(sim, 1))
        await wait_until(lambda: feed.states[key].status is PrinterStatus.IDLE)
        assert recorder.types(key) == [E.ONLINE, E.ERROR_RAISED, E.ERROR_CLEARED]

        sim.world.set_online(world_id(sim, 1), online=False)
        await wait_until(lambda: not feed.states[key].online)
        assert feed.states[key].status is PrinterStatus.OFFLINE
        assert feed.states[key].gcode_state == "IDLE"
        sim.world.set_online(world_id(sim, 1), online=True)
        await wait_until(lambda: feed.states[key].online)

        topic = f"stores/{feed.store_id}/printer-stats/{key}"
        sparse = {"data": {"print": {"percent": 42, "taskName": "OMG PUPPIES"}}}
        sim.realtime.broker.publish(topic, json.dumps(sparse).encode())
        await wait_until(lambda: feed.states[key].progress == 42)
        assert feed.states[key].job_name == "OMG PUPPIES"
        assert feed.states[key].online
        assert len(feed.states[key].trays) == 4
    assert recorder.types(key)[-2:] == [E.OFFLINE, E.ONLINE]


async def test_bad_messages_are_ignored(sim: FarmSim) -> None:
    """Test malformed payloads, non-objects and unknown topics change nothing."""
    recorder = Recorder()
    async with make_feed(sim, recorder) as feed:
        await feed.wait_connected(timeout=TIMEOUT)
        await wait_until(lambda: len(feed.states) == 2)
        count = len(recorder.updates)
        broker = sim.realtime.broker
        store = feed.store_id
        broker.publish(f"stores/{store}/printer-stats/{printago_id(sim)}", b"]]not json")
        broker.publish(f"stores/{store}/printer-stats/{printago_id(sim)}", b"[1, 2]")
        broker.publish(f"stores/{store}/somewhere/else", b"{}")
        changes = {"changes": {"OMG": {"name": "x"}}}
        broker.publish(f"stores/{store}/entities/parts", json.dumps(changes).encode())
        await wait_until(lambda: ("parts", "UPDATE", ("OMG",)) in recorder.entities)
        sim.ctx.faults.mqtt.malformed_next = 1
        sim.world.set_speed(world_id(sim), 3)
        await asyncio.sleep(0.2)
        assert len(recorder.updates) == count
        assert feed.connected


@pytest.mark.parametrize("field", ["client_id", "api_key"])
async def test_refused_credentials(
    sim: FarmSim, monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    """Test a bad client id or key is an authentication error, reported once, not retried."""
    recorder = Recorder()
    if field == "client_id":
        monkeypatch.setattr(PrintagoRealtime, "client_id", property(lambda _self: "OMGSPIDERS"))
        feed = make_feed(sim, recorder)
    else:
        feed = make_feed(sim, recorder, api_key="OMGSPIDERS" * 7)
    await feed.start()
    with pytest.raises(PrintFarmAuthenticationError):
        await feed.wait_connected(timeout=TIMEOUT)
    await asyncio.sleep(0.3)
    assert feed.auth_failed
    assert len(recorder.auth_failures) == 1
    assert sim.realtime.broker.stats.connections_refused == 1
    await feed.stop()


async def test_reconnect_after_broker_drop(sim: FarmSim) -> None:
    """Test a dropped or restarted broker: printers offline, then back from retained stats."""
    recorder = Recorder()
    key = printago_id(sim)
    async with make_feed(sim, recorder) as feed:
        await feed.wait_connected(timeout=TIMEOUT)
        await wait_until(lambda: key in feed.states)
        sim.realtime.broker.drop_connections()
        await wait_until(lambda: E.OFFLINE in recorder.types(key))
        await wait_until(lambda: feed.connected and feed.states[key].online)
        await sim.realtime.broker.stop()
        await wait_until(lambda: not feed.connected)
        await asyncio.sleep(0.3)
        await sim.realtime.broker.start()
        await wait_until(lambda: feed.connected and feed.states[key].online)
    assert recorder.types(key) == [E.ONLINE, E.OFFLINE, E.ONLINE, E.OFFLINE, E.ONLINE]
    assert sim.realtime.broker.stats.connections_accepted == 3


async def test_urls(sim: FarmSim) -> None:
    """Test unsupported URLs are refused, TLS schemes get a default context, and timeouts."""
    recorder = Recorder()
    with pytest.raises(PrintFarmValidationError, match="Unsupported"):
        await make_feed(sim, recorder, url="http://127.0.0.1/mqtt").start()
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for url in (f"wss://127.0.0.1:{port}/mqtt", f"mqtts://127.0.0.1:{port}"):
        feed = make_feed(sim, recorder, url=url, connect_timeout=0.2)
        await feed.start()
        assert feed.ssl_context is not None
        with pytest.raises(PrintFarmTimeoutError):
            await feed.wait_connected(timeout=0.3)
        await feed.stop()
    server.close()
    assert recorder.auth_failures == []


def test_parse_printer_stat() -> None:
    """Test the status mapping and tolerance of a stat from the service documents."""
    stat: dict[str, Any] = {
        "state": "pause",
        "isOnline": True,
        "data": {
            "temps": {"bedTemp": 60, "nozzleTemp": "hot"},
            "lights": {"chamber": "off", "strip": "on", "bad": 1},
            "print": {"timeRemaining": 3, "errorCode": "0300-8013", "printError": 0},
            "filament": {
                "ams": {
                    "ams": [
                        {
                            "slots": [
                                {"id": "x", "type": "PLA", "color": "#FF0000"},
                                {"id": "1"},
                                {"id": "2", "type": "PETG", "color": "ZZZZZZ"},
                            ]
                        },
                        7,
                    ]
                },
                "spool": {"type": "TPU", "color": "nope", "remaining": -1},
            },
            "health": {"errors": [{"code": "0300-8013"}, {"message": "no code"}], "infos": 3},
        },
    }
    state = parse_printer_stat(stat)
    assert state.status is PrinterStatus.PAUSED
    assert state.bed == Temperature(current=60.0, target=None)
    assert state.nozzle == Temperature()
    assert state.lights == {"chamber_light": False, "strip": True}
    assert state.remaining_seconds == 180
    assert state.error_code == "0300_8013"
    assert [(message.code, message.severity) for message in state.health] == [("0300_8013", 3)]
    assert state.trays == (
        FilamentTray(tray_id="0", loaded=True, type="PLA", color="#FF0000"),
        FilamentTray(tray_id="1", loaded=False),
        FilamentTray(tray_id="2", loaded=True, type="PETG"),
        FilamentTray(tray_id="254", loaded=True, type="TPU"),
    )
    assert parse_printer_stat({"isOnline": True, "isAvailable": False}).status is (
        PrinterStatus.PRINTING
    )
    assert parse_printer_stat({"isOnline": True, "isAvailable": True}).status is PrinterStatus.IDLE
    assert parse_printer_stat({"isOnline": True}).status is PrinterStatus.UNKNOWN
    assert parse_printer_stat({"isOnline": True, "state": "OMG"}).status is PrinterStatus.UNKNOWN
    assert parse_printer_stat({"state": "RUNNING"}).status is PrinterStatus.OFFLINE
    assert parse_printer_stat({"isOnline": True}, connected=False).status is PrinterStatus.OFFLINE
    error = {"isOnline": True, "state": "FAILED", "data": {"print": {"printError": 50364437}}}
    assert parse_printer_stat(error).status is PrinterStatus.ERROR
    assert client_id_for("k" * 30, "x") == f"apiclient_{'k' * 24}_x"


def stamped(expires_in: float | str | None, *, valid_for: float = 60.0) -> dict[str, Any]:
    """Return an online stat received now that expires in `expires_in` seconds (or text)."""
    now = time.time()
    stat: dict[str, Any] = {"isOnline": True, "state": "IDLE"}
    if isinstance(expires_in, str):
        stat["expiresAt"] = expires_in
    elif expires_in is not None:
        stat["receivedAt"] = now + expires_in - valid_for
        stat["expiresAt"] = now + expires_in
    return stat


async def test_silent_printer_goes_stale_and_comes_back() -> None:
    """Test a printer whose stats stop goes offline when they expire; the others stay."""
    recorder = Recorder()
    async with running_farmsim(
        printers=2, report_interval=0.05, printago_stat_validity=VALIDITY
    ) as sim:
        quiet, chatty = printago_id(sim), printago_id(sim, 1)
        async with make_feed(sim, recorder, stale_grace=GRACE) as feed:
            await feed.wait_connected(timeout=TIMEOUT)
            await wait_until(lambda: len(feed.states) == 2)
            await admin(sim, "POST", f"printers/{world_id(sim)}/silent", {"silent": True})
            silenced = time.monotonic()
            await wait_until(lambda: not feed.states[quiet].online)
            # Its last stat was at most half a validity old when the printer fell silent.
            assert time.monotonic() - silenced >= VALIDITY / 2
            assert feed.states[quiet].status is PrinterStatus.OFFLINE
            assert feed.states[quiet].gcode_state == "IDLE"
            # The idle printer's unchanged stats are refreshed, so it never expires.
            await asyncio.sleep(2 * VALIDITY)
            assert feed.states[chatty].online
            assert not feed.states[quiet].online
            await admin(sim, "POST", f"printers/{world_id(sim)}/silent", {"silent": False})
            await wait_until(lambda: feed.states[quiet].online)
            assert feed.states[quiet].status is PrinterStatus.IDLE
        assert recorder.types(quiet) == [E.ONLINE, E.OFFLINE, E.ONLINE]
        assert recorder.types(chatty) == [E.ONLINE]


async def test_stat_expiry_without_a_usable_expiry(sim: FarmSim) -> None:
    """Test old retained stats, a missing or malformed expiresAt and sparse stats."""
    recorder = Recorder()
    store = sim.connection["printago"]["store_id"]

    def publish(printer_id: str, stat: dict[str, Any], *, retain: bool = False) -> None:
        topic = f"stores/{store}/printer-stats/{printer_id}"
        sim.realtime.broker.publish(topic, json.dumps(stat).encode(), retain=retain)

    # Retained before the feed connects: that printer has been silent for a minute.
    publish("cOMGSPIDERS", stamped(-60.0), retain=True)
    async with make_feed(sim, recorder, stale_timeout=0.3, stale_grace=GRACE) as feed:
        await feed.wait_connected(timeout=TIMEOUT)
        await wait_until(lambda: "cOMGSPIDERS" in feed.states)
        assert not feed.states["cOMGSPIDERS"].online
        assert recorder.types("cOMGSPIDERS") == []

        for printer_id, stat in (("cMISSING", stamped(None)), ("cMALFORMED", stamped("OMG"))):
            publish(printer_id, stat)
            await wait_until(lambda key=printer_id: key in feed.states)
            started = time.monotonic()
            assert feed.states[printer_id].online
            await wait_until(lambda key=printer_id: not feed.states[key].online)
            assert time.monotonic() - started >= 0.3

        # A sparse stat without stamps keeps the longer expiry of the full one.
        publish("cSPARSE", stamped(1.5))
        await wait_until(lambda: "cSPARSE" in feed.states)
        publish("cSPARSE", {"data": {"print": {"percent": 7}}})
        await wait_until(lambda: feed.states["cSPARSE"].progress == 7)
        await asyncio.sleep(0.3 + GRACE + 0.1)
        assert feed.states["cSPARSE"].online
        await wait_until(lambda: not feed.states["cSPARSE"].online)
    assert recorder.types("cSPARSE") == [E.ONLINE, E.OFFLINE]
    assert recorder.types("cOMGSPIDERS") == []


async def test_chamber_light_reaches_the_feed(sim: FarmSim) -> None:
    """Test switching the chamber light through Printago shows in the pushed state."""
    recorder = Recorder()
    key = printago_id(sim)
    connection = sim.connection["printago"]
    async with (
        make_feed(sim, recorder) as feed,
        Printago(
            base_url=connection["base_url"],
            api_key=connection["api_key"],
            store_id=connection["store_id"],
            retry=FAST,
        ) as client,
    ):
        await feed.wait_connected(timeout=TIMEOUT)
        await wait_until(lambda: key in feed.states)
        assert feed.states[key].lights["chamber_light"] is True
        await client.set_light(key, on=False)
        await wait_until(lambda: feed.states[key].lights["chamber_light"] is False)
        assert feed.states[key].lights["work_light"] is True
        await client.set_light(key, on=True)
        await wait_until(lambda: feed.states[key].lights["chamber_light"] is True)


def test_stat_lifetime() -> None:
    """Test a stat's lifetime: by its expiry, capped by its validity, or unknown."""
    now = 1_750_000_000.0
    assert stat_lifetime({"expiresAt": "2025-06-15T15:07:10.000Z"}, now=now) == 30.0
    assert stat_lifetime({"expiresAt": now - 5}, now=now) == -5.0
    # A service clock an hour ahead: the stat still counts for its own validity only.
    ahead = {"receivedAt": now + 3600, "expiresAt": now + 3660}
    assert stat_lifetime(ahead, now=now) == 60.0
    backwards = {"receivedAt": now + 90, "expiresAt": now + 30}
    assert stat_lifetime(backwards, now=now) == 30.0
    assert stat_lifetime({"expiresAt": "OMG"}, now=now) is None
    assert stat_lifetime({"expiresAt": None}, now=now) is None
    assert stat_lifetime({}, now=now) is None
