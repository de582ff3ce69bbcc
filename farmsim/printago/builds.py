"""Printago parts and builds: `POST /v2/builds` queues print jobs of parts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from aiohttp import web

from farmsim.models import JobStatus
from farmsim.world import file_profile

from . import catalog, entities
from .common import (
    PRIORITY_NORMAL,
    PrintagoError,
    bad_request,
    ctx_of,
    not_found,
    optional_text,
    printago_priority,
    priority_value,
    read_body,
)
from .schemas import PART_FIELDS
from .views import list_response, search_response

if TYPE_CHECKING:
    from collections.abc import Mapping

    from farmsim.context import SimContext
    from farmsim.models import Job, Part

    from .common import JsonObject

routes = web.RouteTableDef()

MAX_QUANTITY: Final = 500
TAG_OPERATORS: Final = ("&=", "|=", "=")


@dataclass(frozen=True, kw_only=True)
class PartPlan:
    """One validated entry of `BuildConfigV2.parts`."""

    part: Part
    quantity: int
    priority: int
    front: bool
    label: str | None
    tags: dict[str, str]
    printer_id: str | None
    user_tags: list[str]
    material: str | None


def user_tags(expression: str) -> list[str]:
    """Return the tags a `user.tags` expression requires (`&=a,b` or `a|b`)."""
    text = expression.strip()
    for operator in TAG_OPERATORS:
        if text.startswith(operator):
            text = text[len(operator) :]
            break
    return [tag.strip() for tag in re.split(r"[,|]", text) if tag.strip()]


def _tags(raw: object, name: str) -> dict[str, str]:
    """Return a validated `Tags` object."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(value, str) and value for value in raw.values()
    ):
        msg = f"{name} must be an object of non-empty strings"
        raise bad_request(msg)
    return {str(key): str(value) for key, value in raw.items()}


def _quantity(raw: object) -> int:
    """Return a validated build quantity (default 1)."""
    if raw is None:
        return 1
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_QUANTITY:
        msg = f"quantity must be an integer from 0 to {MAX_QUANTITY}"
        raise bad_request(msg)
    return raw


def plan_part(ctx: SimContext, raw: object, index: int) -> PartPlan:
    """Validate one part build request."""
    if not isinstance(raw, dict):
        msg = f"parts.{index} must be an object"
        raise bad_request(msg)
    item: Mapping[str, object] = raw
    part_id = item.get("partId")
    if not isinstance(part_id, str) or not part_id:
        msg = f"parts.{index}.partId must be a string"
        raise bad_request(msg)
    if (part := ctx.world.parts.get(part_id)) is None:
        msg = "Part"
        raise not_found(msg)
    position = item.get("position", "back")
    if position not in ("front", "back"):
        msg = f"parts.{index}.position must be one of the following values: front, back"
        raise bad_request(msg)
    tags = {**part.print_tags, **_tags(item.get("tags"), f"parts.{index}.tags")}
    printer_id = None
    if target := tags.get("printer.id"):
        printer_id = entities.find_printer(ctx.world, target).id
    return PartPlan(
        part=part,
        quantity=_quantity(item.get("quantity")),
        priority=priority_value(item.get("priority", PRIORITY_NORMAL), f"parts.{index}.priority"),
        front=position == "front",
        label=optional_text(item, "label"),
        tags=tags,
        printer_id=printer_id,
        user_tags=user_tags(tags.get("user.tags", "")),
        material=tags.get("filament.type"),
    )


def part_build_entity(ctx: SimContext, build_id: str, plan: PartPlan, created: float) -> JsonObject:
    """Return a freshly queued Printago `PartBuild`."""
    now = entities.stamp(created)
    return {
        "id": build_id,
        "storeId": ctx.config.printago_store_id,
        "createdAt": now,
        "updatedAt": now,
        "partId": plan.part.id,
        "skuBuildId": None,
        "skuId": None,
        "skuName": None,
        "label": plan.label,
        "partCopy": catalog.part_entity(ctx, plan.part),
        "requiredPrinterTags": plan.tags,
        "quantity": plan.quantity,
        "parameterOverrides": [],
        "outputFiles": None,
        "thumbnailUri": None,
        "assignmentStartedAt": None,
        "assignmentCompletedAt": None,
        "printingStartedAt": None,
        "printingCompletedAt": None,
        "extensions": None,
        "materialAssignments": None,
        "priority": printago_priority(plan.priority),
        "position": "front" if plan.front else "back",
        "orderId": None,
        "orderItemId": None,
        "linkedPartId": None,
        "dismissed": False,
        "status": "queued" if plan.quantity else "success",
        "printStatus": "pending" if plan.quantity else "success",
    }


def queue_part(ctx: SimContext, plan: PartPlan) -> JsonObject:
    """Create the print jobs of one part build; return the `PartBuild`."""
    world = ctx.world
    build_id = world.new_printago_id()
    created = world.clock.now()
    jobs: list[Job] = [
        world.submit_job(
            source="printago",
            file_url=plan.part.file_uris[0],
            name=plan.part.name,
            profile=plan.part.profile,
            priority=plan.priority,
            printer_id=plan.printer_id,
            tags=plan.user_tags,
            material=plan.material,
            part_id=plan.part.id,
            part_build_id=build_id,
            quantity_index=index,
            quantity_total=plan.quantity,
            label=plan.label or "",
            front=plan.front,
            metadata={entities.TAGS_KEY: dict(plan.tags)},
        )
        for index in range(plan.quantity)
    ]
    if plan.front:
        queued = [job for job in jobs if job.status is JobStatus.QUEUED]
        for job, order in zip(queued, sorted(job.queue_order for job in queued), strict=True):
            job.queue_order = order
    return part_build_entity(ctx, build_id, plan, created)


@routes.post("/v2/builds")
async def create_builds(request: web.Request) -> web.Response:
    """Create and queue prints of parts."""
    ctx = ctx_of(request)
    body = await read_body(request)
    parts = body.get("parts") or []
    skus = body.get("skus") or []
    if not isinstance(parts, list) or not isinstance(skus, list):
        msg = "parts and skus must be arrays"
        raise bad_request(msg)
    if skus:
        msg = "Sku"
        raise not_found(msg)
    if not parts:
        msg = "At least one part or SKU build is required"
        raise bad_request(msg)
    plans = [plan_part(ctx, item, index) for index, item in enumerate(parts)]
    builds = [queue_part(ctx, plan) for plan in plans]
    return web.json_response({"partBuilds": builds, "skuBuilds": []}, status=201)


@routes.get("/v1/parts")
async def list_parts(request: web.Request) -> web.Response:
    """List parts."""
    return list_response(request, catalog.parts(ctx_of(request)), PART_FIELDS)


@routes.post("/v1/parts/search")
async def search_parts(request: web.Request) -> web.Response:
    """Search parts."""
    ctx = ctx_of(request)
    return await search_response(request, lambda: catalog.parts(ctx), PART_FIELDS)


@routes.post("/v1/parts")
async def create_part(request: web.Request) -> web.Response:
    """Create a part from uploaded files; its estimate comes from the first file."""
    ctx = ctx_of(request)
    body = await read_body(request)
    name = optional_text(body, "name")
    uris = body.get("fileUris")
    if not name:
        msg = "name must be a string of 1 to 1024 characters"
        raise bad_request(msg)
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
        raise PrintagoError(400, "fileUris required")
    part_type = body.get("type")
    if part_type is not None and part_type not in catalog.PART_TYPES:
        allowed = ", ".join(sorted(catalog.PART_TYPES))
        msg = f"type must be one of the following values: {allowed}"
        raise bad_request(msg)
    tags = _tags(body.get("printTags"), "printTags")
    files = [str(uri) for uri in uris]
    part = ctx.world.add_part(name=name, file_uri=files[0], profile=file_profile(files[0]))
    part.file_uris = files
    part.print_tags = tags
    part.type = part_type if isinstance(part_type, str) else catalog.part_type_of(files[0])
    return web.json_response(catalog.part_entity(ctx, part), status=201)


@routes.get("/v1/parts/{id}")
async def get_part(request: web.Request) -> web.Response:
    """Return one part."""
    ctx = ctx_of(request)
    if (part := ctx.world.parts.get(request.match_info["id"])) is None:
        msg = "Part"
        raise not_found(msg)
    return web.json_response(catalog.part_entity(ctx, part))
