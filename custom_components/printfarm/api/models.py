"""Normalized models of print farms, whichever service they come from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any


class PrinterStatus(StrEnum):
    """What a printer is doing, the same for every farm service."""

    IDLE = "idle"
    PREPARING = "preparing"
    PRINTING = "printing"
    PAUSED = "paused"
    FINISHED = "finished"
    ERROR = "error"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"


class JobStatus(StrEnum):
    """Where a print job is, the same for every farm service."""

    QUEUED = "queued"
    PREPARING = "preparing"
    PRINTING = "printing"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


OPEN_JOB_STATUSES = frozenset(
    {JobStatus.QUEUED, JobStatus.PREPARING, JobStatus.PRINTING, JobStatus.PAUSED}
)
ACTIVE_JOB_STATUSES = frozenset({JobStatus.PREPARING, JobStatus.PRINTING, JobStatus.PAUSED})


class JobPriority(IntEnum):
    """How urgent a job is; higher goes first."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3


@dataclass(frozen=True, kw_only=True)
class Account:
    """The farm account a set of credentials belongs to."""

    id: str
    name: str
    service: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class FilamentSlot:
    """A filament slot of a printer (AMS tray or external spool) as the farm sees it."""

    slot_id: str
    material_id: str | None = None
    type: str | None = None
    color: str | None = None
    remaining_grams: float | None = None


@dataclass(frozen=True, kw_only=True)
class Printer:
    """A printer of the farm."""

    id: str
    name: str
    status: PrinterStatus
    online: bool
    model: str | None = None
    manufacturer: str | None = None
    serial: str | None = None
    firmware: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    current_job_id: str | None = None
    progress: float | None = None
    remaining_seconds: int | None = None
    bed_clear_required: bool = False
    error: str | None = None
    slots: tuple[FilamentSlot, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class Job:
    """A print job of the farm."""

    id: str
    name: str
    status: JobStatus
    file: str | None = None
    printer_id: str | None = None
    progress: float | None = None
    priority: JobPriority | None = None
    queue_position: int | None = None
    remaining_seconds: int | None = None
    label: str | None = None
    part_id: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def open(self) -> bool:
        """Return whether the job is still queued or running."""
        return self.status in OPEN_JOB_STATUSES


@dataclass(frozen=True, kw_only=True)
class Material:
    """A spool or stock item of filament."""

    id: str
    type: str
    color: str | None = None
    color_hex: str | None = None
    brand: str | None = None
    remaining_grams: float | None = None
    capacity_grams: float | None = None
    reorder_threshold_grams: float | None = None
    low_stock: bool = False
    location: str | None = None
    printer_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class FarmSummary:
    """Counts that describe the farm at a glance."""

    printers_by_status: Mapping[PrinterStatus, int]
    jobs_queued: int
    jobs_active: int
    jobs_completed_today: int
    low_stock_materials: int
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class FarmSnapshot:
    """The farm's printers, open jobs, filament and summary, fetched together."""

    printers: list[Printer]
    jobs: list[Job]
    materials: list[Material]
    summary: FarmSummary


@dataclass(frozen=True, kw_only=True)
class JobRequest:
    """What to print: a file (AutoPrintFarm) or a part (Printago), and where."""

    file_url: str | None = None
    part_id: str | None = None
    name: str | None = None
    printer_id: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    quantity: int = 1
    priority: JobPriority = JobPriority.NORMAL
    material: str | None = None
    color: str | None = None


@dataclass(frozen=True, kw_only=True)
class RateBudget:
    """What the client knows of the service's request budget."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None
    blocked_until: datetime | None = None
    per_hour: float | None = None
    sent: int = 0


class FarmEventType(StrEnum):
    """What a farm tells of itself as it happens (its webhooks, Printago's realtime feed)."""

    JOB_QUEUED = "job_queued"
    JOB_ASSIGNED = "job_assigned"
    JOB_STARTED = "job_started"
    JOB_PAUSED = "job_paused"
    JOB_RESUMED = "job_resumed"
    JOB_COMPLETED = "job_completed"
    JOB_FAILED = "job_failed"
    JOB_CANCELLED = "job_cancelled"
    PRINTER_ONLINE = "printer_online"
    PRINTER_OFFLINE = "printer_offline"
    PRINTER_ERROR = "printer_error"
    PRINTER_READY = "printer_ready"
    MATERIAL_LOW_STOCK = "material_low_stock"
    OTHER = "other"


@dataclass(frozen=True, kw_only=True)
class FarmEvent:
    """One event of the farm, with the printer, job and material as they stand after it."""

    id: str
    type: FarmEventType
    # The service's own name of the event ("job.completed")
    name: str
    at: datetime | None = None
    printer: Printer | None = None
    job: Job | None = None
    material: Material | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
