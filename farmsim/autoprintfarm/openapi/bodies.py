"""JSON schemas of the request bodies the AutoPrintFarm API accepts."""

from __future__ import annotations

from farmsim.autoprintfarm.delivery import EVENT_TYPES
from farmsim.autoprintfarm.printers import ACTIONS, BED_TYPES
from farmsim.autoprintfarm.views import PRIORITIES

from .dsl import BOOL, STR, Schema, body, enum
from .objects import MATERIAL_FIELDS, PROFILE_FIELDS

REQUEST_BODIES: dict[str, Schema] = {
    "JobCreate": body(
        {
            "file_url": {"type": "string", "format": "uri"},
            "name": STR,
            "printer_id": STR,
            "group": STR,
            "priority": enum(PRIORITIES),
            "material": STR,
            "color": STR,
            "sale_price": {"type": "number", "minimum": 0},
            "metadata": {"type": "object"},
        },
        required=("file_url",),
    ),
    "JobUpdate": body({"name": STR, "priority": enum(PRIORITIES)}),
    "PrinterUpdate": body({"name": STR, "group": STR, "location": STR, "maintenance": BOOL}),
    "SettingsUpdate": body(
        {
            "nozzle_diameter": {"type": "number", "enum": [0.2, 0.4, 0.6, 0.8]},
            "bed_type": enum(BED_TYPES),
            "auto_assign": BOOL,
            "purchase_price": {"type": "number", "minimum": 0},
            "power_watts": {"type": "number", "minimum": 0},
        }
    ),
    "ControlRequest": body({"action": enum(ACTIONS), "printer_id": STR}, required=("action",)),
    "LightRequest": body({"state": BOOL, "node": STR}, required=("state",)),
    "MaterialCreate": body(MATERIAL_FIELDS, required=("type", "color")),
    "MaterialUpdate": body(MATERIAL_FIELDS),
    "ProfileCreate": body(PROFILE_FIELDS, required=("name", "material", "nozzle_temp", "bed_temp")),
    "ProfileUpdate": body(PROFILE_FIELDS),
    "WebhookCreate": body(
        {
            "url": {"type": "string", "format": "uri"},
            "events": {
                "type": "array",
                "minItems": 1,
                "items": enum((*EVENT_TYPES, "*")),
            },
            "secret": {"type": "string", "minLength": 16, "maxLength": 256},
            "description": STR,
        },
        required=("url", "events", "secret"),
    ),
}
