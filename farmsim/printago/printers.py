"""Printago printer endpoints: printers, readiness, maintenance, commands and slots."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from . import entities
from .commands import parse_command
from .common import (
    REALTIME_KEY,
    bad_request,
    boolean,
    ctx_of,
    id_list,
    optional_text,
    read_body,
)
from .schemas import PRINTER_FIELDS, PRINTER_SLOT_FIELDS
from .views import apply_each, json_list, list_response, search_response, unique

if TYPE_CHECKING:
    from farmsim.models import Printer

routes = web.RouteTableDef()


def _printers(request: web.Request, ids: list[str]) -> list[Printer]:
    """Return the printers of Printago ids, without repeats."""
    world = ctx_of(request).world
    return [entities.find_printer(world, printer_id) for printer_id in unique(ids)]


def _entities(request: web.Request, printers: list[Printer]) -> web.Response:
    """Answer with printer entities."""
    ctx = ctx_of(request)
    return json_list(entities.printer_entity(ctx, printer) for printer in printers)


@routes.get("/v1/printers")
async def list_printers(request: web.Request) -> web.Response:
    """List printers."""
    return list_response(request, entities.printers(ctx_of(request)), PRINTER_FIELDS)


@routes.post("/v1/printers/search")
async def search_printers(request: web.Request) -> web.Response:
    """Search printers."""
    ctx = ctx_of(request)
    return await search_response(request, lambda: entities.printers(ctx), PRINTER_FIELDS)


@routes.patch("/v1/printers/confirm-ready")
async def confirm_ready(request: web.Request) -> web.Response:
    """Mark printers ready (bed cleared) or not ready to receive jobs."""
    world = ctx_of(request).world
    body = await read_body(request)
    ready = boolean(body, "ready")
    printers = _printers(request, id_list(body, "ids"))
    done = apply_each(printers, lambda p: world.set_bed_clear(p.id, ready=ready))
    return _entities(request, done)


@routes.patch("/v1/printers/enabled")
async def set_enabled(request: web.Request) -> web.Response:
    """Enable or disable printers for automatic job assignment."""
    world = ctx_of(request).world
    body = await read_body(request)
    enabled = boolean(body, "enabled")
    printers = _printers(request, id_list(body, "ids"))
    done = apply_each(printers, lambda p: world.set_enabled(p.id, enabled=enabled))
    return _entities(request, done)


@routes.patch("/v1/maintenance/mode")
async def maintenance_mode(request: web.Request) -> web.Response:
    """Put printers into or out of maintenance."""
    world = ctx_of(request).world
    body = await read_body(request)
    enabled = boolean(body, "enabled")
    printers = _printers(request, id_list(body, "printerIds"))
    done = apply_each(printers, lambda p: world.set_maintenance(p.id, maintenance=enabled))
    return _entities(request, done)


@routes.post("/v1/printer-commands/send")
async def send_command(request: web.Request) -> web.Response:
    """Send a command to printers; answer the ids of the printers that received it."""
    ctx = ctx_of(request)
    body = await read_body(request)
    ids = id_list(body, "ids")
    command = parse_command(body.get("command"))
    printers = _printers(request, ids)
    realtime = request.app[REALTIME_KEY]
    done = apply_each(printers, lambda p: command(ctx, realtime, p))
    return json_list((printer.printago_id for printer in done), status=201)


@routes.get("/v1/printer-slots")
@routes.get("/v1/materials/printer-slots")
async def list_slots(request: web.Request) -> web.Response:
    """List the filament slots of every printer."""
    return list_response(request, entities.slots(ctx_of(request)), PRINTER_SLOT_FIELDS)


@routes.post("/v1/printer-slots/search")
async def search_slots(request: web.Request) -> web.Response:
    """Search printer slots."""
    ctx = ctx_of(request)
    return await search_response(request, lambda: entities.slots(ctx), PRINTER_SLOT_FIELDS)


@routes.get("/v1/printers/{id}")
async def get_printer(request: web.Request) -> web.Response:
    """Return one printer."""
    ctx = ctx_of(request)
    printer = entities.find_printer(ctx.world, request.match_info["id"])
    return web.json_response(entities.printer_entity(ctx, printer))


@routes.patch("/v1/printers/{id}")
async def update_printer(request: web.Request) -> web.Response:
    """Change a printer's name, tags or enabled flag."""
    ctx = ctx_of(request)
    world = ctx.world
    printer = entities.find_printer(world, request.match_info["id"])
    body = await read_body(request)
    name = optional_text(body, "name")
    tags = body.get("tags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(tag, str) and tag for tag in tags)
    ):
        msg = "tags must be an array of non-empty strings"
        raise bad_request(msg)
    enabled = body.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        msg = "enabled must be a boolean value"
        raise bad_request(msg)
    if name is not None or tags is not None:
        printer.name = name or printer.name
        printer.tags = [str(tag) for tag in tags] if tags is not None else printer.tags
        printer.updated_at = world.clock.now()
        world.emit("printer.updated", printer_id=printer.id)
    if enabled is not None:
        world.set_enabled(printer.id, enabled=enabled)
    world.tick()
    return web.json_response(entities.printer_entity(ctx, printer))
