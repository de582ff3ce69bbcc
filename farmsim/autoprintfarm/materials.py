"""Material endpoints: inventory, consumption, reorder thresholds and low-stock alerts."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from . import validate
from .envelope import (
    bool_param,
    csv_values,
    iso,
    ok,
    paginated,
    period_window,
    read_json,
    reject,
    sort_items,
)
from .formats import HEX, MAX_GRAMS, MAX_PRICE
from .state import IDEMPOTENCY, Route, world_of
from .views import ENDED_JOB_STATUSES, JOB_STATUS, MATERIAL_STATUSES, material_view

if TYPE_CHECKING:
    from aiohttp import web

    from farmsim.models import Job, Spool
    from farmsim.world import World

MATERIAL_SORT = (
    "id",
    "type",
    "color",
    "brand",
    "remaining_grams",
    "remaining_percent",
    "low_threshold",
    "status",
    "location",
    "consumed_grams",
    "created_at",
    "updated_at",
)
DIAMETERS = (1.75, 2.85)
# The largest value of each quantity, from 0
QUANTITIES = {
    "remaining_grams": MAX_GRAMS,
    "capacity_grams": MAX_GRAMS,
    "low_threshold": MAX_GRAMS,
    "cost_per_kg": MAX_PRICE,
}
DEFAULT_COST_PER_KG = 20.0
FIELD_MAP = {
    "type": "material",
    "color": "color_name",
    "hex_code": "color_hex",
    "brand": "brand",
    "diameter": "diameter",
    "remaining_grams": "remaining_grams",
    "capacity_grams": "capacity_grams",
    "low_threshold": "low_threshold_grams",
    "cost_per_kg": "cost_per_kg",
    "location": "location",
}


def _spool(request: web.Request) -> tuple[World, Spool]:
    world = world_of(request)
    return world, world.spool(request.match_info["material_id"])


def _hex(body: dict[str, Any]) -> str | None:
    value = validate.value_of(body, "hex_code")
    if value is None:
        return None
    if not isinstance(value, str) or not HEX.fullmatch(value):
        reject("hex_code", "must be a color like #FF6A13")
    return "#" + value.lstrip("#").upper()


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    """Return the validated material fields of a request body."""
    validate.only(body, FIELD_MAP)
    values: dict[str, Any] = {
        "type": validate.text(body, "type"),
        "color": validate.text(body, "color"),
        "hex_code": _hex(body),
        "brand": validate.text(body, "brand"),
        "location": validate.text(body, "location"),
    }
    for name, maximum in QUANTITIES.items():
        values[name] = validate.number(body, name, maximum=maximum)
    if (diameter := validate.number(body, "diameter")) is not None:
        if diameter not in DIAMETERS:
            reject("diameter", "must be 1.75 or 2.85")
        values["diameter"] = diameter
    if values["type"]:
        values["type"] = values["type"].upper()
    return {name: value for name, value in values.items() if value is not None}


async def list_materials(request: web.Request) -> web.Response:
    """List the filament inventory, filtered by type, color, stock and location."""
    world = world_of(request)
    query = request.query
    items = [material_view(world, spool) for spool in world.spools.values()]
    if kind := query.get("type"):
        items = [item for item in items if item["type"].lower() == kind.lower()]
    if color := query.get("color"):
        wanted = color.lower().lstrip("#")
        items = [i for i in items if wanted in (i["color"].lower(), i["hex_code"].lower()[1:])]
    if (low := bool_param(query, "low_stock")) is not None:
        items = [item for item in items if item["low_stock"] is low]
    if (statuses := csv_values(query, "status", MATERIAL_STATUSES)) is not None:
        items = [item for item in items if item["status"] in statuses]
    if location := query.get("location"):
        items = [item for item in items if item["location"].lower() == location.lower()]
    if printer_id := query.get("printer_id"):
        items = [item for item in items if item["printer_id"] == printer_id]
    return paginated(request, sort_items(items, query.get("sort"), MATERIAL_SORT))


async def create_material(request: web.Request) -> web.Response:
    """Add a spool to the inventory."""
    world = world_of(request)
    body = await read_json(request)

    async def produce() -> web.Response:
        values = _fields(body)
        for name in ("type", "color"):
            if name not in values:
                reject(name, "is required")
        capacity = values.get("capacity_grams", 1000.0)
        spool = world.add_spool(
            material=values["type"],
            color_name=values["color"],
            color_hex=values.get("hex_code", "#000000"),
            remaining_grams=values.get("remaining_grams", capacity),
            brand=values.get("brand", "Generic"),
            capacity_grams=capacity,
            low_threshold_grams=values.get("low_threshold", 150.0),
            cost_per_kg=values.get("cost_per_kg"),
            location=values.get("location", "Shelf"),
        )
        spool.diameter = values.get("diameter", spool.diameter)
        return ok(material_view(world, spool), status=201)

    return await request.app[IDEMPOTENCY].run(request, body, produce)


async def get_material(request: web.Request) -> web.Response:
    """Return one inventory item."""
    world, spool = _spool(request)
    return ok(material_view(world, spool))


async def update_material(request: web.Request) -> web.Response:
    """Change an inventory item: remaining grams, reorder threshold, location, cost, ..."""
    world, spool = _spool(request)
    values = _fields(await read_json(request))
    world.update_spool(spool.id, **{FIELD_MAP[name]: value for name, value in values.items()})
    return ok(material_view(world, spool))


async def delete_material(request: web.Request) -> web.Response:
    """Remove an inventory item."""
    world, spool = _spool(request)
    world.delete_spool(spool.id)
    return ok({"id": spool.id, "deleted": True})


def job_cost(world: World, job: Job) -> float:
    """Return the filament cost of what a job consumed."""
    spool = world.spools.get(job.spool_id or "")
    if spool is not None:
        per_kg = spool.cost_per_kg
    elif profile := world.profile_for(job.material):
        per_kg = profile.cost_per_kg
    else:
        per_kg = DEFAULT_COST_PER_KG
    return job.consumed_grams / 1000 * per_kg


def ended_jobs(world: World, since: float | None) -> list[Job]:
    """Return jobs that ended inside a window."""
    return [
        job
        for job in world.jobs.values()
        if JOB_STATUS[job.status] in ENDED_JOB_STATUSES
        and job.completed_at is not None
        and (since is None or job.completed_at >= since)
    ]


def consumption(world: World, since: float | None) -> dict[str, Any]:
    """Return filament used by ended jobs, per material type and per spool."""
    by_type: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_spool: dict[str, dict[str, Any]] = {}
    for job in ended_jobs(world, since):
        if job.consumed_grams <= 0:
            continue
        spool = world.spools.get(job.spool_id or "")
        kind = spool.material if spool else (job.material or "UNKNOWN")
        cost = job_cost(world, job)
        totals = by_type[kind]
        totals["grams"] += job.consumed_grams
        totals["cost"] += cost
        totals["jobs"] += 1
        entry = by_spool.setdefault(
            job.spool_id or "",
            {
                "material_id": job.spool_id,
                "type": kind,
                "color": spool.color_name if spool else job.color,
                "grams": 0.0,
                "cost": 0.0,
                "jobs": 0,
            },
        )
        entry["grams"] += job.consumed_grams
        entry["cost"] += cost
        entry["jobs"] += 1
    types: list[dict[str, Any]] = [
        {
            "type": kind,
            "grams": round(v["grams"], 2),
            "cost": round(v["cost"], 2),
            "jobs": int(v["jobs"]),
        }
        for kind, v in sorted(by_type.items())
    ]
    spools = [
        {**entry, "grams": round(entry["grams"], 2), "cost": round(entry["cost"], 2)}
        for entry in sorted(by_spool.values(), key=lambda e: -e["grams"])
    ]
    return {
        "total_grams": round(sum(t["grams"] for t in types), 2),
        "total_cost": round(sum(t["cost"] for t in types), 2),
        "by_type": types,
        "by_material": spools,
    }


async def material_consumption(request: web.Request) -> web.Response:
    """Return filament consumed by ended jobs in a period."""
    world = world_of(request)
    now = world.clock.now()
    period, since = period_window(request.query, now, default="month")
    return ok({"period": period, "from": iso(since), "to": iso(now), **consumption(world, since)})


def alert_view(world: World, spool: Spool) -> dict[str, Any]:
    """Return a low-stock alert for a spool."""
    view = material_view(world, spool)
    critical = view["status"] == "out_of_stock"
    return {
        "material_id": spool.id,
        "type": view["type"],
        "color": view["color"],
        "hex_code": view["hex_code"],
        "remaining_grams": view["remaining_grams"],
        "low_threshold": view["low_threshold"],
        "status": view["status"],
        "severity": "critical" if critical else "warning",
        "location": view["location"],
        "printer_id": view["printer_id"],
        "message": (
            f"{view['type']} {view['color']} is {'out of stock' if critical else 'low'}: "
            f"{view['remaining_grams']:g} g left, reorder threshold {view['low_threshold']:g} g"
        ),
    }


async def material_alerts(request: web.Request) -> web.Response:
    """List spools at or below their reorder threshold, the emptiest first."""
    world = world_of(request)
    spools = sorted(
        (spool for spool in world.spools.values() if spool.low_stock),
        key=lambda spool: spool.remaining_grams,
    )
    return paginated(request, [alert_view(world, spool) for spool in spools])


ROUTES = (
    Route(method="GET", path="/materials", handler=list_materials, scope="materials:read"),
    Route(method="POST", path="/materials", handler=create_material, scope="materials:write"),
    Route(
        method="GET",
        path="/materials/consumption",
        handler=material_consumption,
        scope="materials:read",
    ),
    Route(method="GET", path="/materials/alerts", handler=material_alerts, scope="materials:read"),
    Route(
        method="GET", path="/materials/{material_id}", handler=get_material, scope="materials:read"
    ),
    Route(
        method="PATCH",
        path="/materials/{material_id}",
        handler=update_material,
        scope="materials:write",
    ),
    Route(
        method="DELETE",
        path="/materials/{material_id}",
        handler=delete_material,
        scope="materials:write",
    ),
)
