"""Bambu LAN commands from `device/{serial}/request`, applied to the world."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from farmsim.errors import SimError
from farmsim.files import file_name

if TYPE_CHECKING:
    from farmsim.world import World

LOGGER = logging.getLogger(__name__)

RESULT_SUCCESS: Final = "success"
RESULT_FAILED: Final = "failed"
LED_MODES: Final = frozenset({"on", "off", "flashing"})

# Commands a real printer accepts that change nothing farmsim models: acknowledged only.
ACK_ONLY: Final = frozenset(
    {
        ("print", "ams_change_filament"),
        ("print", "ams_control"),
        ("print", "ams_filament_setting"),
        ("print", "ams_get_rfid"),
        ("print", "ams_filament_drying"),
        ("print", "ams_user_setting"),
        ("print", "skip_objects"),
        ("print", "print_option"),
        ("print", "calibration"),
        ("print", "unload_filament"),
        ("print", "extrusion_cali_sel"),
        ("print", "set_airduct"),
        ("print", "buzzer_ctrl"),
        ("camera", "ipcam_timelapse"),
        ("camera", "ipcam_record_set"),
    }
)

_TEMPERATURE_GCODE: Final = re.compile(
    r"^\s*(?P<code>M104|M109|M140|M190)\b[^;]*?\bS(?P<value>-?\d+(?:\.\d+)?)", re.IGNORECASE
)
_NOZZLE_CODES: Final = frozenset({"M104", "M109"})

type Handler = Callable[["World", str, dict[str, Any]], None]


@dataclass(frozen=True, kw_only=True)
class Request:
    """One command of a request message."""

    category: str
    command: str
    body: dict[str, Any]


def parse_request(payload: bytes) -> list[Request]:
    """Return the commands of a request payload; anything malformed is logged and skipped."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        LOGGER.debug("Ignoring a request that is not JSON: %r", payload[:200])
        return []
    if not isinstance(data, dict):
        LOGGER.debug("Ignoring a request that is not a JSON object: %r", payload[:200])
        return []
    requests: list[Request] = []
    for category, body in data.items():
        if isinstance(body, dict) and isinstance(command := body.get("command"), str):
            requests.append(Request(category=category, command=command, body=body))
        elif isinstance(body, dict):
            LOGGER.debug("Ignoring %s request without a command", category)
    return requests


def acknowledgement(request: Request, *, reason: str | None = None) -> dict[str, Any]:
    """Return the report echoing a command with its result (failed when reason is given)."""
    return {
        request.category: {
            **request.body,
            "result": RESULT_SUCCESS if reason is None else RESULT_FAILED,
            "reason": reason or "",
        }
    }


def execute(world: World, printer_id: str, request: Request) -> dict[str, Any] | None:
    """Apply a command to the world; return its acknowledgement, or None for unknown commands."""
    key = (request.category, request.command)
    handler = HANDLERS.get(key)
    if handler is None:
        if key in ACK_ONLY:
            return acknowledgement(request)
        LOGGER.debug("Ignoring unknown command %s.%s", *key)
        return None
    try:
        handler(world, printer_id, request.body)
    except SimError as err:
        return acknowledgement(request, reason=err.message)
    except (TypeError, ValueError) as err:
        return acknowledgement(request, reason=str(err))
    return acknowledgement(request)


def _pause(world: World, printer_id: str, _body: dict[str, Any]) -> None:
    """Pause the print."""
    world.pause_printer(printer_id)


def _resume(world: World, printer_id: str, _body: dict[str, Any]) -> None:
    """Resume the paused print."""
    world.resume_printer(printer_id)


def _stop(world: World, printer_id: str, _body: dict[str, Any]) -> None:
    """Stop (cancel) the print."""
    world.stop_printer(printer_id)


def _print_speed(world: World, printer_id: str, body: dict[str, Any]) -> None:
    """Set the speed level from `param` ("1" to "4")."""
    param = body.get("param")
    try:
        level = int(str(param).strip())
    except ValueError:
        msg = f"Invalid speed level {param!r}"
        raise ValueError(msg) from None
    world.set_speed(printer_id, level)


def _ledctrl(world: World, printer_id: str, body: dict[str, Any]) -> None:
    """Switch a light from `led_node` and `led_mode`."""
    node = body.get("led_node")
    mode = body.get("led_mode")
    if not isinstance(node, str) or mode not in LED_MODES:
        msg = f"Invalid light command {node!r} {mode!r}"
        raise ValueError(msg)
    world.set_light(printer_id, node, on=mode != "off")


def _project_file(world: World, printer_id: str, body: dict[str, Any]) -> None:
    """Start the 3MF at `url`, named after `subtask_name`."""
    url = body.get("url")
    if not isinstance(url, str) or not url:
        msg = "url is required"
        raise ValueError(msg)
    subtask = body.get("subtask_name")
    name = file_name(subtask) if isinstance(subtask, str) and subtask else None
    world.start_file(printer_id, file_url=url, name=name)


def _gcode_file(world: World, printer_id: str, body: dict[str, Any]) -> None:
    """Start the G-code file at `param`."""
    path = body.get("param")
    if not isinstance(path, str) or not path:
        msg = "param (the file path) is required"
        raise ValueError(msg)
    world.start_file(printer_id, file_url=path)


def _gcode_line(world: World, printer_id: str, body: dict[str, Any]) -> None:
    """Apply the heater targets (M104/M109, M140/M190) of G-code lines."""
    param = body.get("param")
    if not isinstance(param, str):
        msg = "param (the G-code) is required"
        raise TypeError(msg)
    nozzle: float | None = None
    bed: float | None = None
    for line in param.splitlines():
        if match := _TEMPERATURE_GCODE.match(line):
            value = float(match["value"])
            if match["code"].upper() in _NOZZLE_CODES:
                nozzle = value
            else:
                bed = value
    if nozzle is not None or bed is not None:
        world.set_targets(printer_id, nozzle=nozzle, bed=bed)


HANDLERS: Final[dict[tuple[str, str], Handler]] = {
    ("print", "pause"): _pause,
    ("print", "resume"): _resume,
    ("print", "stop"): _stop,
    ("print", "print_speed"): _print_speed,
    ("print", "project_file"): _project_file,
    ("print", "gcode_file"): _gcode_file,
    ("print", "gcode_line"): _gcode_line,
    ("system", "ledctrl"): _ledctrl,
}
