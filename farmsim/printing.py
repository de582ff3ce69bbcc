"""How printers print in simulated time: heating, printing, finishing, and job assignment."""

from __future__ import annotations

import math
from collections.abc import Callable

from .clock import SimClock
from .errors import InvalidStateError
from .models import (
    PRINT_ERROR_CANCELLED,
    PRINT_ERROR_NOZZLE_CLOG,
    SPEED_FACTORS,
    STAGE_BED_LEVELING,
    STAGE_HEATBED_PREHEATING,
    STAGE_HEATING_HOTEND,
    STAGE_IDLE,
    STAGE_PRINTING,
    Job,
    JobStatus,
    Phase,
    Printer,
    Spool,
    Tray,
)
from .state import WorldState

AMBIENT = 25.0
NOZZLE_TAU = 20.0
BED_TAU = 60.0
CHAMBER_TAU = 300.0
PREPARE_SECONDS = 60.0
LEVELING_SECONDS = 45.0
CANCEL_ERROR_SECONDS = 2.0
TEMP_SNAP = 0.05

type AdvanceListener = Callable[[Printer], None]


def _approach(current: float, target: float, dt: float, tau: float) -> float:
    """Move a temperature towards its target over dt seconds."""
    value = target + (current - target) * math.exp(-dt / tau)
    return target if abs(value - target) < TEMP_SNAP else value


def _time_to_reach(current: float, target: float, tau: float) -> float:
    """Return the seconds until a temperature is within one degree of its target."""
    gap = abs(current - target)
    return 0.0 if gap <= 1.0 else tau * math.log(gap)


class Printing(WorldState):
    """The part of the world that moves with the clock: printers printing, jobs assigned.

    Each printer keeps the time it was last advanced to, so a printer's report advances that
    printer alone; the farm's ticker and the API calls advance every printer.
    """

    def __init__(self, *, clock: SimClock, seed: int = 0) -> None:
        """Initialize an empty world at the clock's time."""
        super().__init__(clock=clock, seed=seed)
        self._last_tick = clock.now()
        self._advanced_at: dict[str, float] = {}
        self._assign_due = True
        self._advance_listeners: list[AdvanceListener] = []

    def add_advance_listener(self, listener: AdvanceListener) -> Callable[[], None]:
        """Call `listener` with each printer moved forward in time; return an unsubscribe."""
        self._advance_listeners.append(listener)
        return lambda: self._advance_listeners.remove(listener)

    def tick(self) -> None:
        """Advance every printer to the clock's time and assign queued jobs."""
        now = self.clock.now()
        for printer in list(self.printers.values()):
            self._advance_to(printer, now)
        self._last_tick = now
        self._assign_jobs()

    def tick_printer(self, printer_id: str) -> None:
        """Advance one printer to the clock's time; assign queued jobs if anything changed."""
        self._advance_to(self.printers[printer_id], self.clock.now())
        if self._assign_due:
            self._assign_jobs()

    def _advance_to(self, printer: Printer, now: float) -> None:
        """Advance one printer from where it was last advanced to `now`."""
        # A printer not advanced yet (just added) starts at the last tick of the farm
        start = self._advanced_at.get(printer.id, self._last_tick)
        if now <= start:
            return
        self._advanced_at[printer.id] = now
        self._step(printer, start, now - start)
        for listener in list(self._advance_listeners):
            listener(printer)

    def _step(self, printer: Printer, start: float, dt: float) -> None:
        """Advance one printer by dt simulated seconds, through phase changes."""
        at = start
        remaining = dt
        for _ in range(32):
            if remaining <= 0:
                break
            used = self._advance(printer, at, remaining)
            self._thermal(printer, used)
            at += used
            remaining -= used
        if printer.print_error == PRINT_ERROR_CANCELLED and at >= printer.print_error_until:
            printer.print_error = 0
            self._touch(printer)
        self._update_remaining(printer)

    def _advance(self, printer: Printer, at: float, dt: float) -> float:  # noqa: PLR0911
        """Advance within the current phase; return the seconds used before a change."""
        if printer.phase is Phase.PREPARE:
            elapsed = at - printer.stage_started_at
            left = PREPARE_SECONDS - elapsed
            if dt < left:
                printer.prepare_percent = int((elapsed + dt) / PREPARE_SECONDS * 100)
                return dt
            printer.prepare_percent = 100
            self._start_running(printer, at + left)
            return max(left, 0.0)
        if printer.phase is not Phase.RUNNING:
            return dt
        job = self._printer_job(printer)
        if printer.stage == STAGE_HEATBED_PREHEATING:
            wait = _time_to_reach(printer.bed_temp, printer.bed_target, BED_TAU)
            if dt < wait:
                return dt
            self._set_stage(printer, STAGE_BED_LEVELING, at + wait)
            return wait
        if printer.stage == STAGE_BED_LEVELING:
            left = LEVELING_SECONDS - (at - printer.stage_started_at)
            if dt < left:
                return dt
            printer.nozzle_target = self._temps(job)[0]
            self._set_stage(printer, STAGE_HEATING_HOTEND, at + left)
            return max(left, 0.0)
        if printer.stage == STAGE_HEATING_HOTEND:
            wait = _time_to_reach(printer.nozzle_temp, printer.nozzle_target, NOZZLE_TAU)
            if dt < wait:
                return dt
            self._set_stage(printer, STAGE_PRINTING, at + wait)
            return wait
        return self._print(printer, job, dt)

    def _print(self, printer: Printer, job: Job, dt: float) -> float:
        """Lay down filament for dt seconds; finish or fail the job when it is time."""
        profile = job.profile
        speed = SPEED_FACTORS[printer.speed_level]
        end = min(profile.fail_at_percent or 100.0, 100.0)
        left = (end - job.progress) / 100 * profile.print_seconds / speed
        used = min(dt, max(left, 0.0))
        before = job.progress
        job.progress = min(end, job.progress + used * speed / profile.print_seconds * 100)
        self._consume(job, profile.grams * (job.progress - before) / 100)
        printer.progress = job.progress
        printer.layer = max(1, math.ceil(job.progress / 100 * printer.total_layers))
        printer.print_seconds_total += used
        if dt >= left:
            if profile.fail_at_percent is not None and end < 100.0:  # noqa: PLR2004
                self._fail(printer, PRINT_ERROR_NOZZLE_CLOG)
            else:
                self._complete(printer, job)
        return used

    def _thermal(self, printer: Printer, dt: float) -> None:
        """Let heaters and the chamber approach their targets."""
        if dt <= 0:
            return
        nozzle_goal = printer.nozzle_target or AMBIENT
        bed_goal = printer.bed_target or AMBIENT
        printer.nozzle_temp = _approach(printer.nozzle_temp, nozzle_goal, dt, NOZZLE_TAU)
        printer.bed_temp = _approach(printer.bed_temp, bed_goal, dt, BED_TAU)
        chamber_goal = round(AMBIENT + max(printer.bed_temp - AMBIENT, 0) * 0.2, 1)
        printer.chamber_temp = _approach(printer.chamber_temp, chamber_goal, dt, CHAMBER_TAU)

    def _temps(self, job: Job) -> tuple[float, float]:
        """Return the nozzle and bed temperatures a job prints at."""
        spool = self.spools.get(job.spool_id or "")
        profile = self.profile_for(spool.material if spool else job.material)
        if profile is None:
            return 220.0, 55.0
        return profile.nozzle_temp, profile.bed_temp

    def _set_stage(self, printer: Printer, stage: int, at: float) -> None:
        printer.stage = stage
        printer.stage_started_at = at
        self._touch(printer)

    def _start_running(self, printer: Printer, at: float) -> None:
        """Leave PREPARE: start heating the bed; the job is now printing."""
        job = self._printer_job(printer)
        printer.phase = Phase.RUNNING
        printer.bed_target = self._temps(job)[1]
        self._set_stage(printer, STAGE_HEATBED_PREHEATING, at)
        job.status = JobStatus.PRINTING
        job.started_at = at
        self._touch(job)
        self.emit("job.started", printer_id=printer.id, job_id=job.id)

    def _update_remaining(self, printer: Printer) -> None:
        """Recompute the estimated remaining seconds of the current print."""
        if not printer.busy or printer.job_id is None:
            printer.remaining_seconds = 0.0
            return
        job = self.jobs[printer.job_id]
        speed = SPEED_FACTORS[printer.speed_level]
        left = (100.0 - job.progress) / 100 * job.profile.print_seconds / speed
        if printer.phase is Phase.PREPARE:
            left += PREPARE_SECONDS * (100 - printer.prepare_percent) / 100 + LEVELING_SECONDS
        printer.remaining_seconds = max(left, 0.0)

    def _consume(self, job: Job, grams: float) -> None:
        """Take filament from the job's spool."""
        if grams <= 0 or job.spool_id is None or (spool := self.spools.get(job.spool_id)) is None:
            return
        taken = min(grams, spool.remaining_grams)
        spool.remaining_grams -= taken
        spool.consumed_grams += taken
        job.consumed_grams += taken
        spool.updated_at = self.clock.now()
        self._check_low_stock(spool)

    def _check_low_stock(self, spool: Spool) -> None:
        if spool.low_stock and not spool.low_stock_alerted:
            spool.low_stock_alerted = True
            self.emit("material.low_stock", spool_id=spool.id)

    def _complete(self, printer: Printer, job: Job) -> None:
        now = self.clock.now()
        self._end_print(printer, Phase.FINISH)
        printer.progress = 100.0
        printer.layer = printer.total_layers
        printer.jobs_completed += 1
        printer.last_printed_at = now
        job.status = JobStatus.COMPLETED
        job.progress = 100.0
        job.completed_at = now
        self._touch(printer, job)
        self.emit(
            "job.completed",
            printer_id=printer.id,
            job_id=job.id,
            spool_id=job.spool_id,
            data={"consumed_grams": round(job.consumed_grams, 2)},
        )

    def _fail(self, printer: Printer, code: int) -> None:
        job = self._printer_job(printer)
        now = self.clock.now()
        self._end_print(printer, Phase.FAILED)
        printer.print_error = code
        printer.jobs_failed += 1
        job.status = JobStatus.FAILED
        job.completed_at = now
        job.error_message = f"Printer error {code:08X}"
        self._touch(printer, job)
        self.emit("printer.error", printer_id=printer.id, data={"print_error": code})
        self.emit("job.failed", printer_id=printer.id, job_id=job.id)

    def _end_print(self, printer: Printer, phase: Phase) -> None:
        """Leave the printing phases: heaters off, bed waits to be cleared."""
        printer.phase = phase
        printer.stage = STAGE_IDLE
        printer.nozzle_target = printer.bed_target = 0.0
        printer.last_job_id = printer.job_id
        printer.job_id = None
        printer.bed_clear = False
        printer.remaining_seconds = 0.0

    def _printer_job(self, printer: Printer) -> Job:
        if printer.job_id is None:  # pragma: no cover - guarded by phase checks
            msg = f"Printer {printer.name} has no job"
            raise InvalidStateError("invalid_printer_state", msg, msg)
        return self.jobs[printer.job_id]

    def _assign_jobs(self) -> None:
        """Give queued jobs to ready printers that match them."""
        self._assign_due = False
        ready = [p for p in self.printers.values() if p.ready]
        if not ready:
            return
        for job in self.open_jobs():
            for printer in ready:
                if self._matches(job, printer) and (tray := self._pick_tray(printer, job)):
                    self._assign(job, printer, tray)
                    ready.remove(printer)
                    break
            if not ready:
                return

    def _matches(self, job: Job, printer: Printer) -> bool:
        if job.target_printer_id and job.target_printer_id != printer.id:
            return False
        if job.target_group and job.target_group != printer.group:
            return False
        return all(tag in printer.tags for tag in job.required_tags)

    def _pick_tray(self, printer: Printer, job: Job, *, strict: bool = True) -> Tray | None:
        """Return the tray whose filament suits the job, the fullest first."""
        candidates: list[tuple[float, Tray]] = []
        for tray in printer.trays:
            spool = self.tray_spool(tray)
            if spool is None:
                continue
            if job.material and spool.material != job.material:
                continue
            if job.color and job.color.lower().lstrip("#") not in (
                spool.color_name.lower(),
                spool.color_hex.lower().lstrip("#"),
            ):
                continue
            if spool.remaining_grams < job.profile.grams:
                continue
            candidates.append((spool.remaining_grams, tray))
        if not candidates:
            return None if strict else next(iter(printer.trays), None)
        return max(candidates, key=lambda item: item[0])[1]

    def _assign(self, job: Job, printer: Printer, tray: Tray | None) -> None:
        now = self.clock.now()
        job.status = JobStatus.PREPARING
        job.printer_id = printer.id
        job.spool_id = tray.spool_id if tray else None
        job.assigned_at = now
        printer.phase = Phase.PREPARE
        printer.job_id = job.id
        printer.bed_clear = False
        printer.print_error = 0
        printer.prepare_percent = 0
        printer.progress = 0.0
        printer.layer = 0
        printer.total_layers = job.profile.layers
        printer.active_tray = tray.tray_id if tray and tray.spool_id else None
        printer.stage_started_at = now
        printer.stage = STAGE_IDLE
        self._update_remaining(printer)
        self._touch(printer, job)
        self.emit("job.assigned", printer_id=printer.id, job_id=job.id, spool_id=job.spool_id)

    def _touch(self, *objects: Printer | Job | Spool) -> None:
        """Note a change: its time on the objects, and that queued jobs may now fit."""
        self._assign_due = True
        now = self.clock.now()
        for obj in objects:
            obj.updated_at = now
