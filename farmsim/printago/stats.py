"""Printago `PrinterStat` telemetry built from a world printer."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from farmsim.models import (
    PRINT_ERROR_CANCELLED,
    PRINT_ERROR_NOZZLE_CLOG,
    STAGE_BED_LEVELING,
    STAGE_HEATBED_PREHEATING,
    STAGE_HEATING_HOTEND,
    STAGE_IDLE,
    STAGE_PAUSED_BY_USER,
    STAGE_PRINTING,
    Phase,
)

from .entities import filament_code, rgba, stamp

if TYPE_CHECKING:
    from farmsim.context import SimContext
    from farmsim.models import Printer, Tray

    from .common import JsonObject

STAGES: Final = {
    STAGE_PRINTING: "Printing",
    STAGE_BED_LEVELING: "Auto bed leveling",
    STAGE_HEATBED_PREHEATING: "Heatbed preheating",
    STAGE_HEATING_HOTEND: "Heating hotend",
    STAGE_PAUSED_BY_USER: "Paused by the user",
    STAGE_IDLE: "Idle",
}
PRINT_ERRORS: Final = {
    PRINT_ERROR_CANCELLED: "Printing was cancelled",
    PRINT_ERROR_NOZZLE_CLOG: "Nozzle clog detected; the print was stopped",
}
OFFLINE_STATE: Final = "OFFLINE"
SEVERITY_SERIOUS: Final = 2
SEVERITY_COMMON: Final = 3
SLOTS_PER_AMS: Final = 4


def error_code(code: int) -> str:
    """Return a Bambu print error as `XXXX-XXXX`."""
    return f"{code >> 16:04X}-{code & 0xFFFF:04X}"


def hms_code(attr: int, code: int) -> str:
    """Return a Bambu HMS message code as `XXXX-XXXX-XXXX-XXXX`."""
    return f"{error_code(attr)}-{error_code(code)}"


def _health(printer: Printer) -> JsonObject:
    """Return print errors and HMS messages by severity."""
    errors: list[JsonObject] = []
    warnings: list[JsonObject] = []
    infos: list[JsonObject] = []
    if printer.print_error:
        message = PRINT_ERRORS.get(printer.print_error, "Printer error")
        entry = {"code": error_code(printer.print_error), "message": message}
        (infos if printer.print_error == PRINT_ERROR_CANCELLED else errors).append(entry)
    for hms in printer.hms:
        code = hms_code(hms.attr, hms.code)
        entry = {"code": code, "message": f"HMS {code}"}
        if hms.severity <= SEVERITY_SERIOUS:
            errors.append(entry)
        elif hms.severity == SEVERITY_COMMON:
            warnings.append(entry)
        else:
            infos.append(entry)
    return {"errors": errors, "warnings": warnings, "infos": infos}


def _filament_info(ctx: SimContext, tray: Tray) -> JsonObject:
    """Return a tray as `FilamentInfo` (just its id when empty)."""
    spool = ctx.world.tray_spool(tray)
    if spool is None:
        return {"id": str(tray.slot)}
    return {
        "id": str(tray.slot),
        "color": rgba(spool.color_hex).lstrip("#"),
        "info": filament_code(spool.material),
        "tagId": spool.printago_id,
        "type": spool.material,
        "remaining": spool.remain_percent,
    }


def _filament(ctx: SimContext, printer: Printer) -> JsonObject:
    """Return the AMS units and the external spool."""
    external = [tray for tray in printer.trays if tray.ams_id is None]
    units = sorted({tray.ams_id for tray in printer.trays if tray.ams_id is not None})
    filament: JsonObject = {}
    if units:
        loaded = sum(1 << tray.tray_id for tray in printer.trays if tray.spool_id)
        filament["ams"] = {
            "status": {"slotsLoaded": f"{loaded:X}", "slotsReading": "0"},
            "ams": [
                {
                    "slots": [
                        _filament_info(ctx, tray) for tray in printer.trays if tray.ams_id == unit
                    ]
                }
                for unit in units
            ],
        }
    if external:
        filament["spool"] = _filament_info(ctx, external[0])
    return filament


def _print(ctx: SimContext, printer: Printer) -> JsonObject:
    """Return the print progress part."""
    job = ctx.world.jobs.get(printer.job_id or printer.last_job_id or "")
    stage = "Preparing" if printer.phase is Phase.PREPARE else STAGES.get(printer.stage, "Idle")
    return {
        "downloadPercent": printer.prepare_percent,
        "percent": math.floor(printer.progress),
        "timeRemaining": math.ceil(printer.remaining_seconds / 60),
        "stage": stage,
        "activity": ctx.world.status_word(printer),
        "errorCode": error_code(printer.print_error) if printer.print_error else None,
        "printError": printer.print_error,
        "currentLayer": printer.layer,
        "totalLayers": printer.total_layers,
        "taskId": job.printago_id if job else None,
        "taskName": job.name if job else None,
    }


def _temps(printer: Printer) -> JsonObject:
    """Return the temperatures part."""
    temps: JsonObject = {
        "bedTemp": round(printer.bed_temp, 1),
        "bedTempTarget": round(printer.bed_target, 1),
        "nozzleTemp": round(printer.nozzle_temp, 1),
        "nozzleTempTarget": round(printer.nozzle_target, 1),
    }
    if printer.model.chamber_sensor:
        temps["chamberTemp"] = round(printer.chamber_temp, 1)
    return temps


def _lights(printer: Printer) -> JsonObject:
    """Return the lights part."""
    names = {"chamber_light": "chamber", "work_light": "work"}
    return {names.get(node, node): "on" if on else "off" for node, on in printer.lights.items()}


def printer_stat(ctx: SimContext, printer: Printer) -> JsonObject:
    """Return a printer's telemetry as a Printago `PrinterStat`."""
    now = ctx.world.clock.now()
    nozzle = float(printer.settings.get("nozzle_diameter", 0.4))
    return {
        "printerId": printer.printago_id,
        "storeId": ctx.config.printago_store_id,
        "state": printer.phase.value if printer.online else OFFLINE_STATE,
        "isOnline": printer.online,
        "isAvailable": not printer.busy,
        "receivedAt": stamp(now),
        "expiresAt": stamp(now + ctx.config.printago_stat_validity),
        "metadata": {"name": printer.name},
        "data": {
            "temps": _temps(printer),
            "lights": _lights(printer),
            "printer": {"nozzleDiameter": f"{nozzle:g}"},
            "print": _print(ctx, printer),
            "filament": _filament(ctx, printer),
            "health": _health(printer),
        },
    }
