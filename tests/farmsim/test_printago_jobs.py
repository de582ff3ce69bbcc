"""Tests for builds, parts and the print queue of farmsim's Printago face."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from farmsim.context import SimConfig
from farmsim.models import JobStatus, Phase
from farmsim.printago import PrintagoServer
from farmsim.printago.builds import user_tags
from farmsim.printago.schemas import PART_FIELDS, PRINT_JOB_FIELDS

from .helpers import call, phase, sim_context

QUICK = "https://files.example.invalid/clip.3mf?sim_seconds=600&sim_grams=20&sim_layers=30"


@pytest.fixture
async def server() -> AsyncIterator[PrintagoServer]:
    ctx = sim_context(SimConfig(seed=13), printers=3)
    async with PrintagoServer(ctx, realtime=False) as running:
        yield running


async def quick_part(session: aiohttp.ClientSession, name: str = "Clip") -> dict[str, Any]:
    status, part = await call(session, "POST", "/v1/parts", {"name": name, "fileUris": [QUICK]})
    assert status == 201
    return dict(part)


async def build(session: aiohttp.ClientSession, **config: Any) -> tuple[int, Any]:
    return await call(session, "POST", "/v2/builds", {"parts": [config]})


def disable_all(server: PrintagoServer) -> None:
    for printer in server.ctx.world.printers.values():
        printer.enabled = False


def advance(server: PrintagoServer, seconds: float) -> None:
    server.ctx.world.clock.advance(seconds)
    server.ctx.world.tick()


async def test_parts(session: aiohttp.ClientSession) -> None:
    part = await quick_part(session)
    assert set(part) == PART_FIELDS
    assert part["slicingEstimate"]["estimatedPrintTimeSeconds"] == 600
    assert part["slicingEstimate"]["totalWeightGrams"] == 20
    assert part["type"] == "3mf"
    assert await call(session, "GET", f"/v1/parts/{part['id']}") == (200, part)
    status, listed = await call(session, "GET", "/v1/parts", name="Clip")
    assert (status, [p["id"] for p in listed]) == (200, [part["id"]])
    status, found = await call(session, "POST", "/v1/parts/search", {"filter": {"name": "Clip"}})
    assert (status, found["meta"]["total"]) == (201, 1)
    body = {
        "name": "Bracket",
        "type": "gcode3mf",
        "description": "",
        "fileUris": ["store/parts/bracket.gcode.3mf", "store/parts/extra.stl"],
        "parameters": [],
        "printTags": {"user.tags": "&=fast"},
        "overriddenProcessProfileId": None,
    }
    status, created = await call(session, "POST", "/v1/parts", body)
    assert status == 201
    assert (created["type"], created["printTags"]) == ("gcode3mf", {"user.tags": "&=fast"})
    assert len(created["fileHashes"]) == 2
    assert (await call(session, "GET", "/v1/parts/nope"))[0] == 404
    status, error = await call(session, "POST", "/v1/parts", {"name": "X"})
    assert (status, error["message"]) == (400, "fileUris required")
    for bad in ({"fileUris": ["a.stl"]}, {"name": "X", "fileUris": ["a.stl"], "type": "obj"}):
        assert (await call(session, "POST", "/v1/parts", bad))[0] == 400
    async with session.post("/v1/parts", data=b"name=X") as response:
        assert response.status == 400


async def test_build_prints_to_completion(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    world = server.ctx.world
    part = await quick_part(session)
    status, result = await build(session, partId=part["id"], quantity=4, label="order-1")
    assert status == 201
    assert result["skuBuilds"] == []
    (part_build,) = result["partBuilds"]
    assert (part_build["quantity"], part_build["label"], part_build["status"]) == (
        4,
        "order-1",
        "queued",
    )
    assert part_build["partCopy"]["id"] == part["id"]
    status, jobs = await call(
        session, "GET", "/v1/print-jobs", label="order-1", sort="quantityIndex"
    )
    assert status == 200
    assert len(jobs) == 4
    assert set(jobs[0]) == PRINT_JOB_FIELDS
    assert {job["partBuildId"] for job in jobs} == {part_build["id"]}
    assert [job["quantityIndex"] for job in jobs] == [0, 1, 2, 3]
    assert {job["quantityTotal"] for job in jobs} == {4}
    assert [job["status"] for job in jobs] == ["sending-to-printer"] * 3 + ["pending"]
    assert (jobs[0]["partId"], jobs[0]["partName"], jobs[0]["priority"]) == (
        part["id"],
        "Clip",
        100,
    )
    assert jobs[0]["materialMapping"][0]["materialType"] == "PLA"
    assert jobs[3]["assignedPrinterId"] is None
    first = world.job(jobs[0]["id"])
    spool = world.spools[first.spool_id or ""]
    before = spool.remaining_grams
    advance(server, 61)
    status, printing = await call(session, "GET", f"/v1/print-jobs/{jobs[0]['id']}")
    assert printing["status"] == "printing"
    assert printing["printingStartedAt"] is not None
    advance(server, 2000)
    status, done = await call(session, "GET", "/v1/print-jobs", status="completed")
    assert len(done) == 3
    assert all(job["printingCompletedAt"] for job in done)
    assert await call(session, "GET", "/v1/print-jobs/stats/completed-count") == (200, 3)
    path = f"/v1/materials/instances/{spool.printago_id}"
    status, instance = await call(session, "GET", path)
    assert instance["remainingMaterial"] == pytest.approx(before - 20, abs=0.01)
    printer_id = jobs[0]["assignedPrinterId"]
    status, finished = await call(session, "GET", f"/v1/printers/{printer_id}")
    assert (finished["isAvailable"], finished["confirmedReady"]) == (True, False)
    assert finished["lifetimeJobCount"] == 1
    assert finished["lastPrintedAt"] is not None
    body = {"ready": True, "ids": [printer_id]}
    assert (await call(session, "PATCH", "/v1/printers/confirm-ready", body))[0] == 200
    status, last = await call(session, "GET", f"/v1/print-jobs/{jobs[3]['id']}")
    assert (last["status"], last["assignedPrinterId"]) == ("sending-to-printer", printer_id)


async def test_queue_actions(server: PrintagoServer, session: aiohttp.ClientSession) -> None:
    world = server.ctx.world
    part = await quick_part(session)
    target = next(p for p in world.printers.values() if p.name == "P1S-01")
    tags = {"printer.id": target.printago_id}
    assert (await build(session, partId=part["id"], quantity=2, tags=tags))[0] == 201
    status, jobs = await call(session, "GET", "/v1/print-jobs", sort="quantityIndex")
    running, waiting = (job["id"] for job in jobs)
    assert jobs[0]["requiredPrinterTags"] == tags
    assert jobs[0]["assignedPrinterId"] == target.printago_id
    advance(server, 61)
    ids = {"printJobIds": [running, waiting]}
    assert await call(session, "PATCH", "/v1/print-jobs/pause", ids) == (200, [running])
    assert phase(target) is Phase.PAUSE
    status, error = await call(session, "PATCH", "/v1/print-jobs/pause", {"printJobIds": [waiting]})
    assert (status, error["error"]) == (409, "Conflict")
    assert await call(session, "PATCH", "/v1/print-jobs/resume", ids) == (200, [running])
    assert phase(target) is Phase.RUNNING
    assert await call(session, "PATCH", "/v1/print-jobs/cancel", {"printJobIds": [running]}) == (
        200,
        [running],
    )
    assert phase(target) is Phase.FAILED
    status, cancelled = await call(session, "GET", f"/v1/print-jobs/{running}")
    assert (cancelled["status"], cancelled["cancelledAt"] is not None) == ("cancelled", True)
    clear = {"printJobIds": [running]}
    assert await call(session, "PATCH", "/v1/print-jobs/clear", clear) == (200, [running])
    status, visible = await call(session, "GET", "/v1/print-jobs")
    assert [job["id"] for job in visible] == [waiting]
    status, hidden = await call(session, "GET", "/v1/print-jobs", hidden="true")
    assert [job["id"] for job in hidden] == [running]
    status, found = await call(session, "POST", "/v1/print-jobs/search", {"filter": {}})
    assert found["meta"]["total"] == 1
    assert (await call(session, "PATCH", "/v1/print-jobs/clear", {"printJobIds": [waiting]}))[
        0
    ] == 409
    assert await call(session, "PATCH", "/v1/print-jobs/retry", clear) == (200, [running])
    assert world.job(running).status is JobStatus.QUEUED
    assert world.job(running).hidden is False
    missing = {"printJobIds": ["c" + "2" * 23]}
    assert (await call(session, "PATCH", "/v1/print-jobs/cancel", missing))[0] == 404
    bad_bodies: list[dict[str, Any]] = [
        {},
        {"printJobIds": []},
        {"printJobIds": "x"},
        {"ids": [running]},
    ]
    for bad in bad_bodies:
        assert (await call(session, "PATCH", "/v1/print-jobs/cancel", bad))[0] == 400
    assert (await call(session, "PATCH", "/v1/print-jobs/explode", ids))[0] == 404


async def test_priority_label_and_queue_front(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    disable_all(server)
    part = await quick_part(session)
    await build(session, partId=part["id"], quantity=2, label="order-1")
    await build(session, partId=part["id"], quantity=2, label="order-10", position="front")
    status, queue = await call(session, "GET", "/v1/print-jobs", sort="queueOrder")
    assert [(j["label"], j["quantityIndex"]) for j in queue] == [
        ("order-10", 0),
        ("order-10", 1),
        ("order-1", 0),
        ("order-1", 1),
    ]
    status, exact = await call(session, "GET", "/v1/print-jobs", label="order-1")
    assert {job["label"] for job in exact} == {"order-1"}
    last = queue[-1]["id"]
    front = {"printJobIds": [last]}
    assert await call(session, "PATCH", "/v1/print-jobs/move-to-queue-front", front) == (
        200,
        [last],
    )
    status, queue = await call(session, "GET", "/v1/print-jobs", sort="queueOrder", limit="1")
    assert queue[0]["id"] == last
    status, job = await call(session, "PATCH", f"/v1/print-jobs/{last}", {"priority": 1000})
    assert (status, job["priority"]) == (200, 1000)
    assert server.ctx.world.job(last).priority == 0
    status, job = await call(session, "PATCH", f"/v1/print-jobs/{last}", {"label": "renamed"})
    assert (job["label"], job["priority"]) == ("renamed", 1000)
    status, job = await call(
        session, "PATCH", f"/v1/print-jobs/{last}", {"label": "both", "priority": 100}
    )
    assert (job["label"], job["priority"]) == ("both", 100)
    for bad in ({"priority": 5}, {"priority": True}, {"label": 7}):
        assert (await call(session, "PATCH", f"/v1/print-jobs/{last}", bad))[0] == 400
    assert (await call(session, "GET", "/v1/print-jobs/nope"))[0] == 404


async def test_build_tags_and_priority(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    world = server.ctx.world
    part = await quick_part(session)
    a1 = next(p for p in world.printers.values() if p.name == "A1-01")
    a1.tags = ["fast", "pla"]
    tags = {"user.tags": "&=fast,pla", "filament.type": "PLA"}
    status, result = await build(session, partId=part["id"], tags=tags, priority=1000)
    assert result["partBuilds"][0]["priority"] == 1000
    status, (job,) = await call(session, "GET", "/v1/print-jobs")
    assert job["requiredPrinterTags"] == tags
    assert job["priority"] == 1000
    assert job["assignedPrinterId"] == a1.printago_id
    world_job = world.job(job["id"])
    assert (world_job.required_tags, world_job.material) == (["fast", "pla"], "PLA")
    status, result = await build(session, partId=part["id"], quantity=0)
    assert (status, result["partBuilds"][0]["status"]) == (201, "success")
    assert len(world.jobs) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"parts": [{"partId": "nope"}]}, 404),
        ({"skus": [{"skuId": "nope"}]}, 404),
        ({}, 400),
        ({"parts": {"partId": "x"}}, 400),
        ({"parts": ["x"]}, 400),
        ({"parts": [{"quantity": 1}]}, 400),
        ({"parts": [{"partId": "PART", "quantity": 501}]}, 400),
        ({"parts": [{"partId": "PART", "quantity": 1.5}]}, 400),
        ({"parts": [{"partId": "PART", "priority": 50}]}, 400),
        ({"parts": [{"partId": "PART", "position": "middle"}]}, 400),
        ({"parts": [{"partId": "PART", "label": ""}]}, 400),
        ({"parts": [{"partId": "PART", "tags": {"user.tags": ""}}]}, 400),
        ({"parts": [{"partId": "PART", "tags": {"printer.id": "nope"}}]}, 404),
    ],
)
async def test_build_validation(
    session: aiohttp.ClientSession, server: PrintagoServer, body: dict[str, Any], expected: int
) -> None:
    part = await quick_part(session)
    for item in body.get("parts", []) if isinstance(body.get("parts"), list) else []:
        if isinstance(item, dict) and item.get("partId") == "PART":
            item["partId"] = part["id"]
    status, error = await call(session, "POST", "/v2/builds", body)
    assert status == expected
    assert error["statusCode"] == expected
    assert server.ctx.world.jobs == {}


def test_user_tags_syntax() -> None:
    assert user_tags("&=a,b") == ["a", "b"]
    assert user_tags("A|B") == ["A", "B"]
    assert user_tags("|= x | y ") == ["x", "y"]
    assert user_tags("solo") == ["solo"]
    assert user_tags("") == []


async def test_jobs_from_other_sources_are_listed(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    world = server.ctx.world
    x1c = next(p for p in world.printers.values() if p.name == "X1C-01")
    job = world.submit_job(source="autoprintfarm", file_url=QUICK, printer_id=x1c.id, tags=["x"])
    _, entity = await call(session, "GET", f"/v1/print-jobs/{job.printago_id}")
    assert entity["requiredPrinterTags"] == {"printer.id": x1c.printago_id, "user.tags": "&=x"}
    assert entity["partId"] is None
    assert entity["materialMapping"] is None
