"""The objects of the simulated farm world."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    """What a printer is doing, named like Bambu's `gcode_state`."""

    IDLE = "IDLE"
    PREPARE = "PREPARE"
    RUNNING = "RUNNING"
    PAUSE = "PAUSE"
    FINISH = "FINISH"
    FAILED = "FAILED"


ACTIVE_PHASES = frozenset({Phase.PREPARE, Phase.RUNNING, Phase.PAUSE})


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    PREPARING = "preparing"
    PRINTING = "printing"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_JOB_STATUSES = frozenset(
    {JobStatus.QUEUED, JobStatus.PREPARING, JobStatus.PRINTING, JobStatus.PAUSED}
)
RUNNING_JOB_STATUSES = frozenset({JobStatus.PREPARING, JobStatus.PRINTING, JobStatus.PAUSED})


STAGE_PRINTING = 0
STAGE_BED_LEVELING = 1
STAGE_HEATBED_PREHEATING = 2
STAGE_HEATING_HOTEND = 7
STAGE_PAUSED_BY_USER = 16
STAGE_IDLE = 255

# Bambu's `print_error` for a print the user cancelled.
PRINT_ERROR_CANCELLED = 50348044
# A nozzle clog, used when a print fails.
PRINT_ERROR_NOZZLE_CLOG = 50364437

SEVERITY_SHIFT = 16
# HMS severities 1 (fatal) and 2 (serious) stop a printer; 3 and 4 are notices.
SERIOUS_SEVERITY = 2

SPEED_FACTORS = {1: 0.5, 2: 1.0, 3: 1.24, 4: 1.66}


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """What differs between printer models."""

    code: str
    product_name: str
    dev_model_name: str
    serial_prefix: str
    hw_ver: str
    project_name: str
    firmware: str
    ams: str | None
    chamber_sensor: bool
    lights: tuple[str, ...]
    full_reports: bool
    bed_max: float = 110.0
    nozzle_max: float = 300.0

    @property
    def display_name(self) -> str:
        """Return the model name as the vendor writes it."""
        return f"Bambu Lab {self.product_name}"


MODELS: dict[str, ModelSpec] = {
    spec.code: spec
    for spec in (
        ModelSpec(
            code="X1C",
            product_name="X1 Carbon",
            dev_model_name="BL-P001",
            serial_prefix="00M09A",
            hw_ver="AP05",
            project_name="",
            firmware="01.08.02.00",
            ams="AMS",
            chamber_sensor=True,
            lights=("chamber_light", "work_light"),
            full_reports=True,
            bed_max=120.0,
            nozzle_max=320.0,
        ),
        ModelSpec(
            code="P1S",
            product_name="P1S",
            dev_model_name="C12",
            serial_prefix="01P00A",
            hw_ver="AP04",
            project_name="C12",
            firmware="01.08.01.00",
            ams="AMS",
            chamber_sensor=False,
            lights=("chamber_light",),
            full_reports=False,
        ),
        ModelSpec(
            code="A1",
            product_name="A1",
            dev_model_name="N2S",
            serial_prefix="03919A",
            hw_ver="AP05",
            project_name="N2S",
            firmware="01.04.00.00",
            ams=None,
            chamber_sensor=False,
            lights=(),
            full_reports=False,
            bed_max=100.0,
        ),
        ModelSpec(
            code="A1MINI",
            product_name="A1 mini",
            dev_model_name="N1",
            serial_prefix="0300AA",
            hw_ver="AP05",
            project_name="N1",
            firmware="01.04.00.00",
            ams=None,
            chamber_sensor=False,
            lights=(),
            full_reports=False,
            bed_max=80.0,
        ),
    )
}


@dataclass(kw_only=True)
class MaterialProfile:
    """Print settings and cost for one kind of filament."""

    id: str
    name: str
    material: str
    nozzle_temp: float
    bed_temp: float
    density: float
    cost_per_kg: float
    created_at: float
    updated_at: float


@dataclass(kw_only=True)
class Spool:
    """One spool of filament, on a shelf or loaded in a printer."""

    id: str
    printago_id: str
    material: str
    brand: str
    color_name: str
    color_hex: str
    remaining_grams: float
    capacity_grams: float
    low_threshold_grams: float
    cost_per_kg: float
    location: str
    created_at: float
    updated_at: float
    diameter: float = 1.75
    consumed_grams: float = 0.0
    low_stock_alerted: bool = False

    @property
    def low_stock(self) -> bool:
        """Return whether the spool is at or below its reorder threshold."""
        return self.remaining_grams <= self.low_threshold_grams

    @property
    def remain_percent(self) -> int:
        """Return the remaining filament in percent of a full spool."""
        if self.capacity_grams <= 0:
            return 0
        # Bounded before rounding: a tiny capacity makes the ratio overflow to infinity
        return round(max(0.0, min(100.0, self.remaining_grams / self.capacity_grams * 100)))


@dataclass(kw_only=True)
class Tray:
    """A filament slot of a printer: an AMS tray or the external spool holder."""

    ams_id: int | None
    slot: int
    spool_id: str | None = None

    @property
    def tray_id(self) -> int:
        """Return Bambu's absolute tray id (ams*4+slot, 254 for the external spool)."""
        if self.ams_id is None:
            return 254
        return self.ams_id * 4 + self.slot


@dataclass(kw_only=True)
class Hms:
    """One Bambu health message."""

    attr: int
    code: int

    @property
    def severity(self) -> int:
        """Return the severity: 1 fatal, 2 serious, 3 common, 4 info."""
        return self.code >> SEVERITY_SHIFT


@dataclass(kw_only=True)
class Printer:
    """A simulated Bambu Lab printer and its place in the farm."""

    id: str
    printago_id: str
    name: str
    model: ModelSpec
    serial: str
    access_code: str
    group: str
    tags: list[str]
    location: str
    created_at: float
    updated_at: float
    trays: list[Tray]
    settings: dict[str, Any] = field(default_factory=dict)
    online: bool = True
    silent: bool = False
    enabled: bool = True
    maintenance: bool = False
    bed_clear: bool = True
    phase: Phase = Phase.IDLE
    job_id: str | None = None
    last_job_id: str | None = None
    stage: int = STAGE_IDLE
    prepare_percent: int = 0
    progress: float = 0.0
    layer: int = 0
    total_layers: int = 0
    remaining_seconds: float = 0.0
    nozzle_temp: float = 25.0
    nozzle_target: float = 0.0
    bed_temp: float = 25.0
    bed_target: float = 0.0
    chamber_temp: float = 25.0
    speed_level: int = 2
    lights: dict[str, bool] = field(default_factory=dict)
    wifi_signal: int = -50
    print_error: int = 0
    print_error_until: float = 0.0
    hms: list[Hms] = field(default_factory=list)
    active_tray: int | None = None
    paused_stage: int = 0
    # How long the stage had run when the print was paused: paused time is no stage time
    paused_in_stage: float = 0.0
    stage_started_at: float = 0.0
    print_seconds_total: float = 0.0
    jobs_completed: int = 0
    jobs_failed: int = 0
    last_printed_at: float | None = None

    @property
    def busy(self) -> bool:
        """Return whether the printer has a job on the bed in progress."""
        return self.phase in ACTIVE_PHASES

    @property
    def has_error(self) -> bool:
        """Return whether the printer reports an error."""
        return self.print_error not in (0, PRINT_ERROR_CANCELLED) or any(
            h.severity <= SERIOUS_SEVERITY for h in self.hms
        )

    @property
    def ready(self) -> bool:
        """Return whether the printer can take the next job."""
        return (
            self.online
            and self.enabled
            and not self.maintenance
            and self.bed_clear
            and not self.busy
            and not self.has_error
        )


@dataclass(kw_only=True)
class FileProfile:
    """What a print file takes: time, filament and layers."""

    print_seconds: float
    grams: float
    layers: int
    material: str | None = None
    fail_at_percent: float | None = None


@dataclass(kw_only=True)
class Part:
    """A Printago part: a model file with its slicing estimate."""

    id: str
    name: str
    type: str
    file_uris: list[str]
    profile: FileProfile
    created_at: float
    updated_at: float
    print_tags: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class Job:
    """A print job, from either farm service or started on the printer itself."""

    id: str
    printago_id: str
    source: str
    name: str
    file_url: str
    profile: FileProfile
    created_at: float
    updated_at: float
    queue_order: float
    priority: int = 1
    status: JobStatus = JobStatus.QUEUED
    part_id: str | None = None
    part_build_id: str | None = None
    quantity_index: int = 0
    quantity_total: int = 1
    label: str = ""
    target_printer_id: str | None = None
    target_group: str | None = None
    required_tags: list[str] = field(default_factory=list)
    material: str | None = None
    color: str | None = None
    printer_id: str | None = None
    spool_id: str | None = None
    progress: float = 0.0
    consumed_grams: float = 0.0
    assigned_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    cancelled_at: float | None = None
    error_message: str | None = None
    hidden: bool = False
    sale_price: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        """Return whether the job is still queued or running."""
        return self.status in OPEN_JOB_STATUSES


@dataclass(frozen=True, kw_only=True)
class WorldEvent:
    """Something that happened in the farm, for webhooks and realtime feeds."""

    type: str
    at: float
    printer_id: str | None = None
    job_id: str | None = None
    spool_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
