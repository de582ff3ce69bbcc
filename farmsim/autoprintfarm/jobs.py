"""Job endpoints: create and queue, list, history, progress, pause, resume, cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from farmsim.models import Job, JobStatus

from . import validate
from .envelope import csv_values, ok, paginated, parse_time, read_json, sort_items
from .formats import MAX_PRICE
from .state import IDEMPOTENCY, Route, world_of
from .views import ENDED_JOB_STATUSES, JOB_STATUSES, PRIORITIES, job_view, queue_positions

if TYPE_CHECKING:
    from aiohttp import web

    from farmsim.world import World

JOB_SORT = (
    "id",
    "name",
    "status",
    "priority",
    "progress",
    "queue_position",
    "printer_id",
    "estimated_duration",
    "created_at",
    "started_at",
    "completed_at",
    "updated_at",
)
SORT_RANKS = {"priority": PRIORITIES}
CREATE_FIELDS = (
    "file_url",
    "name",
    "printer_id",
    "group",
    "priority",
    "material",
    "color",
    "sale_price",
    "metadata",
)


def _job(request: web.Request) -> tuple[World, Job]:
    world = world_of(request)
    return world, world.job(request.match_info["job_id"])


def _filtered(request: web.Request, statuses: set[str] | None) -> list[dict[str, Any]]:
    world = world_of(request)
    query = request.query
    jobs = list(world.jobs.values())
    if after := query.get("created_after"):
        since = parse_time(after, "created_after")
        jobs = [job for job in jobs if job.created_at >= since]
    if before := query.get("created_before"):
        until = parse_time(before, "created_before")
        jobs = [job for job in jobs if job.created_at < until]
    positions = queue_positions(world)
    items = [job_view(world, job, positions) for job in jobs]
    if statuses is not None:
        items = [item for item in items if item["status"] in statuses]
    if printer_id := query.get("printer_id"):
        items = [item for item in items if item["printer_id"] == printer_id]
    if group := query.get("group"):
        items = [item for item in items if (item["group"] or "").lower() == group.lower()]
    return items


async def list_jobs(request: web.Request) -> web.Response:
    """List jobs, filtered by status, printer, group and creation time."""
    statuses = csv_values(request.query, "status", JOB_STATUSES)
    items = _filtered(request, statuses)
    return paginated(request, sort_items(items, request.query.get("sort"), JOB_SORT, SORT_RANKS))


async def job_history(request: web.Request) -> web.Response:
    """List ended jobs (completed, failed, cancelled), the latest first."""
    statuses = csv_values(request.query, "status", ENDED_JOB_STATUSES) or set(ENDED_JOB_STATUSES)
    items = _filtered(request, statuses)
    sort = request.query.get("sort", "-completed_at")
    return paginated(request, sort_items(items, sort, JOB_SORT, SORT_RANKS))


async def create_job(request: web.Request) -> web.Response:
    """Create a job from a file URL and queue it."""
    world = world_of(request)
    body = await read_json(request)

    async def produce() -> web.Response:
        validate.only(body, CREATE_FIELDS)
        file_url = validate.url(body, "file_url", required=True)
        priority = validate.choice(body, "priority", PRIORITIES) or "normal"
        material = validate.text(body, "material")
        job = world.submit_job(
            source="autoprintfarm",
            file_url=file_url or "",
            name=validate.text(body, "name"),
            printer_id=validate.text(body, "printer_id"),
            group=validate.text(body, "group"),
            priority=PRIORITIES[priority],
            material=material.upper() if material else None,
            color=validate.text(body, "color"),
            sale_price=validate.number(body, "sale_price", maximum=MAX_PRICE),
            metadata=validate.obj(body, "metadata"),
        )
        return ok(job_view(world, job), status=201)

    return await request.app[IDEMPOTENCY].run(request, body, produce)


async def get_job(request: web.Request) -> web.Response:
    """Return one job."""
    world, job = _job(request)
    return ok(job_view(world, job))


async def update_job(request: web.Request) -> web.Response:
    """Rename a job or change its priority."""
    world, job = _job(request)
    body = await read_json(request)
    validate.only(body, ("name", "priority"))
    priority = validate.choice(body, "priority", PRIORITIES)
    world.update_job(
        job.id,
        name=validate.text(body, "name"),
        priority=PRIORITIES[priority] if priority else None,
    )
    return ok(job_view(world, job))


async def job_progress(request: web.Request) -> web.Response:
    """Return how far a job has got."""
    world, job = _job(request)
    printer = world.printers.get(job.printer_id or "")
    layer = 0
    if printer is not None and printer.job_id == job.id:
        layer = printer.layer
    elif job.status is JobStatus.COMPLETED:
        layer = job.profile.layers
    view = job_view(world, job)
    return ok(
        {
            "job_id": job.id,
            "status": view["status"],
            "progress": view["progress"],
            "current_layer": layer,
            "total_layers": job.profile.layers,
            "remaining_time": view["remaining_time"],
            "printer_id": view["printer_id"],
        }
    )


async def pause_job(request: web.Request) -> web.Response:
    """Pause a printing job."""
    world, job = _job(request)
    world.pause_job(job.id)
    return ok(job_view(world, job))


async def resume_job(request: web.Request) -> web.Response:
    """Resume a paused job."""
    world, job = _job(request)
    world.resume_job(job.id)
    return ok(job_view(world, job))


async def cancel_job(request: web.Request) -> web.Response:
    """Cancel a queued or running job."""
    world, job = _job(request)
    world.cancel_job(job.id)
    return ok(job_view(world, job))


async def retry_job(request: web.Request) -> web.Response:
    """Queue a failed or cancelled job again."""
    world, job = _job(request)
    world.retry_job(job.id)
    return ok(job_view(world, job))


ROUTES = (
    Route(method="GET", path="/jobs", handler=list_jobs, scope="jobs:read"),
    Route(method="POST", path="/jobs", handler=create_job, scope="jobs:write"),
    Route(method="GET", path="/jobs/history", handler=job_history, scope="jobs:read"),
    Route(method="GET", path="/jobs/{job_id}", handler=get_job, scope="jobs:read"),
    Route(method="PATCH", path="/jobs/{job_id}", handler=update_job, scope="jobs:write"),
    Route(method="GET", path="/jobs/{job_id}/progress", handler=job_progress, scope="jobs:read"),
    Route(method="POST", path="/jobs/{job_id}/pause", handler=pause_job, scope="jobs:write"),
    Route(method="POST", path="/jobs/{job_id}/resume", handler=resume_job, scope="jobs:write"),
    Route(method="POST", path="/jobs/{job_id}/cancel", handler=cancel_job, scope="jobs:write"),
    Route(method="POST", path="/jobs/{job_id}/retry", handler=retry_job, scope="jobs:write"),
)
