"""The demo's dashboard, made from the entities printfarm created in the running Home Assistant.

Entity ids follow names (`sensor.x1c_01`, `sensor.x1c_01_progress`, `sensor.x1c_01_2` for
the second farm that lists the same printer), so the dashboard is built from the device and
entity registries, keyed by each entity's translation key, rather than from guessed ids. It
uses built-in cards only: a sections view per farm with badges for the counters, the queue,
the filament stock with its low-stock warnings, and a section per printer with its status,
progress, time remaining, temperatures and pause/resume/cancel controls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from annotatedyaml.dumper import add_representer
from homeassistant.util.yaml import dump

from .registry import Registry

HEADER = """\
# The printfarm demo's dashboard (YAML mode, see configuration.yaml).
# Written by devtools/dashboard.py from the entities of the running demo each time
# scripts/develop starts; edit the generator, not this file.
"""

FARM_COUNTERS = (
    ("printers_printing", "Printing"),
    ("printers_idle", "Idle"),
    ("printers_error", "In error"),
    ("printers_offline", "Offline"),
    ("jobs_queued", "Queued"),
    ("jobs_active", "Active"),
    ("jobs_completed_today", "Done today"),
)
SERVICE_ICONS = {"AutoPrintFarm": "mdi:factory", "Printago": "mdi:cloud-print-outline"}
# Shown only while the printer can take them (the buttons are unavailable otherwise).
PRINT_CONTROLS = (
    ("pause", "Pause", "mdi:pause"),
    ("resume", "Resume", "mdi:play"),
    ("cancel", "Cancel", "mdi:stop"),
    ("clear_bed", "Mark bed clear", "mdi:check-bold"),
)
# Whole width of a section's grid; a tile takes half.
COLUMNS = 12


class LiteralStr(str):
    """A string written as a YAML literal block (templates stay readable)."""

    __slots__ = ()


add_representer(
    LiteralStr,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|"),
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "farm"


def _name(device: Mapping[str, Any]) -> str:
    return str(device.get("name_by_user") or device.get("name") or device["id"])


def _tile(entity: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "tile", "entity": entity, "name": name, **extra}


def _label(registry: Registry, entity_id: str) -> str:
    """Return the entity's own name (without its device's), for tables."""
    for entity in registry.entities:
        if entity["entity_id"] == entity_id:
            return str(entity.get("name") or entity.get("original_name") or entity_id)
    return entity_id


def _printer_heading(registry: Registry, device: Mapping[str, Any]) -> dict[str, Any]:
    device_id = str(device["id"])
    heading: dict[str, Any] = {
        "type": "heading",
        "heading": _name(device),
        "icon": "mdi:printer-3d",
    }
    badges = [
        {"type": "entity", "entity": entity, "show_state": True, "show_icon": True}
        for key in ("online", "active_filament")
        if (entity := registry.entity_id(device_id, key))
    ]
    if badges:
        heading["badges"] = badges
    return heading


def _control(
    device: Mapping[str, Any], key: str, button: str, name: str, icon: str
) -> dict[str, Any]:
    """Return a tile that presses a print control button."""
    press: dict[str, Any] = {
        "action": "perform-action",
        "perform_action": "button.press",
        "target": {"entity_id": button},
    }
    if key == "cancel":
        press["confirmation"] = {"text": f"Cancel the print on {_name(device)}?"}
    return _tile(
        button,
        name,
        icon=icon,
        hide_state=True,
        tap_action=press,
        icon_tap_action=press,
        visibility=[{"condition": "state", "entity": button, "state_not": "unavailable"}],
    )


def _printer_section(registry: Registry, device: Mapping[str, Any]) -> dict[str, Any]:
    """Return a printer's section: status, job, progress, time, temperatures, controls."""
    device_id = str(device["id"])
    cards: list[dict[str, Any]] = [_printer_heading(registry, device)]
    if status := _status_entity(registry, device_id):
        cards.append(_tile(status, "Status"))
    if job := registry.entity_id(device_id, "current_job"):
        cards.append(_tile(job, "Job", icon="mdi:file-cad-box"))
    if progress := registry.entity_id(device_id, "progress"):
        cards.append(
            _tile(
                progress,
                "Progress",
                features=[{"type": "bar-gauge", "min": 0, "max": 100}],
                grid_options={"columns": COLUMNS},
            )
        )
    # Three small tiles in a row; a tile is that narrow only when vertical
    third = {"columns": COLUMNS // 3, "rows": 2}
    for key, name, icon in (
        ("time_remaining", "Left", "mdi:timer-sand"),
        ("nozzle_temperature", "Nozzle", None),
        ("bed_temperature", "Bed", None),
    ):
        if entity := registry.entity_id(device_id, key):
            extra = {"icon": icon} if icon else {}
            cards.append(_tile(entity, name, vertical=True, grid_options=third, **extra))
    cards.extend(
        _control(device, key, button, name, icon)
        for key, name, icon in PRINT_CONTROLS
        if (button := registry.entity_id(device_id, key))
    )
    return {"type": "grid", "cards": cards}


def _cell(entity: str | None, template: str) -> str:
    """Return a table cell's template for an entity, or nothing without the entity."""
    return template.format(e=entity) if entity else ""


def _status_entity(registry: Registry, device_id: str) -> str | None:
    """Return the printer's status sensor: the device's main entity (named after it)."""
    return registry.entity_id(device_id, "status") or next(
        (
            str(e["entity_id"])
            for e in registry.entities
            if e["device_id"] == device_id
            and e["entity_id"].startswith("sensor.")
            and e.get("translation_key") in (None, "status")
            and e.get("original_name") is None
        ),
        None,
    )


QUEUE_TABLE = """\
{%- set printers = [ROWS] %}
| Printer | Status | Job | Progress | Left |
| :-- | :-- | :-- | --: | --: |
{% for name, status, job, progress, left in printers -%}
{%- set minutes = states(left) | float(0) | round | int -%}
| **{{ name }}** | {{ states(status) | replace('_', ' ') }} \
| {{ states(job) if has_value(job) else '' }} \
| {{ (states(progress) | float(0) | round | int ~ ' %') if has_value(progress) else '' }} \
| {{ '' if not has_value(left) else '%dh&nbsp;%02dm' % (minutes // 60, minutes % 60) \
if minutes >= 60 else minutes ~ 'm' }} |
{% endfor %}"""


def _queue_section(
    registry: Registry, farm: Mapping[str, Any] | None, printers: list[dict[str, Any]]
) -> dict[str, Any]:
    cards: list[dict[str, Any]] = [{"type": "heading", "heading": "Queue", "icon": "mdi:tray-full"}]
    if farm is not None:
        for key, name in (("jobs_queued", "Queued jobs"), ("jobs_active", "Active jobs")):
            if counter := registry.entity_id(str(farm["id"]), key):
                cards.append(_tile(counter, name))
    rows = []
    for device in printers:
        device_id = str(device["id"])
        entities = [
            _status_entity(registry, device_id),
            *(
                registry.entity_id(device_id, key)
                for key in ("current_job", "progress", "time_remaining")
            ),
        ]
        rows.append(_tuple([_name(device), *(e or "" for e in entities)]))
    content = QUEUE_TABLE.replace("ROWS", "\n  " + ",\n  ".join(rows) + "\n")
    cards.append(
        {"type": "markdown", "content": LiteralStr(content), "grid_options": {"columns": "full"}}
    )
    return {"type": "grid", "column_span": 2, "cards": cards}


def _tuple(values: list[str]) -> str:
    """Return a Jinja tuple literal of strings."""
    return "(" + ", ".join(repr(v) for v in values) + ")"


STOCK_ROWS = 10
STOCK_TABLE = """\
{%- set ns = namespace(rows=[]) -%}
{%- for entity, name, low in [ROWS] -%}
{%- set is_low = low != '' and is_state(low, 'on') -%}
{%- set ns.rows = ns.rows + [(states(entity) | float(0), name, is_low)] -%}
{%- endfor -%}
| Spool | Left | |
| :-- | --: | :-: |
{% for grams, name, low in (ns.rows | sort(attribute='0'))[:LIMIT] -%}
| {{ name }} | {{ grams | round | int }} g | {{ '⚠️ **low**' if low else '' }} |
{% endfor %}
{%- if ns.rows | count > LIMIT %}
*and {{ ns.rows | count - LIMIT }} more spools with more filament left*
{%- endif %}"""


def _stock_section(registry: Registry, farm: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if farm is None:
        return None
    farm_id = str(farm["id"])
    materials: list[tuple[str, str, str]] = []
    for entity in registry.entities:
        if entity["device_id"] != farm_id or entity.get("translation_key") != "material_remaining":
            continue
        remaining = str(entity["entity_id"])
        unique = str(entity["unique_id"]).removesuffix("_material_remaining")
        low = next(
            (
                str(e["entity_id"])
                for e in registry.entities
                if e["device_id"] == farm_id
                and e.get("translation_key") == "material_low_stock"
                and str(e["unique_id"]).removesuffix("_material_low_stock") == unique
            ),
            "",
        )
        label = _label(registry, remaining).removesuffix(" remaining")
        materials.append((remaining, low, label))
    if not materials:
        return None
    # By name, so the file is the same on every run (entities arrive in no fixed order)
    materials.sort(key=lambda material: (material[2], material[0]))
    cards: list[dict[str, Any]] = [
        {"type": "heading", "heading": "Filament stock", "icon": "mdi:printer-3d-nozzle"}
    ]
    # A red tile for every material that runs low, shown only while it does
    for remaining, low, label in materials:
        if low:
            cards.append(
                {
                    "type": "conditional",
                    "conditions": [{"condition": "state", "entity": low, "state": "on"}],
                    "card": _tile(
                        remaining,
                        f"Low stock: {label}",
                        icon="mdi:alert",
                        color="red",
                        grid_options={"columns": COLUMNS},
                    ),
                    "grid_options": {"columns": COLUMNS},
                }
            )
    rows = (
        "\n  "
        + ",\n  ".join(_tuple([remaining, label, low]) for remaining, low, label in materials)
        + "\n"
    )
    content = STOCK_TABLE.replace("ROWS", rows).replace("LIMIT", str(STOCK_ROWS))
    cards.append({"type": "markdown", "content": LiteralStr(content)})
    return {"type": "grid", "cards": cards}


def _farm_view(registry: Registry, entry: Mapping[str, Any]) -> dict[str, Any]:
    entry_id = str(entry["entry_id"])
    farm = registry.farm_device(entry_id)
    printers = registry.printer_devices(entry_id)
    service = str(farm.get("manufacturer") or "") if farm else ""
    title = service or str(entry.get("title") or "Farm")
    badges = []
    if farm is not None:
        for key, name in FARM_COUNTERS:
            if counter := registry.entity_id(str(farm["id"]), key):
                badges.append(
                    {"type": "entity", "entity": counter, "name": name, "show_name": True}
                )
    sections = [_queue_section(registry, farm, printers)]
    if stock := _stock_section(registry, farm):
        sections.append(stock)
    sections.extend(_printer_section(registry, device) for device in printers)
    view: dict[str, Any] = {
        "title": title,
        "path": _slug(title),
        "icon": SERVICE_ICONS.get(service, "mdi:printer-3d"),
        "type": "sections",
        "max_columns": 4,
        "sections": sections,
    }
    if badges:
        view["badges"] = badges
    return view


def _temperature_view(registry: Registry) -> dict[str, Any] | None:
    """Return a view of every printer's temperatures over the last hour.

    Each printer once: the first farm that has its pushed temperatures (both farms of the
    demo list the same printers).
    """
    nozzles: list[str] = []
    beds: list[str] = []
    for entry in registry.entries:
        for device in registry.printer_devices(str(entry["entry_id"])):
            nozzle = registry.entity_id(str(device["id"]), "nozzle_temperature")
            bed = registry.entity_id(str(device["id"]), "bed_temperature")
            if nozzle and bed:
                nozzles.append(nozzle)
                beds.append(bed)
        if nozzles:
            break
    if not nozzles:
        return None
    cards = [
        {"type": "history-graph", "title": title, "hours_to_show": 1, "entities": entities}
        for title, entities in (("Nozzle temperatures", nozzles), ("Bed temperatures", beds))
    ]
    return {
        "title": "Temperatures",
        "path": "temperatures",
        "icon": "mdi:thermometer",
        "type": "sections",
        "max_columns": 2,
        "sections": [{"type": "grid", "cards": [card]} for card in cards],
    }


def build_dashboard(registry: Registry) -> dict[str, Any]:
    """Return the dashboard's configuration: a view per farm, then the temperature history."""
    views = [_farm_view(registry, entry) for entry in registry.entries]
    seen: set[str] = set()
    for view in views:
        # Two farms of the same service get distinct paths
        path = base = view["path"]
        index = 2
        while path in seen:
            path = f"{base}-{index}"
            index += 1
        view["path"] = path
        seen.add(path)
    if temperatures := _temperature_view(registry):
        views.append(temperatures)
    return {"title": "Print farm", "views": views}


def write_dashboard(path: Path, config: Mapping[str, Any]) -> bool:
    """Write the dashboard as YAML when it changed; return whether the file was written.

    Home Assistant reads a YAML-mode dashboard again when its file is newer than its cache.
    """
    text = HEADER + dump(dict(config))
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True
