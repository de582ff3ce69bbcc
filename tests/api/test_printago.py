"""Tests for the Printago client against farmsim and small local services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from custom_components.printfarm.api.errors import (
    PrintFarmAuthenticationError,
    PrintFarmConflictError,
    PrintFarmInvalidResponseError,
    PrintFarmNotFoundError,
    PrintFarmPermissionError,
    PrintFarmRateLimitError,
    PrintFarmServerError,
    PrintFarmTimeoutError,
    PrintFarmValidationError,
)
from custom_components.printfarm.api.models import (
    OPEN_JOB_STATUSES,
    JobPriority,
    JobRequest,
    JobStatus,
    PrinterStatus,
)
from custom_components.printfarm.api.printago import client as printago_module
from custom_components.printfarm.api.printago.client import Printago, submission_label
from custom_components.printfarm.api.transport.http import RetryPolicy
from farmsim import FarmSim
from farmsim.models import Job as WorldJob
from farmsim.testing import running_farmsim

from .helpers import FAST, admin, requests_sent, sim_counters

LIMITS = ((3, 60.0), (10, 3600.0))


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        """Start at the current time."""
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        """Return the current time."""
        return self.now


def _client(sim: FarmSim, **kwargs: Any) -> Printago:
    connection = sim.connection["printago"]
    options: dict[str, Any] = {
        "base_url": connection["base_url"],
        "api_key": connection["api_key"],
        "store_id": connection["store_id"],
        "retry": FAST,
    }
    return Printago(**(options | kwargs))


def _printago_ids(sim: FarmSim) -> list[str]:
    return [printer.printago_id for printer in sim.world.printers.values()]


def _world_jobs(sim: FarmSim, label: str) -> list[WorldJob]:
    return [job for job in sim.world.jobs.values() if job.label == label]


def _part(sim: FarmSim) -> str:
    return next(iter(sim.world.parts))


@pytest.fixture
async def client(farmsim: FarmSim) -> AsyncIterator[Printago]:
    """Return a client of farmsim's Printago API."""
    async with _client(farmsim) as client:
        yield client


# Account and printers


async def test_account(farmsim: FarmSim, client: Printago) -> None:
    """The account is the store of the store id."""
    account = await client.account()
    assert account.id == farmsim.config.printago_store_id
    assert account.name == "Farmsim Print Farm"
    assert account.service == "printago"


async def test_wrong_credentials(farmsim: FarmSim) -> None:
    """A wrong key is an authentication error, a wrong store a permission error."""
    async with _client(farmsim, api_key="OMGPUPPIES") as client:
        with pytest.raises(PrintFarmAuthenticationError, match="Invalid API key") as auth:
            await client.account()
    assert auth.value.status == 401
    async with _client(farmsim, store_id="cOMGSPIDERS") as client:
        with pytest.raises(PrintFarmPermissionError, match="no access to this store") as perm:
            await client.printers()
    assert perm.value.status == 403
    assert (await sim_counters(farmsim))["responses"]["printago"] == {"401": 1, "403": 1}


async def test_printers_follow_pages() -> None:
    """Every printer is returned across pages, with its identity normalized."""
    async with running_farmsim(printers=25) as sim, _client(sim, page_size=10) as client:
        await admin(sim, "POST", "counters/reset")
        printers = await client.printers()
        assert await requests_sent(sim, "printago") == 4
        assert [printer.id for printer in printers] == _printago_ids(sim)
        world = list(sim.world.printers.values())[7]
        printer = printers[7]
        assert (printer.name, printer.serial) == (world.name, world.serial)
        assert printer.model == world.model.product_name
        assert printer.manufacturer == "Bambu Lab"
        assert printer.tags == tuple(world.tags)
        assert (printer.status, printer.online) == (PrinterStatus.IDLE, True)


async def test_printer_statuses(farmsim: FarmSim, client: Printago) -> None:
    """Statuses come from the printer flags and the job it prints."""
    world = farmsim.world
    first, second, third = world.printers.values()
    world.submit_job(source="printago", file_url="parts/cube.stl", printer_id=first.id)
    assert (await client.printer(first.printago_id)).status is PrinterStatus.PREPARING
    await admin(farmsim, "POST", "clock", {"advance": 120})
    printer = await client.printer(first.printago_id)
    assert printer.status is PrinterStatus.PRINTING
    assert printer.current_job_id == world.jobs[first.job_id or ""].printago_id
    await client.pause_printer(first.printago_id)
    statuses = {p.id: p.status for p in await client.printers()}
    assert statuses[first.printago_id] is PrinterStatus.PAUSED
    await client.resume_printer(first.printago_id)
    await client.stop_printer(first.printago_id)
    printer = await client.printer(first.printago_id)
    assert (printer.status, printer.bed_clear_required) == (PrinterStatus.FINISHED, True)
    await client.clear_bed(first.printago_id)
    assert first.bed_clear
    assert (await client.printer(first.printago_id)).status is PrinterStatus.IDLE
    await admin(farmsim, "POST", f"printers/{second.id}/online", {"online": False})
    await admin(farmsim, "POST", f"printers/{third.id}/maintenance", {"maintenance": True})
    statuses = {p.id: p.status for p in await client.printers()}
    assert statuses[second.printago_id] is PrinterStatus.OFFLINE
    assert statuses[third.printago_id] is PrinterStatus.MAINTENANCE


async def test_printer_control_refused(farmsim: FarmSim, client: Printago) -> None:
    """Commands a printer cannot take raise conflicts; unknown printers are not found."""
    first, second, _ = farmsim.world.printers.values()
    with pytest.raises(PrintFarmConflictError, match="not printing"):
        await client.pause_printer(first.printago_id)
    await admin(farmsim, "POST", f"printers/{second.id}/online", {"online": False})
    with pytest.raises(PrintFarmConflictError, match="offline"):
        await client.resume_printer(second.printago_id)
    with pytest.raises(PrintFarmNotFoundError, match="Printer not found"):
        await client.printer("cmissing")


async def test_chamber_light(farmsim: FarmSim, client: Printago) -> None:
    """The chamber light switches; a printer without one or offline refuses it."""
    x1c, _, a1 = farmsim.world.printers.values()
    await client.set_light(x1c.printago_id, on=False)
    assert x1c.lights == {"chamber_light": False, "work_light": True}
    await client.set_light(x1c.printago_id, on=True)
    assert x1c.lights == {"chamber_light": True, "work_light": True}
    with pytest.raises(PrintFarmConflictError, match="has no chamber_light"):
        await client.set_light(a1.printago_id, on=True)
    await admin(farmsim, "POST", f"printers/{x1c.id}/online", {"online": False})
    with pytest.raises(PrintFarmConflictError, match="offline"):
        await client.set_light(x1c.printago_id, on=False)
    assert x1c.lights["chamber_light"] is True


# Jobs


async def test_jobs_filter_sort_and_pages(farmsim: FarmSim) -> None:
    """Jobs are filtered by status and printer, sorted and read across pages."""
    world = farmsim.world
    for index in range(7):
        world.submit_job(source="printago", file_url=f"parts/{index}.stl", label=f"L{index}")
        await admin(farmsim, "POST", "clock", {"advance": 1})
    async with _client(farmsim, page_size=3) as client:
        jobs = await client.jobs()
        assert [job.label for job in jobs] == [f"L{index}" for index in range(7)]
        newest = await client.jobs(sort="-created_at")
        assert [job.id for job in newest] == [job.id for job in reversed(jobs)]
        assert [job.id for job in await client.jobs(sort="createdAt:desc")] == [
            job.id for job in newest
        ]
        queued = await client.jobs(statuses=[JobStatus.QUEUED], sort="queue_position")
        assert [job.label for job in queued] == ["L3", "L4", "L5", "L6"]
        assert [job.queue_position for job in queued] == [1, 2, 3, 4]
        printer = next(iter(world.printers.values()))
        running = await client.jobs(statuses=[JobStatus.PREPARING], printer_id=printer.printago_id)
        assert [job.printer_id for job in running] == [printer.printago_id]
        assert await client.jobs(statuses=()) == []
        assert len(await client.jobs(statuses=[JobStatus.UNKNOWN, JobStatus.QUEUED])) == 4
        job = await client.job(jobs[0].id)
        assert (job.status, job.file, job.priority) == (
            JobStatus.PREPARING,
            "parts/0.stl",
            JobPriority.NORMAL,
        )


async def test_submit_job_reaches_world(farmsim: FarmSim, client: Printago) -> None:
    """A build queues the copies with the target printer, tags, material and priority."""
    target = list(farmsim.world.printers.values())[1]
    request = JobRequest(
        part_id=_part(farmsim),
        name="Benchy",
        printer_id=target.printago_id,
        tags=("production", "x1c"),
        quantity=2,
        priority=JobPriority.LOW,
        material="PLA",
    )
    jobs = await client.submit_job(request, idempotency_key="order-7")
    label = submission_label("Benchy", "order-7")
    assert label == "Benchy [pf:order-7]"
    assert [job.label for job in jobs] == [label, label]
    assert [job.priority for job in jobs] == [JobPriority.LOW, JobPriority.LOW]
    for world_job in _world_jobs(farmsim, label):
        assert world_job.target_printer_id == target.id
        assert world_job.required_tags == ["production", "x1c"]
        assert world_job.material == "PLA"
        assert world_job.priority == 0
    with pytest.raises(PrintFarmValidationError, match="part_id"):
        await client.submit_job(JobRequest(file_url="https://x.invalid/a.3mf"))
    with pytest.raises(PrintFarmValidationError, match="quantity"):
        await client.submit_job(JobRequest(part_id=_part(farmsim), quantity=0))
    with pytest.raises(PrintFarmNotFoundError, match="Part not found"):
        await client.submit_job(JobRequest(part_id="cmissing"))
    assert len(farmsim.world.jobs) == 2
    assert submission_label("x" * 2000, "k").endswith(" [pf:k]")
    assert len(submission_label("x" * 2000, "k")) == 1024


async def test_submit_job_survives_dropped_responses(farmsim: FarmSim, client: Printago) -> None:
    """A build whose answer is lost is found by its label instead of being sent again."""
    await admin(farmsim, "PATCH", "faults/printago", {"drop_next": 1})
    jobs = await client.submit_job(JobRequest(part_id=_part(farmsim), quantity=3, name="Cube"))
    assert len(jobs) == 3
    assert len(farmsim.world.jobs) == 3
    assert {job.label for job in jobs} == {jobs[0].label}
    responses = (await sim_counters(farmsim))["responses"]["printago"]
    assert responses["dropped"] == 1
    assert "201" not in responses


async def test_submit_job_survives_server_errors(farmsim: FarmSim, client: Printago) -> None:
    """A build refused with 5xx is looked up, then sent again, once."""
    await admin(farmsim, "PATCH", "faults/printago", {"error_next": 1})
    jobs = await client.submit_job(JobRequest(part_id=_part(farmsim), quantity=2))
    assert len(jobs) == 2
    assert len(farmsim.world.jobs) == 2
    responses = (await sim_counters(farmsim))["responses"]["printago"]
    assert (responses["503"], responses["201"]) == (1, 1)


async def test_submit_job_same_key_is_not_sent_again(farmsim: FarmSim, client: Printago) -> None:
    """A caller retrying with its key gets the jobs already queued, without a new build."""
    request = JobRequest(part_id=_part(farmsim), quantity=2)
    first = await client.submit_job(request, idempotency_key="order-9")
    again = await client.submit_job(request, idempotency_key="order-9")
    assert [job.id for job in again] == [job.id for job in first]
    assert len(farmsim.world.jobs) == 2
    assert (await sim_counters(farmsim))["responses"]["printago"]["201"] == 1


async def test_job_actions_reach_world(farmsim: FarmSim, client: Printago) -> None:
    """Pause, resume and cancel change the job in the world."""
    world = farmsim.world
    printer = next(iter(world.printers.values()))
    job = world.submit_job(source="printago", file_url="parts/cube.stl", printer_id=printer.id)
    await admin(farmsim, "POST", "clock", {"advance": 120})
    await client.pause_job(job.printago_id)
    assert (await client.job(job.printago_id)).status is JobStatus.PAUSED
    await client.resume_job(job.printago_id)
    assert job.status.value == "printing"
    await client.cancel_job(job.printago_id)
    cancelled = await client.job(job.printago_id)
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.completed_at is not None
    with pytest.raises(PrintFarmConflictError):
        await client.pause_job(job.printago_id)


# Materials, summary


async def test_materials(farmsim: FarmSim) -> None:
    """Spools are joined with their material and colour; low stock needs a threshold."""
    async with _client(farmsim) as client:
        materials = await client.materials()
    assert len(materials) == len(farmsim.world.spools)
    assert not any(material.low_stock for material in materials)
    tpu = next(material for material in materials if material.type == "TPU")
    assert (tpu.color, tpu.color_hex, tpu.brand) == ("Black", "#161616", "Bambu Lab")
    assert tpu.remaining_grams == 120.0
    assert tpu.reorder_threshold_grams is None
    async with _client(farmsim, low_stock_grams=150) as client:
        low = [material for material in await client.materials() if material.low_stock]
    assert [(material.type, material.reorder_threshold_grams) for material in low] == [("TPU", 150)]


async def test_summary(farmsim: FarmSim) -> None:
    """The summary is computed from printers, open jobs and today's completed jobs."""
    world = farmsim.world
    first = next(iter(world.printers.values()))
    world.submit_job(source="printago", file_url="parts/cube.stl", printer_id=first.id)
    await admin(farmsim, "POST", "clock", {"advance": 50000})
    for index in range(3):
        world.submit_job(source="printago", file_url=f"parts/{index}.stl")
    async with _client(farmsim, low_stock_grams=150) as client:
        summary = await client.summary()
    assert summary.printers_by_status == {PrinterStatus.FINISHED: 1, PrinterStatus.PREPARING: 2}
    assert (summary.jobs_queued, summary.jobs_active) == (1, 2)
    assert summary.jobs_completed_today == 1
    assert summary.low_stock_materials == 1
    async with _client(farmsim) as client:
        assert (await client.summary()).low_stock_materials == 0


async def test_snapshot_fetches_each_list_once(farmsim: FarmSim) -> None:
    """A snapshot equals the separate calls but costs fewer requests."""
    world = farmsim.world
    world.submit_job(source="printago", file_url="parts/cube.stl")
    async with _client(farmsim, low_stock_grams=150) as client:
        sent = client.budget.sent
        snapshot = await client.snapshot()
        used = client.budget.sent - sent
        sent = client.budget.sent
        printers = await client.printers()
        jobs = await client.jobs(statuses=OPEN_JOB_STATUSES)
        materials = await client.materials()
        summary = await client.summary()
        separately = client.budget.sent - sent
    assert snapshot.printers == printers
    assert snapshot.jobs == jobs
    assert snapshot.materials == materials
    assert snapshot.summary == summary
    assert used <= separately / 2


# Budget


async def test_rate_limit_answered_by_service() -> None:
    """Printago's 429 carries Retry-After; the client then waits instead of sending."""
    async with running_farmsim(printago_limits=LIMITS) as sim, _client(sim) as client:
        for _ in range(3):
            await client.account()
        with pytest.raises(PrintFarmRateLimitError, match="Too Many Requests") as err:
            await client.account()
        assert err.value.status == 429
        assert err.value.retry_at > datetime.now(UTC) + timedelta(seconds=30)
        with pytest.raises(PrintFarmRateLimitError) as again:
            await client.account()
        assert again.value.status is None
        counters = await sim_counters(sim)
        assert counters["rate_limited"]["printago"] == 1
        assert await requests_sent(sim, "printago") == 4


async def test_rate_windows_tracked_client_side() -> None:
    """Both windows are counted by the client, which refuses before the service must."""
    clock = FakeClock()
    async with (
        running_farmsim(printago_limits=LIMITS) as sim,
        _client(sim, rate_windows=((3, 60.0), (4, 3600.0)), clock=clock) as client,
    ):
        for _ in range(3):
            await client.account()
        budget = client.budget
        assert (budget.limit, budget.remaining) == (3, 0)
        assert budget.reset_at == datetime.fromtimestamp(clock.now + 60, UTC)
        with pytest.raises(PrintFarmRateLimitError) as err:
            await client.account()
        assert err.value.retry_at == budget.reset_at
        assert await requests_sent(sim, "printago") == 3
        clock.now += 61
        await admin(sim, "POST", "rate-limits/reset")
        assert (client.budget.limit, client.budget.remaining) == (4, 1)
        await client.account()
        with pytest.raises(PrintFarmRateLimitError):
            await client.account()
        assert await requests_sent(sim, "printago") == 4
        assert (await sim_counters(sim))["rate_limited"] == {}


async def test_budget_share(farmsim: FarmSim) -> None:
    """With half the budget, the client stops after half of each window."""
    async with _client(farmsim, rate_windows=((10, 60.0),), budget_share=0.5) as client:
        for _ in range(5):
            await client.account()
        with pytest.raises(PrintFarmRateLimitError):
            await client.account()
    assert await requests_sent(farmsim, "printago") == 5


async def test_timeout(farmsim: FarmSim) -> None:
    """A slow service raises a timeout after the retries."""
    await admin(farmsim, "PATCH", "faults/printago", {"latency_ms": 300})
    async with _client(farmsim, request_timeout=0.05) as client:
        with pytest.raises(PrintFarmTimeoutError):
            await client.printers()


# Other answers


class Store:
    """A scripted Printago: answers by path, recording what was asked."""

    def __init__(self, answers: dict[str, list[web.Response]]) -> None:
        """Start with answers per path."""
        self.answers = answers
        self.queries: list[tuple[str, dict[str, str]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        """Answer with the next response for the path."""
        self.queries.append((request.path, dict(request.query)))
        return self.answers[request.path].pop(0)


async def _scripted(answers: dict[str, list[web.Response]], **kwargs: Any) -> Any:
    store = Store(answers)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", store.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    options: dict[str, Any] = {
        "base_url": str(server.make_url("")),
        "api_key": "k",
        "store_id": "cstore",
        "retry": RetryPolicy(attempts=1, base=0.001),
    }
    client = Printago(**(options | kwargs))
    return server, client, store


@pytest.fixture
async def scripted() -> AsyncIterator[Any]:
    """Build scripted services and close them after the test."""
    opened: list[tuple[TestServer, Printago]] = []

    async def build(answers: dict[str, list[web.Response]], **kwargs: Any) -> Any:
        server, client, store = await _scripted(answers, **kwargs)
        opened.append((server, client))
        return client, store

    yield build
    for server, client in opened:
        await client.close()
        await server.close()


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


async def test_stores_shapes(scripted: Any) -> None:
    """Stores come as an array or in `data`; a store the key cannot see is refused."""
    client, _ = await scripted(
        {
            "/v1/stores": [
                _json({"data": [{"id": "cstore"}]}),
                _json([{"id": "cother", "name": "Other"}]),
            ]
        }
    )
    assert (await client.account()).name == "cstore"
    with pytest.raises(PrintFarmPermissionError, match="no access to store cstore"):
        await client.account()


async def test_error_bodies(scripted: Any) -> None:
    """NestJS, Nestia, HTML and empty error bodies become readable messages."""
    typia = {
        "path": "$input.parts[0].partId",
        "reason": "expected string",
        "message": "Request body data is not following the promised type.",
    }
    client, _ = await scripted(
        {
            "/v1/printers": [
                _json(
                    {
                        "statusCode": 400,
                        "message": ["a is bad", "b is bad"],
                        "error": "Bad Request",
                    },
                    400,
                ),
                _json(typia, 400),
                web.Response(status=502, text="<html><title>502 Bad Gateway</title></html>"),
                web.Response(status=500),
                _json({"statusCode": 404, "message": "Not Found", "error": "Not Found"}, 404),
            ],
            "/v1/print-jobs": [_json([]) for _ in range(5)],
        }
    )
    with pytest.raises(
        PrintFarmValidationError, match=r"^a is bad; b is bad \(Bad Request\)$"
    ) as err:
        await client.printers()
    assert err.value.code == "Bad Request"
    with pytest.raises(
        PrintFarmValidationError,
        match=r"promised type\. \(\$input\.parts\[0\]\.partId: expected string\)",
    ):
        await client.printers()
    with pytest.raises(PrintFarmServerError, match=r"^502 Bad Gateway$"):
        await client.printers()
    with pytest.raises(PrintFarmServerError, match=r"^HTTP 500 Internal Server Error$"):
        await client.printers()
    with pytest.raises(PrintFarmNotFoundError, match=r"^Not Found$"):
        await client.printers()


async def test_list_shapes_and_tolerance(scripted: Any) -> None:
    """Bare arrays, `meta` with only a total, unknown values and missing fields are read."""
    printers = [
        {"id": "p1", "metadata": {"online": True, "name": "Meta name"}, "provider": "Klipper"},
        {"id": "p2", "isOnline": True, "isAvailable": False, "printingJobId": "gone"},
        {"id": "p3", "isOnline": True, "isAvailable": True, "confirmedReady": True},
    ]
    job = {"id": "j1", "status": "teleporting", "priority": "high", "filesToPrint": []}
    client, store = await scripted(
        {
            "/v1/print-jobs": [
                _json([]),
                _json({"data": [job, {"id": "j2", "status": "pending"}], "meta": {"total": 3}}),
                _json(
                    {
                        "data": [{"id": "j3", "status": "pending", "priority": 1000}],
                        "meta": {"total": 3},
                    }
                ),
            ],
            "/v1/printers": [_json(printers[:2]), _json(printers[2:])],
            "/v1/printers/p2": [_json(printers[1])],
            "/v1/print-jobs/gone": [
                _json({"statusCode": 404, "message": "Print job not found"}, 404)
            ],
        },
        page_size=2,
    )
    first, second, third = await client.printers()
    assert (first.name, first.status, first.manufacturer) == (
        "Meta name",
        PrinterStatus.UNKNOWN,
        "Klipper",
    )
    assert (second.status, third.status) == (PrinterStatus.PRINTING, PrinterStatus.IDLE)
    assert store.queries[1] == ("/v1/printers", {"limit": "2", "offset": "0", "meta": "true"})
    jobs = await client.jobs(sort="name,-queue_position,printer_id")
    assert [job.status for job in jobs] == [JobStatus.UNKNOWN, JobStatus.QUEUED, JobStatus.QUEUED]
    assert [job.queue_position for job in jobs] == [None, 1, 2]
    assert (jobs[0].name, jobs[0].file, jobs[0].priority) == ("j1", None, None)
    assert store.queries[-1][1]["sort"] == "partName:asc,queueOrder:desc,assignedPrinterId:asc"
    assert (await client.printer("p2")).status is PrinterStatus.PRINTING


async def test_submit_job_lookup_fails_after_build(scripted: Any) -> None:
    """When the lookup after a build fails, the retry finds the build by label, not anew."""
    job = {"id": "j1", "status": "pending", "label": "Cube [pf:k1]", "quantityIndex": 0}
    client, store = await scripted(
        {
            "/v2/builds": [_json({"partBuilds": [], "skuBuilds": []}, 201)],
            "/v1/print-jobs": [
                web.Response(status=503),
                web.Response(status=503),
                _json({"data": [job], "meta": {"hasMore": False}}),
            ],
        },
        retry=RetryPolicy(attempts=2, base=0.001),
    )
    jobs = await client.submit_job(JobRequest(part_id="part", name="Cube"))
    assert [job.id for job in jobs] == ["j1"]
    assert [path for path, _ in store.queries].count("/v2/builds") == 1
    label = store.queries[-1][1]["label"]
    assert label.startswith("Cube [pf:")


async def test_bulk_answers(scripted: Any) -> None:
    """A bulk action that does not name the target, or is not a list, is an error."""
    client, _ = await scripted(
        {
            "/v1/printer-commands/send": [_json([], 201), _json({"ids": ["p1"]}, 201)],
            "/v1/printers/confirm-ready": [_json([{"id": "p1"}])],
        }
    )
    with pytest.raises(PrintFarmConflictError, match="printer-commands/send to p1"):
        await client.pause_printer("p1")
    with pytest.raises(PrintFarmInvalidResponseError, match="JSON array"):
        await client.pause_printer("p1")
    await client.clear_bed("p1")


async def test_materials_tolerance(scripted: Any) -> None:
    """Spools without a known variant or colour still have a type."""
    client, _ = await scripted(
        {
            "/v1/materials/instances": [
                _json([{"id": "s1", "variantId": "v1", "remainingMaterial": "12.5"}, {"id": "s2"}])
            ],
            "/v1/materials": [
                _json([{"id": "m1", "type": "PETG", "brand": "Acme"}, {"name": "no id"}])
            ],
            "/v1/materials/variants": [
                _json(
                    [
                        {
                            "id": "v1",
                            "materialId": "m1",
                            "color": "#ff0000ff;#0000FFFF",
                            "name": "Red",
                        }
                    ]
                )
            ],
        },
        low_stock_grams=20,
    )
    first, second = await client.materials()
    assert (first.type, first.brand, first.color_hex, first.low_stock) == (
        "PETG",
        "Acme",
        "#FF0000",
        True,
    )
    assert (second.type, second.color_hex, second.low_stock) == ("unknown", None, False)


async def test_offset_ignored(scripted: Any) -> None:
    """A service that ignores the offset and repeats its page ends the list."""
    page = [{"id": "p1"}, {"id": "p2"}]
    client, store = await scripted(
        {"/v1/printers": [_json(page), _json(page)], "/v1/print-jobs": [_json([])]},
        page_size=2,
    )
    assert [printer.id for printer in await client.printers()] == ["p1", "p2"]
    assert len(store.queries) == 3


async def test_endless_pages(scripted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service whose pages never end is reported instead of followed forever."""
    monkeypatch.setattr(printago_module, "MAX_PAGES", 2)
    pages = [{"data": [{"id": f"p{index}"}], "meta": {"hasMore": True}} for index in range(2)]
    client, _ = await scripted(
        {"/v1/printers": [_json(page) for page in pages], "/v1/print-jobs": [_json([])]}
    )
    with pytest.raises(PrintFarmInvalidResponseError, match="2 pages"):
        await client.printers()
