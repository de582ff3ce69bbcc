"""Printer endpoints: list, get, groups, settings and control."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

from farmsim.errors import InvalidStateError

from . import validate
from .envelope import csv_values, ok, paginated, read_json, reject, sort_items
from .formats import MAX_PRICE, MAX_WATTS
from .state import Route, world_of
from .views import PRINTER_STATUSES, printer_view

if TYPE_CHECKING:
    from aiohttp import web

    from farmsim.models import Printer
    from farmsim.world import World

PRINTER_SORT = (
    "id",
    "name",
    "status",
    "model",
    "group",
    "location",
    "progress",
    "remaining_time",
    "created_at",
    "updated_at",
)
GROUP_SORT = ("name", "printer_count")
MISMATCH = "printer_mismatch"
ACTIONS = ("pause", "resume", "stop", "cancel", "clear_bed")
NOZZLES = (0.2, 0.4, 0.6, 0.8)
# The largest value of each numeric setting, from 0
SETTING_QUANTITIES = {"purchase_price": MAX_PRICE, "power_watts": MAX_WATTS}
BED_TYPES = (
    "Cool Plate",
    "Engineering Plate",
    "High Temp Plate",
    "Textured PEI Plate",
    "Smooth PEI Plate",
)


def _printer(request: web.Request) -> tuple[World, Printer]:
    world = world_of(request)
    return world, world.printer(request.match_info["printer_id"])


async def list_printers(request: web.Request) -> web.Response:
    """List printers, filtered by status, group, model and location."""
    world = world_of(request)
    query = request.query
    statuses = csv_values(query, "status", PRINTER_STATUSES)
    items = [printer_view(world, p) for p in world.printers.values()]
    if statuses is not None:
        items = [item for item in items if item["status"] in statuses]
    if group := query.get("group"):
        items = [item for item in items if item["group"].lower() == group.lower()]
    if model := query.get("model"):
        wanted = model.lower()
        items = [i for i in items if wanted in (i["model"].lower(), i["model_code"].lower())]
    if location := query.get("location"):
        items = [item for item in items if item["location"].lower() == location.lower()]
    return paginated(request, sort_items(items, query.get("sort"), PRINTER_SORT))


async def get_printer(request: web.Request) -> web.Response:
    """Return one printer."""
    world, printer = _printer(request)
    return ok(printer_view(world, printer))


async def update_printer(request: web.Request) -> web.Response:
    """Rename a printer, move it to a group or location, or switch maintenance."""
    world, printer = _printer(request)
    body = await read_json(request)
    validate.only(body, ("name", "group", "location", "maintenance"))
    name = validate.text(body, "name")
    group = validate.text(body, "group")
    location = validate.text(body, "location")
    maintenance = validate.flag(body, "maintenance")
    if maintenance is not None:
        world.set_maintenance(printer.id, maintenance=maintenance)
    if name is not None:
        printer.name = name
    if group is not None:
        printer.group = group
    if location is not None:
        printer.location = location
    if name or group or location:
        printer.updated_at = world.clock.now()
        world.emit("printer.updated", printer_id=printer.id)
        world.tick()
    return ok(printer_view(world, printer))


def settings_view(printer: Printer) -> dict[str, Any]:
    """Return a printer's settings."""
    return {**printer.settings, "auto_assign": printer.enabled}


async def get_settings(request: web.Request) -> web.Response:
    """Return a printer's settings."""
    _, printer = _printer(request)
    return ok(settings_view(printer))


async def update_settings(request: web.Request) -> web.Response:
    """Change a printer's settings."""
    world, printer = _printer(request)
    body = await read_json(request)
    validate.only(
        body, ("nozzle_diameter", "bed_type", "auto_assign", "purchase_price", "power_watts")
    )
    changes: dict[str, Any] = {}
    if (nozzle := validate.number(body, "nozzle_diameter")) is not None:
        if nozzle not in NOZZLES:
            reject("nozzle_diameter", f"must be one of {', '.join(map(str, NOZZLES))}")
        changes["nozzle_diameter"] = nozzle
    if (bed_type := validate.choice(body, "bed_type", BED_TYPES)) is not None:
        changes["bed_type"] = bed_type
    for name, maximum in SETTING_QUANTITIES.items():
        if (value := validate.number(body, name, maximum=maximum)) is not None:
            changes[name] = value
    auto_assign = validate.flag(body, "auto_assign")
    printer.settings.update(changes)
    if auto_assign is not None:
        printer.settings["auto_assign"] = auto_assign
        world.set_enabled(printer.id, enabled=auto_assign)
    elif changes:
        printer.updated_at = world.clock.now()
        world.emit("printer.updated", printer_id=printer.id)
    return ok(settings_view(printer))


async def list_groups(request: web.Request) -> web.Response:
    """List printer groups with their printers and status counts."""
    world = world_of(request)
    groups: dict[str, list[Printer]] = {}
    for printer in world.printers.values():
        groups.setdefault(printer.group, []).append(printer)
    items = [
        {
            "name": name,
            "printer_count": len(members),
            "printer_ids": [p.id for p in members],
            "statuses": dict(Counter(world.status_word(p) for p in members)),
        }
        for name, members in sorted(groups.items())
    ]
    return paginated(request, sort_items(items, request.query.get("sort"), GROUP_SORT))


async def control_printer(request: web.Request) -> web.Response:
    """Pause, resume, stop (cancel) the print or confirm the bed is clear."""
    world, printer = _printer(request)
    body = await read_json(request)
    validate.only(body, ("action", "printer_id"))
    action = validate.choice(body, "action", ACTIONS)
    if action is None:
        reject("action", f"is required; one of {', '.join(ACTIONS)}")
    # A body's unknown printer is not found (404), another one conflicts with the path's (409)
    named = validate.text(body, "printer_id")
    if named is not None and world.printer(named).id != printer.id:
        msg = f"printer_id {named} is not the printer in the path, {printer.id}"
        raise InvalidStateError(MISMATCH, "Printer mismatch", msg)
    job_id = printer.job_id
    if action == "pause":
        world.pause_printer(printer.id)
    elif action == "resume":
        world.resume_printer(printer.id)
    elif action == "clear_bed":
        job_id = None
        world.clear_bed(printer.id)
    else:
        world.stop_printer(printer.id)
    return ok(
        {
            "printer_id": printer.id,
            "action": action,
            "status": world.status_word(printer),
            "command_id": f"cmd_{uuid.uuid4().hex[:12]}",
            "job_id": job_id,
            "printer": printer_view(world, printer),
        }
    )


async def set_light(request: web.Request) -> web.Response:
    """Switch a printer's light on or off."""
    world, printer = _printer(request)
    body = await read_json(request)
    validate.only(body, ("state", "node"))
    state = validate.flag(body, "state")
    if state is None:
        reject("state", "is required")
    node = validate.text(body, "node") or "chamber_light"
    world.set_light(printer.id, node, on=state)
    return ok(printer_view(world, printer))


ROUTES = (
    Route(method="GET", path="/printers", handler=list_printers, scope="printers:read"),
    Route(method="GET", path="/printers/groups", handler=list_groups, scope="printers:read"),
    Route(method="GET", path="/printers/{printer_id}", handler=get_printer, scope="printers:read"),
    Route(
        method="PATCH",
        path="/printers/{printer_id}",
        handler=update_printer,
        scope="printers:write",
    ),
    Route(
        method="GET",
        path="/printers/{printer_id}/settings",
        handler=get_settings,
        scope="printers:read",
    ),
    Route(
        method="PATCH",
        path="/printers/{printer_id}/settings",
        handler=update_settings,
        scope="printers:write",
    ),
    Route(
        method="POST",
        path="/printers/{printer_id}/control",
        handler=control_printer,
        scope="printers:write",
    ),
    Route(
        method="POST",
        path="/printers/{printer_id}/light",
        handler=set_light,
        scope="printers:write",
    ),
)
