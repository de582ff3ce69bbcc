"""farmsim's admin API: observe the world, move its clock and switch faults at run time.

Besides the fault switches, AutoPrintFarm's webhooks take actions of a misbehaving sender:
release the deliveries held back (in order, reversed or shuffled) and replay a request.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import autoprintfarm, printago
from .errors import NotFoundError
from .models import MODELS
from .world import SimError

if TYPE_CHECKING:
    from .server import FarmSim

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SIM_KEY: web.AppKey[FarmSim] = web.AppKey("sim")
NOT_RUNNING = "not_running"


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn world errors and bad input into JSON answers."""
    try:
        return await handler(request)
    except SimError as err:
        return _error(err.status, err.code, err.details or err.message)
    except (KeyError, ValueError, TypeError) as err:
        return _error(400, "invalid_request", str(err))


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except json.JSONDecodeError as err:
        msg = f"Body is not JSON: {err}"
        raise ValueError(msg) from err
    if not isinstance(body, dict):
        msg = "Body must be a JSON object"
        raise TypeError(msg)
    return body


def _printer_state(sim: FarmSim, printer_id: str) -> dict[str, Any]:
    world = sim.world
    printer = world.printer(printer_id)
    return {
        "id": printer.id,
        "printago_id": printer.printago_id,
        "serial": printer.serial,
        "name": printer.name,
        "model": printer.model.code,
        "status": world.status_word(printer),
        "phase": printer.phase.value,
        "online": printer.online,
        "silent": printer.silent,
        "bed_clear": printer.bed_clear,
        "job_id": printer.job_id,
        "last_job_id": printer.last_job_id,
        "progress": round(printer.progress, 2),
        "layer": printer.layer,
        "total_layers": printer.total_layers,
        "speed_level": printer.speed_level,
        "lights": printer.lights,
        "print_error": printer.print_error,
        "hms": [{"attr": h.attr, "code": h.code} for h in printer.hms],
        "nozzle_temp": round(printer.nozzle_temp, 1),
        "bed_temp": round(printer.bed_temp, 1),
        "trays": [{"tray_id": t.tray_id, "spool_id": t.spool_id} for t in printer.trays],
    }


async def get_state(request: web.Request) -> web.Response:
    """Return a summary of the whole world."""
    sim = request.app[SIM_KEY]
    world = sim.world
    world.tick()
    return web.json_response(
        {
            "time": world.clock.now(),
            "time_scale": world.clock.time_scale,
            "printers": [_printer_state(sim, pid) for pid in world.printers],
            "jobs": [
                {
                    "id": job.id,
                    "printago_id": job.printago_id,
                    "source": job.source,
                    "name": job.name,
                    "label": job.label,
                    "status": job.status.value,
                    "printer_id": job.printer_id,
                    "progress": round(job.progress, 2),
                    "consumed_grams": round(job.consumed_grams, 3),
                }
                for job in world.jobs.values()
            ],
            "spools": [
                {
                    "id": spool.id,
                    "printago_id": spool.printago_id,
                    "material": spool.material,
                    "color": spool.color_name,
                    "remaining_grams": round(spool.remaining_grams, 3),
                    "low_stock": spool.low_stock,
                }
                for spool in world.spools.values()
            ],
            "events": [
                {"type": e.type, "at": e.at, "printer_id": e.printer_id, "job_id": e.job_id}
                for e in world.events[-200:]
            ],
        }
    )


async def get_counters(request: web.Request) -> web.Response:
    """Return the request, rate-limit, webhook and MQTT counters."""
    sim = request.app[SIM_KEY]
    data = sim.ctx.counters.as_dict()
    data["realtime_clients"] = len(sim.realtime.broker.clients)
    return web.json_response(data)


async def reset_counters(request: web.Request) -> web.Response:
    """Set every counter back to zero."""
    request.app[SIM_KEY].ctx.counters.reset()
    return web.json_response({"ok": True})


async def get_faults(request: web.Request) -> web.Response:
    """Return the fault switches."""
    return web.json_response(request.app[SIM_KEY].ctx.faults.as_dict())


async def patch_faults(request: web.Request) -> web.Response:
    """Change the fault switches of one section (autoprintfarm, printago, mqtt, webhooks).

    `webhooks` takes `wrong_secret_rate`/`_next` (attempts signed with another secret),
    `stale_rate`/`_next` with `stale_seconds` (an `X-Webhook-Timestamp` that far in the
    past), `duplicate_rate`/`_next` (attempts sent a second time, unchanged) and `hold`
    (deliveries wait for `POST /admin/webhooks/release`).
    """
    sim = request.app[SIM_KEY]
    section = request.match_info["section"]
    if section not in ("autoprintfarm", "printago", "mqtt", "webhooks"):
        return _error(404, "unknown_section", f"No fault section {section}")
    sim.ctx.faults.update(section, await _body(request))
    return web.json_response(sim.ctx.faults.as_dict())


async def reset_faults(request: web.Request) -> web.Response:
    """Switch every fault off, bring every broker back and release held webhook deliveries."""
    sim = request.app[SIM_KEY]
    sim.ctx.faults.reset()
    if (hub := autoprintfarm.running_hub(sim.ctx)) is not None:
        await hub.release()
    sim.fleet.set_refuse(None, refuse=False)
    for printer_id, printer in sim.world.printers.items():
        printer.silent = False
        if printer.online:
            await sim.fleet.start_broker(printer_id)
    return web.json_response(sim.ctx.faults.as_dict())


def _hub(request: web.Request) -> autoprintfarm.WebhookHub:
    if (hub := autoprintfarm.running_hub(request.app[SIM_KEY].ctx)) is None:
        msg = "AutoPrintFarm's webhooks are not running"
        raise NotFoundError(NOT_RUNNING, "Not running", msg)
    return hub


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        msg = f"{name} must be a string"
        raise TypeError(msg)
    return value


async def get_webhooks(request: web.Request) -> web.Response:
    """Return AutoPrintFarm's webhook subscriptions with their running and held deliveries."""
    return web.json_response({"webhooks": _hub(request).admin_view()})


async def post_webhooks_release(request: web.Request) -> web.Response:
    """Send the webhook deliveries held back, each attempted before the next is sent.

    Body: `order` (`fifo` as held, `reverse`, or `shuffle` by `seed`), `webhook_id` (only
    that subscription's). The answer lists the released deliveries in the order sent; their
    statuses are in the subscriptions' delivery logs.
    """
    hub = _hub(request)
    body = await _body(request)
    released = await hub.release(
        order=str(body.get("order", "fifo")),
        seed=int(body.get("seed", 0)),
        webhook_id=_optional_str(body, "webhook_id"),
    )
    return web.json_response({"released": [outgoing.view() for outgoing in released]})


async def post_webhook_replay(request: web.Request) -> web.Response:
    """Send a subscription's latest request again, unchanged (or the latest of `event_id`).

    The same body, signature, timestamp and event id go out again; the answer is the
    replay's record in the delivery log.
    """
    hub = _hub(request)
    body = await _body(request)
    webhook_id = request.match_info["webhook_id"]
    record = await hub.replay(webhook_id, _optional_str(body, "event_id"))
    return web.json_response(record)


async def post_clock(request: web.Request) -> web.Response:
    """Advance simulated time or change its speed."""
    sim = request.app[SIM_KEY]
    body = await _body(request)
    clock = sim.world.clock
    if "time_scale" in body:
        clock.time_scale = float(body["time_scale"])
    if "advance" in body:
        clock.advance(float(body["advance"]))
    sim.world.tick()
    return web.json_response({"time": clock.now(), "time_scale": clock.time_scale})


async def post_printer(request: web.Request) -> web.Response:
    """Add a printer to the farm; it gets its own MQTT endpoint."""
    sim = request.app[SIM_KEY]
    body = await _body(request)
    model = str(body.get("model", "P1S")).upper()
    if model not in MODELS:
        return _error(400, "invalid_model", f"Unknown model {model}")
    name = str(body.get("name") or f"{model}-{len(sim.world.printers) + 1:02d}")
    printer = sim.world.add_printer(
        model=model,
        name=name,
        group=str(body.get("group", "production")),
        tags=[str(tag) for tag in body.get("tags", ["production"])],
    )
    await sim.fleet.wait_ready(printer.id)
    info = next(p for p in sim.fleet.connection_info() if p["autoprintfarm_id"] == printer.id)
    return web.json_response(info, status=201)


async def delete_printer(request: web.Request) -> web.Response:
    """Remove a printer from the farm."""
    sim = request.app[SIM_KEY]
    printer = sim.world.remove_printer(request.match_info["printer_id"])
    return web.json_response({"id": printer.id, "removed": True})


async def post_printer_action(request: web.Request) -> web.Response:
    """Change a printer: online, silent, fail, hms, clear_hms, bed_clear, maintenance, broker."""
    sim = request.app[SIM_KEY]
    world = sim.world
    printer = world.printer(request.match_info["printer_id"])
    action = request.match_info["action"]
    body = await _body(request)
    if action == "online":
        online = bool(body.get("online", True))
        world.set_online(printer.id, online=online)
    elif action == "silent":
        world.set_silent(printer.id, silent=bool(body.get("silent", True)))
    elif action == "fail":
        world.fail_print(printer.id, code=int(body.get("code", 50364437)))
    elif action == "hms":
        world.raise_hms(printer.id, attr=int(body["attr"]), code=int(body["code"]))
    elif action == "clear_hms":
        world.clear_hms(printer.id)
    elif action == "bed_clear":
        world.set_bed_clear(printer.id, ready=bool(body.get("ready", True)))
    elif action == "maintenance":
        world.set_maintenance(printer.id, maintenance=bool(body.get("maintenance", True)))
    elif action == "broker":
        await _broker_action(sim, printer.id, str(body.get("action", "")))
    else:
        return _error(404, "unknown_action", f"No printer action {action}")
    return web.json_response(_printer_state(sim, printer.id))


async def _broker_action(sim: FarmSim, printer_id: str | None, action: str) -> None:
    fleet = sim.fleet
    if action == "stop":
        await fleet.stop_broker(printer_id) if printer_id else await _all(sim, fleet.stop_broker)
    elif action == "start":
        await fleet.start_broker(printer_id) if printer_id else await _all(sim, fleet.start_broker)
    elif action == "drop":
        fleet.drop_connections(printer_id)
    elif action in ("refuse", "accept"):
        fleet.set_refuse(printer_id, refuse=action == "refuse")
    else:
        msg = f"Unknown broker action {action!r}; use stop, start, drop, refuse or accept"
        raise ValueError(msg)


async def _all(sim: FarmSim, action: Callable[[str], Awaitable[None]]) -> None:
    for printer_id in list(sim.world.printers):
        await action(printer_id)


async def post_brokers(request: web.Request) -> web.Response:
    """Apply a broker action to every printer, or to Printago's realtime broker."""
    sim = request.app[SIM_KEY]
    body = await _body(request)
    action = str(body.get("action", ""))
    if body.get("target") == "printago":
        broker = sim.realtime.broker
        if action == "stop":
            await broker.stop()
        elif action == "start":
            await broker.start()
        elif action == "drop":
            broker.drop_connections()
        elif action in ("refuse", "accept"):
            broker.refuse_connections = action == "refuse"
        else:
            return _error(400, "invalid_action", f"Unknown broker action {action!r}")
    else:
        await _broker_action(sim, None, action)
    return web.json_response({"ok": True})


async def post_rate_limits_reset(request: web.Request) -> web.Response:
    """Give every API key its full budget again."""
    sim = request.app[SIM_KEY]
    autoprintfarm.reset_rate_limits(sim.ctx)
    printago.reset_rate_limits(sim.ctx)
    return web.json_response({"ok": True})


async def post_rotate_key(request: web.Request) -> web.Response:
    """Revoke a service's API key and issue a new one (the old one then answers 401)."""
    sim = request.app[SIM_KEY]
    service = request.match_info["service"]
    config = sim.config
    if service == "autoprintfarm":
        config.autoprintfarm_api_key = "apf_live_" + sim.world.new_id("", 64)
        key = config.autoprintfarm_api_key
    elif service == "printago":
        config.printago_api_key = sim.world.new_id("", 72)
        key = config.printago_api_key
    else:
        return _error(404, "unknown_service", f"No service {service}")
    return web.json_response({"api_key": key})


def create_admin_app(sim: FarmSim) -> web.Application:
    """Return the admin API application, served under /admin."""
    app = web.Application(middlewares=[_errors])
    app[SIM_KEY] = sim
    app.router.add_get("/admin/state", get_state)
    app.router.add_get("/admin/counters", get_counters)
    app.router.add_post("/admin/counters/reset", reset_counters)
    app.router.add_get("/admin/faults", get_faults)
    app.router.add_patch("/admin/faults/{section}", patch_faults)
    app.router.add_post("/admin/faults/reset", reset_faults)
    app.router.add_post("/admin/clock", post_clock)
    app.router.add_post("/admin/printers", post_printer)
    app.router.add_delete("/admin/printers/{printer_id}", delete_printer)
    app.router.add_post("/admin/printers/{printer_id}/{action}", post_printer_action)
    app.router.add_post("/admin/brokers", post_brokers)
    app.router.add_post("/admin/rate-limits/reset", post_rate_limits_reset)
    app.router.add_post("/admin/keys/{service}/rotate", post_rotate_key)
    app.router.add_get("/admin/webhooks", get_webhooks)
    app.router.add_post("/admin/webhooks/release", post_webhooks_release)
    app.router.add_post("/admin/webhooks/{webhook_id}/replay", post_webhook_replay)
    return app
