"""The one simulated farm world that every farmsim face reads and changes.

The world is built from one module per idea: its state and lookups (state), time moving
printers along (printing), printer control (control), the job queue (jobs) and filament
(inventory). `World` puts them together and builds the farm.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

from .errors import InvalidStateError, NotFoundError, SimError, ValidationError
from .files import file_name, file_profile
from .inventory import Inventory
from .jobs import JobControl
from .models import MODELS, FileProfile, JobStatus, ModelSpec, Part, Printer, Tray
from .state import running_job

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


class World(JobControl, Inventory):
    """Printers, jobs and filament of one simulated farm, advanced by a clock."""

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
        self._advanced_at.pop(printer.id, None)
        self.emit("printer.removed", printer_id=printer.id, data={"serial": printer.serial})
        return printer

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
