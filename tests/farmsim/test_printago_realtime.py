"""Tests for the realtime MQTT-over-WebSocket feed of farmsim's Printago face, with paho."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion

from farmsim.clock import SimClock
from farmsim.context import SimConfig, SimContext
from farmsim.models import Printer, WorldEvent
from farmsim.printago import PrintagoServer, Realtime, client_id_for
from farmsim.scenario import populate
from farmsim.world import World

from .helpers import HOST, WAIT, sim_context, wait_until

QUICK = "https://files.example.invalid/tag.3mf?sim_seconds=600&sim_grams=5&sim_layers=40"


class Paho:
    """A paho-mqtt client over WebSockets, with its network loop in a thread."""

    def __init__(self, client_id: str, username: str | None, password: str | None) -> None:
        """Create the client and record what its callbacks see."""
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
            transport="websockets",
        )
        self.client.ws_set_options(path="/mqtt")
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.connects: list[Any] = []
        self.subacks: list[list[Any]] = []
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._lock:
            self.connects.append(reason)

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, codes: list[Any], _p: Any) -> None:
        with self._lock:
            self.subacks.append(codes)

    def _on_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def received(self, prefix: str = "") -> list[tuple[str, bytes, bool]]:
        """Return the messages received on topics starting with prefix."""
        with self._lock:
            return [m for m in self.messages if m[0].startswith(prefix)]

    def json(self, prefix: str = "") -> list[dict[str, Any]]:
        """Return the payloads received on topics starting with prefix, decoded."""
        return [json.loads(payload) for _, payload, _ in self.received(prefix)]

    async def connect(self, port: int) -> Any:
        """Connect in the background and return the CONNACK reason."""
        self.client.connect_async(HOST, port, keepalive=30)
        self.client.loop_start()
        await wait_until(lambda: self.connects)
        return self.connects[0]

    async def subscribe(self, topic: str) -> Any:
        """Subscribe and return the SUBACK reason."""
        before = len(self.subacks)
        self.client.subscribe(topic)
        await wait_until(lambda: len(self.subacks) > before)
        return self.subacks[-1][0]

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
async def server() -> AsyncIterator[PrintagoServer]:
    ctx = sim_context(SimConfig(seed=19, report_interval=0.05), printers=3)
    async with PrintagoServer(ctx) as running:
        yield running


@pytest.fixture
async def clients() -> AsyncIterator[list[Paho]]:
    started: list[Paho] = []
    yield started
    for client in started:
        await asyncio.to_thread(client.stop)


async def connect(
    server: PrintagoServer,
    clients: list[Paho],
    *,
    client_id: str | None = None,
    username: str | None = "",
    password: str | None = "",
) -> tuple[Paho, Any]:
    config = server.ctx.config
    client = Paho(
        client_id or client_id_for(config.printago_api_key, "tests"),
        config.printago_store_id if username == "" else username,
        config.printago_api_key if password == "" else password,
    )
    clients.append(client)
    return client, await client.connect(server.port)


def by_name(server: PrintagoServer, name: str) -> Printer:
    return next(p for p in server.ctx.world.printers.values() if p.name == name)


async def test_printer_stats(server: PrintagoServer, clients: list[Paho]) -> None:
    store = server.ctx.config.printago_store_id
    client, reason = await connect(server, clients)
    assert not reason.is_failure
    assert not (await client.subscribe(f"stores/{store}/printer-stats/#")).is_failure
    await wait_until(lambda: len(client.received()) >= 3)
    server.ctx.world.load_spool(by_name(server, "X1C-01").id, 1, None)
    topics = {topic for topic, _, _ in client.received()}
    printers = list(server.ctx.world.printers.values())
    assert topics == {f"stores/{store}/printer-stats/{p.printago_id}" for p in printers}
    assert all(retain for _, _, retain in client.received())
    stats = {stat["printerId"]: stat for stat in client.json()}
    x1c = stats[by_name(server, "X1C-01").printago_id]
    assert (x1c["storeId"], x1c["state"], x1c["isOnline"], x1c["isAvailable"]) == (
        store,
        "IDLE",
        True,
        True,
    )
    data = x1c["data"]
    assert set(data["temps"]) == {
        "bedTemp",
        "bedTempTarget",
        "nozzleTemp",
        "nozzleTempTarget",
        "chamberTemp",
    }
    assert data["lights"] == {"chamber": "on", "work": "on"}
    assert len(data["filament"]["ams"]["ams"][0]["slots"]) == 4
    assert data["filament"]["ams"]["status"]["slotsLoaded"] == "F"
    assert data["health"] == {"errors": [], "warnings": [], "infos": []}
    a1 = stats[by_name(server, "A1-01").printago_id]
    assert a1["data"]["filament"]["spool"]["type"] == "PLA"
    assert "chamberTemp" not in a1["data"]["temps"]
    counters = server.ctx.counters.printago_published
    assert all(counters[p.id] >= 1 for p in printers)


async def test_stats_follow_a_print(
    server: PrintagoServer, session: aiohttp.ClientSession, clients: list[Paho]
) -> None:
    world = server.ctx.world
    p1s = by_name(server, "P1S-01")
    store = server.ctx.config.printago_store_id
    client, _ = await connect(server, clients)
    await client.subscribe(f"stores/{store}/printer-stats/{p1s.printago_id}")
    await wait_until(client.received)
    job = world.submit_job(source="printago", file_url=QUICK, printer_id=p1s.id)
    await wait_until(lambda: client.json()[-1]["state"] == "PREPARE")
    world.clock.advance(61 + 400)
    await wait_until(lambda: client.json()[-1]["data"]["print"]["stage"] == "Printing")
    stat = client.json()[-1]
    assert stat["isAvailable"] is False
    assert stat["data"]["print"]["taskName"] == job.name
    assert stat["data"]["print"]["totalLayers"] == 40
    assert stat["data"]["temps"]["nozzleTempTarget"] == 220
    world.pause_printer(p1s.id)
    await wait_until(lambda: client.json()[-1]["state"] == "PAUSE")
    world.stop_printer(p1s.id)
    await wait_until(lambda: client.json()[-1]["state"] == "FAILED")
    assert client.json()[-1]["data"]["health"]["infos"][0]["code"] == "0300-400C"
    world.raise_hms(p1s.id, attr=0x03000100, code=0x00010001)
    world.raise_hms(p1s.id, attr=0x03000200, code=0x00030001)
    world.raise_hms(p1s.id, attr=0x03000300, code=0x00040001)
    await wait_until(lambda: len(client.json()[-1]["data"]["health"]["infos"]) == 2)
    health = client.json()[-1]["data"]["health"]
    assert health["errors"] == [
        {"code": "0300-0100-0001-0001", "message": "HMS 0300-0100-0001-0001"}
    ]
    assert [w["code"] for w in health["warnings"]] == ["0300-0200-0003-0001"]


async def test_offline_and_silent_printers(server: PrintagoServer, clients: list[Paho]) -> None:
    world = server.ctx.world
    realtime = server.realtime
    assert realtime is not None
    a1 = by_name(server, "A1-01")
    x1c = by_name(server, "X1C-01")
    store = server.ctx.config.printago_store_id
    client, _ = await connect(server, clients)
    await client.subscribe(f"stores/{store}/printer-stats/#")
    await wait_until(lambda: len(client.received()) >= 3)
    world.set_online(a1.id, online=False)
    a1_topic = realtime.stats_topic(a1)
    await wait_until(lambda: client.json(a1_topic)[-1]["isOnline"] is False)
    assert client.json(a1_topic)[-1]["state"] == "OFFLINE"
    count = len(client.received(a1_topic))
    world.set_silent(x1c.id, silent=True)
    before = len(client.received(realtime.stats_topic(x1c)))
    world.set_targets(a1.id, nozzle=200)
    world.set_targets(x1c.id, nozzle=200)
    realtime.resync(x1c.id)
    world.clock.advance(30)
    await asyncio.sleep(0.3)
    assert len(client.received(a1_topic)) == count
    assert len(client.received(realtime.stats_topic(x1c))) == before
    world.set_online(a1.id, online=True)
    await wait_until(lambda: client.json(a1_topic)[-1]["isOnline"] is True)


async def test_unchanged_stats_are_refreshed_before_they_expire(clients: list[Paho]) -> None:
    # Reports are rare here: only the refresh can publish unchanged stats this often.
    config = SimConfig(seed=19, report_interval=30.0, printago_stat_validity=0.2)
    async with PrintagoServer(sim_context(config, printers=3)) as server:
        world = server.ctx.world
        realtime = server.realtime
        assert realtime is not None
        x1c, a1 = by_name(server, "X1C-01"), by_name(server, "A1-01")
        store = config.printago_store_id
        client, _ = await connect(server, clients)
        await client.subscribe(f"stores/{store}/printer-stats/#")
        await wait_until(lambda: client.received(realtime.stats_topic(a1)))
        world.set_silent(a1.id, silent=True)
        silenced = len(client.received(realtime.stats_topic(a1)))
        await wait_until(lambda: len(client.received(realtime.stats_topic(x1c))) >= 4)
        stats = client.json(realtime.stats_topic(x1c))
        assert all(stat["data"] == stats[0]["data"] for stat in stats)
        received = [datetime.fromisoformat(stat["receivedAt"]) for stat in stats]
        assert received == sorted(received)
        assert len(set(received)) == len(received)
        for stat, at in zip(stats, received, strict=True):
            assert datetime.fromisoformat(stat["expiresAt"]) - at == timedelta(seconds=0.2)
        assert len(client.received(realtime.stats_topic(a1))) == silenced


async def test_stats_are_spread_through_the_interval(clients: list[Paho]) -> None:
    # Printago forwards each printer's reports as they come, not the whole store in one burst
    config = SimConfig(seed=31, report_interval=30.0, printago_stat_validity=1.2)
    async with PrintagoServer(sim_context(config, printers=6)) as server:
        realtime = server.realtime
        assert realtime is not None
        client, _ = await connect(server, clients)
        await client.subscribe(f"stores/{config.printago_store_id}/printer-stats/#")
        topics = [realtime.stats_topic(p) for p in server.ctx.world.printers.values()]
        await wait_until(lambda: all(len(client.received(t)) >= 3 for t in topics))
        refreshed = [datetime.fromisoformat(client.json(t)[2]["receivedAt"]) for t in topics]
        # Refreshed every 0.6 s (half their validity), a sixth of the printers at a time
        assert (max(refreshed) - min(refreshed)).total_seconds() >= 0.25


async def test_entity_events(
    server: PrintagoServer, session: aiohttp.ClientSession, clients: list[Paho]
) -> None:
    world = server.ctx.world
    store = server.ctx.config.printago_store_id
    client, _ = await connect(server, clients)
    await client.subscribe(f"stores/{store}/entities/#")
    part = world.add_part(
        name="Tag", file_uri=QUICK, profile=world.parts[next(iter(world.parts))].profile
    )
    part.profile.print_seconds = 600
    async with session.post("/v2/builds", json={"parts": [{"partId": part.id}]}) as response:
        assert response.status == 201
    jobs_topic = f"stores/{store}/entities/print-jobs"
    printers_topic = f"stores/{store}/entities/printers"
    await wait_until(lambda: client.received(jobs_topic) and client.received(printers_topic))
    (insert,) = client.json(jobs_topic)
    assert (insert["entityType"], insert["action"]) == ("print-jobs", "INSERT")
    ((job_id, job),) = insert["entities"].items()
    assert job["id"] == job_id
    assert job["status"] == "sending-to-printer"
    (update,) = client.json(printers_topic)
    assert (update["entityType"], update["action"]) == ("printers", "UPDATE")
    ((printer_id, changes),) = update["changes"].items()
    assert changes["printingJobId"] == job_id
    assert changes["confirmedReady"] is False
    assert update["entities"][printer_id]["isAvailable"] is False
    assert all(not retain for _, _, retain in client.received())
    world.clock.advance(61)
    world.tick()
    await wait_until(lambda: len(client.json(jobs_topic)) >= 2)
    started = client.json(jobs_topic)[1]
    assert started["action"] == "UPDATE"
    assert started["changes"][job_id]["status"] == "printing"
    assert "printingStartedAt" in started["changes"][job_id]
    world.clock.advance(3000)
    world.tick()
    await wait_until(
        lambda: client.json(jobs_topic)[-1]["changes"][job_id]["status"] == "completed"
    )
    body = {"ready": True, "ids": [printer_id]}
    async with session.patch("/v1/printers/confirm-ready", json=body) as response:
        assert response.status == 200
    await wait_until(
        lambda: client.json(printers_topic)[-1]["changes"][printer_id].get("confirmedReady")
    )


async def test_bad_client_id_and_credentials_are_refused(
    server: PrintagoServer, clients: list[Paho]
) -> None:
    # Mosquitto answers a client id without the prefix as it answers bad credentials
    _, reason = await connect(server, clients, client_id="printfarm_tests")
    assert reason.is_failure
    assert reason.getName() == "Not authorized"
    _, reason = await connect(server, clients, client_id="apiclient_x", password="wrong")
    assert reason.getName() == "Not authorized"
    _, reason = await connect(server, clients, client_id="apiclient_y", username="c" * 24)
    assert reason.getName() == "Not authorized"
    _, reason = await connect(server, clients, client_id="apiclient_z", username=None)
    assert reason.getName() == "Not authorized"
    assert server.realtime is not None
    await wait_until(lambda: server.realtime and server.realtime.broker.stats.connections_refused)
    await asyncio.sleep(0.1)
    stats = server.realtime.broker.stats
    assert stats.connections_refused == 4
    assert stats.connections_accepted == 0


async def test_a_rotated_key_is_the_only_one_let_in(
    server: PrintagoServer, clients: list[Paho]
) -> None:
    old = server.ctx.config.printago_api_key
    first, reason = await connect(server, clients, client_id="apiclient_first")
    assert reason.getName() == "Success"
    server.ctx.config.printago_api_key = "OMGPUPPIES" * 7
    _, reason = await connect(server, clients, client_id="apiclient_old", password=old)
    assert reason.getName() == "Not authorized"
    _, reason = await connect(server, clients, client_id="apiclient_new")
    assert reason.getName() == "Success"
    # The client of the revoked key was cut when Mosquitto took the new one
    await wait_until(lambda: not first.client.is_connected())


async def test_clients_see_their_store_only(server: PrintagoServer, clients: list[Paho]) -> None:
    realtime = server.realtime
    assert realtime is not None
    store = server.ctx.config.printago_store_id
    other = "c000000000000000000000000"
    client, _ = await connect(server, clients, client_id="apiclient_any_suffix")
    for topic in (f"stores/{other}/printer-stats/#", "#", "stores/+/entities/#"):
        await client.subscribe(topic)
    await wait_until(lambda: client.received(f"stores/{store}/printer-stats/"))
    assert realtime.broker.publish(f"stores/{other}/entities/printers", b'{"other": 1}')
    assert realtime.broker.publish(f"stores/{store}/entities/printers", b'{"own": 1}')
    assert realtime.broker.publish("elsewhere", b'{"elsewhere": 1}')
    await wait_until(lambda: client.received(f"stores/{store}/entities/"))
    await asyncio.sleep(0.1)
    assert {topic.split("/")[1] for topic, _, _ in client.received()} == {store}
    assert not client.received("elsewhere")


async def test_publishing_is_ignored(server: PrintagoServer, clients: list[Paho]) -> None:
    store = server.ctx.config.printago_store_id
    talker, _ = await connect(server, clients, client_id="apiclient_talker")
    fake = f"stores/{store}/entities/printers"
    info = talker.client.publish(fake, b'{"forged": true}', qos=1, retain=True)
    await asyncio.to_thread(info.wait_for_publish, WAIT)
    listener, _ = await connect(server, clients, client_id="apiclient_listener")
    await listener.subscribe(f"stores/{store}/entities/#")
    await asyncio.sleep(0.2)
    # Neither delivered nor retained
    assert listener.received() == []


async def test_malformed_payload_fault(
    server: PrintagoServer, session: aiohttp.ClientSession, clients: list[Paho]
) -> None:
    x1c = by_name(server, "X1C-01")
    store = server.ctx.config.printago_store_id
    client, _ = await connect(server, clients)
    topic = f"stores/{store}/printer-stats/{x1c.printago_id}"
    await client.subscribe(topic)
    await wait_until(client.received)
    server.ctx.faults.mqtt.malformed_next = 1
    command = {"ids": [x1c.printago_id], "command": {"command": "resync-data"}}
    for expected in (2, 3):
        async with session.post("/v1/printer-commands/send", json=command) as response:
            assert response.status == 201
        await wait_until(lambda n=expected: len(client.received()) >= n)  # type: ignore[misc]
    payloads = [payload for _, payload, _ in client.received()]
    with pytest.raises(json.JSONDecodeError):
        json.loads(payloads[1])
    assert json.loads(payloads[2])["printerId"] == x1c.printago_id


async def test_lifecycle_and_failures(
    server: PrintagoServer, caplog: pytest.LogCaptureFixture
) -> None:
    realtime = server.realtime
    assert realtime is not None
    await realtime.start()
    calls = 0

    def broken(_printer_ids: object = None) -> int:
        nonlocal calls
        calls += 1
        msg = "boom"
        raise RuntimeError(msg)

    realtime.publish_stats = broken  # type: ignore[method-assign]
    realtime.resync(next(iter(server.ctx.world.printers)))
    await wait_until(lambda: calls >= 1)
    assert "Publishing printer stats failed" in caplog.text
    printer = next(iter(server.ctx.world.printers.values()))
    realtime._on_event(WorldEvent(type="printer.updated", at=0.0, printer_id=printer.id))
    await realtime.close()
    await realtime.close()


async def test_jobs_known_at_start_are_updated_not_inserted(clients: list[Paho]) -> None:
    world = World(clock=SimClock(), seed=29)
    populate(world, printers=1)
    for printer in world.printers.values():
        printer.enabled = False
    job = world.submit_job(source="printago", file_url=QUICK)
    ctx = SimContext(config=SimConfig(seed=29, report_interval=0.05), world=world)
    async with PrintagoServer(ctx) as server:
        store = ctx.config.printago_store_id
        client, _ = await connect(server, clients)
        await client.subscribe(f"stores/{store}/entities/print-jobs")
        world.cancel_job(job.id)
        await wait_until(client.received)
        (message,) = client.json()
        assert message["action"] == "UPDATE"
        assert message["changes"][job.printago_id]["status"] == "cancelled"
        world.load_spool(next(iter(world.printers)), 0, None)
        await asyncio.sleep(0.1)
        assert len(client.json()) == 1


def test_events_without_a_running_loop() -> None:
    world = World(clock=SimClock(), seed=23)
    populate(world, printers=1)
    realtime = Realtime(SimContext(config=SimConfig(seed=23), world=world))
    printer = next(iter(world.printers.values()))
    realtime._on_event(WorldEvent(type="printer.updated", at=0.0, printer_id=printer.id))
    realtime._on_event(WorldEvent(type="job.updated", at=0.0, job_id="gone"))
    assert realtime.flush_entities() == 0
    logging.getLogger(__name__).debug("flushed without a loop")
