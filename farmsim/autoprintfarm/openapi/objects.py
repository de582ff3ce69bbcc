"""JSON schemas of the objects the AutoPrintFarm API returns."""

from __future__ import annotations

from farmsim.autoprintfarm.delivery import EVENT_TYPES, TEST_EVENT
from farmsim.autoprintfarm.formats import MAX_PRICE
from farmsim.autoprintfarm.materials import QUANTITIES
from farmsim.autoprintfarm.printers import ACTIONS
from farmsim.autoprintfarm.views import (
    JOB_STATUSES,
    MATERIAL_STATUSES,
    PRINTER_STATUSES,
    PRIORITIES,
)

from .dsl import (
    BOOL,
    HEX,
    INT,
    NUM,
    STR,
    TEXT,
    TIME,
    Schema,
    array,
    counts,
    enum,
    nullable,
    obj,
    quantity,
    ref,
)

ERROR_INFO = obj({"code": STR, "message": STR})
USAGE = {
    "total_grams": NUM,
    "total_cost": NUM,
    "by_type": array(obj({"type": STR, "grams": NUM, "cost": NUM, "jobs": INT})),
    "by_material": array(
        obj(
            {
                "material_id": nullable(STR),
                "type": STR,
                "color": nullable(STR),
                "grams": NUM,
                "cost": NUM,
                "jobs": INT,
            }
        )
    ),
}
WINDOW = {"period": STR, "from": nullable(TIME), "to": TIME}
FARM_TOTALS = {
    "filament_cost": NUM,
    "energy_cost": NUM,
    "revenue": NUM,
    "profit": NUM,
    "purchase_price": NUM,
}
MATERIAL_FIELDS: dict[str, Schema] = {
    "type": TEXT,
    "color": TEXT,
    "hex_code": HEX,
    "brand": TEXT,
    "diameter": {"type": "number", "enum": [1.75, 2.85]},
    **{name: quantity(maximum) for name, maximum in QUANTITIES.items()},
    "location": TEXT,
}
PROFILE_FIELDS: dict[str, Schema] = {
    "name": TEXT,
    "material": TEXT,
    "nozzle_temp": {"type": "number", "minimum": 150, "maximum": 350},
    "bed_temp": {"type": "number", "minimum": 0, "maximum": 120},
    "density": {"type": "number", "exclusiveMinimum": 0},
    "cost_per_kg": quantity(MAX_PRICE),
}

SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {
            "success": {"const": False},
            "error": obj({"code": STR, "message": STR, "details": STR}),
        }
    ),
    "Pagination": obj({"page": INT, "per_page": INT, "total": INT, "total_pages": INT}),
    "ErrorInfo": ERROR_INFO,
    "FilamentSlot": obj(
        {
            "tray_id": INT,
            "material_id": nullable(STR),
            "type": nullable(STR),
            "color": nullable(STR),
            "hex_code": nullable(STR),
            "remaining_grams": nullable(NUM),
            "active": BOOL,
        }
    ),
    "Printer": obj(
        {
            "id": STR,
            "name": STR,
            "status": enum(PRINTER_STATUSES),
            "current_job": nullable(STR),
            "model": STR,
            "model_code": STR,
            "manufacturer": STR,
            "serial_number": STR,
            "firmware_version": STR,
            "group": STR,
            "tags": array(STR),
            "location": STR,
            "nozzle_size": nullable(NUM),
            "has_ams": BOOL,
            "online": BOOL,
            "maintenance": BOOL,
            "bed_clear_required": BOOL,
            "progress": NUM,
            "remaining_time": INT,
            "current_layer": INT,
            "total_layers": INT,
            "temperatures": obj(
                {
                    "nozzle": NUM,
                    "nozzle_target": NUM,
                    "bed": NUM,
                    "bed_target": NUM,
                    "chamber": nullable(NUM),
                }
            ),
            "filament": array(ref("FilamentSlot")),
            "lights": {"type": "object", "additionalProperties": BOOL},
            "error": nullable(ref("ErrorInfo")),
            "created_at": TIME,
            "updated_at": TIME,
        }
    ),
    "PrinterSettings": {
        "type": "object",
        "properties": {
            "nozzle_diameter": NUM,
            "bed_type": STR,
            "auto_assign": BOOL,
            "purchase_price": NUM,
            "power_watts": NUM,
        },
        "required": ["auto_assign"],
    },
    "PrinterGroup": obj(
        {
            "name": STR,
            "printer_count": INT,
            "printer_ids": array(STR),
            "statuses": {"type": "object", "additionalProperties": INT},
        }
    ),
    "ControlResult": obj(
        {
            "printer_id": STR,
            "action": enum(ACTIONS),
            "status": enum(PRINTER_STATUSES),
            "command_id": STR,
            "job_id": nullable(STR),
            "printer": ref("Printer"),
        }
    ),
    "Job": obj(
        {
            "id": STR,
            "name": STR,
            "status": enum(JOB_STATUSES),
            "file_url": STR,
            "printer_id": nullable(STR),
            "group": nullable(STR),
            "priority": enum(PRIORITIES),
            "progress": NUM,
            "queue_position": nullable(INT),
            "estimated_duration": INT,
            "remaining_time": INT,
            "material": nullable(STR),
            "color": nullable(STR),
            "material_id": nullable(STR),
            "filament_grams": NUM,
            "consumed_grams": NUM,
            "source": STR,
            "sale_price": nullable(NUM),
            "metadata": {"type": "object"},
            "error": nullable(ref("ErrorInfo")),
            "created_at": TIME,
            "started_at": nullable(TIME),
            "completed_at": nullable(TIME),
            "updated_at": TIME,
        }
    ),
    "JobProgress": obj(
        {
            "job_id": STR,
            "status": enum(JOB_STATUSES),
            "progress": NUM,
            "current_layer": INT,
            "total_layers": INT,
            "remaining_time": INT,
            "printer_id": nullable(STR),
        }
    ),
    "Material": obj(
        {
            "id": STR,
            "type": STR,
            "color": STR,
            "hex_code": HEX,
            "brand": STR,
            "diameter": NUM,
            "remaining_grams": NUM,
            "capacity_grams": NUM,
            "remaining_percent": INT,
            "low_threshold": NUM,
            "low_stock": BOOL,
            "status": enum(MATERIAL_STATUSES),
            "location": STR,
            "printer_id": nullable(STR),
            "tray_id": nullable(INT),
            "consumed_grams": NUM,
            "cost_per_kg": NUM,
            "created_at": TIME,
            "updated_at": TIME,
        }
    ),
    "MaterialAlert": obj(
        {
            "material_id": STR,
            "type": STR,
            "color": STR,
            "hex_code": STR,
            "remaining_grams": NUM,
            "low_threshold": NUM,
            "status": enum(MATERIAL_STATUSES),
            "severity": enum(("warning", "critical")),
            "location": STR,
            "printer_id": nullable(STR),
            "message": STR,
        }
    ),
    "MaterialConsumption": obj({**WINDOW, **USAGE}),
    "MaterialProfile": obj(
        {
            "id": STR,
            **PROFILE_FIELDS,
            "name": STR,
            "material": STR,
            "density": NUM,
            "created_at": TIME,
            "updated_at": TIME,
        }
    ),
    "Deleted": obj({"id": STR, "deleted": BOOL}),
    "PrinterPerformance": obj(
        {
            "printer_id": STR,
            "name": STR,
            "jobs_completed": INT,
            "jobs_failed": INT,
            "jobs_cancelled": INT,
            "success_rate": nullable(NUM),
            "print_hours": NUM,
            "utilization": NUM,
            "filament_grams": NUM,
        }
    ),
    "Performance": obj(
        {
            **WINDOW,
            "farm": obj(
                {
                    "printers": INT,
                    "jobs_completed": INT,
                    "jobs_failed": INT,
                    "jobs_cancelled": INT,
                    "success_rate": nullable(NUM),
                    "print_hours": NUM,
                    "utilization": NUM,
                }
            ),
            "printers": array(ref("PrinterPerformance")),
        }
    ),
    "Report": obj(
        {
            **WINDOW,
            "generated_at": TIME,
            "jobs": obj(
                {
                    "created": INT,
                    "completed": INT,
                    "failed": INT,
                    "cancelled": INT,
                    "success_rate": nullable(NUM),
                }
            ),
            "print_hours": NUM,
            "utilization": NUM,
            "filament": obj(USAGE),
            "costs": obj(
                {
                    "currency": STR,
                    "filament_cost": NUM,
                    "energy_cost": NUM,
                    "total_cost": NUM,
                    "revenue": NUM,
                }
            ),
            "printers": array(ref("PrinterPerformance")),
        }
    ),
    "Costs": obj(
        {
            **WINDOW,
            "currency": STR,
            "energy_price_per_kwh": NUM,
            **FARM_TOTALS,
            "total_cost": NUM,
            "roi_percent": nullable(NUM),
            "printers": array(
                obj(
                    {
                        "printer_id": STR,
                        "name": STR,
                        "print_hours": NUM,
                        **FARM_TOTALS,
                        "roi_percent": nullable(NUM),
                    }
                )
            ),
        }
    ),
    "Summary": obj(
        {
            "printers": obj({"total": INT, "online": INT, "by_status": counts(PRINTER_STATUSES)}),
            "jobs": counts(("queued", "active", "completed_today", "failed_today")),
            "materials": counts(("total", "low_stock")),
            "generated_at": TIME,
        }
    ),
    "ExportRow": {"type": "object", "additionalProperties": {"type": ["string", "number", "null"]}},
    "WebhookDelivery": obj(
        {
            "id": STR,
            "event_id": STR,
            "event_type": STR,
            "attempt": INT,
            "status_code": nullable(INT),
            "success": BOOL,
            "error": nullable(STR),
            "duration_ms": INT,
            "attempted_at": TIME,
        }
    ),
    "ApiKey": obj(
        {
            "id": STR,
            "prefix": STR,
            "last4": STR,
            "scopes": array(STR),
            "tier": enum(("free", "pro")),
            "rate_limit": INT,
            "account": obj({"id": STR, "name": STR}),
        }
    ),
    "Webhook": obj(
        {
            "id": STR,
            "url": STR,
            "events": array(STR),
            "description": nullable(STR),
            "secret_last4": STR,
            "last_delivery": nullable(ref("WebhookDelivery")),
            "created_at": TIME,
        }
    ),
    "WebhookTest": obj({"webhook_id": STR, "event_id": STR, "type": {"const": TEST_EVENT}}),
    "Event": obj(
        {
            "id": STR,
            "type": enum((*EVENT_TYPES, TEST_EVENT)),
            "created_at": TIME,
            "data": obj(
                {
                    "job": nullable(ref("Job")),
                    "printer": nullable(ref("Printer")),
                    "material": nullable(ref("Material")),
                    "details": {"type": "object"},
                }
            ),
        }
    ),
}
