"""Printago payloads read into the normalized models."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..models import (
    ACTIVE_JOB_STATUSES,
    Account,
    FarmSummary,
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
    hex_color,
    lookup_word,
    require_id,
    str_list,
)
from ..transport.http import text_message

SERVICE = "printago"
PRIORITY_NORMAL = 100
PRIORITY_LOW = 1000

JOB_STATUS_WORDS: dict[JobStatus, tuple[str, ...]] = {
    JobStatus.QUEUED: ("pending",),
    JobStatus.PREPARING: (
        "assigned",
        "slicing",
        "sliced",
        "finalizing",
        "waiting-for-approval",
        "ready-for-printer",
        "sending-to-printer",
    ),
    JobStatus.PRINTING: ("printing",),
    JobStatus.PAUSED: ("paused",),
    JobStatus.COMPLETED: ("completed",),
    JobStatus.FAILED: ("failed",),
    JobStatus.CANCELLED: ("cancelled",),
}
JOB_STATUSES: dict[str, JobStatus] = {
    word: status for status, words in JOB_STATUS_WORDS.items() for word in words
} | {"canceled": JobStatus.CANCELLED}
MANUFACTURERS = {"bambu": "Bambu Lab", "prusa": "Prusa Research"}
SORT_FIELDS = {
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "started_at": "printingStartedAt",
    "completed_at": "printingCompletedAt",
    "queue_position": "queueOrder",
    "name": "partName",
    "printer_id": "assignedPrinterId",
}
SNAKE = re.compile(r"_([a-z0-9])")


def parse_error(status: int, body: Any) -> tuple[str, str | None]:
    """Return the message of a NestJS or Nestia error body (or of HTML and text)."""
    data = as_mapping(body)
    raw = data.get("message")
    if isinstance(raw, list):
        message = "; ".join(text for item in raw if (text := as_str(item)))
    else:
        message = as_str(raw) or ""
    if not message:
        return text_message(status, body), None
    phrase = as_str(data.get("error"))
    if (path := as_str(data.get("path"))) and (reason := as_str(data.get("reason"))):
        message = f"{message} ({path}: {reason})"
    elif phrase and phrase != message:
        message = f"{message} ({phrase})"
    return message, phrase


def status_words(statuses: Iterable[JobStatus]) -> list[str] | None:
    """Return Printago's words of statuses, or None when one cannot be filtered by."""
    words: list[str] = []
    for status in statuses:
        if (found := JOB_STATUS_WORDS.get(status)) is None:
            return None
        words.extend(found)
    return sorted(set(words))


def sort_expression(sort: str) -> str:
    """Return a sort in Printago's form (`field:desc`), also from the `-field` form."""
    parts = []
    for raw in sort.split(","):
        part = raw.strip()
        if ":" in part:
            parts.append(part)
            continue
        descending = part.startswith("-")
        name = part.lstrip("-+")
        name = SORT_FIELDS.get(name) or SNAKE.sub(lambda match: match.group(1).upper(), name)
        parts.append(f"{name}:{'desc' if descending else 'asc'}")
    return ",".join(parts)


def job_status(word: Any) -> JobStatus:
    """Return the normalized status of a print job status word."""
    return lookup_word(word, JOB_STATUSES, JobStatus.UNKNOWN)


def job_priority(value: Any) -> JobPriority | None:
    """Return the priority of Printago's 100 (normal) or 1000 (low)."""
    number = as_int(value)
    if number is None:
        return None
    return JobPriority.LOW if number >= PRIORITY_LOW else JobPriority.NORMAL


def _busy_status(job: JobStatus | None) -> PrinterStatus:
    if job is JobStatus.PAUSED:
        return PrinterStatus.PAUSED
    if job in (JobStatus.QUEUED, JobStatus.PREPARING):
        return PrinterStatus.PREPARING
    return PrinterStatus.PRINTING


def printer(raw: Mapping[str, Any], jobs: Mapping[str, JobStatus]) -> Printer:
    """Return a printer from its entity and the statuses of the jobs it may be printing."""
    printer_id = require_id(raw, "a printer")
    metadata = as_mapping(raw.get("metadata"))
    online = as_bool(raw.get("isOnline"))
    if online is None:
        online = as_bool(metadata.get("online")) or False
    available = as_bool(raw.get("isAvailable"))
    ready = as_bool(raw.get("confirmedReady"))
    job_id = as_str(raw.get("printingJobId"))
    if not online:
        status = PrinterStatus.OFFLINE
    elif as_bool(raw.get("isInMaintenance")):
        status = PrinterStatus.MAINTENANCE
    elif job_id or available is False:
        status = _busy_status(jobs.get(job_id) if job_id else None)
    elif ready is False:
        status = PrinterStatus.FINISHED
    elif available and ready:
        status = PrinterStatus.IDLE
    else:
        status = PrinterStatus.UNKNOWN
    provider = as_str(raw.get("provider"))
    return Printer(
        id=printer_id,
        name=as_str(raw.get("name")) or as_str(metadata.get("name")) or printer_id,
        status=status,
        online=online,
        model=as_str(metadata.get("dev_product_name")) or as_str(metadata.get("dev_model_name")),
        manufacturer=MANUFACTURERS.get(provider.lower(), provider) if provider else None,
        serial=as_str(raw.get("deviceId")) or as_str(metadata.get("dev_id")),
        tags=str_list(raw.get("tags")),
        current_job_id=job_id,
        bed_clear_required=status is PrinterStatus.FINISHED,
        raw=raw,
    )


def job(raw: Mapping[str, Any], position: int | None = None) -> Job:
    """Return a job from its Printago print job entity."""
    job_id = require_id(raw, "a print job")
    files = str_list(raw.get("filesToPrint"))
    label = as_str(raw.get("label"))
    return Job(
        id=job_id,
        name=as_str(raw.get("partName")) or label or job_id,
        status=job_status(raw.get("status")),
        file=files[0] if files else None,
        printer_id=as_str(raw.get("assignedPrinterId")),
        priority=job_priority(raw.get("priority")),
        queue_position=position,
        label=label,
        part_id=as_str(raw.get("partId")),
        error=as_str(raw.get("errorMessage")),
        created_at=as_datetime(raw.get("createdAt")),
        started_at=as_datetime(raw.get("printingStartedAt")),
        completed_at=as_datetime(raw.get("printingCompletedAt"))
        or as_datetime(raw.get("cancelledAt")),
        raw=raw,
    )


def jobs(items: Sequence[Mapping[str, Any]]) -> list[Job]:
    """Return jobs, the queued ones numbered in the order they will be printed."""
    queued = [item for item in items if job_status(item.get("status")) is JobStatus.QUEUED]
    queued.sort(
        key=lambda item: (
            as_int(item.get("priority")) or PRIORITY_NORMAL,
            as_float(item.get("queueOrder")) or 0.0,
        )
    )
    positions = {id(item): index for index, item in enumerate(queued, start=1)}
    return [job(item, positions.get(id(item))) for item in items]


def material(
    raw: Mapping[str, Any],
    materials: Mapping[str, Mapping[str, Any]],
    variants: Mapping[str, Mapping[str, Any]],
    threshold: float | None,
) -> Material:
    """Return a spool from its material instance, material and variant."""
    variant = variants.get(as_str(raw.get("variantId")) or "", {})
    kind = materials.get(
        as_str(raw.get("materialId")) or as_str(variant.get("materialId")) or "", {}
    )
    remaining = as_float(raw.get("remainingMaterial"))
    return Material(
        id=require_id(raw, "a material instance"),
        type=as_str(raw.get("materialType")) or as_str(kind.get("type")) or "unknown",
        color=as_str(variant.get("name")),
        color_hex=hex_color(variant.get("color")),
        brand=as_str(kind.get("brand")),
        remaining_grams=remaining,
        reorder_threshold_grams=threshold,
        low_stock=threshold is not None and remaining is not None and remaining <= threshold,
        raw={"instance": raw, "material": kind, "variant": variant},
    )


def by_id(items: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Return entities by their id (entities without one are left out)."""
    return {key: item for item in items if (key := as_str(item.get("id")))}


def account(stores: Iterable[Any], store_id: str) -> Account | None:
    """Return the store the client works in, from the stores the key can see."""
    for raw in stores:
        store = as_mapping(raw)
        if as_str(store.get("id")) == store_id:
            name = as_str(store.get("name")) or store_id
            return Account(id=store_id, name=name, service=SERVICE, raw=store)
    return None


def summary(
    printers: Sequence[Printer],
    open_jobs: Sequence[Job],
    completed_today: int,
    low_stock: int,
) -> FarmSummary:
    """Return the farm at a glance, computed from printers and jobs."""
    return FarmSummary(
        printers_by_status=dict(Counter(printer.status for printer in printers)),
        jobs_queued=sum(job.status is JobStatus.QUEUED for job in open_jobs),
        jobs_active=sum(job.status in ACTIVE_JOB_STATUSES for job in open_jobs),
        jobs_completed_today=completed_today,
        low_stock_materials=low_stock,
        raw={"computed": True, "printers": len(printers), "open_jobs": len(open_jobs)},
    )


def applied_ids(answer: Any) -> list[str]:
    """Return the ids a bulk action answered with (ids, or entities with ids)."""
    values = (as_str(item) or as_str(as_mapping(item).get("id")) for item in as_list(answer))
    return [value for value in values if value is not None]
