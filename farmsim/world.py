"""The one simulated farm world that every farmsim face reads and changes."""

from __future__ import annotations

import logging
import random
import string
from collections.abc import Callable, Iterable
from typing import Any

from .clock import SimClock
from .errors import InvalidStateError, NotFoundError, SimError, ValidationError
from .files import file_name, file_profile
from .models import (
    MODELS,
    PRINT_ERROR_CANCELLED,
    PRINT_ERROR_NOZZLE_CLOG,
    RUNNING_JOB_STATUSES,
    SERIOUS_SEVERITY,
    SPEED_FACTORS,
    STAGE_IDLE,
    STAGE_PAUSED_BY_USER,
    FileProfile,
    Hms,
    Job,
    JobStatus,
    MaterialProfile,
    ModelSpec,
    Part,
    Phase,
    Printer,
    Spool,
    Tray,
    WorldEvent,
)
from .printing import CANCEL_ERROR_SECONDS, Printing

__all__ = [
    "InvalidStateError",
    "NotFoundError",
    "SimError",
    "ValidationError",
    "World",
    "file_name",
    "file_profile",
    "running_job",
]

LOGGER = logging.getLogger(__name__)

type Listener = Callable[[WorldEvent], None]


class World(Printing):
    """Printers, jobs and filament of one simulated farm, advanced by a clock."""

    def __init__(self, *, clock: SimClock, seed: int = 0) -> None:
        """Initialize an empty world."""
        self.clock = clock
        self.rng = random.Random(seed)  # noqa: S311
        self.printers: dict[str, Printer] = {}
        self.jobs: dict[str, Job] = {}
        self.spools: dict[str, Spool] = {}
        self.profiles: dict[str, MaterialProfile] = {}
        self.parts: dict[str, Part] = {}
        self.events: list[WorldEvent] = []
        self._listeners: list[Listener] = []
        self._last_tick = clock.now()
        self._queue_counter = 0.0
        self._ids: set[str] = set()

    # Identity

    def new_id(self, prefix: str = "", length: int = 6) -> str:
        """Return a new unique id: `prefix` plus random lowercase letters and digits."""
        alphabet = string.ascii_lowercase + string.digits
        while True:
            candidate = prefix + "".join(self.rng.choice(alphabet) for _ in range(length))
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def new_printago_id(self) -> str:
        """Return a new cuid2-like id as Printago uses (24 characters)."""
        return self.new_id("c", 23)

    # Events

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` for every event; return a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event_type: str, **kwargs: Any) -> WorldEvent:
        """Record an event and tell every listener."""
        event = WorldEvent(type=event_type, at=self.clock.now(), **kwargs)
        self.events.append(event)
        del self.events[:-1000]
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                LOGGER.exception("Listener failed on %s", event_type)
        return event

    # Lookups

    def printer(self, printer_id: str) -> Printer:
        """Return a printer by its AutoPrintFarm id, Printago id or serial."""
        if found := self.printers.get(printer_id):
            return found
        for printer in self.printers.values():
            if printer_id in (printer.printago_id, printer.serial):
                return printer
        msg = f"No printer with ID {printer_id}"
        raise NotFoundError("printer_not_found", "Printer not found", msg)

    def job(self, job_id: str) -> Job:
        """Return a job by its AutoPrintFarm or Printago id."""
        if found := self.jobs.get(job_id):
            return found
        for job in self.jobs.values():
            if job.printago_id == job_id:
                return job
        msg = f"No job with ID {job_id}"
        raise NotFoundError("job_not_found", "Job not found", msg)

    def spool(self, spool_id: str) -> Spool:
        """Return a spool by its AutoPrintFarm or Printago id."""
        if found := self.spools.get(spool_id):
            return found
        for spool in self.spools.values():
            if spool.printago_id == spool_id:
                return spool
        msg = f"No material with ID {spool_id}"
        raise NotFoundError("material_not_found", "Material not found", msg)

    def tray_spool(self, tray: Tray) -> Spool | None:
        """Return the spool loaded in a tray, if any."""
        return self.spools.get(tray.spool_id) if tray.spool_id else None

    def printer_of_spool(self, spool_id: str) -> Printer | None:
        """Return the printer a spool is loaded in, if any."""
        for printer in self.printers.values():
            if any(tray.spool_id == spool_id for tray in printer.trays):
                return printer
        return None

    def open_jobs(self) -> list[Job]:
        """Return the queued jobs in the order they will be assigned."""
        return sorted(
            (job for job in self.jobs.values() if job.status is JobStatus.QUEUED),
            key=lambda job: (-job.priority, job.queue_order),
        )

    # Building the world

    def add_printer(
        self,
        *,
        model: str,
        name: str,
        group: str = "production",
        tags: Iterable[str] = (),
        location: str = "Farm floor",
        ams_units: int = 1,
    ) -> Printer:
        """Add a printer of a known model, with empty trays."""
        spec: ModelSpec = MODELS[model]
        now = self.clock.now()
        serial = spec.serial_prefix + "".join(self.rng.choice(string.digits) for _ in range(9))
        if spec.ams:
            trays = [Tray(ams_id=ams, slot=slot) for ams in range(ams_units) for slot in range(4)]
        else:
            trays = [Tray(ams_id=None, slot=0)]
        printer = Printer(
            id=self.new_id("prt_"),
            printago_id=self.new_printago_id(),
            name=name,
            model=spec,
            serial=serial,
            access_code="".join(self.rng.choice(string.digits) for _ in range(8)),
            group=group,
            tags=list(tags),
            location=location,
            created_at=now,
            updated_at=now,
            trays=trays,
            lights=dict.fromkeys(spec.lights, True),
            wifi_signal=self.rng.randint(-70, -40),
            settings={
                "nozzle_diameter": 0.4,
                "bed_type": "Textured PEI Plate",
                "auto_assign": True,
                "purchase_price": {"X1C": 1449.0, "P1S": 699.0}.get(model, 399.0),
                "power_watts": {"X1C": 350.0, "P1S": 300.0}.get(model, 150.0),
            },
        )
        self.printers[printer.id] = printer
        self.emit("printer.added", printer_id=printer.id)
        return printer

    def remove_printer(self, printer_id: str) -> Printer:
        """Take a printer out of the farm; its running job is cancelled."""
        printer = self.printer(printer_id)
        if printer.busy:
            self.stop_printer(printer.id)
        for job in self.jobs.values():
            if job.status is JobStatus.QUEUED and job.target_printer_id == printer.id:
                job.status = JobStatus.CANCELLED
                job.cancelled_at = job.completed_at = self.clock.now()
                job.error_message = "Printer removed from the farm"
                self.emit("job.cancelled", job_id=job.id)
        for tray in printer.trays:
            if (spool := self.tray_spool(tray)) is not None:
                spool.location = "Shelf"
        del self.printers[printer.id]
        self.emit("printer.removed", printer_id=printer.id, data={"serial": printer.serial})
        return printer

    def add_spool(
        self,
        *,
        material: str,
        color_name: str,
        color_hex: str,
        remaining_grams: float,
        brand: str = "Bambu Lab",
        capacity_grams: float = 1000.0,
        low_threshold_grams: float = 150.0,
        cost_per_kg: float | None = None,
        location: str = "Shelf",
    ) -> Spool:
        """Add a spool of filament to the inventory."""
        now = self.clock.now()
        if cost_per_kg is None:
            profile = self.profile_for(material)
            cost_per_kg = profile.cost_per_kg if profile else 20.0
        spool = Spool(
            id=self.new_id("mat_"),
            printago_id=self.new_printago_id(),
            material=material.upper(),
            brand=brand,
            color_name=color_name,
            color_hex=color_hex.upper(),
            remaining_grams=remaining_grams,
            capacity_grams=capacity_grams,
            low_threshold_grams=low_threshold_grams,
            cost_per_kg=cost_per_kg,
            location=location,
            created_at=now,
            updated_at=now,
        )
        spool.low_stock_alerted = spool.low_stock
        self.spools[spool.id] = spool
        self.emit("material.added", spool_id=spool.id)
        return spool

    def add_profile(
        self,
        *,
        name: str,
        material: str,
        nozzle_temp: float,
        bed_temp: float,
        density: float,
        cost_per_kg: float,
    ) -> MaterialProfile:
        """Add a material profile."""
        now = self.clock.now()
        profile = MaterialProfile(
            id=self.new_id("mpr_"),
            name=name,
            material=material.upper(),
            nozzle_temp=nozzle_temp,
            bed_temp=bed_temp,
            density=density,
            cost_per_kg=cost_per_kg,
            created_at=now,
            updated_at=now,
        )
        self.profiles[profile.id] = profile
        return profile

    def profile_for(self, material: str | None) -> MaterialProfile | None:
        """Return the material profile for a filament type."""
        for profile in self.profiles.values():
            if material and profile.material == material.upper():
                return profile
        return None

    def add_part(self, *, name: str, file_uri: str, profile: FileProfile) -> Part:
        """Add a Printago part."""
        now = self.clock.now()
        part = Part(
            id=self.new_printago_id(),
            name=name,
            type=file_uri.rsplit(".", 1)[-1].lower() if "." in file_uri else "stl",
            file_uris=[file_uri],
            profile=profile,
            created_at=now,
            updated_at=now,
        )
        self.parts[part.id] = part
        return part

    def load_spool(self, printer_id: str, tray_id: int, spool_id: str | None) -> Printer:
        """Load a spool into a tray of a printer (None empties the tray)."""
        printer = self.printer(printer_id)
        tray = next((t for t in printer.trays if t.tray_id == tray_id), None)
        if tray is None:
            msg = f"Printer {printer.name} has no tray {tray_id}"
            raise NotFoundError("tray_not_found", "Tray not found", msg)
        if spool_id is not None:
            spool = self.spool(spool_id)
            if (holder := self.printer_of_spool(spool.id)) is not None:
                for other in holder.trays:
                    if other.spool_id == spool.id:
                        other.spool_id = None
            spool.location = printer.name
            spool_id = spool.id
        tray.spool_id = spool_id
        self._touch(printer)
        return printer

    # Jobs

    def submit_job(
        self,
        *,
        source: str,
        file_url: str,
        name: str | None = None,
        profile: FileProfile | None = None,
        priority: int = 1,
        printer_id: str | None = None,
        group: str | None = None,
        tags: Iterable[str] = (),
        material: str | None = None,
        color: str | None = None,
        part_id: str | None = None,
        part_build_id: str | None = None,
        quantity_index: int = 0,
        quantity_total: int = 1,
        label: str = "",
        front: bool = False,
        sale_price: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Job:
        """Queue a print job; the scheduler assigns it to a ready printer."""
        if not file_url:
            msg = "file_url is required"
            raise ValidationError("invalid_request", msg, msg)
        target = self.printer(printer_id).id if printer_id else None
        now = self.clock.now()
        self._queue_counter += 1
        profile = profile or file_profile(file_url)
        if front:
            queue_order = min((j.queue_order for j in self.open_jobs()), default=0.0) - 1
        else:
            queue_order = self._queue_counter
        job = Job(
            id=self.new_id("job_"),
            printago_id=self.new_printago_id(),
            source=source,
            name=name or file_name(file_url),
            file_url=file_url,
            profile=profile,
            created_at=now,
            updated_at=now,
            queue_order=queue_order,
            priority=priority,
            part_id=part_id,
            part_build_id=part_build_id,
            quantity_index=quantity_index,
            quantity_total=quantity_total,
            label=label,
            target_printer_id=target,
            target_group=group,
            required_tags=list(tags),
            material=(material or profile.material or None),
            color=color,
            sale_price=sale_price,
            metadata=dict(metadata or {}),
        )
        if job.material:
            job.material = job.material.upper()
        self.jobs[job.id] = job
        self.emit("job.created", job_id=job.id)
        self.tick()
        return job

    def pause_job(self, job_id: str) -> Job:
        """Pause a printing job."""
        job = self.job(job_id)
        if job.status is not JobStatus.PRINTING or job.printer_id is None:
            msg = f"Job {job.id} is {job.status.value}, not printing"
            raise InvalidStateError("invalid_job_state", "Job is not printing", msg)
        self.pause_printer(job.printer_id)
        return job

    def resume_job(self, job_id: str) -> Job:
        """Resume a paused job."""
        job = self.job(job_id)
        if job.status is not JobStatus.PAUSED or job.printer_id is None:
            msg = f"Job {job.id} is {job.status.value}, not paused"
            raise InvalidStateError("invalid_job_state", "Job is not paused", msg)
        self.resume_printer(job.printer_id)
        return job

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a queued or running job."""
        job = self.job(job_id)
        self.tick()
        if not job.open:
            msg = f"Job {job.id} is already {job.status.value}"
            raise InvalidStateError("invalid_job_state", "Job has already ended", msg)
        if job.status is JobStatus.QUEUED or job.printer_id is None:
            job.status = JobStatus.CANCELLED
            job.cancelled_at = job.completed_at = self.clock.now()
            self._touch(job)
            self.emit("job.cancelled", job_id=job.id)
            return job
        self.stop_printer(job.printer_id)
        return job

    def retry_job(self, job_id: str) -> Job:
        """Put a failed or cancelled job back in the queue."""
        job = self.job(job_id)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            msg = f"Job {job.id} is {job.status.value}"
            raise InvalidStateError(
                "invalid_job_state", "Only failed or cancelled jobs can be retried", msg
            )
        self._queue_counter += 1
        job.status = JobStatus.QUEUED
        job.queue_order = self._queue_counter
        job.printer_id = job.spool_id = None
        job.progress = job.consumed_grams = 0.0
        job.assigned_at = job.started_at = job.completed_at = job.cancelled_at = None
        job.error_message = None
        job.hidden = False
        self._touch(job)
        self.emit("job.requeued", job_id=job.id)
        self.tick()
        return job

    def move_to_front(self, job_id: str) -> Job:
        """Put a queued job at the front of the queue."""
        job = self.job(job_id)
        if job.status is not JobStatus.QUEUED:
            msg = f"Job {job.id} is {job.status.value}, not queued"
            raise InvalidStateError("invalid_job_state", "Job is not queued", msg)
        job.queue_order = min(j.queue_order for j in self.open_jobs()) - 1
        self._touch(job)
        self.emit("job.updated", job_id=job.id)
        return job

    def hide_job(self, job_id: str) -> Job:
        """Clear an ended job from the queue view."""
        job = self.job(job_id)
        if job.open:
            msg = f"Job {job.id} is {job.status.value}"
            raise InvalidStateError("invalid_job_state", "Only ended jobs can be cleared", msg)
        job.hidden = True
        self._touch(job)
        self.emit("job.updated", job_id=job.id)
        return job

    def update_job(
        self, job_id: str, *, priority: int | None = None, name: str | None = None
    ) -> Job:
        """Change a job's priority or name."""
        job = self.job(job_id)
        if priority is not None:
            job.priority = priority
        if name is not None:
            job.name = name
        self._touch(job)
        self.emit("job.updated", job_id=job.id)
        return job

    # Printer control

    def pause_printer(self, printer_id: str) -> Printer:
        """Pause the print on a printer."""
        printer = self.printer(printer_id)
        self.tick()
        if printer.phase is not Phase.RUNNING:
            msg = f"Printer {printer.name} is {self.status_word(printer)}, not printing"
            raise InvalidStateError("invalid_printer_state", "Printer is not printing", msg)
        printer.paused_stage = printer.stage
        printer.phase = Phase.PAUSE
        printer.stage = STAGE_PAUSED_BY_USER
        job = self._printer_job(printer)
        job.status = JobStatus.PAUSED
        self._touch(printer, job)
        self.emit("job.paused", printer_id=printer.id, job_id=job.id)
        return printer

    def resume_printer(self, printer_id: str) -> Printer:
        """Resume a paused print."""
        printer = self.printer(printer_id)
        self.tick()
        if printer.phase is not Phase.PAUSE:
            msg = f"Printer {printer.name} is {self.status_word(printer)}, not paused"
            raise InvalidStateError("invalid_printer_state", "Printer is not paused", msg)
        printer.phase = Phase.RUNNING
        printer.stage = printer.paused_stage
        job = self._printer_job(printer)
        job.status = JobStatus.PRINTING
        self._touch(printer, job)
        self.emit("job.resumed", printer_id=printer.id, job_id=job.id)
        return printer

    def stop_printer(self, printer_id: str) -> Printer:
        """Stop (cancel) the print on a printer."""
        printer = self.printer(printer_id)
        self.tick()
        if not printer.busy:
            msg = f"Printer {printer.name} is {self.status_word(printer)}, nothing to stop"
            raise InvalidStateError("invalid_printer_state", "Printer is not printing", msg)
        job = self._printer_job(printer)
        now = self.clock.now()
        self._end_print(printer, Phase.FAILED)
        printer.print_error = PRINT_ERROR_CANCELLED
        printer.print_error_until = now + CANCEL_ERROR_SECONDS
        job.status = JobStatus.CANCELLED
        job.cancelled_at = job.completed_at = now
        self._touch(printer, job)
        self.emit("job.cancelled", printer_id=printer.id, job_id=job.id)
        return printer

    def clear_bed(self, printer_id: str) -> Printer:
        """Confirm the bed is clear: the printer can take the next job."""
        printer = self.printer(printer_id)
        self.tick()
        if printer.busy:
            msg = f"Printer {printer.name} is {self.status_word(printer)}"
            raise InvalidStateError("invalid_printer_state", "Printer is busy", msg)
        had_error = printer.has_error
        printer.bed_clear = True
        printer.phase = Phase.IDLE
        printer.stage = STAGE_IDLE
        printer.print_error = 0
        printer.hms = [h for h in printer.hms if h.severity > SERIOUS_SEVERITY]
        printer.progress = 0.0
        printer.layer = printer.total_layers = 0
        printer.remaining_seconds = 0.0
        printer.prepare_percent = 0
        self._touch(printer)
        if had_error:
            self.emit("printer.error_cleared", printer_id=printer.id)
        self.emit("printer.ready", printer_id=printer.id)
        self.tick()
        return printer

    def set_bed_clear(self, printer_id: str, *, ready: bool) -> Printer:
        """Mark a printer ready (bed clear) or not ready for the next job."""
        if ready:
            return self.clear_bed(printer_id)
        printer = self.printer(printer_id)
        printer.bed_clear = False
        self._touch(printer)
        self.emit("printer.updated", printer_id=printer.id)
        return printer

    def set_speed(self, printer_id: str, level: int) -> Printer:
        """Set the print speed level (1 silent, 2 standard, 3 sport, 4 ludicrous)."""
        printer = self.printer(printer_id)
        if level not in SPEED_FACTORS:
            msg = f"Speed level must be 1-4, not {level}"
            raise ValidationError("invalid_speed", "Invalid speed level", msg)
        self.tick()
        printer.speed_level = level
        self._update_remaining(printer)
        self._touch(printer)
        self.emit("printer.updated", printer_id=printer.id)
        return printer

    def set_light(self, printer_id: str, node: str, *, on: bool) -> Printer:
        """Switch a light of the printer."""
        printer = self.printer(printer_id)
        if node not in printer.lights:
            msg = f"Printer {printer.name} has no {node}"
            raise InvalidStateError("unsupported", "The printer has no such light", msg)
        printer.lights[node] = on
        self._touch(printer)
        self.emit("printer.updated", printer_id=printer.id)
        return printer

    def set_targets(
        self, printer_id: str, *, nozzle: float | None = None, bed: float | None = None
    ) -> Printer:
        """Set heater targets (from G-code M104/M140)."""
        printer = self.printer(printer_id)
        self.tick()
        if nozzle is not None:
            printer.nozzle_target = max(0.0, min(nozzle, printer.model.nozzle_max))
        if bed is not None:
            printer.bed_target = max(0.0, min(bed, printer.model.bed_max))
        self._touch(printer)
        return printer

    def start_file(self, printer_id: str, *, file_url: str, name: str | None = None) -> Job:
        """Start a file directly on a printer, as Bambu's `project_file` does."""
        printer = self.printer(printer_id)
        self.tick()
        if printer.busy:
            msg = f"Printer {printer.name} is {self.status_word(printer)}"
            raise InvalidStateError("invalid_printer_state", "Printer is busy", msg)
        job = self.submit_job(source="lan", file_url=file_url, name=name, printer_id=printer.id)
        if job.status is JobStatus.QUEUED:
            tray = self._pick_tray(printer, job, strict=False)
            self._assign(job, printer, tray)
        return job

    def set_online(self, printer_id: str, *, online: bool) -> Printer:
        """Connect or disconnect a printer from the network; a print goes on regardless."""
        printer = self.printer(printer_id)
        self.tick()
        if printer.online != online:
            printer.online = online
            self._touch(printer)
            self.emit("printer.online" if online else "printer.offline", printer_id=printer.id)
        return printer

    def set_silent(self, printer_id: str, *, silent: bool) -> Printer:
        """Make a printer stop (or resume) pushing MQTT reports while staying connected."""
        printer = self.printer(printer_id)
        printer.silent = silent
        return printer

    def set_maintenance(self, printer_id: str, *, maintenance: bool) -> Printer:
        """Put a printer into or out of maintenance."""
        printer = self.printer(printer_id)
        if maintenance and printer.busy:
            msg = f"Printer {printer.name} is {self.status_word(printer)}"
            raise InvalidStateError("invalid_printer_state", "Printer is busy", msg)
        printer.maintenance = maintenance
        self._touch(printer)
        self.emit("printer.updated", printer_id=printer.id)
        self.tick()
        return printer

    def set_enabled(self, printer_id: str, *, enabled: bool) -> Printer:
        """Allow or forbid automatic job assignment to a printer."""
        printer = self.printer(printer_id)
        printer.enabled = enabled
        self._touch(printer)
        self.emit("printer.updated", printer_id=printer.id)
        self.tick()
        return printer

    def fail_print(self, printer_id: str, *, code: int = PRINT_ERROR_NOZZLE_CLOG) -> Printer:
        """Make the running print fail with a printer error."""
        printer = self.printer(printer_id)
        self.tick()
        if not printer.busy:
            msg = f"Printer {printer.name} is {self.status_word(printer)}"
            raise InvalidStateError("invalid_printer_state", "Printer is not printing", msg)
        self._fail(printer, code)
        return printer

    def raise_hms(self, printer_id: str, *, attr: int, code: int) -> Printer:
        """Add a health message to a printer."""
        printer = self.printer(printer_id)
        printer.hms.append(Hms(attr=attr, code=code))
        self._touch(printer)
        self.emit("printer.error", printer_id=printer.id, data={"attr": attr, "code": code})
        return printer

    def clear_hms(self, printer_id: str) -> Printer:
        """Remove every health message of a printer."""
        printer = self.printer(printer_id)
        had_error = printer.has_error
        printer.hms.clear()
        self._touch(printer)
        if had_error and not printer.has_error:
            self.emit("printer.error_cleared", printer_id=printer.id)
        self.tick()
        return printer

    def update_spool(self, spool_id: str, **changes: Any) -> Spool:
        """Change fields of a spool (remaining grams, threshold, location, ...)."""
        spool = self.spool(spool_id)
        for key, value in changes.items():
            if value is None:
                continue
            if not hasattr(spool, key) or key in ("id", "printago_id", "created_at"):
                msg = f"Unknown material field {key}"
                raise ValidationError("invalid_field", msg, msg)
            setattr(spool, key, value)
        if not spool.low_stock:
            spool.low_stock_alerted = False
        self._touch(spool)
        self.emit("material.updated", spool_id=spool.id)
        self._check_low_stock(spool)
        self.tick()
        return spool

    def delete_spool(self, spool_id: str) -> Spool:
        """Remove a spool from the inventory, unloading it first."""
        spool = self.spool(spool_id)
        if (printer := self.printer_of_spool(spool.id)) is not None:
            job = running_job(self, printer)
            if job is not None and job.spool_id == spool.id:
                msg = f"Material {spool.id} is in use on {printer.name}"
                raise InvalidStateError("material_in_use", "Material is in use", msg)
            for tray in printer.trays:
                if tray.spool_id == spool.id:
                    tray.spool_id = None
        del self.spools[spool.id]
        self.emit("material.deleted", spool_id=spool.id)
        return spool

    # Status words shared by the faces

    def status_word(self, printer: Printer) -> str:  # noqa: PLR0911
        """Return the farm-level status word of a printer."""
        if not printer.online:
            return "offline"
        if printer.maintenance:
            return "maintenance"
        if printer.has_error:
            return "error"
        if printer.phase is Phase.PREPARE:
            return "preparing"
        if printer.phase is Phase.RUNNING:
            return "printing"
        if printer.phase is Phase.PAUSE:
            return "paused"
        if not printer.bed_clear:
            return "finished"
        return "idle"


def running_job(world: World, printer: Printer) -> Job | None:
    """Return the job a printer is working on, if any."""
    if (
        printer.job_id
        and (job := world.jobs.get(printer.job_id))
        and job.status in RUNNING_JOB_STATUSES
    ):
        return job
    return None
