"""How printers, jobs, materials and profiles look in the AutoPrintFarm API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from farmsim.models import PRINT_ERROR_CANCELLED, Job, JobStatus, MaterialProfile, Printer, Spool

from .envelope import iso

if TYPE_CHECKING:
    from farmsim.world import World

JOB_STATUS = {
    JobStatus.QUEUED: "queued",
    JobStatus.PREPARING: "processing",
    JobStatus.PRINTING: "printing",
    JobStatus.PAUSED: "paused",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}
JOB_STATUSES = tuple(JOB_STATUS.values())
ENDED_JOB_STATUSES = ("completed", "failed", "cancelled")
PRINTER_STATUSES = (
    "idle",
    "preparing",
    "printing",
    "paused",
    "finished",
    "error",
    "offline",
    "maintenance",
)
MATERIAL_STATUSES = ("in_stock", "low_stock", "out_of_stock")
SERIOUS_SEVERITY = 2
PRIORITIES = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
PRIORITY_NAMES = {value: name for name, value in PRIORITIES.items()}


def _round(value: float, digits: int = 1) -> float:
    return round(value, digits)


def printer_error(printer: Printer) -> dict[str, str] | None:
    """Return the printer's current error, if any."""
    if printer.print_error not in (0, PRINT_ERROR_CANCELLED):
        code = f"{printer.print_error:08X}"
        return {"code": code, "message": f"Print error {code}"}
    for hms in printer.hms:
        if hms.severity <= SERIOUS_SEVERITY:
            code = "_".join(
                f"{part:04X}"
                for part in (hms.attr >> 16, hms.attr & 0xFFFF, hms.code >> 16, hms.code & 0xFFFF)
            )
            return {"code": f"HMS_{code}", "message": f"Health message {code}"}
    return None


def printer_view(world: World, printer: Printer) -> dict[str, Any]:
    """Return a printer as the API shows it."""
    filament = []
    for tray in printer.trays:
        spool = world.tray_spool(tray)
        filament.append(
            {
                "tray_id": tray.tray_id,
                "material_id": spool.id if spool else None,
                "type": spool.material if spool else None,
                "color": spool.color_name if spool else None,
                "hex_code": spool.color_hex if spool else None,
                "remaining_grams": _round(spool.remaining_grams) if spool else None,
                "active": printer.active_tray == tray.tray_id and printer.busy,
            }
        )
    spec = printer.model
    return {
        "id": printer.id,
        "name": printer.name,
        "status": world.status_word(printer),
        "current_job": printer.job_id,
        "model": spec.product_name,
        "model_code": spec.code,
        "manufacturer": "Bambu Lab",
        "serial_number": printer.serial,
        "firmware_version": spec.firmware,
        "group": printer.group,
        "tags": list(printer.tags),
        "location": printer.location,
        "nozzle_size": printer.settings.get("nozzle_diameter"),
        "has_ams": spec.ams is not None,
        "online": printer.online,
        "maintenance": printer.maintenance,
        "bed_clear_required": not printer.bed_clear and not printer.busy,
        "progress": _round(printer.progress) if printer.busy else 0.0,
        "remaining_time": round(printer.remaining_seconds),
        "current_layer": printer.layer,
        "total_layers": printer.total_layers,
        "temperatures": {
            "nozzle": _round(printer.nozzle_temp),
            "nozzle_target": _round(printer.nozzle_target),
            "bed": _round(printer.bed_temp),
            "bed_target": _round(printer.bed_target),
            "chamber": _round(printer.chamber_temp) if spec.chamber_sensor else None,
        },
        "filament": filament,
        "lights": dict(printer.lights),
        "error": printer_error(printer),
        "created_at": iso(printer.created_at),
        "updated_at": iso(printer.updated_at),
    }


def queue_positions(world: World) -> dict[str, int]:
    """Return the 1-based queue position of every queued job."""
    return {job.id: index for index, job in enumerate(world.open_jobs(), start=1)}


def job_remaining(world: World, job: Job) -> int:
    """Return the estimated seconds until a job is done."""
    if job.status is JobStatus.QUEUED:
        return round(job.profile.print_seconds)
    printer = world.printers.get(job.printer_id or "")
    if job.open and printer is not None and printer.job_id == job.id:
        return round(printer.remaining_seconds)
    return 0


def job_view(world: World, job: Job, positions: dict[str, int] | None = None) -> dict[str, Any]:
    """Return a job as the API shows it."""
    if positions is None:
        positions = queue_positions(world)
    error = None
    if job.status is JobStatus.FAILED:
        error = {"code": "print_failed", "message": job.error_message or "The print failed"}
    return {
        "id": job.id,
        "name": job.name,
        "status": JOB_STATUS[job.status],
        "file_url": job.file_url,
        "printer_id": job.printer_id or job.target_printer_id,
        "group": job.target_group,
        "priority": PRIORITY_NAMES.get(job.priority, "normal"),
        "progress": _round(job.progress),
        "queue_position": positions.get(job.id),
        "estimated_duration": round(job.profile.print_seconds),
        "remaining_time": job_remaining(world, job),
        "material": job.material,
        "color": job.color,
        "material_id": job.spool_id,
        "filament_grams": _round(job.profile.grams, 2),
        "consumed_grams": _round(job.consumed_grams, 2),
        "source": job.source,
        "sale_price": job.sale_price,
        "metadata": dict(job.metadata),
        "error": error,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "updated_at": iso(job.updated_at),
    }


def material_status(spool: Spool) -> str:
    """Return in_stock, low_stock or out_of_stock."""
    if spool.remaining_grams <= 0:
        return "out_of_stock"
    return "low_stock" if spool.low_stock else "in_stock"


def material_view(world: World, spool: Spool) -> dict[str, Any]:
    """Return a spool as the API's material inventory item."""
    printer = world.printer_of_spool(spool.id)
    tray_id = None
    if printer is not None:
        tray_id = next(t.tray_id for t in printer.trays if t.spool_id == spool.id)
    return {
        "id": spool.id,
        "type": spool.material,
        "color": spool.color_name,
        "hex_code": spool.color_hex,
        "brand": spool.brand,
        "diameter": spool.diameter,
        "remaining_grams": _round(spool.remaining_grams),
        "capacity_grams": _round(spool.capacity_grams),
        "remaining_percent": spool.remain_percent,
        "low_threshold": _round(spool.low_threshold_grams),
        "low_stock": spool.low_stock,
        "status": material_status(spool),
        "location": spool.location,
        "printer_id": printer.id if printer else None,
        "tray_id": tray_id,
        "consumed_grams": _round(spool.consumed_grams, 2),
        "cost_per_kg": spool.cost_per_kg,
        "created_at": iso(spool.created_at),
        "updated_at": iso(spool.updated_at),
    }


def profile_view(profile: MaterialProfile) -> dict[str, Any]:
    """Return a material profile as the API shows it."""
    return {
        "id": profile.id,
        "name": profile.name,
        "material": profile.material,
        "nozzle_temp": profile.nozzle_temp,
        "bed_temp": profile.bed_temp,
        "density": profile.density,
        "cost_per_kg": profile.cost_per_kg,
        "created_at": iso(profile.created_at),
        "updated_at": iso(profile.updated_at),
    }
