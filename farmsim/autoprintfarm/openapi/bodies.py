"""JSON schemas of the request bodies the AutoPrintFarm API accepts."""

from __future__ import annotations

from farmsim.autoprintfarm.delivery import EVENT_TYPES
from farmsim.autoprintfarm.formats import MAX_PRICE
from farmsim.autoprintfarm.printers import ACTIONS, BED_TYPES, SETTING_QUANTITIES
from farmsim.autoprintfarm.views import PRIORITIES

from .dsl import BOOL, TEXT, URL, Schema, body, enum, quantity
from .objects import MATERIAL_FIELDS, PROFILE_FIELDS

REQUEST_BODIES: dict[str, Schema] = {
    "JobCreate": body(
        {
            "file_url": URL,
            "name": TEXT,
            "printer_id": TEXT,
            "group": TEXT,
            "priority": enum(PRIORITIES),
            "material": TEXT,
            "color": TEXT,
            "sale_price": quantity(MAX_PRICE),
            "metadata": {"type": "object"},
        },
        required=("file_url",),
    ),
    "JobUpdate": body({"name": TEXT, "priority": enum(PRIORITIES)}),
    "PrinterUpdate": body({"name": TEXT, "group": TEXT, "location": TEXT, "maintenance": BOOL}),
    "SettingsUpdate": body(
        {
            "nozzle_diameter": {"type": "number", "enum": [0.2, 0.4, 0.6, 0.8]},
            "bed_type": enum(BED_TYPES),
            "auto_assign": BOOL,
            **{name: quantity(maximum) for name, maximum in SETTING_QUANTITIES.items()},
        }
    ),
    "ControlRequest": body({"action": enum(ACTIONS), "printer_id": TEXT}, required=("action",)),
    "LightRequest": body({"state": BOOL, "node": TEXT}, required=("state",)),
    "MaterialCreate": body(MATERIAL_FIELDS, required=("type", "color")),
    "MaterialUpdate": body(MATERIAL_FIELDS),
    "ProfileCreate": body(PROFILE_FIELDS, required=("name", "material", "nozzle_temp", "bed_temp")),
    "ProfileUpdate": body(PROFILE_FIELDS),
    "WebhookCreate": body(
        {
            "url": URL,
            "events": {
                "type": "array",
                "minItems": 1,
                "items": enum((*EVENT_TYPES, "*")),
            },
            "secret": {"type": "string", "minLength": 16, "maxLength": 256},
            "description": TEXT,
        },
        required=("url", "events", "secret"),
    ),
}
