"""One printer as a whole: the farm's view of it merged with the state it pushes.

Every rule about which source wins (status precedence, errors, progress, the job) is here,
so each consumer shows a printer the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .bambu.errors import ErrorInfo, describe, describe_health
from .colors import color_name
from .events import PRINT_ERROR_CANCELLED, SEVERITY_SERIOUS
from .models import Job, Printer, PrinterStatus
from .state import PrinterState

BUSY_STATUSES: Final = frozenset(
    {PrinterStatus.PREPARING, PrinterStatus.PRINTING, PrinterStatus.PAUSED}
)


@dataclass(frozen=True, kw_only=True, slots=True)
class PrinterView:
    """What is known of one printer: the farm's view, its pushed state and its open job.

    Fresh pushed state (`state.online`) wins over the farm's view, which is only as recent
    as the last poll; without it, the farm's view stands.
    """

    printer: Printer
    state: PrinterState | None = None
    job: Job | None = None

    def with_state(self, state: PrinterState | None) -> PrinterView:
        """Return the view with another pushed state (at every report: no `replace`)."""
        return PrinterView(printer=self.printer, state=state, job=self.job)

    @property
    def pushed(self) -> PrinterState | None:
        """Return the pushed state while it is fresh, else None."""
        state = self.state
        return state if state is not None and state.online else None

    @property
    def online(self) -> bool:
        """Return whether the printer is reachable: pushing state, or online for the farm."""
        if self.state is not None:
            return self.state.online
        return self.printer.online

    @property
    def status(self) -> PrinterStatus:
        """Return the printer status, pushed if fresh, else the farm's."""
        if (state := self.pushed) is not None:
            return state.status
        return self.printer.status

    @property
    def busy(self) -> bool:
        """Return whether a print is under way (preparing, printing or paused)."""
        return self.status in BUSY_STATUSES

    @property
    def shows_job(self) -> bool:
        """Return whether the printer shows a job: one under way, or one done on the bed."""
        return self.busy or self.status is PrinterStatus.FINISHED

    @property
    def progress(self) -> float | None:
        """Return the print progress in percent, while printing or just finished."""
        if not self.shows_job:
            return None
        if (state := self.pushed) is not None and state.progress is not None:
            return state.progress
        return self.printer.progress

    @property
    def remaining_seconds(self) -> int | None:
        """Return the estimated seconds until the print finishes, while printing."""
        if not self.busy:
            return None
        if (state := self.pushed) is not None and state.remaining_seconds is not None:
            return state.remaining_seconds
        return self.printer.remaining_seconds

    @property
    def job_name(self) -> str | None:
        """Return the name of the job on the printer: the farm's, or the one it reports."""
        if not self.shows_job:
            return None
        if self.job is not None:
            return self.job.name
        return self.state.job_name if self.state else None

    @property
    def job_file(self) -> str | None:
        """Return the file of the job on the printer: the farm's, or the one it reports."""
        if not self.shows_job:
            return None
        if self.job is not None and self.job.file:
            return self.job.file
        return self.state.file if self.state else None

    @property
    def error_code(self) -> str | None:
        """Return the printer's error code, or None without an error."""
        if (state := self.pushed) is not None:
            # A cancelled print leaves its code behind, but it is no error
            if state.error_code and state.print_error != PRINT_ERROR_CANCELLED:
                return state.error_code
            serious = [h.code for h in state.health if 0 < h.severity <= SEVERITY_SERIOUS]
            return serious[0] if serious else None
        return self.printer.error

    @property
    def has_error(self) -> bool:
        """Return whether the printer is in error or reports one."""
        return self.status is PrinterStatus.ERROR or self.error_code is not None

    @property
    def model(self) -> str | None:
        """Return the printer's model, as it reports it or else as the farm knows it."""
        if self.state is not None and self.state.model:
            return self.state.model
        return self.printer.model

    @property
    def error(self) -> ErrorInfo | None:
        """Return the printer's error told in words (module, severity, meaning, wiki page)."""
        if (code := self.error_code) is None:
            return None
        info = describe(code, self.model)
        if info.severity is None and (state := self.pushed) is not None:
            health = next((h for h in state.health if h.code == code), None)
            if health is not None:
                return describe_health(health, self.model)
        return info

    @property
    def errors(self) -> list[ErrorInfo]:
        """Return every health message the printer pushes, told in words."""
        state = self.pushed
        if state is None:
            return []
        return [describe_health(message, self.model) for message in state.health]

    @property
    def health_codes(self) -> list[str]:
        """Return the codes of the health messages the printer pushes."""
        state = self.pushed
        return [h.code for h in state.health] if state is not None else []

    @property
    def awaiting_bed_clear(self) -> bool:
        """Return whether a finished print waits on the bed; never while a print is under way."""
        if self.busy:
            return False
        return self.status is PrinterStatus.FINISHED or self.printer.bed_clear_required

    @property
    def bed_clearable(self) -> bool:
        """Return whether a print or an error left the bed to be cleared."""
        if self.busy:
            return False
        return self.status in (PrinterStatus.FINISHED, PrinterStatus.ERROR) or (
            self.printer.bed_clear_required
        )

    @property
    def active_filament(self) -> str | None:
        """Return the type and colour of the filament feeding the nozzle."""
        state = self.state
        if state is None or state.active_tray is None:
            return None
        for tray in state.trays:
            if tray.tray_id == state.active_tray and tray.loaded:
                words = (tray.type, color_name(tray.color))
                return " ".join(part for part in words if part) or None
        return None
