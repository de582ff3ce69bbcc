"""AMS units, trays and the external spool as Bambu printers report them."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from farmsim.models import Printer, Spool, Tray
    from farmsim.world import World

BAMBU_BRAND: Final = "Bambu Lab"
EXTERNAL_TRAY_ID: Final = 254
NO_TRAY: Final = 255
TRAY_LOADED: Final = 11
TRAY_EMPTY: Final = 8
AMS_VERSION: Final = 7

# Material: Bambu preset id, generic preset id, nozzle min/max, Bambu sub-brand.
FILAMENTS: Final[dict[str, tuple[str, str, int, int, str]]] = {
    "PLA": ("GFA00", "GFL99", 190, 230, "PLA Basic"),
    "PETG": ("GFG00", "GFG99", 220, 260, "PETG Basic"),
    "ABS": ("GFB00", "GFB99", 240, 270, "ABS"),
    "ASA": ("GFB01", "GFB98", 240, 270, "ASA"),
    "TPU": ("GFU01", "GFU99", 200, 250, "TPU 95A"),
    "PC": ("GFC00", "GFC99", 260, 280, "PC"),
}
_UNKNOWN_FILAMENT: Final = ("", "", 190, 250, "")


def rgba(color_hex: str) -> str:
    """Return a colour as Bambu's RRGGBBAA from "#RRGGBB" (or RRGGBBAA)."""
    value = color_hex.lstrip("#").upper()
    return value if len(value) == 8 else f"{value[:6]:0<6}FF"  # noqa: PLR2004


def tray_entry(world: World, spool: Spool | None, tray_id: str) -> dict[str, Any]:
    """Return one tray object: loaded with the spool's filament, or empty."""
    if spool is None:
        return {"id": tray_id, "state": TRAY_EMPTY}
    bambu_idx, generic_idx, nozzle_min, nozzle_max, sub_brand = FILAMENTS.get(
        spool.material, _UNKNOWN_FILAMENT
    )
    bambu = spool.brand == BAMBU_BRAND
    profile = world.profile_for(spool.material)
    color = rgba(spool.color_hex)
    return {
        "id": tray_id,
        "state": TRAY_LOADED,
        "tray_id_name": "",
        "tray_info_idx": bambu_idx if bambu else generic_idx,
        "tray_type": spool.material,
        "tray_sub_brands": sub_brand if bambu else "",
        "tray_color": color,
        "cols": [color],
        "ctype": 0,
        "tray_weight": str(round(spool.capacity_grams)),
        "tray_diameter": f"{spool.diameter:.2f}",
        "tray_temp": "55",
        "tray_time": "8",
        "bed_temp_type": "1",
        "bed_temp": str(round(profile.bed_temp)) if profile else "0",
        "nozzle_temp_max": str(nozzle_max),
        "nozzle_temp_min": str(nozzle_min),
        "xcam_info": "000000000000000000000000",
        "tray_uuid": "0" * 32,
        "tag_uid": "0" * 16,
        "remain": spool.remain_percent,
        "k": 0.02,
        "n": 1,
        "cali_idx": -1,
        "total_len": 330000,
    }


def empty_external_tray() -> dict[str, Any]:
    """Return the external spool holder of a printer that feeds from its AMS."""
    return {
        "id": str(EXTERNAL_TRAY_ID),
        "tray_type": "",
        "tray_sub_brands": "",
        "tray_color": "00000000",
        "cols": [],
        "tray_info_idx": "",
        "tray_weight": "0",
        "nozzle_temp_min": "0",
        "nozzle_temp_max": "0",
        "remain": 0,
    }


def _climate(serial: str) -> tuple[str, str, str]:
    """Return a stable humidity index ("1" wet .. "5" dry), raw percent and temperature."""
    digest = hashlib.sha256(serial.encode()).digest()
    raw = 15 + digest[0] % 30
    index = 5 - min(raw // 20, 4)
    return str(index), str(raw), f"{22 + digest[1] % 60 / 10:.1f}"


def _bits(trays: list[Tray], predicate: Any) -> str:
    """Return a hex bit mask of the trays (by absolute tray id) matching a predicate."""
    mask = 0
    for tray in trays:
        if predicate(tray):
            mask |= 1 << tray.tray_id
    return format(mask, "x")


def ams_report(world: World, printer: Printer) -> dict[str, Any]:
    """Return the `ams` object: units with their trays and the unit-level fields."""
    ams_trays = [tray for tray in printer.trays if tray.ams_id is not None]
    units: dict[int, list[Tray]] = {}
    for tray in ams_trays:
        units.setdefault(tray.ams_id or 0, []).append(tray)
    humidity, humidity_raw, temp = _climate(printer.serial)
    loaded = {tray.tray_id for tray in printer.trays if world.tray_spool(tray) is not None}
    active = printer.active_tray if printer.active_tray in loaded else None
    tray_now = str(NO_TRAY if active is None else active)

    def is_bambu(tray: Tray) -> bool:
        """Return whether the tray holds a Bambu Lab spool."""
        spool = world.tray_spool(tray)
        return spool is not None and spool.brand == BAMBU_BRAND

    return {
        "ams": [
            {
                "id": str(unit),
                "humidity": humidity,
                "humidity_raw": humidity_raw,
                "temp": temp,
                "info": "1001",
                "tray": [
                    tray_entry(world, world.tray_spool(tray), str(tray.slot))
                    for tray in sorted(trays, key=lambda t: t.slot)
                ],
            }
            for unit, trays in sorted(units.items())
        ],
        "ams_exist_bits": format((1 << len(units)) - 1, "x"),
        "tray_exist_bits": _bits(ams_trays, lambda t: t.tray_id in loaded),
        "tray_is_bbl_bits": _bits(ams_trays, is_bambu),
        "tray_read_done_bits": _bits(ams_trays, lambda t: t.tray_id in loaded),
        "tray_reading_bits": "0",
        "tray_now": tray_now,
        "tray_pre": tray_now,
        "tray_tar": tray_now,
        "version": AMS_VERSION,
        "insert_flag": bool(units),
        "power_on_flag": False,
    }


def external_tray(world: World, printer: Printer) -> dict[str, Any]:
    """Return `vt_tray`: the external spool of a printer without AMS, else an empty holder."""
    for tray in printer.trays:
        if tray.ams_id is None:
            return tray_entry(world, world.tray_spool(tray), str(EXTERNAL_TRAY_ID))
    return empty_external_tray()
