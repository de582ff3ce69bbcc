"""Printer control: what an operator or a command does to one printer."""

from __future__ import annotations

from .errors import InvalidStateError, ValidationError
from .models import (
    PRINT_ERROR_CANCELLED,
    PRINT_ERROR_NOZZLE_CLOG,
    SERIOUS_SEVERITY,
    SPEED_FACTORS,
    STAGE_IDLE,
    STAGE_PAUSED_BY_USER,
    Hms,
    JobStatus,
    Phase,
    Printer,
)
from .printing import CANCEL_ERROR_SECONDS, Printing


class PrinterControl(Printing):
    """The printer controls of the world: pause, resume, stop, clear the bed, settings."""

    def pause_printer(self, printer_id: str) -> Printer:
        """Pause the print on a printer."""
        printer = self.printer(printer_id)
        self.tick()
        if printer.phase is not Phase.RUNNING:
            msg = f"Printer {printer.name} is {self.status_word(printer)}, not printing"
            raise InvalidStateError("invalid_printer_state", "Printer is not printing", msg)
        printer.paused_stage = printer.stage
        printer.paused_in_stage = self.clock.now() - printer.stage_started_at
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
        printer.stage_started_at = self.clock.now() - printer.paused_in_stage
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
