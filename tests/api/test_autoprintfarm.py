"""Tests for the AutoPrintFarm client against farmsim and small local services."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from custom_components.printfarm.api.autoprintfarm import client as autoprintfarm_module
from custom_components.printfarm.api.autoprintfarm.client import AutoPrintFarm
from custom_components.printfarm.api.autoprintfarm.webhooks import verify_webhook_signature
from custom_components.printfarm.api.errors import (
    PrintFarmAuthenticationError,
    PrintFarmConflictError,
    PrintFarmConnectionError,
    PrintFarmInvalidResponseError,
    PrintFarmNotFoundError,
    PrintFarmPermissionError,
    PrintFarmRateLimitError,
    PrintFarmResponseError,
    PrintFarmServerError,
    PrintFarmTimeoutError,
    PrintFarmValidationError,
)
from custom_components.printfarm.api.models import (
    JobPriority,
    JobRequest,
    JobStatus,
    PrinterStatus,
)
from custom_components.printfarm.api.transport.http import RetryPolicy
from farmsim import FarmSim
from farmsim.autoprintfarm import READ_SCOPES, register_api_key
from farmsim.testing import running_farmsim

from .helpers import FAST, admin, requests_sent

FILE = "https://files.printfarm.invalid/models/bracket.gcode.3mf"
SECRET = "OMGSPIDERS-OMGPUPPIES"
WAIT = 5.0


def _client(sim: FarmSim, **kwargs: Any) -> AutoPrintFarm:
    connection = sim.connection["autoprintfarm"]
    options: dict[str, Any] = {
        "base_url": connection["base_url"],
        "api_key": connection["api_key"],
        "retry": FAST,
    }
    return AutoPrintFarm(**(options | kwargs))


@pytest.fixture
async def client(farmsim: FarmSim) -> AsyncIterator[AutoPrintFarm]:
    """Return a client of farmsim's AutoPrintFarm API."""
    async with _client(farmsim) as client:
        yield client


# Account and printers


async def test_account(farmsim: FarmSim, client: AutoPrintFarm) -> None:
    """The account comes from the API key endpoint."""
    account = await client.account()
    assert account.id == farmsim.config.autoprintfarm_account_id
    assert account.name == farmsim.config.farm_name
    assert account.service == "autoprintfarm"
    assert account.raw["account"]["id"] == account.id


async def test_printers_follow_pages() -> None:
    """Every printer is returned, across pages, with its identity normalized."""
    async with running_farmsim(printers=25) as sim, _client(sim, page_size=10) as client:
        await admin(sim, "POST", "counters/reset")
        printers = await client.printers()
        assert await requests_sent(sim, "autoprintfarm") == 3
        assert [printer.id for printer in printers] == list(sim.world.printers)
        world = sim.world.printers[printers[4].id]
        printer = printers[4]
        assert printer.name == world.name
        assert printer.serial == world.serial
        assert printer.model == world.model.product_name
        assert printer.manufacturer == "Bambu Lab"
        assert printer.group == world.group
        assert printer.tags == tuple(world.tags)
        assert printer.status is PrinterStatus.IDLE
        assert printer.online
        assert len(printer.slots) == len(world.trays)
        assert printer.raw["id"] == printer.id


async def test_printer_statuses(farmsim: FarmSim, client: AutoPrintFarm) -> None:
    """Every farm status is normalized."""
    world = farmsim.world
    first, second, third = list(world.printers)
    world.submit_job(source="autoprintfarm", file_url=FILE, printer_id=first)
    assert (await client.printer(first)).status is PrinterStatus.PREPARING
    await admin(farmsim, "POST", "clock", {"advance": 120})
    printer = await client.printer(first)
    assert printer.status is PrinterStatus.PRINTING
    assert printer.current_job_id == world.printers[first].job_id
    await client.pause_printer(first)
    assert (await client.printer(first)).status is PrinterStatus.PAUSED
    await client.resume_printer(first)
    await admin(farmsim, "POST", f"printers/{first}/fail", {})
    printer = await client.printer(first)
    assert printer.status is PrinterStatus.ERROR
    assert printer.error is not None
    await client.clear_bed(first)
    assert (await client.printer(first)).status is PrinterStatus.IDLE
    await admin(farmsim, "POST", f"printers/{second}/online", {"online": False})
    printer = await client.printer(second)
    assert (printer.status, printer.online) == (PrinterStatus.OFFLINE, False)
    await admin(farmsim, "POST", f"printers/{third}/maintenance", {"maintenance": True})
    assert (await client.printer(third)).status is PrinterStatus.MAINTENANCE


async def test_printer_control_reaches_world(farmsim: FarmSim, client: AutoPrintFarm) -> None:
    """Stop ends the print; the bed then waits to be cleared; clear_bed frees it."""
    world = farmsim.world
    printer_id = next(iter(world.printers))
    job = world.submit_job(source="autoprintfarm", file_url=FILE, printer_id=printer_id)
    await admin(farmsim, "POST", "clock", {"advance": 120})
    await client.stop_printer(printer_id)
    assert job.status.value == "cancelled"
    printer = await client.printer(printer_id)
    assert printer.status is PrinterStatus.FINISHED
    assert printer.bed_clear_required
    await client.clear_bed(printer_id)
    assert world.printers[printer_id].bed_clear
    with pytest.raises(PrintFarmConflictError) as err:
        await client.pause_printer(printer_id)
    assert err.value.status == 409
    assert err.value.code == "invalid_state"
    with pytest.raises(PrintFarmNotFoundError, match=r"Printer not found \(No printer"):
        await client.printer("prt_missing")


# Jobs


async def test_jobs_filter_sort_and_pages(farmsim: FarmSim) -> None:
    """Jobs are filtered by status and printer, sorted, and read across pages."""
    world = farmsim.world
    printer_id = next(iter(world.printers))
    for index in range(7):
        world.submit_job(source="autoprintfarm", file_url=f"https://x.invalid/{index}.3mf")
        await admin(farmsim, "POST", "clock", {"advance": 1})
    async with _client(farmsim, page_size=2) as client:
        jobs = await client.jobs()
        assert len(jobs) == 7
        newest = await client.jobs(sort="-created_at")
        assert [job.id for job in newest] == [job.id for job in reversed(jobs)]
        assert [job.id for job in await client.jobs(sort="createdAt:desc")] == [
            job.id for job in newest
        ]
        queued = await client.jobs(statuses=[JobStatus.QUEUED])
        assert queued
        assert {job.status for job in queued} == {JobStatus.QUEUED}
        assert [job.queue_position for job in queued] == list(range(1, len(queued) + 1))
        running = await client.jobs(statuses=[JobStatus.PREPARING], printer_id=printer_id)
        assert [job.printer_id for job in running] == [printer_id]
        assert await client.jobs(statuses=[]) == []
        assert len(await client.jobs(statuses=[JobStatus.UNKNOWN, JobStatus.QUEUED])) == len(queued)
        job = await client.job(jobs[0].id)
        assert job.name == "0"
        assert job.file == "https://x.invalid/0.3mf"
        assert job.priority is JobPriority.NORMAL
        assert job.created_at is not None


async def test_submit_job_reaches_world(farmsim: FarmSim, client: AutoPrintFarm) -> None:
    """A submission queues one job per copy with every requested field."""
    printer_id = list(farmsim.world.printers)[1]
    request = JobRequest(
        file_url=FILE,
        name="Bracket",
        printer_id=printer_id,
        group="production",
        quantity=2,
        priority=JobPriority.URGENT,
        material="petg",
        color="Blue",
    )
    jobs = await client.submit_job(request)
    assert len(jobs) == 2
    for job in jobs:
        world_job = farmsim.world.jobs[job.id]
        assert world_job.name == "Bracket"
        assert world_job.target_printer_id == printer_id
        assert world_job.target_group == "production"
        assert world_job.priority == 3
        assert world_job.material == "PETG"
        assert world_job.color == "Blue"
    with pytest.raises(PrintFarmValidationError, match="file_url"):
        await client.submit_job(JobRequest(part_id="part"))
    with pytest.raises(PrintFarmValidationError, match="quantity"):
        await client.submit_job(JobRequest(file_url=FILE, quantity=0))
    with pytest.raises(PrintFarmNotFoundError):
        await client.submit_job(JobRequest(file_url=FILE, printer_id="prt_missing"))
    assert len(farmsim.world.jobs) == 2


async def test_submit_job_survives_dropped_responses(
    farmsim: FarmSim, client: AutoPrintFarm
) -> None:
    """A response lost after the job was created is retried without a second job."""
    await admin(farmsim, "PATCH", "faults/autoprintfarm", {"drop_next": 1})
    jobs = await client.submit_job(JobRequest(file_url=FILE, quantity=3))
    assert len(jobs) == 3
    assert sorted(job.id for job in jobs) == sorted(farmsim.world.jobs)
    counters = await admin(farmsim, "GET", "counters")
    assert counters["responses"]["autoprintfarm"]["dropped"] == 1


async def test_submit_job_survives_server_errors(farmsim: FarmSim, client: AutoPrintFarm) -> None:
    """5xx answers are retried; a caller retrying with the same key gets the same jobs."""
    await admin(farmsim, "PATCH", "faults/autoprintfarm", {"error_next": 2})
    jobs = await client.submit_job(JobRequest(file_url=FILE), idempotency_key="order-1")
    assert len(farmsim.world.jobs) == 1
    await admin(farmsim, "PATCH", "faults/autoprintfarm", {"error_next": 3})
    with pytest.raises(PrintFarmServerError):
        await client.submit_job(JobRequest(file_url=FILE), idempotency_key="order-2")
    assert len(farmsim.world.jobs) == 1
    again = await client.submit_job(JobRequest(file_url=FILE), idempotency_key="order-1")
    assert [job.id for job in again] == [job.id for job in jobs]
    await client.submit_job(JobRequest(file_url=FILE), idempotency_key="order-2")
    assert len(farmsim.world.jobs) == 2


async def test_job_actions_reach_world(farmsim: FarmSim, client: AutoPrintFarm) -> None:
    """Pause, resume and cancel change the job in the world."""
    world = farmsim.world
    printer_id = next(iter(world.printers))
    job = world.submit_job(source="autoprintfarm", file_url=FILE, printer_id=printer_id)
    await admin(farmsim, "POST", "clock", {"advance": 120})
    await client.pause_job(job.id)
    assert (await client.job(job.id)).status is JobStatus.PAUSED
    await client.resume_job(job.id)
    assert job.status.value == "printing"
    await client.cancel_job(job.id)
    assert (await client.job(job.id)).status is JobStatus.CANCELLED
    with pytest.raises(PrintFarmConflictError):
        await client.resume_job(job.id)


# Materials, summary


async def test_materials(farmsim: FarmSim, client: AutoPrintFarm) -> None:
    """The inventory carries reorder thresholds and low-stock flags."""
    materials = await client.materials()
    assert len(materials) == len(farmsim.world.spools)
    low = [material for material in materials if material.low_stock]
    assert [(m.type, m.color, m.remaining_grams) for m in low] == [("TPU", "Black", 120.0)]
    assert low[0].reorder_threshold_grams == 200.0
    assert low[0].location == "Shelf B"
    loaded = next(material for material in materials if material.printer_id)
    assert loaded.color_hex is not None
    assert loaded.capacity_grams == 1000.0


async def test_summary(farmsim: FarmSim, client: AutoPrintFarm) -> None:
    """The summary counts printers by status, the queue and low stock."""
    world = farmsim.world
    for _ in range(4):
        world.submit_job(source="autoprintfarm", file_url=FILE)
    summary = await client.summary()
    assert summary.printers_by_status[PrinterStatus.PREPARING] == 3
    assert summary.printers_by_status[PrinterStatus.IDLE] == 0
    assert (summary.jobs_queued, summary.jobs_active) == (1, 3)
    assert summary.jobs_completed_today == 0
    assert summary.low_stock_materials == 1


# Budget


async def test_rate_limit_known_before_sending() -> None:
    """Once the headers say the budget is spent, nothing more is sent."""
    async with running_farmsim(autoprintfarm_rate_limit=5) as sim, _client(sim) as client:
        for _ in range(5):
            await client.printers()
        budget = client.budget
        assert (budget.limit, budget.remaining) == (5, 0)
        assert budget.reset_at is not None
        with pytest.raises(PrintFarmRateLimitError) as err:
            await client.printers()
        assert err.value.status is None
        assert err.value.retry_at == budget.reset_at
        assert await requests_sent(sim, "autoprintfarm") == 5


async def test_rate_limit_answered_by_service() -> None:
    """A 429 carries the retry time; the client then waits instead of sending."""
    async with running_farmsim(autoprintfarm_rate_limit=5) as sim:
        async with _client(sim) as other:
            for _ in range(5):
                await other.summary()
        async with _client(sim) as client:
            with pytest.raises(PrintFarmRateLimitError, match="Rate limit exceeded") as err:
                await client.printers()
            assert err.value.status == 429
            assert err.value.code == "rate_limit_exceeded"
            assert err.value.retry_at > datetime.now(UTC)
            assert client.budget.blocked_until == err.value.retry_at
            with pytest.raises(PrintFarmRateLimitError):
                await client.printers()
        counters = await admin(sim, "GET", "counters")
        assert counters["rate_limited"]["autoprintfarm"] == 1


async def test_budget_share() -> None:
    """With half the budget, the client stops after half the limit."""
    async with (
        running_farmsim(autoprintfarm_rate_limit=10) as sim,
        _client(sim, budget_share=0.5) as client,
    ):
        for _ in range(5):
            await client.account()
        assert (client.budget.limit, client.budget.remaining) == (5, 0)
        with pytest.raises(PrintFarmRateLimitError):
            await client.account()
        assert await requests_sent(sim, "autoprintfarm") == 5


# Failures


async def test_wrong_key(farmsim: FarmSim) -> None:
    """A refused key raises an authentication error at once, without retries."""
    async with _client(farmsim, api_key="apf_live_OMGPUPPIES") as client:
        with pytest.raises(PrintFarmAuthenticationError, match="Invalid API key") as err:
            await client.account()
    assert (err.value.status, err.value.code) == (401, "invalid_api_key")
    counters = await admin(farmsim, "GET", "counters")
    assert counters["responses"]["autoprintfarm"]["401"] == 1


async def test_missing_scope(farmsim: FarmSim) -> None:
    """A read-only key may read but not queue."""
    register_api_key(farmsim.ctx, "apf_live_readonly_OMGSPIDERS", READ_SCOPES)
    async with _client(farmsim, api_key="apf_live_readonly_OMGSPIDERS") as client:
        assert await client.printers()
        with pytest.raises(PrintFarmPermissionError, match="jobs:write"):
            await client.submit_job(JobRequest(file_url=FILE))


async def test_timeout(farmsim: FarmSim) -> None:
    """A slow service raises a timeout after the retries."""
    await admin(farmsim, "PATCH", "faults/autoprintfarm", {"latency_ms": 300})
    async with _client(farmsim, request_timeout=0.05) as client:
        with pytest.raises(PrintFarmTimeoutError):
            await client.printers()


async def test_unreachable() -> None:
    """A closed port raises a connection error."""
    async with TestServer(web.Application(), host="127.0.0.1") as server:
        url = str(server.make_url("/v1"))
    async with AutoPrintFarm(base_url=url, api_key="k", retry=FAST) as client:
        with pytest.raises(PrintFarmConnectionError):
            await client.printers()


async def test_session_and_repr(farmsim: FarmSim) -> None:
    """An injected session stays open; the key never shows in repr."""
    async with aiohttp.ClientSession() as session:
        async with _client(farmsim, session=session) as client:
            await client.account()
            assert farmsim.config.autoprintfarm_api_key not in repr(client)
        assert not session.closed


# Webhooks


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, asyncio.Queue[tuple[bytes, dict[str, str]]]]]:
    """Receive webhook deliveries on 127.0.0.1."""
    deliveries: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()

    async def handle(request: web.Request) -> web.Response:
        deliveries.put_nowait((await request.read(), dict(request.headers)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/hook")), deliveries


async def test_webhooks(
    farmsim: FarmSim,
    client: AutoPrintFarm,
    receiver: tuple[str, asyncio.Queue[tuple[bytes, dict[str, str]]]],
) -> None:
    """Subscribe, receive a signed delivery, list and unsubscribe."""
    url, deliveries = receiver
    webhook = await client.subscribe_webhook(
        url, events=["job.created"], secret=SECRET, description="printfarm"
    )
    assert (webhook.url, webhook.events, webhook.description) == (
        url,
        ("job.created",),
        "printfarm",
    )
    assert [hook.id for hook in await client.webhooks()] == [webhook.id]
    await client.submit_job(JobRequest(file_url=FILE))
    body, headers = await asyncio.wait_for(deliveries.get(), WAIT)
    signature = headers["X-Webhook-Signature"]
    assert verify_webhook_signature(SECRET, body, signature)
    assert not verify_webhook_signature(SECRET, body + b" ", signature)
    assert not verify_webhook_signature("OMGKITTENS-OMGKITTENS", body, signature)
    await client.unsubscribe_webhook(webhook.id)
    assert await client.webhooks() == []
    with pytest.raises(PrintFarmNotFoundError):
        await client.unsubscribe_webhook(webhook.id)


def test_signature_forms() -> None:
    """Hex and base64 signatures are accepted, with or without the prefix; junk is not."""
    body = b'{"type":"job.completed"}'
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    encoded = base64.b64encode(digest).decode()
    for header in (
        "sha256=" + digest.hex(),
        "SHA256=" + digest.hex().upper(),
        digest.hex(),
        "sha256=" + encoded,
        "sha256=" + encoded.rstrip("="),
        base64.urlsafe_b64encode(digest).decode(),
    ):
        assert verify_webhook_signature(SECRET, body, header), header
    for header in ("", "sha256=", "sha256=zz", "sha256=" + digest.hex()[:-2], "sha256=é"):
        assert not verify_webhook_signature(SECRET, body, header), header


# Other service shapes


class NewApi:
    """A service speaking the newer /public/v1 shapes (limit/offset, code + error)."""

    def __init__(self) -> None:
        """Start with three printers and no faults."""
        self.printers = [
            {"id": f"p{index}", "name": f"P{index}", "status": word, "location": "Shelf"}
            for index, word in enumerate(("idle", "printing", "hub_offline"))
        ]
        self.queries: list[dict[str, str]] = []
        self.revoked = False

    async def printers_list(self, request: web.Request) -> web.Response:
        """List printers; paginated only when asked."""
        self.queries.append(dict(request.query))
        if self.revoked:
            body = {"success": False, "code": "TOKEN_REVOKED", "error": "Token revoked"}
            return web.json_response(body, status=401)
        if "limit" not in request.query:
            return web.json_response({"success": True, "data": self.printers})
        limit, offset = int(request.query["limit"]), int(request.query.get("offset", "0"))
        page = self.printers[offset : offset + limit]
        meta = {"limit": limit, "offset": offset, "count": len(page)}
        return web.json_response({"success": True, "data": page, "meta": meta})

    async def filament(self, _request: web.Request) -> web.Response:
        """List filament with the newer field names."""
        item = {
            "id": "f1",
            "material_type": "PLA",
            "spool_weight_grams": 1000,
            "status": "low_stock",
        }
        return web.json_response({"success": True, "data": [item], "meta": {"total": 1}})

    async def limited(self, _request: web.Request) -> web.Response:
        """Refuse with 429 and an HTTP-date Retry-After."""
        body = {"success": False, "code": "RATE_LIMITED", "error": "Too many requests"}
        headers = {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}
        return web.json_response(body, status=429, headers=headers)


@pytest.fixture
async def new_api() -> AsyncIterator[tuple[NewApi, str]]:
    """Serve the newer API shapes on 127.0.0.1."""
    service = NewApi()
    app = web.Application()
    app.router.add_get("/public/v1/printers", service.printers_list)
    app.router.add_get("/public/v1/materials/filament", service.filament)
    app.router.add_get("/public/v1/jobs", service.limited)
    async with TestServer(app, host="127.0.0.1") as server:
        yield service, str(server.make_url("/public/v1"))


async def test_newer_api_shapes(new_api: tuple[NewApi, str]) -> None:
    """The /public/v1 form pages with limit/offset and answers errors as code + error."""
    service, url = new_api
    async with AutoPrintFarm(base_url=url, api_key="k", page_size=2, retry=FAST) as client:
        printers = await client.printers()
        assert [p.status for p in printers] == [
            PrinterStatus.IDLE,
            PrinterStatus.PRINTING,
            PrinterStatus.OFFLINE,
        ]
        assert printers[0].group == "Shelf"
        assert [q["offset"] for q in service.queries] == ["0", "2"]
        account = await client.account()
        assert account.id.startswith("key_")
        assert service.queries[-1] == {"limit": "1"}
        [material] = await client.materials()
        assert (material.type, material.capacity_grams, material.low_stock) == ("PLA", 1000.0, True)
        with pytest.raises(PrintFarmRateLimitError, match="Too many requests") as err:
            await client.jobs()
        assert err.value.code == "RATE_LIMITED"
        assert err.value.retry_at == datetime(2026, 10, 21, 7, 28, tzinfo=UTC)
    service.revoked = True
    async with AutoPrintFarm(base_url=url, api_key="k", retry=FAST) as client:
        with pytest.raises(PrintFarmAuthenticationError, match="Token revoked") as auth:
            await client.printers()
        assert auth.value.code == "TOKEN_REVOKED"


async def test_v1_follows_meta_pages() -> None:
    """A v1 base URL still follows `meta` pages when the service answers with them."""
    items = [{"id": f"p{index}"} for index in range(3)]
    queries: list[dict[str, str]] = []

    async def printers(request: web.Request) -> web.Response:
        queries.append(dict(request.query))
        offset = int(request.query.get("offset", "0"))
        page = items[offset : offset + 2]
        meta = {"limit": 2, "offset": offset, "count": len(page)}
        return web.json_response({"success": True, "data": page, "meta": meta})

    app = web.Application()
    app.router.add_get("/v1/printers", printers)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        AutoPrintFarm(base_url=str(server.make_url("/v1")), api_key="k", page_size=2) as client,
    ):
        assert len(await client.printers()) == 3
    assert queries == [{"page": "1", "per_page": "2"}, {"limit": "2", "offset": "2"}]


MALFORMED: list[tuple[Any, type[Exception], str]] = [
    ("not json at all", PrintFarmInvalidResponseError, "not JSON"),
    ([1, 2], PrintFarmInvalidResponseError, "JSON object"),
    ({"success": True}, PrintFarmInvalidResponseError, "has no data"),
    ({"success": True, "data": {"id": "x"}}, PrintFarmInvalidResponseError, "JSON array"),
    (
        {"success": True, "data": [{"name": "no id"}]},
        PrintFarmInvalidResponseError,
        "without an id",
    ),
    ({"success": True, "data": ["text"]}, PrintFarmInvalidResponseError, "JSON object"),
    (
        {"success": False, "error": {"code": "odd", "message": "Odd", "details": "Very odd"}},
        PrintFarmResponseError,
        r"Odd \(Very odd\)",
    ),
]


@pytest.mark.parametrize(("body", "error", "message"), MALFORMED)
async def test_malformed_answers(body: Any, error: type[Exception], message: str) -> None:
    """Garbage and wrongly shaped answers raise a readable error."""

    async def handle(_: web.Request) -> web.Response:
        if isinstance(body, str):
            return web.Response(text=body, content_type="text/html")
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/v1/printers", handle)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        AutoPrintFarm(base_url=str(server.make_url("/v1")), api_key="k") as client,
    ):
        with pytest.raises(error, match=message):
            await client.printers()


async def test_error_bodies_and_tolerance() -> None:
    """HTML errors are summarised; seed-style bodies and unknown values are tolerated."""
    answers: list[web.Response] = [
        web.Response(status=502, text="<html><title>502 Bad Gateway</title></html>"),
        web.json_response({"message": "Nope"}, status=400),
        web.json_response({"success": False}, status=400),
        web.json_response(
            {
                "printers": [
                    {"id": "p1", "status": "teleporting", "current_job": {"id": "j1"}},
                    {
                        "id": "p2",
                        "status": 7,
                        "online": "yes",
                        "error": "Jammed",
                        "filament": [{"type": "PLA"}, "junk"],
                    },
                ]
            }
        ),
        web.json_response(
            {
                "success": True,
                "data": {
                    "id": "j1",
                    "status": "exploded",
                    "priority": 7,
                    "error": {"code": "x"},
                    "print_file_id": "file_1",
                },
            }
        ),
        web.json_response({"success": True, "data": {"id": "j2", "priority": "whenever"}}),
        web.json_response({"success": True, "data": {"id": "j3", "priority": None}}),
        web.json_response({"success": True, "data": {"id": "key_1"}}),
        web.json_response({"success": True, "data": {"jobs": {"queued": "x"}, "materials": {}}}),
        web.json_response(
            {
                "success": True,
                "data": [
                    {"id": "m1", "remaining_grams": 10, "low_threshold": 50},
                    {"id": "m2", "type": "PLA", "status": "in_stock"},
                ],
            }
        ),
    ]

    async def handle(_: web.Request) -> web.Response:
        return answers.pop(0)

    app = web.Application()
    app.router.add_route("*", "/v1/{tail:.*}", handle)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        AutoPrintFarm(
            base_url=str(server.make_url("/v1")),
            api_key="k",
            retry=RetryPolicy(attempts=1),
        ) as client,
    ):
        with pytest.raises(PrintFarmServerError, match=r"^502 Bad Gateway$"):
            await client.printers()
        with pytest.raises(PrintFarmValidationError, match=r"^Nope$"):
            await client.printers()
        with pytest.raises(PrintFarmValidationError, match="Bad Request"):
            await client.printers()
        first, second = await client.printers()
        assert (first.status, first.current_job_id) == (PrinterStatus.UNKNOWN, "j1")
        assert second.slots == ()
        assert (second.status, second.online, second.error) == (
            PrinterStatus.UNKNOWN,
            True,
            "Jammed",
        )
        job = await client.job("j1")
        assert (job.status, job.priority, job.error, job.file) == (
            JobStatus.UNKNOWN,
            JobPriority.URGENT,
            "x",
            "file_1",
        )
        job = await client.job("j2")
        assert (job.name, job.priority) == ("j2", None)
        assert (await client.job("j3")).priority is None
        account = await client.account()
        assert (account.id, account.name) == ("key_1", "AutoPrintFarm")
        summary = await client.summary()
        assert summary.jobs_queued == 0
        assert summary.printers_by_status == {}
        low, ok = await client.materials()
        assert (low.type, low.low_stock, ok.low_stock) == ("unknown", True, False)


PAGES: list[list[dict[str, Any]]] = [
    [
        {"success": True, "data": [{"id": "a"}, {"id": "b"}], "meta": {"hasMore": True}},
        {"success": True, "data": [{"id": "c"}], "meta": {"hasMore": False}},
    ],
    [
        {"success": True, "data": [{"id": "a"}, {"id": "b"}], "pagination": {"per_page": 2}},
        {"success": True, "data": [{"id": "c"}], "pagination": {"per_page": 2}},
    ],
    [
        {"success": True, "data": [{"id": "a"}, {"id": "b"}], "meta": {"limit": 2}},
        {"success": True, "data": [{"id": "c"}], "meta": {}},
    ],
]


@pytest.mark.parametrize("pages", PAGES)
async def test_page_blocks(pages: list[dict[str, Any]]) -> None:
    """Pages end on hasMore, on a short page, or on the total."""

    async def handle(_: web.Request) -> web.Response:
        return web.json_response(pages.pop(0))

    app = web.Application()
    app.router.add_get("/v1/printers", handle)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        AutoPrintFarm(base_url=str(server.make_url("/v1")), api_key="k", page_size=2) as client,
    ):
        assert [printer.id for printer in await client.printers()] == ["a", "b", "c"]


async def test_page_ignored() -> None:
    """A service that ignores the page number and repeats its page ends the list."""
    page = {
        "success": True,
        "data": [{"id": "a"}, {"id": "b"}],
        "pagination": {"page": 1, "total_pages": 5},
    }

    async def handle(_: web.Request) -> web.Response:
        return web.json_response(page)

    app = web.Application()
    app.router.add_get("/v1/printers", handle)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        AutoPrintFarm(base_url=str(server.make_url("/v1")), api_key="k", page_size=2) as client,
    ):
        assert [printer.id for printer in await client.printers()] == ["a", "b"]


async def test_endless_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """A service whose pages never end is reported instead of followed forever."""
    monkeypatch.setattr(autoprintfarm_module, "MAX_PAGES", 3)

    async def handle(request: web.Request) -> web.Response:
        page = int(request.query["page"])
        body = {
            "success": True,
            "data": [{"id": f"p{page}"}],
            "pagination": {"page": page, "total_pages": page + 1},
        }
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/v1/printers", handle)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        AutoPrintFarm(base_url=str(server.make_url("/v1")), api_key="k") as client,
    ):
        with pytest.raises(PrintFarmInvalidResponseError, match=re.escape("3 pages")):
            await client.printers()
