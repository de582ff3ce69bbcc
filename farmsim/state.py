"""The state of the simulated farm world: its objects, ids, events and lookups."""

from __future__ import annotations

import logging
import random
import string
from collections.abc import Callable
from typing import Any

from .clock import SimClock
from .errors import NotFoundError
from .models import (
    RUNNING_JOB_STATUSES,
    Job,
    JobStatus,
    MaterialProfile,
    Part,
    Phase,
    Printer,
    Spool,
    Tray,
    WorldEvent,
)

LOGGER = logging.getLogger(__name__)

type Listener = Callable[[WorldEvent], None]


class WorldState:
    """Printers, jobs and filament of one simulated farm, and how to find them."""

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

    def profile_for(self, material: str | None) -> MaterialProfile | None:
        """Return the material profile for a filament type."""
        for profile in self.profiles.values():
            if material and profile.material == material.upper():
                return profile
        return None

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


def running_job(world: WorldState, printer: Printer) -> Job | None:
    """Return the job a printer is working on, if any."""
    if (
        printer.job_id
        and (job := world.jobs.get(printer.job_id))
        and job.status in RUNNING_JOB_STATUSES
    ):
        return job
    return None
