"""Printago print-job endpoints: the queue, bulk job actions and job updates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import web

from farmsim.models import JobStatus

from . import entities
from .common import bad_request, ctx_of, id_list, priority_value, read_body
from .schemas import PRINT_JOB_FIELDS
from .views import apply_each, json_list, list_response, search_response, unique

if TYPE_CHECKING:
    from collections.abc import Callable

    from farmsim.models import Job
    from farmsim.world import World

routes = web.RouteTableDef()

ACTIONS: Final[dict[str, Callable[[World, str], Job]]] = {
    "cancel": lambda world, job_id: world.cancel_job(job_id),
    "pause": lambda world, job_id: world.pause_job(job_id),
    "resume": lambda world, job_id: world.resume_job(job_id),
    "retry": lambda world, job_id: world.retry_job(job_id),
    "clear": lambda world, job_id: world.hide_job(job_id),
    "move-to-queue-front": lambda world, job_id: world.move_to_front(job_id),
}
LABEL_MAX: Final = 1024


@routes.get("/v1/print-jobs")
async def list_jobs(request: web.Request) -> web.Response:
    """List print jobs; cleared jobs only when `hidden` is asked for."""
    jobs = entities.jobs(ctx_of(request))
    return list_response(request, jobs, PRINT_JOB_FIELDS, hidden_field="hidden")


@routes.post("/v1/print-jobs/search")
async def search_jobs(request: web.Request) -> web.Response:
    """Search print jobs."""
    ctx = ctx_of(request)
    return await search_response(
        request, lambda: entities.jobs(ctx), PRINT_JOB_FIELDS, hidden_field="hidden"
    )


@routes.get("/v1/print-jobs/stats/completed-count")
async def completed_count(request: web.Request) -> web.Response:
    """Return the number of completed jobs as a bare number."""
    jobs = ctx_of(request).world.jobs.values()
    return web.json_response(sum(job.status is JobStatus.COMPLETED for job in jobs))


@routes.patch("/v1/print-jobs/{action:cancel|pause|resume|retry|clear|move-to-queue-front}")
async def bulk_action(request: web.Request) -> web.Response:
    """Apply a queue action to jobs; answer the ids of the jobs it applied to."""
    world = ctx_of(request).world
    action = ACTIONS[request.match_info["action"]]
    body = await read_body(request)
    jobs = [entities.find_job(world, job_id) for job_id in unique(id_list(body, "printJobIds"))]
    done = apply_each(jobs, lambda job: action(world, job.id))
    return json_list(job.printago_id for job in done)


@routes.get("/v1/print-jobs/{id}")
async def get_job(request: web.Request) -> web.Response:
    """Return one print job."""
    ctx = ctx_of(request)
    job = entities.find_job(ctx.world, request.match_info["id"])
    return web.json_response(entities.job_entity(ctx, job))


@routes.patch("/v1/print-jobs/{id}")
async def update_job(request: web.Request) -> web.Response:
    """Change a job's label or priority."""
    ctx = ctx_of(request)
    world = ctx.world
    job = entities.find_job(world, request.match_info["id"])
    body = await read_body(request)
    label = body.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > LABEL_MAX):
        msg = f"label must be a string of at most {LABEL_MAX} characters"
        raise bad_request(msg)
    priority = priority_value(body["priority"]) if body.get("priority") is not None else None
    if label is not None and label != job.label:
        job.label = label
        job.updated_at = world.clock.now()
        if priority is None:
            world.emit("job.updated", job_id=job.id)
    if priority is not None:
        world.update_job(job.id, priority=priority)
        world.tick()
    return web.json_response(entities.job_entity(ctx, job))
