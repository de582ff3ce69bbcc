"""Tests for the printer endpoints of farmsim's Printago face."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from farmsim.context import SimConfig
from farmsim.models import Job, Phase, Printer
from farmsim.printago import PrintagoServer
from farmsim.printago.schemas import PRINTER_FIELDS, PRINTER_SLOT_FIELDS

from .helpers import phase, sim_context

QUICK = "https://files.example.invalid/quick.3mf?sim_seconds=600&sim_grams=5&sim_layers=50"


@pytest.fixture
async def server() -> AsyncIterator[PrintagoServer]:
    ctx = sim_context(SimConfig(seed=11), printers=3)
    async with PrintagoServer(ctx, realtime=False) as running:
        yield running


def printer(server: PrintagoServer, name: str) -> Printer:
    return next(p for p in server.ctx.world.printers.values() if p.name == name)


def start_print(server: PrintagoServer, target: Printer) -> Job:
    world = server.ctx.world
    job = world.submit_job(source="printago", file_url=QUICK, printer_id=target.id)
    world.clock.advance(61)
    world.tick()
    assert phase(target) is Phase.RUNNING
    return job


async def send(session: aiohttp.ClientSession, ids: list[str], command: dict[str, Any]) -> Any:
    async with session.post(
        "/v1/printer-commands/send", json={"ids": ids, "command": command}
    ) as response:
        return response.status, await response.json()


async def test_list_and_get_printers(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    async with session.get("/v1/printers") as response:
        assert response.status == 200
        printers = await response.json()
    assert [p["name"] for p in printers] == ["X1C-01", "P1S-01", "A1-01"]
    x1c = printers[0]
    assert set(x1c) == PRINTER_FIELDS
    world_x1c = printer(server, "X1C-01")
    assert x1c["id"] == world_x1c.printago_id
    assert x1c["storeId"] == server.ctx.config.printago_store_id
    assert x1c["deviceId"] == world_x1c.serial
    assert x1c["provider"] == "Bambu"
    assert x1c["commMethod"] == "fuse"
    assert x1c["nozzleDiameter"] == "0.4"
    assert x1c["metadata"]["dev_access_code"] == "********"
    assert x1c["metadata"]["dev_model_name"] == "BL-P001"
    assert x1c["metadata"]["dev_product_name"] == "X1 Carbon"
    assert world_x1c.access_code not in str(printers)
    assert x1c["tags"] == ["production", "x1c"]
    assert (x1c["isOnline"], x1c["isAvailable"], x1c["confirmedReady"]) == (True, True, True)
    assert x1c["printingJobId"] is None
    assert x1c["createdAt"].endswith("Z")
    async with session.get(f"/v1/printers/{x1c['id']}") as response:
        assert await response.json() == x1c
    for missing in ("c" + "9" * 23, world_x1c.id):
        async with session.get(f"/v1/printers/{missing}") as response:
            assert response.status == 404
            assert (await response.json())["message"] == "Printer not found"


async def test_printing_printer_reports_its_job(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    target = printer(server, "P1S-01")
    job = start_print(server, target)
    async with session.get(f"/v1/printers/{target.printago_id}") as response:
        entity = await response.json()
    assert entity["printingJobId"] == job.printago_id
    assert (entity["isAvailable"], entity["confirmedReady"]) == (False, False)
    assert entity["metadata"]["print_status"] == "RUNNING"


async def test_update_printer(server: PrintagoServer, session: aiohttp.ClientSession) -> None:
    target = printer(server, "A1-01")
    url = f"/v1/printers/{target.printago_id}"
    async with session.patch(url, json={"name": "Bench", "tags": ["fast", "pla"]}) as response:
        assert response.status == 200
        entity = await response.json()
    assert (entity["name"], entity["tags"]) == ("Bench", ["fast", "pla"])
    assert (target.name, target.tags) == ("Bench", ["fast", "pla"])
    assert server.ctx.world.events[-1].type == "printer.updated"
    async with session.patch(url, json={"enabled": False}) as response:
        assert (await response.json())["enabled"] is False
    assert target.enabled is False
    async with session.patch(url, json={"integrationId": None}) as response:
        assert response.status == 200
    for bad in ({"tags": "fast"}, {"tags": [""]}, {"enabled": "no"}, {"name": ""}):
        async with session.patch(url, json=bad) as response:
            assert response.status == 400
            assert isinstance((await response.json())["message"], list)


async def test_confirm_ready(server: PrintagoServer, session: aiohttp.ClientSession) -> None:
    world = server.ctx.world
    target = printer(server, "X1C-01")
    busy = printer(server, "P1S-01")
    start_print(server, target)
    world.clock.advance(3600)
    world.tick()
    assert target.phase is Phase.FINISH
    async with session.get(f"/v1/printers/{target.printago_id}") as response:
        entity = await response.json()
    assert (entity["isAvailable"], entity["confirmedReady"]) == (True, False)
    start_print(server, busy)
    body = {"ready": True, "ids": [target.printago_id, busy.printago_id, target.printago_id]}
    async with session.patch("/v1/printers/confirm-ready", json=body) as response:
        assert response.status == 200
        ready = await response.json()
    assert [p["id"] for p in ready] == [target.printago_id]
    assert ready[0]["confirmedReady"] is True
    assert target.bed_clear is True
    body = {"ready": True, "ids": [busy.printago_id]}
    async with session.patch("/v1/printers/confirm-ready", json=body) as response:
        assert response.status == 409
        assert "P1S-01" in (await response.json())["message"]
    body = {"ready": False, "ids": [target.printago_id]}
    async with session.patch("/v1/printers/confirm-ready", json=body) as response:
        assert (await response.json())[0]["confirmedReady"] is False
    for bad in ({"ready": True}, {"ready": "yes", "ids": ["x"]}, {"ready": True, "ids": [1]}):
        async with session.patch("/v1/printers/confirm-ready", json=bad) as response:
            assert response.status == 400
    async with session.patch("/v1/printers/confirm-ready", json={"ready": True, "ids": ["x"]}) as r:
        assert r.status == 404


async def test_enabled_and_maintenance(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    ids = [p.printago_id for p in server.ctx.world.printers.values()]
    async with session.patch("/v1/printers/enabled", json={"enabled": False, "ids": ids}) as resp:
        assert [p["enabled"] for p in await resp.json()] == [False, False, False]
    assert not any(p.enabled for p in server.ctx.world.printers.values())
    body = {"enabled": True, "printerIds": ids[:1]}
    async with session.patch("/v1/maintenance/mode", json=body) as response:
        assert (await response.json())[0]["isInMaintenance"] is True
    busy = printer(server, "A1-01")
    busy.enabled = True
    start_print(server, busy)
    body = {"enabled": True, "printerIds": [busy.printago_id]}
    async with session.patch("/v1/maintenance/mode", json=body) as response:
        assert response.status == 409


async def test_pause_resume_stop_commands(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    target = printer(server, "X1C-01")
    idle = printer(server, "P1S-01")
    job = start_print(server, target)
    assert await send(session, [target.printago_id, idle.printago_id], {"command": "pause"}) == (
        201,
        [target.printago_id],
    )
    assert phase(target) is Phase.PAUSE
    assert job.status.value == "paused"
    status, body = await send(session, [idle.printago_id], {"command": "pause"})
    assert status == 409
    assert body["error"] == "Conflict"
    assert "P1S-01" in body["message"]
    assert await send(session, [target.printago_id], {"command": "resume"}) == (
        201,
        [target.printago_id],
    )
    assert phase(target) is Phase.RUNNING
    assert (await send(session, [target.printago_id], {"command": "stop"}))[0] == 201
    assert job.status.value == "cancelled"


async def test_other_commands(server: PrintagoServer, session: aiohttp.ClientSession) -> None:
    world = server.ctx.world
    x1c = printer(server, "X1C-01")
    a1 = printer(server, "A1-01")
    ids = [x1c.printago_id]
    light = {"command": "led-control", "light": "chamber_light", "state": "off"}
    assert await send(session, ids, light) == (201, ids)
    assert x1c.lights["chamber_light"] is False
    light = {"command": "led-control", "light": "working_light", "state": "on"}
    assert await send(session, ids, light) == (201, ids)
    assert (await send(session, [a1.printago_id], light))[0] == 409
    for kind, attribute in (("nozzle", "nozzle_target"), ("bed", "bed_target")):
        heat = {"command": "set-temperature", "type": kind, "temperature": 60}
        assert await send(session, ids, heat) == (201, ids)
        assert getattr(x1c, attribute) == 60
    chamber = {"command": "set-temperature", "type": "chamber", "temperature": 40}
    assert await send(session, ids, chamber) == (201, ids)
    for name in ("resync-data", "home-axis", "set-fan", "refresh-slot"):
        assert await send(session, ids, {"command": name}) == (201, ids)
    world.set_online(x1c.id, online=False)
    status, body = await send(session, ids, {"command": "home-axis"})
    assert status == 409
    assert body["message"] == "Printer X1C-01 is offline"
    for bad in (
        {"command": "explode"},
        {"light": "chamber_light"},
        {"command": "led-control", "light": "disco", "state": "on"},
        {"command": "led-control", "light": "chamber_light", "state": "dim"},
        {"command": "set-temperature", "type": "hotend", "temperature": 200},
        {"command": "set-temperature", "type": "bed", "temperature": -5},
        {"command": "set-temperature", "type": "bed", "temperature": True},
    ):
        status, body = await send(session, ids, bad)
        assert status == 400
    status, body = await send(session, ["c" + "1" * 23], {"command": "pause"})
    assert status == 404


async def test_printer_slots(server: PrintagoServer, session: aiohttp.ClientSession) -> None:
    x1c = printer(server, "X1C-01")
    a1 = printer(server, "A1-01")
    async with session.get("/v1/printer-slots") as response:
        slots = await response.json()
    assert len(slots) == 9
    assert set(slots[0]) == PRINTER_SLOT_FIELDS
    x1c_slots = [s for s in slots if s["printerId"] == x1c.printago_id]
    assert [(s["amsIndex"], s["slotIndex"]) for s in x1c_slots] == [(0, i) for i in range(4)]
    first = x1c_slots[0]
    spool = server.ctx.world.spools[x1c.trays[0].spool_id or ""]
    assert first["instanceId"] == spool.printago_id
    assert first["materialType"] == "PLA"
    assert first["expectedData"]["color"] == spool.color_hex.lstrip("#") + "FF"
    params = {"printerId": a1.printago_id}
    async with session.get("/v1/materials/printer-slots", params=params) as response:
        (external,) = await response.json()
    assert (external["amsIndex"], external["slotIndex"]) == (-1, 0)
    server.ctx.world.load_spool(a1.id, 254, None)
    body = {"filter": {"instanceId": {"isNull": True}}}
    async with session.post("/v1/printer-slots/search", json=body) as response:
        assert response.status == 201
        (empty,) = (await response.json())["data"]
    assert empty["printerId"] == a1.printago_id
    assert empty["variantId"] is None
