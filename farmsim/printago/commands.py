"""Printago printer commands (`POST /v1/printer-commands/send`) applied to world printers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

from farmsim.world import InvalidStateError

from .common import bad_request

if TYPE_CHECKING:
    from farmsim.context import SimContext
    from farmsim.models import Printer

    from .realtime import Realtime

type Command = Callable[[SimContext, Realtime | None, Printer], None]

LIGHTS: Final = {"chamber_light": "chamber_light", "working_light": "work_light"}
ACCEPTED_ONLY: Final = frozenset(
    {
        "unload-filament",
        "load-filament",
        "set-slot-info",
        "refresh-slot",
        "select-tool",
        "home-axis",
        "move-axis",
        "set-fan",
        "extrude-filament",
        "calibration",
        "skip-objects",
    }
)
KNOWN: Final = frozenset(
    {"stop", "pause", "resume", "resync-data", "led-control", "set-temperature"} | ACCEPTED_ONLY
)


def _require_online(printer: Printer) -> None:
    """Refuse a command for a printer Printago cannot reach."""
    if not printer.online:
        msg = f"Printer {printer.name} is offline"
        msg_0 = "printer_offline"
        raise InvalidStateError(msg_0, "Printer is offline", msg)


def _pause(ctx: SimContext, _: Realtime | None, printer: Printer) -> None:
    """Pause the print."""
    _require_online(printer)
    ctx.world.pause_printer(printer.id)


def _resume(ctx: SimContext, _: Realtime | None, printer: Printer) -> None:
    """Resume the print."""
    _require_online(printer)
    ctx.world.resume_printer(printer.id)


def _stop(ctx: SimContext, _: Realtime | None, printer: Printer) -> None:
    """Stop the print."""
    _require_online(printer)
    ctx.world.stop_printer(printer.id)


def _resync(_: SimContext, realtime: Realtime | None, printer: Printer) -> None:
    """Publish the printer's full stats again."""
    _require_online(printer)
    if realtime is not None:
        realtime.resync(printer.id)


def _accept(_: SimContext, __: Realtime | None, printer: Printer) -> None:
    """Accept a command that changes nothing farmsim simulates."""
    _require_online(printer)


def _light(command: Mapping[str, object]) -> Command:
    """Validate a `led-control` command."""
    light = command.get("light")
    state = command.get("state")
    if light not in LIGHTS:
        msg = "light must be one of the following values: chamber_light, working_light"
        raise bad_request(msg)
    if state not in ("on", "off"):
        msg = "state must be one of the following values: on, off"
        raise bad_request(msg)
    node = LIGHTS[str(light)]

    def run(ctx: SimContext, _: Realtime | None, printer: Printer) -> None:
        """Apply the command to one printer."""
        _require_online(printer)
        ctx.world.set_light(printer.id, node, on=state == "on")

    return run


def _temperature(command: Mapping[str, object]) -> Command:
    """Validate a `set-temperature` command."""
    kind = command.get("type")
    value = command.get("temperature")
    if kind not in ("nozzle", "bed", "chamber"):
        msg = "type must be one of the following values: nozzle, bed, chamber"
        raise bad_request(msg)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        msg = "temperature must be a positive number"
        raise bad_request(msg)
    target = float(value)

    def run(ctx: SimContext, _: Realtime | None, printer: Printer) -> None:
        """Apply the command to one printer."""
        _require_online(printer)
        if kind == "nozzle":
            ctx.world.set_targets(printer.id, nozzle=target)
        elif kind == "bed":
            ctx.world.set_targets(printer.id, bed=target)

    return run


def parse_command(raw: object) -> Command:
    """Validate a `SendCommandRequest.command` and return what it does to one printer."""
    if not isinstance(raw, dict) or not isinstance(name := raw.get("command"), str):
        msg = "command must be an object with a command name"
        raise bad_request(msg)
    if name not in KNOWN:
        allowed = ", ".join(sorted(KNOWN))
        msg = f"command.command must be one of the following values: {allowed}"
        raise bad_request(msg)
    simple: dict[str, Command] = {
        "pause": _pause,
        "resume": _resume,
        "stop": _stop,
        "resync-data": _resync,
    }
    if name in simple:
        return simple[name]
    if name == "led-control":
        return _light(raw)
    if name == "set-temperature":
        return _temperature(raw)
    return _accept
