"""Bambu `push_status` reports and `get_version` replies built from the world."""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

from farmsim.models import (
    STAGE_BED_LEVELING,
    STAGE_HEATBED_PREHEATING,
    STAGE_HEATING_HOTEND,
    STAGE_IDLE,
    STAGE_PRINTING,
    Phase,
)

from .filament import ams_report, external_tray

if TYPE_CHECKING:
    from farmsim.models import Job, ModelSpec, Printer
    from farmsim.world import World

# `fun` with bit 29 (MQTT signature required) clear: developer mode on.
FUN: Final = "3EC18FFF9CFF"
# 127.0.0.1 as the little-endian uint32 Bambu sends in `net.info[].ip`.
LOOPBACK_IP: Final = 16777343
LOOPBACK_MASK: Final = 16777215
X1_IDLE_STAGE: Final = -1
CHAMBER_PLACEHOLDER: Final = 5
FAN_FULL: Final = 15
HEATBREAK_FAN_ABOVE: Final = 50.0
SPEED_MAGNITUDES: Final = {1: 50, 2: 100, 3: 124, 4: 166}
PLANNED_STAGES: Final = (STAGE_HEATBED_PREHEATING, STAGE_BED_LEVELING, STAGE_HEATING_HOTEND)

HOME_XYZ: Final = 0x7
HOME_AMS_REMAIN: Final = 0x80
HOME_SDCARD: Final = 0x100
HOME_AMS_AUTO_SWITCH: Final = 0x400
HOME_PROMPT_SOUND: Final = 0x20000

ENVELOPE_KEYS: Final = frozenset({"command", "msg", "sequence_id"})


def is_x1(spec: ModelSpec) -> bool:
    """Return whether a model belongs to the X1 family (full reports, Linux board)."""
    return spec.code.startswith("X1")


def display_job(world: World, printer: Printer) -> Job | None:
    """Return the job a printer shows: the current one, or the last one until the bed is cleared."""
    job_id = printer.job_id
    if job_id is None and printer.phase in (Phase.FINISH, Phase.FAILED):
        job_id = printer.last_job_id
    return world.jobs.get(job_id) if job_id else None


def gcode_file(spec: ModelSpec, job: Job | None) -> str:
    """Return `gcode_file`: the plate path on X1, the file name on P1/A1."""
    if job is None:
        return ""
    if is_x1(spec):
        return "/data/Metadata/plate_1.gcode"
    return unquote(urlsplit(job.file_url).path.rsplit("/", 1)[-1]) or f"{job.name}.gcode.3mf"


def home_flag(printer: Printer) -> int:
    """Return `home_flag`: homed axes, SD card and, with an AMS, remain and auto-switch."""
    flag = HOME_XYZ | HOME_SDCARD | HOME_PROMPT_SOUND
    if printer.model.ams:
        flag |= HOME_AMS_REMAIN | HOME_AMS_AUTO_SWITCH
    return flag


def _fans(printer: Printer) -> dict[str, Any]:
    """Return the fan speeds as str-ints 0..15 and the packed `fan_gear`."""
    printing = printer.phase is Phase.RUNNING and printer.stage == STAGE_PRINTING
    part = FAN_FULL if printing else 0
    enclosed = not printer.model.code.startswith("A1")
    chamber = 5 if printing and enclosed else 0
    heatbreak = FAN_FULL if printer.nozzle_temp > HEATBREAK_FAN_ABOVE else 0
    return {
        "cooling_fan_speed": str(part),
        "big_fan1_speed": "0",
        "big_fan2_speed": str(chamber),
        "heatbreak_fan_speed": str(heatbreak),
        "fan_gear": (part * 17) | ((chamber * 17) << 16),
    }


def _job_fields(world: World, printer: Printer) -> dict[str, Any]:
    """Return the fields that describe the current or last job."""
    job = display_job(world, printer)
    spec = printer.model
    idle_stage = X1_IDLE_STAGE if is_x1(spec) else STAGE_IDLE
    started = (job.started_at or job.assigned_at or 0.0) if job else 0.0
    return {
        "gcode_state": printer.phase.value,
        "print_type": "idle" if job is None else ("cloud" if job.source == "printago" else "local"),
        "mc_print_stage": "2" if printer.busy else "1",
        "mc_print_sub_stage": 0,
        "mc_print_line_number": "0",
        "mc_print_error_code": "0",
        "mc_percent": math.floor(printer.progress),
        "mc_remaining_time": math.ceil(printer.remaining_seconds / 60),
        "layer_num": printer.layer,
        "total_layer_num": printer.total_layers,
        "gcode_file": gcode_file(spec, job),
        "subtask_name": job.name if job else "",
        "gcode_file_prepare_percent": str(printer.prepare_percent),
        "gcode_start_time": str(int(started)),
        "project_id": "0",
        "profile_id": "0",
        "task_id": "0",
        "subtask_id": "0",
        "stg": list(PLANNED_STAGES) if job else [],
        "stg_cur": idle_stage if printer.stage == STAGE_IDLE else printer.stage,
        "s_obj": [],
        "print_error": printer.print_error,
    }


def _temperatures(printer: Printer) -> dict[str, Any]:
    """Return nozzle, bed and chamber temperatures (P1/A1 have no chamber sensor)."""
    chamber: float | int = (
        round(printer.chamber_temp, 1) if printer.model.chamber_sensor else CHAMBER_PLACEHOLDER
    )
    return {
        "nozzle_temper": round(printer.nozzle_temp, 1),
        "nozzle_target_temper": float(round(printer.nozzle_target)),
        "bed_temper": round(printer.bed_temp, 1),
        "bed_target_temper": float(round(printer.bed_target)),
        "chamber_temper": chamber,
    }


def _hardware(printer: Printer) -> dict[str, Any]:
    """Return the fields about the machine itself."""
    spec = printer.model
    fields: dict[str, Any] = {
        "home_flag": home_flag(printer),
        "hw_switch_state": 1 if printer.active_tray is not None else 0,
        "sdcard": True,
        "fun": FUN,
        "nozzle_diameter": str(printer.settings.get("nozzle_diameter", 0.4)),
        "nozzle_type": "hardened_steel" if is_x1(spec) else "stainless_steel",
        "net": {
            "conf": 0,
            "info": [{"ip": LOOPBACK_IP, "mask": LOOPBACK_MASK}, {"ip": 0, "mask": 0}],
        },
        "ipcam": {
            "ipcam_dev": "1",
            "ipcam_record": "enable",
            "timelapse": "disable",
            "resolution": "1080p" if is_x1(spec) else "",
            "tutk_server": "disable",
            "mode_bits": 3,
        },
        "xcam": {
            "allow_skip_parts": False,
            "buildplate_marker_detector": True,
            "first_layer_inspector": is_x1(spec),
            "halt_print_sensitivity": "medium",
            "print_halt": True,
            "printing_monitor": True,
            "spaghetti_detector": True,
        },
        "upgrade_state": {
            "sequence_id": 0,
            "progress": "",
            "status": "IDLE",
            "consistency_request": False,
            "dis_state": 0,
            "err_code": 0,
            "force_upgrade": False,
            "message": "",
            "module": "",
            "new_version_state": 2,
            "new_ver_list": [],
        },
        "upload": {"status": "idle", "progress": 0, "message": ""},
        "online": {"ahb": bool(spec.ams), "rfid": False, "version": 1},
    }
    if is_x1(spec):
        fields["ipcam"]["rtsp_url"] = "disable"
    return fields


def status_fields(world: World, printer: Printer, *, wifi_signal: int) -> dict[str, Any]:
    """Return every state field of a printer's `push_status` (without the envelope keys)."""
    spec = printer.model
    fields: dict[str, Any] = {
        **_job_fields(world, printer),
        **_temperatures(printer),
        **_fans(printer),
        "spd_lvl": printer.speed_level,
        "spd_mag": SPEED_MAGNITUDES.get(printer.speed_level, 100),
        "wifi_signal": f"{wifi_signal}dBm",
        "hms": [{"attr": hms.attr, "code": hms.code} for hms in printer.hms],
        **_hardware(printer),
        "ams": ams_report(world, printer),
        "vt_tray": external_tray(world, printer),
    }
    if spec.lights:
        fields["lights_report"] = [
            {"node": node, "mode": "on" if printer.lights.get(node) else "off"}
            for node in spec.lights
        ]
    if is_x1(spec):
        fields["t_utc"] = int(world.clock.now() * 1000)
    return fields


def push_status(fields: dict[str, Any], *, sequence_id: str, full: bool) -> dict[str, Any]:
    """Return a `push_status` message: a full report (msg 0) or a delta (msg 1)."""
    return {
        "print": {
            "command": "push_status",
            "msg": 0 if full else 1,
            "sequence_id": sequence_id,
            **fields,
        }
    }


def changed_fields(previous: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Return the top-level keys whose value changed (nested objects go whole)."""
    return {key: value for key, value in current.items() if previous.get(key, ...) != value}


def _module_sn(serial: str, module: str) -> str:
    """Return a stable serial number for a sub-module of a printer."""
    digest = hashlib.sha256(f"{serial}/{module}".encode()).hexdigest().upper()
    return digest[:15]


def version_modules(printer: Printer) -> list[dict[str, Any]]:
    """Return the `get_version` module list of a printer, as its model reports it."""
    spec = printer.model
    board = "rv1126" if is_x1(spec) else "esp32"

    def module(
        name: str, *, sw_ver: str, hw_ver: str, sn: str, project: str = ""
    ) -> dict[str, Any]:
        """Return one `get_version` module entry."""
        return {
            "name": name,
            "project_name": project,
            "product_name": spec.display_name if name in ("ota", board) else "",
            "sw_ver": sw_ver,
            "hw_ver": hw_ver,
            "sn": sn,
            "loader_ver": "00.00.00.00",
            "flag": 0,
            "visible": name in ("ota", board) or name.startswith("ams"),
        }

    modules = [
        module(
            "ota", sw_ver=spec.firmware, hw_ver="OTA", sn=printer.serial, project=spec.project_name
        ),
        module(
            board,
            sw_ver=spec.firmware,
            hw_ver=spec.hw_ver,
            sn=printer.serial,
            project=spec.project_name,
        ),
        module("mc", sw_ver="00.00.29.32", hw_ver="MC07", sn=_module_sn(printer.serial, "mc")),
        module("th", sw_ver="00.00.07.78", hw_ver="TH07", sn=_module_sn(printer.serial, "th")),
    ]
    if spec.ams:
        units = sorted({tray.ams_id for tray in printer.trays if tray.ams_id is not None})
        modules.extend(
            module(
                f"ams/{unit}",
                sw_ver="00.00.06.49",
                hw_ver="AMS08",
                sn=_module_sn(printer.serial, f"ams/{unit}"),
            )
            for unit in units
        )
    return modules


def version_reply(printer: Printer, *, sequence_id: Any) -> dict[str, Any]:
    """Return the answer to `info.get_version`."""
    return {
        "info": {
            "command": "get_version",
            "sequence_id": sequence_id,
            "module": version_modules(printer),
            "result": "success",
            "reason": "",
        }
    }
