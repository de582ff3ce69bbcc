"""World objects as Printago entities: printers, slots, print jobs and stores."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from farmsim.models import Job, JobStatus, Phase, Printer, Spool, Tray

from .common import not_found, printago_priority

if TYPE_CHECKING:
    from farmsim.context import SimContext
    from farmsim.world import World

    from .schemas import PrinterEntity, PrinterSlotEntity, PrintJobEntity, StoreEntity

JOB_STATUS: Final = {
    JobStatus.QUEUED: "pending",
    JobStatus.PREPARING: "sending-to-printer",
    JobStatus.PRINTING: "printing",
    JobStatus.PAUSED: "paused",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}
PRINT_STATUS: Final = {
    Phase.IDLE: "IDLE",
    Phase.PREPARE: "RUNNING",
    Phase.RUNNING: "RUNNING",
    Phase.PAUSE: "RUNNING",
    Phase.FINISH: "SUCCESS",
    Phase.FAILED: "FAILED",
}
FILAMENT_CODES: Final = {
    "PLA": "GFA00",
    "PETG": "GFG00",
    "ABS": "GFB00",
    "ASA": "GFB01",
    "TPU": "GFU01",
    "PC": "GFC00",
    "PA": "GFN04",
}
ENDED_PRINTS: Final = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})
TAGS_KEY: Final = "printagoTags"
HIDDEN_ACCESS_CODE: Final = "********"
RGB_DIGITS: Final = 6


def iso(timestamp: float | None) -> str | None:
    """Return an epoch time as an ISO-8601 UTC string with milliseconds."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stamp(timestamp: float) -> str:
    """Return an epoch time that is always set as an ISO-8601 string."""
    return iso(timestamp) or ""


def derived_id(*parts: str) -> str:
    """Return a stable cuid2-like id for an entity derived from world objects."""
    return "c" + hashlib.sha256("/".join(parts).encode()).hexdigest()[:23]


def filament_code(material: str) -> str:
    """Return Bambu's filament preset code (`tray_info_idx`) for a filament type."""
    return FILAMENT_CODES.get(material.upper(), "GFL99")


def rgba(color_hex: str) -> str:
    """Return a `#RRGGBB` colour as `#RRGGBBAA`."""
    value = color_hex.lstrip("#").upper()
    return f"#{value}FF" if len(value) == RGB_DIGITS else f"#{value}"


def material_id(spool: Spool) -> str:
    """Return the id of the material (brand and type) a spool is made of."""
    return derived_id("material", spool.brand, spool.material)


def variant_id(spool: Spool) -> str:
    """Return the id of the variant (material and colour) of a spool."""
    return derived_id("variant", material_id(spool), rgba(spool.color_hex))


def slot_id(printer: Printer, tray: Tray) -> str:
    """Return the id of a printer slot."""
    return derived_id("slot", printer.printago_id, str(tray.tray_id))


def ams_index(tray: Tray) -> int:
    """Return Printago's AMS index of a tray (-1 for the external spool)."""
    return -1 if tray.ams_id is None else tray.ams_id


# Lookups by Printago id only


def find_printer(world: World, printer_id: str) -> Printer:
    """Return a printer by its Printago id."""
    for printer in world.printers.values():
        if printer.printago_id == printer_id:
            return printer
    msg = "Printer"
    raise not_found(msg)


def find_job(world: World, job_id: str) -> Job:
    """Return a job by its Printago id."""
    for job in world.jobs.values():
        if job.printago_id == job_id:
            return job
    msg = "Print job"
    raise not_found(msg)


def find_spool(world: World, instance_id: str) -> Spool:
    """Return a spool by its Printago (material instance) id."""
    for spool in world.spools.values():
        if spool.printago_id == instance_id:
            return spool
    msg = "Material instance"
    raise not_found(msg)


# Entities


def printer_entity(ctx: SimContext, printer: Printer) -> PrinterEntity:
    """Return a printer as a Printago `Printer`."""
    world = ctx.world
    job = world.jobs.get(printer.job_id) if printer.job_id else None
    nozzle = float(printer.settings.get("nozzle_diameter", 0.4))
    return {
        "id": printer.printago_id,
        "storeId": ctx.config.printago_store_id,
        "createdAt": stamp(printer.created_at),
        "updatedAt": stamp(printer.updated_at),
        "provider": "Bambu",
        "deviceId": printer.serial,
        "providerConfig": {
            "use_ams": printer.model.ams is not None,
            "do_bed_leveling": True,
            "do_flow_cali": False,
            "bed_type": printer.settings.get("bed_type", "Textured PEI Plate"),
            "enable_timelapse": False,
        },
        "machineUserProfileId": None,
        "machineSystemProfileId": None,
        "processUserProfileId": None,
        "processSystemProfileId": None,
        "name": printer.name,
        "nozzleDiameter": f"{nozzle:g}",
        "metadata": {
            "provider": "bambu",
            "name": printer.name,
            "dev_id": printer.serial,
            "online": printer.online,
            "print_status": PRINT_STATUS[printer.phase],
            "dev_model_name": printer.model.dev_model_name,
            "dev_access_code": HIDDEN_ACCESS_CODE,
            "nozzle_diameter": nozzle,
            "dev_product_name": printer.model.product_name,
        },
        "proxyClientId": None,
        "commMethod": "fuse",
        "enabled": printer.enabled,
        "tags": list(printer.tags),
        "confirmedReady": printer.bed_clear,
        "isAvailable": not printer.busy,
        "isOnline": printer.online,
        "printingJobId": job.printago_id if job else None,
        "lastPrintedAt": iso(printer.last_printed_at),
        "integrationId": None,
        "integrationType": None,
        "continuousPrint": False,
        "fabmaticRemainingJobs": None,
        "lifetimePrintHours": round(printer.print_seconds_total / 3600, 2),
        "lifetimeJobCount": printer.jobs_completed + printer.jobs_failed,
        "isInMaintenance": printer.maintenance,
        "lastMaintenanceOfflineAt": None,
        "lastMaintenanceOnlineAt": None,
    }


def slot_entity(ctx: SimContext, printer: Printer, tray: Tray) -> PrinterSlotEntity:
    """Return a printer tray as a Printago `PrinterSlot`."""
    spool = ctx.world.tray_spool(tray)
    return {
        "id": slot_id(printer, tray),
        "storeId": ctx.config.printago_store_id,
        "createdAt": stamp(printer.created_at),
        "updatedAt": stamp(printer.updated_at),
        "printerId": printer.printago_id,
        "materialId": material_id(spool) if spool else None,
        "variantId": variant_id(spool) if spool else None,
        "instanceId": spool.printago_id if spool else None,
        "materialType": spool.material if spool else None,
        "expectedData": (
            {
                "color": rgba(spool.color_hex).lstrip("#"),
                "identifier": filament_code(spool.material),
                "type": spool.material,
            }
            if spool
            else None
        ),
        "expectedDataSetAt": iso(spool.updated_at) if spool else None,
        "amsIndex": ams_index(tray),
        "slotIndex": tray.slot,
        "slot": tray.slot if tray.ams_id is None else tray.tray_id,
        "filamentUserProfileId": None,
        "filamentSystemProfileId": None,
    }


def required_tags(ctx: SimContext, job: Job) -> dict[str, str]:
    """Return the `Tags` a job requires of its printer."""
    given = job.metadata.get(TAGS_KEY)
    if isinstance(given, dict):
        return {str(key): str(value) for key, value in given.items()}
    tags: dict[str, str] = {}
    if job.target_printer_id and (target := ctx.world.printers.get(job.target_printer_id)):
        tags["printer.id"] = target.printago_id
    if job.required_tags:
        tags["user.tags"] = "&=" + ",".join(job.required_tags)
    return tags


def material_mapping(ctx: SimContext, job: Job) -> list[dict[str, object]] | None:
    """Return the slot a job prints from, as Printago's `materialMapping`."""
    world = ctx.world
    printer = world.printers.get(job.printer_id or "")
    spool = world.spools.get(job.spool_id or "")
    if printer is None or spool is None:
        return None
    for tray in printer.trays:
        if tray.spool_id == spool.id:
            return [
                {
                    "slot": 0,
                    "amsIndex": ams_index(tray),
                    "slotIndex": tray.slot,
                    "variantId": variant_id(spool),
                    "materialId": material_id(spool),
                    "materialType": spool.material,
                    "name": spool.color_name,
                    "color": rgba(spool.color_hex),
                }
            ]
    return None


def job_entity(ctx: SimContext, job: Job) -> PrintJobEntity:
    """Return a job as a Printago `PrintJob`."""
    printer = ctx.world.printers.get(job.printer_id or "")
    return {
        "id": job.printago_id,
        "storeId": ctx.config.printago_store_id,
        "createdAt": stamp(job.created_at),
        "updatedAt": stamp(job.updated_at),
        "partBuildId": job.part_build_id or derived_id("part-build", job.id),
        "quantityIndex": job.quantity_index,
        "quantityTotal": job.quantity_total,
        "thumbnailUri": None,
        "coloredThumbnailUri": None,
        "buildThumbnailUri": None,
        "filesToPrint": [job.file_url],
        "slicerInputHash": None,
        "isGcodeCached": False,
        "slicedGcodeUri": None,
        "partId": job.part_id,
        "partName": job.name,
        "skuId": None,
        "skuName": None,
        "parameterOverrides": [],
        "orderId": None,
        "orderItemId": None,
        "linkedPartId": None,
        "label": job.label,
        "skuInstance": None,
        "queueOrder": job.queue_order,
        "priority": printago_priority(job.priority),
        "requiredPrinterTags": required_tags(ctx, job),
        "overriddenProcessProfileId": None,
        "taskId": int(hashlib.sha256(job.id.encode()).hexdigest()[:8], 16) % 1_000_000_000,
        "profileUris": None,
        "assignedPrinterId": printer.printago_id if printer else None,
        "assignmentStartedAt": iso(job.assigned_at),
        "assignmentCompletedAt": iso(job.assigned_at),
        "printingStartedAt": iso(job.started_at),
        "printingCompletedAt": iso(job.completed_at if job.status in ENDED_PRINTS else None),
        "cancelledAt": iso(job.cancelled_at),
        "status": JOB_STATUS[job.status],
        "errorMessage": job.error_message,
        "hidden": job.hidden,
        "logsUri": None,
        "extensions": None,
        "skipObjectsData": None,
        "materialMapping": material_mapping(ctx, job),
        "materialAssignments": None,
        "gcodeAnalysisSha256": None,
    }


def store_entity(ctx: SimContext) -> StoreEntity:
    """Return the one store of the simulated account."""
    created = min((p.created_at for p in ctx.world.printers.values()), default=0.0)
    return {
        "id": ctx.config.printago_store_id,
        "createdAt": stamp(created),
        "updatedAt": stamp(created),
        "name": "Farmsim Print Farm",
        "timezone": "UTC",
        "country": None,
        "logoLightUrl": None,
        "logoDarkUrl": None,
        "websiteUrl": None,
        "auditEnabled": False,
    }


def printers(ctx: SimContext) -> list[PrinterEntity]:
    """Return every printer entity."""
    return [printer_entity(ctx, p) for p in ctx.world.printers.values()]


def slots(ctx: SimContext) -> list[PrinterSlotEntity]:
    """Return every printer slot entity."""
    return [
        slot_entity(ctx, printer, tray)
        for printer in ctx.world.printers.values()
        for tray in printer.trays
    ]


def jobs(ctx: SimContext) -> list[PrintJobEntity]:
    """Return every print job entity, in creation order."""
    return [job_entity(ctx, job) for job in ctx.world.jobs.values()]
