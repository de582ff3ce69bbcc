"""AutoPrintFarm payloads read into the normalized models."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..models import (
    Account,
    FarmSummary,
    FilamentSlot,
    Job,
    JobPriority,
    JobStatus,
    Material,
    Printer,
    PrinterStatus,
)
from ..parsing import (
    as_bool,
    as_datetime,
    as_float,
    as_int,
    as_list,
    as_mapping,
    as_str,
    lookup_word,
    require_id,
    str_list,
)
from ..transport.http import text_message

SERVICE = "autoprintfarm"

PRINTER_STATUSES: dict[str, PrinterStatus] = {
    "idle": PrinterStatus.IDLE,
    "ready": PrinterStatus.IDLE,
    "available": PrinterStatus.IDLE,
    "operational": PrinterStatus.IDLE,
    "online": PrinterStatus.IDLE,
    "preparing": PrinterStatus.PREPARING,
    "processing": PrinterStatus.PREPARING,
    "uploading": PrinterStatus.PREPARING,
    "heating": PrinterStatus.PREPARING,
    "starting": PrinterStatus.PREPARING,
    "printing": PrinterStatus.PRINTING,
    "busy": PrinterStatus.PRINTING,
    "running": PrinterStatus.PRINTING,
    "paused": PrinterStatus.PAUSED,
    "pausing": PrinterStatus.PAUSED,
    "finished": PrinterStatus.FINISHED,
    "completed": PrinterStatus.FINISHED,
    "bed_clear_required": PrinterStatus.FINISHED,
    "awaiting_bed_clear": PrinterStatus.FINISHED,
    "needs_clear": PrinterStatus.FINISHED,
    "error": PrinterStatus.ERROR,
    "failed": PrinterStatus.ERROR,
    "offline": PrinterStatus.OFFLINE,
    "disconnected": PrinterStatus.OFFLINE,
    "hub_offline": PrinterStatus.OFFLINE,
    "maintenance": PrinterStatus.MAINTENANCE,
    "in_maintenance": PrinterStatus.MAINTENANCE,
}
JOB_STATUSES: dict[str, JobStatus] = {
    "queued": JobStatus.QUEUED,
    "pending": JobStatus.QUEUED,
    "scheduled": JobStatus.QUEUED,
    "processing": JobStatus.PREPARING,
    "preparing": JobStatus.PREPARING,
    "assigned": JobStatus.PREPARING,
    "uploaded": JobStatus.PREPARING,
    "uploading": JobStatus.PREPARING,
    "printing": JobStatus.PRINTING,
    "running": JobStatus.PRINTING,
    "paused": JobStatus.PAUSED,
    "completed": JobStatus.COMPLETED,
    "complete": JobStatus.COMPLETED,
    "finished": JobStatus.COMPLETED,
    "success": JobStatus.COMPLETED,
    "failed": JobStatus.FAILED,
    "error": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED,
    "canceled": JobStatus.CANCELLED,
}
# The words the v1 API filters jobs by
JOB_STATUS_WORDS: dict[JobStatus, str] = {
    JobStatus.QUEUED: "queued",
    JobStatus.PREPARING: "processing",
    JobStatus.PRINTING: "printing",
    JobStatus.PAUSED: "paused",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}
PRIORITIES: dict[str, JobPriority] = {
    "low": JobPriority.LOW,
    "normal": JobPriority.NORMAL,
    "medium": JobPriority.NORMAL,
    "high": JobPriority.HIGH,
    "urgent": JobPriority.URGENT,
}
PRIORITY_WORDS: dict[JobPriority, str] = {
    JobPriority.LOW: "low",
    JobPriority.NORMAL: "normal",
    JobPriority.HIGH: "high",
    JobPriority.URGENT: "urgent",
}
MATERIAL_LOW_WORDS = frozenset({"low_stock", "out_of_stock"})


@dataclass(frozen=True, kw_only=True)
class Webhook:
    """A webhook subscription of an AutoPrintFarm account."""

    id: str
    url: str
    events: tuple[str, ...]
    description: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def parse_error(status: int, body: Any) -> tuple[str, str | None]:
    """Return the message and code of an error envelope (v1 or /public/v1 form)."""
    data = as_mapping(body)
    error = data.get("error")
    if isinstance(error, Mapping):
        message = as_str(error.get("message")) or text_message(status, None)
        details = as_str(error.get("details"))
        if details and details != message:
            message = f"{message} ({details})"
        return message, as_str(error.get("code"))
    code = as_str(data.get("code"))
    if isinstance(error, str) and error:
        return error, code
    if text := as_str(data.get("message")):
        return text, code
    return text_message(status, body), code


def _message(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return as_str(value.get("message")) or as_str(value.get("code"))
    return as_str(value) or None


def printer_status(word: Any) -> PrinterStatus:
    """Return the normalized status of a printer status word."""
    return lookup_word(word, PRINTER_STATUSES, PrinterStatus.UNKNOWN)


def job_status(word: Any) -> JobStatus:
    """Return the normalized status of a job status word."""
    return lookup_word(word, JOB_STATUSES, JobStatus.UNKNOWN)


def job_priority(value: Any) -> JobPriority | None:
    """Return the priority of a priority word (or number)."""
    if isinstance(value, str):
        return PRIORITIES.get(value.lower())
    number = as_int(value)
    if number is None:
        return None
    return JobPriority(min(max(number, JobPriority.LOW), JobPriority.URGENT))


def _slot(raw: Any) -> FilamentSlot | None:
    item = as_mapping(raw)
    if (slot_id := as_str(item.get("tray_id", item.get("id")))) is None:
        return None
    return FilamentSlot(
        slot_id=slot_id,
        material_id=as_str(item.get("material_id")),
        type=as_str(item.get("type", item.get("material"))),
        color=as_str(item.get("color")),
        remaining_grams=as_float(item.get("remaining_grams")),
    )


def printer(raw: Mapping[str, Any]) -> Printer:
    """Return a printer from its payload."""
    printer_id = require_id(raw, "a printer")
    status = printer_status(raw.get("status"))
    online = as_bool(raw.get("online"))
    if online is False:
        status = PrinterStatus.OFFLINE
    elif as_bool(raw.get("maintenance", raw.get("in_maintenance"))):
        status = PrinterStatus.MAINTENANCE
    current = raw.get("current_job")
    slots = (_slot(item) for item in as_list(raw.get("filament")))
    bed_clear = as_bool(raw.get("bed_clear_required"))
    return Printer(
        id=printer_id,
        name=as_str(raw.get("name")) or printer_id,
        status=status,
        online=online if online is not None else status is not PrinterStatus.OFFLINE,
        model=as_str(raw.get("model")) or as_str(raw.get("model_code")),
        manufacturer=as_str(raw.get("manufacturer")),
        serial=as_str(raw.get("serial_number", raw.get("serial"))),
        firmware=as_str(raw.get("firmware_version")),
        group=as_str(raw.get("group")) or as_str(raw.get("location")),
        tags=str_list(raw.get("tags")),
        current_job_id=as_str(as_mapping(current).get("id")) or as_str(current),
        progress=as_float(raw.get("progress")),
        remaining_seconds=as_int(raw.get("remaining_time")),
        bed_clear_required=bed_clear or status is PrinterStatus.FINISHED,
        error=_message(raw.get("error")),
        slots=tuple(slot for slot in slots if slot is not None),
        raw=raw,
    )


def job(raw: Mapping[str, Any]) -> Job:
    """Return a job from its payload."""
    job_id = require_id(raw, "a job")
    file = as_str(raw.get("file_url")) or as_str(raw.get("print_file_id"))
    return Job(
        id=job_id,
        name=as_str(raw.get("name")) or (file.rsplit("/", 1)[-1] if file else job_id),
        status=job_status(raw.get("status")),
        file=file,
        printer_id=as_str(raw.get("printer_id")),
        progress=as_float(raw.get("progress")),
        priority=job_priority(raw.get("priority")),
        queue_position=as_int(raw.get("queue_position")),
        remaining_seconds=as_int(raw.get("remaining_time")),
        error=_message(raw.get("error")),
        created_at=as_datetime(raw.get("created_at")),
        started_at=as_datetime(raw.get("started_at")),
        completed_at=as_datetime(raw.get("completed_at")),
        raw=raw,
    )


def material(raw: Mapping[str, Any]) -> Material:
    """Return a spool or stock item from its payload."""
    remaining = as_float(raw.get("remaining_grams"))
    threshold = as_float(raw.get("low_threshold"))
    low = as_bool(raw.get("low_stock"))
    if low is None:
        status = as_str(raw.get("status"))
        if status is not None:
            low = status.lower() in MATERIAL_LOW_WORDS
        else:
            low = remaining is not None and threshold is not None and remaining <= threshold
    return Material(
        id=require_id(raw, "a material"),
        type=as_str(raw.get("type")) or as_str(raw.get("material_type")) or "unknown",
        color=as_str(raw.get("color")),
        color_hex=as_str(raw.get("hex_code")),
        brand=as_str(raw.get("brand")),
        remaining_grams=remaining,
        capacity_grams=as_float(raw.get("capacity_grams", raw.get("spool_weight_grams"))),
        reorder_threshold_grams=threshold,
        low_stock=low,
        location=as_str(raw.get("location")),
        printer_id=as_str(raw.get("printer_id")),
        raw=raw,
    )


def webhook(raw: Mapping[str, Any]) -> Webhook:
    """Return a webhook subscription from its payload."""
    return Webhook(
        id=require_id(raw, "a webhook"),
        url=as_str(raw.get("url")) or "",
        events=str_list(raw.get("events")),
        description=as_str(raw.get("description")),
        raw=raw,
    )


def _count(value: Any) -> int:
    return as_int(value) or 0


def summary(raw: Mapping[str, Any]) -> FarmSummary:
    """Return the farm summary from the analytics summary payload."""
    printers = as_mapping(raw.get("printers"))
    jobs = as_mapping(raw.get("jobs"))
    materials = as_mapping(raw.get("materials"))
    by_status: Counter[PrinterStatus] = Counter()
    for word, count in as_mapping(printers.get("by_status")).items():
        by_status[printer_status(word)] += _count(count)
    return FarmSummary(
        printers_by_status=dict(by_status),
        jobs_queued=_count(jobs.get("queued")),
        jobs_active=_count(jobs.get("active")),
        jobs_completed_today=_count(jobs.get("completed_today")),
        low_stock_materials=_count(materials.get("low_stock", raw.get("low_stock_alerts"))),
        raw=raw,
    )


def account(raw: Mapping[str, Any]) -> Account:
    """Return the account of the current API key's payload (or the key itself)."""
    owner = as_mapping(raw.get("account"))
    account_id = as_str(owner.get("id")) or require_id(raw, "the API key")
    name = as_str(owner.get("name")) or as_str(raw.get("name")) or "AutoPrintFarm"
    return Account(id=account_id, name=name, service=SERVICE, raw=raw)


def status_words(statuses: Iterable[JobStatus]) -> list[str] | None:
    """Return the v1 filter words of statuses, or None when one cannot be filtered by."""
    words = []
    for status in statuses:
        if (word := JOB_STATUS_WORDS.get(status)) is None:
            return None
        words.append(word)
    return sorted(set(words))
