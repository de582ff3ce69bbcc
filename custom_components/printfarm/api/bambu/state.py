"""Merging of Bambu Lab reports, and parsing of the merged report into a `PrinterState`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..events import is_error, job_state_status
from ..models import PrinterStatus
from ..parsing import (
    Raw,
    as_float,
    as_int,
    as_list,
    as_mapping,
    deep_merge,
    hex_color,
    nonempty_str,
)
from ..state import AmsUnit, FilamentTray, HealthMessage, PrinterState, Temperature

LOGGER = logging.getLogger(__name__)

# Models with a chamber temperature sensor; the others report a constant placeholder.
CHAMBER_SENSOR_PREFIXES: Final = ("X1", "H2", "P2", "X2")
PRODUCT_MODELS: Final = {"X1 CARBON": "X1C", "A1 MINI": "A1MINI", "H2D PRO": "H2DPRO"}
# (hw_ver, project_name) of the main board when the product name is missing.
BOARD_MODELS: Final = {
    ("AP04", "C11"): "P1P",
    ("AP04", "C12"): "P1S",
    ("AP05", "N2S"): "A1",
    ("AP05", "N1"): "A1MINI",
    ("AP05", ""): "X1C",
}
NO_TRAY: Final = 255
AMS_HT_FIRST_ID: Final = 128
SLOTS_PER_AMS: Final = 4
TRAY_STATE_LEGACY_MAX: Final = 3
TRAY_SPOOL: Final = 0x01
TRAY_STEADY: Final = 0x08
HOME_FLAG_AMS_REMAIN: Final = 0x80
SIGNATURE_REQUIRED: Final = 0x20000000
LOW_16: Final = 0xFFFF


def is_full_report(body: Raw) -> bool:
    """Return whether a `push_status` body is a full report (`msg` 0 or missing)."""
    return bool(body.get("msg", 0) == 0)


def merge_report(raw: Raw, message: Any) -> Raw:
    """Return the stored raw state with a report message merged in (or `raw` itself).

    The stored state holds the merged `print` object and the last `info` version reply. A
    full report replaces the `print` object, a delta is merged into it; command
    acknowledgements and anything unknown leave the state as it is.
    """
    if not isinstance(message, Mapping):
        LOGGER.debug("Ignoring a report that is not a JSON object: %r", message)
        return raw
    result = raw
    body = message.get("print")
    if isinstance(body, Mapping) and body.get("command", "push_status") == "push_status":
        stored = raw.get("print")
        if is_full_report(body) or not isinstance(stored, Mapping):
            merged: Raw = dict(body)
        else:
            merged = deep_merge(stored, body)
        result = {**result, "print": merged}
    info = message.get("info")
    if (
        isinstance(info, Mapping)
        and info.get("command") == "get_version"
        and isinstance(info.get("module"), list)
    ):
        result = {**result, "info": info}
    return result


def error_code(print_error: int) -> str | None:
    """Return a print error as Bambu writes it, e.g. 50348044 -> "0300_400C"."""
    if print_error == 0:
        return None
    return f"{print_error >> 16 & LOW_16:04X}_{print_error & LOW_16:04X}"


def hms_code(attr: int, code: int) -> str:
    """Return an HMS message code as Bambu writes it, e.g. "0300_0100_0001_0007"."""
    parts = (attr >> 16 & LOW_16, attr & LOW_16, code >> 16 & LOW_16, code & LOW_16)
    return "_".join(f"{part:04X}" for part in parts)


def parse_health(value: Any) -> tuple[HealthMessage, ...]:
    """Return the HMS list as health messages; malformed entries are skipped."""
    messages: list[HealthMessage] = []
    for entry in as_list(value):
        entry_map = as_mapping(entry)
        attr, code = as_int(entry_map.get("attr")), as_int(entry_map.get("code"))
        if attr is None or code is None or attr < 0 or code < 0:
            continue
        messages.append(
            HealthMessage(code=hms_code(attr, code), severity=code >> 16, attr=attr, raw_code=code)
        )
    return tuple(messages)


def parse_model(info: Raw) -> str | None:
    """Return the model code (X1C, P1S, A1MINI, ...) from a `get_version` reply."""
    modules = [as_mapping(module) for module in as_list(info.get("module"))]
    for module in modules:
        if product := nonempty_str(module.get("product_name")):
            name = product.removeprefix("Bambu Lab").strip().upper()
            return PRODUCT_MODELS.get(name, name.replace(" ", ""))
    for module in modules:
        hw_ver = nonempty_str(module.get("hw_ver")) or ""
        if not hw_ver.startswith("AP0"):
            continue
        if hw_ver == "AP02":
            return "X1E"
        project = module.get("project_name")
        return BOARD_MODELS.get((hw_ver, project if isinstance(project, str) else ""))
    return None


def parse_firmware(info: Raw) -> str | None:
    """Return the firmware version (the `ota` module) from a `get_version` reply."""
    for module in as_list(info.get("module")):
        module_map = as_mapping(module)
        if module_map.get("name") == "ota":
            return nonempty_str(module_map.get("sw_ver"))
    return None


def has_chamber_sensor(model: str | None) -> bool:
    """Return whether a model has a chamber temperature sensor."""
    return model is not None and model.startswith(CHAMBER_SENSOR_PREFIXES)


def _packed(value: Any) -> Temperature | None:
    """Return a temperature packed as current (low 16 bits) and target (high 16 bits)."""
    if (number := as_int(value)) is None or number < 0:
        return None
    return Temperature(current=float(number & LOW_16), target=float(number >> 16 & LOW_16))


def _nozzle(report: Raw) -> Temperature:
    """Return the nozzle temperature: the active extruder's on newer firmware."""
    extruder = as_mapping(as_mapping(report.get("device")).get("extruder"))
    if (state := as_int(extruder.get("state"))) is not None:
        active = state >> 4 & 0xF
        for entry in as_list(extruder.get("info")):
            entry_map = as_mapping(entry)
            if as_int(entry_map.get("id")) == active and (packed := _packed(entry_map.get("temp"))):
                return packed
    return Temperature(
        current=as_float(report.get("nozzle_temper")),
        target=as_float(report.get("nozzle_target_temper")),
    )


def _bed(report: Raw) -> Temperature:
    """Return the bed temperature; the packed `device.bed` value wins when present."""
    device_bed = as_mapping(as_mapping(as_mapping(report.get("device")).get("bed")).get("info"))
    if packed := _packed(device_bed.get("temp")):
        return packed
    return Temperature(
        current=as_float(report.get("bed_temper")), target=as_float(report.get("bed_target_temper"))
    )


def _chamber(report: Raw, model: str | None) -> Temperature | None:
    """Return the chamber temperature if the printer has a sensor."""
    device_ctc = as_mapping(as_mapping(as_mapping(report.get("device")).get("ctc")).get("info"))
    if packed := _packed(device_ctc.get("temp")):
        return packed
    if not has_chamber_sensor(model):
        return None
    current = as_float(report.get("chamber_temper"))
    target = as_float(report.get("chamber_target_temper"))
    return Temperature(current=current, target=target)


def _wifi(value: Any) -> int | None:
    """Return the Wi-Fi signal in dBm from "-58dBm"."""
    if isinstance(value, str):
        return as_int(value.strip().removesuffix("dBm"))
    return as_int(value)


def _lights(value: Any) -> dict[str, bool]:
    """Return the lights from `lights_report` as node -> on."""
    lights: dict[str, bool] = {}
    for entry in as_list(value):
        entry_map = as_mapping(entry)
        node, mode = entry_map.get("node"), entry_map.get("mode")
        if isinstance(node, str) and isinstance(mode, str):
            lights[node] = mode != "off"
    return lights


def tray_loaded(tray: Raw) -> bool:
    """Return whether a tray holds a spool (`state` bits, or a filament type on old firmware)."""
    if (state := as_int(tray.get("state"))) is None:
        return nonempty_str(tray.get("tray_type")) is not None
    if state <= TRAY_STATE_LEGACY_MAX:
        return state == TRAY_STATE_LEGACY_MAX
    return bool(state & TRAY_SPOOL and state & TRAY_STEADY)


def _tray(tray: Raw, tray_id: str, *, remain_enabled: bool) -> FilamentTray:
    """Return one tray."""
    if not tray_loaded(tray):
        return FilamentTray(tray_id=tray_id, loaded=False)
    remain = as_int(tray.get("remain"))
    if remain is not None and (remain < 0 or not remain_enabled):
        remain = None
    return FilamentTray(
        tray_id=tray_id,
        loaded=True,
        type=nonempty_str(tray.get("tray_type")),
        color=hex_color(tray.get("tray_color")),
        remaining_percent=None if remain is None else min(remain, 100),
    )


def _absolute_tray_id(unit_id: int, slot: int) -> int:
    """Return Bambu's absolute tray id of an AMS slot (ams*4+slot; AMS HT from 128)."""
    if unit_id >= AMS_HT_FIRST_ID:
        return unit_id + slot
    return unit_id * SLOTS_PER_AMS + slot


def parse_trays(report: Raw) -> tuple[FilamentTray, ...]:
    """Return the AMS trays and the external spool(s)."""
    home_flag = as_int(report.get("home_flag"))
    remain_enabled = home_flag is None or bool(home_flag & HOME_FLAG_AMS_REMAIN)
    trays: dict[int, FilamentTray] = {}
    for unit in as_list(as_mapping(report.get("ams")).get("ams")):
        unit_map = as_mapping(unit)
        if (unit_id := as_int(unit_map.get("id"))) is None or unit_id < 0:
            continue
        for tray in as_list(unit_map.get("tray")):
            tray_map = as_mapping(tray)
            if (slot := as_int(tray_map.get("id"))) is None or slot < 0:
                continue
            absolute = _absolute_tray_id(unit_id, slot)
            trays[absolute] = _tray(tray_map, str(absolute), remain_enabled=remain_enabled)
    external = [as_mapping(spool) for spool in as_list(report.get("vir_slot"))]
    if not external and isinstance(vt_tray := report.get("vt_tray"), Mapping):
        external = [{"id": "254", **vt_tray}]
    for spool in external:
        if (tray_id := as_int(spool.get("id"))) is not None:
            trays[tray_id] = _tray(spool, str(tray_id), remain_enabled=remain_enabled)
    return tuple(trays[key] for key in sorted(trays))


def parse_ams(report: Raw) -> tuple[AmsUnit, ...]:
    """Return the AMS units with their humidity, temperature and drying time."""
    units: list[AmsUnit] = []
    for unit in as_list(as_mapping(report.get("ams")).get("ams")):
        unit_map = as_mapping(unit)
        if (unit_id := as_int(unit_map.get("id"))) is None or unit_id < 0:
            continue
        index = as_int(unit_map.get("humidity"))
        raw = as_int(unit_map.get("humidity_raw"))
        drying = as_int(unit_map.get("dry_time"))
        units.append(
            AmsUnit(
                unit_id=str(unit_id),
                humidity_index=index if index is not None and 1 <= index <= 5 else None,  # noqa: PLR2004
                humidity=raw if raw is not None and 0 <= raw <= 100 else None,  # noqa: PLR2004
                temperature=as_float(unit_map.get("temp")),
                drying_minutes=drying or None,
            )
        )
    return tuple(units)


def _active_tray(report: Raw) -> str | None:
    """Return the absolute id of the tray feeding the nozzle (`tray_now`), if any."""
    tray_now = as_int(as_mapping(report.get("ams")).get("tray_now"))
    if tray_now is None or tray_now == NO_TRAY or tray_now < 0:
        return None
    return str(tray_now)


def signature_required(raw: Raw) -> bool:
    """Return whether the printer only takes signed commands (`fun` bit 29: no developer mode)."""
    fun = as_mapping(raw.get("print")).get("fun")
    if not isinstance(fun, str):
        return False
    try:
        return bool(int(fun, 16) & SIGNATURE_REQUIRED)
    except ValueError:
        return False


def _status(gcode_state: str | None, *, error: bool, online: bool) -> PrinterStatus:
    """Return the normalized status of a printer."""
    if not online:
        return PrinterStatus.OFFLINE
    if error:
        return PrinterStatus.ERROR
    return job_state_status(gcode_state)


@dataclass(frozen=True, slots=True)
class _Sources:
    """What state fields are read from: the merged `print` object and the version reply."""

    report: Raw
    info: Raw
    online: bool


@dataclass(frozen=True, slots=True)
class _Field:
    """How one state field is derived, and what it reads: `print` keys, the version reply."""

    derive: Callable[[_Sources], Any]
    keys: frozenset[str] = frozenset()
    info: bool = False


def _read(key: str, convert: Callable[[Any], Any]) -> _Field:
    """Return a field converted from one `print` key."""
    return _Field(derive=lambda sources: convert(sources.report.get(key)), keys=frozenset({key}))


def _print_error(value: Any) -> int:
    """Return `print_error`, 0 when there is none."""
    return as_int(value) or 0


def _error_code(value: Any) -> str | None:
    """Return the error code of a `print_error` value."""
    return error_code(_print_error(value))


def _remaining_seconds(value: Any) -> int | None:
    """Return the remaining time in seconds from `mc_remaining_time` in minutes."""
    remaining = as_int(value)
    return None if remaining is None else max(remaining, 0) * 60


def _status_of(sources: _Sources) -> PrinterStatus:
    """Return the status from the job state, the errors and the connection."""
    report = sources.report
    error = is_error(_print_error(report.get("print_error")), parse_health(report.get("hms")))
    return _status(nonempty_str(report.get("gcode_state")), error=error, online=sources.online)


# Every field of `PrinterState` but `online` and `raw`, with the report keys it reads: a
# delta re-derives only the fields whose keys it changed.
_FIELDS: Final[Mapping[str, _Field]] = {
    "status": _Field(derive=_status_of, keys=frozenset({"gcode_state", "print_error", "hms"})),
    "gcode_state": _read("gcode_state", nonempty_str),
    "stage": _read("stg_cur", as_int),
    "progress": _read("mc_percent", as_int),
    "remaining_seconds": _read("mc_remaining_time", _remaining_seconds),
    "layer": _read("layer_num", as_int),
    "total_layers": _read("total_layer_num", as_int),
    "job_name": _read("subtask_name", nonempty_str),
    "file": _read("gcode_file", nonempty_str),
    "nozzle": _Field(
        derive=lambda sources: _nozzle(sources.report),
        keys=frozenset({"device", "nozzle_temper", "nozzle_target_temper"}),
    ),
    "bed": _Field(
        derive=lambda sources: _bed(sources.report),
        keys=frozenset({"device", "bed_temper", "bed_target_temper"}),
    ),
    "chamber": _Field(
        derive=lambda sources: _chamber(sources.report, parse_model(sources.info)),
        keys=frozenset({"device", "chamber_temper", "chamber_target_temper"}),
        info=True,
    ),
    "speed_level": _read("spd_lvl", as_int),
    "lights": _read("lights_report", _lights),
    "wifi_signal": _read("wifi_signal", _wifi),
    "print_error": _read("print_error", _print_error),
    "error_code": _read("print_error", _error_code),
    "health": _read("hms", parse_health),
    "active_tray": _Field(
        derive=lambda sources: _active_tray(sources.report), keys=frozenset({"ams"})
    ),
    "trays": _Field(
        derive=lambda sources: parse_trays(sources.report),
        keys=frozenset({"ams", "vir_slot", "vt_tray", "home_flag"}),
    ),
    "ams": _Field(derive=lambda sources: parse_ams(sources.report), keys=frozenset({"ams"})),
    "model": _Field(derive=lambda sources: parse_model(sources.info), info=True),
    "firmware": _Field(derive=lambda sources: parse_firmware(sources.info), info=True),
}
# The fields that read each `print` key, and those that read the version reply.
_READERS: Final = {
    key: frozenset(name for name, field in _FIELDS.items() if key in field.keys)
    for key in frozenset().union(*(field.keys for field in _FIELDS.values()))
}
_INFO_READERS: Final = frozenset(name for name, field in _FIELDS.items() if field.info)


def _sources(raw: Raw, *, online: bool) -> _Sources:
    """Return what the fields of a merged raw report are read from."""
    return _Sources(
        report=as_mapping(raw.get("print")), info=as_mapping(raw.get("info")), online=online
    )


def parse_state(raw: Raw, *, online: bool) -> PrinterState:
    """Return the printer state described by a merged raw report."""
    sources = _sources(raw, online=online)
    values = {name: field.derive(sources) for name, field in _FIELDS.items()}
    return PrinterState(online=online, raw=raw, **values)


def next_state(
    old: PrinterState | None, raw: Raw, *, online: bool
) -> tuple[PrinterState, frozenset[str]]:
    """Return the state of a merged raw report that follows `old`, and the fields that changed.

    Only the fields reading a part of the report that differs from `old.raw` are derived
    again, so a delta with the progress and a temperature costs two fields, not a full
    parse. A first state, or one whose connection changed, is parsed in full.
    """
    if old is None or old.online != online:
        new = parse_state(raw, online=online)
        return new, new.changed_fields(old)
    sources = _sources(raw, online=online)
    changes: dict[str, Any] = {}
    for name in _stale_fields(old.raw, raw):
        value = _FIELDS[name].derive(sources)
        if value != getattr(old, name):
            changes[name] = value
    return _evolve(old, raw=raw, changes=changes), frozenset(changes)


def _evolve(old: PrinterState, *, raw: Raw, changes: Mapping[str, Any]) -> PrinterState:
    """Return `old` with another raw report and some fields changed.

    `dataclasses.replace` would run `__init__` with all two dozen fields, several times the
    cost of the whole update on a delta; the fields are copied instead (`PrinterState` has
    no `__post_init__` to run).
    """
    new = object.__new__(PrinterState)
    values = new.__dict__
    values.update(old.__dict__)
    values.update(changes)
    values["raw"] = raw
    return new


def _stale_fields(old: Raw, new: Raw) -> set[str]:
    """Return the fields reading a part of the report that differs between two raw reports.

    Merging keeps unchanged values as they were, so most keys are told apart by identity.
    """
    names: set[str] = set()
    if _differs(old.get("info"), new.get("info")):
        names.update(_INFO_READERS)
    old_report, new_report = as_mapping(old.get("print")), as_mapping(new.get("print"))
    if old_report is not new_report:
        old_get, new_get = old_report.get, new_report.get
        for key, readers in _READERS.items():
            # `_differs`, inlined: this runs for every key of every report
            if (before := old_get(key)) is not (after := new_get(key)) and (
                before != after or type(before) is not type(after)
            ):
                names.update(readers)
    return names


def _differs(old: Any, new: Any) -> bool:
    """Return whether two report values differ (merging keeps unchanged values as they were).

    Values of different types differ even when Python calls them equal: JSON's `false` is
    no `0`, and `1.0` may read otherwise than `1`.
    """
    return old is not new and (bool(old != new) or type(old) is not type(new))
