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
# The chamber settles this share of the bed's heat above ambient
CHAMBER_SHARE = 0.2
PREPARE_SECONDS = 60.0
LEVELING_SECONDS = 45.0
CANCEL_ERROR_SECONDS = 2.0
TEMP_SNAP = 0.05

type AdvanceListener = Callable[[Printer], None]


def _goal(target: float) -> float:
    """Return the temperature a heater set to `target` settles at; heaters cannot cool."""
    return max(target, AMBIENT)


def _approach(current: float, goal: float, dt: float, tau: float) -> float:
    """Move a temperature towards its goal over dt seconds."""
    value = goal + (current - goal) * math.exp(-dt / tau)
    return goal if abs(value - goal) < TEMP_SNAP else value


def _chamber(current: float, bed: float, bed_goal: float, dt: float) -> float:
    """Move the chamber temperature over dt seconds while the bed approaches its goal.

    The chamber approaches AMBIENT plus CHAMBER_SHARE of the bed's heat, a goal that moves with
    the bed. Solved in closed form, not stepped, so one long step ends where many short ones do.
    """
    settled = AMBIENT + CHAMBER_SHARE * (bed_goal - AMBIENT)
    # The chamber's answer to the part of its goal that fades as the bed settles
    lag = CHAMBER_SHARE * (bed - bed_goal) * BED_TAU / (BED_TAU - CHAMBER_TAU)
    value = (
        settled
        + lag * math.exp(-dt / BED_TAU)
        + (current - settled - lag) * math.exp(-dt / CHAMBER_TAU)
    )
    return settled if abs(value - settled) < TEMP_SNAP else value


def _time_to_reach(current: float, goal: float, tau: float) -> float:
    """Return the seconds until a temperature is within one degree of its goal."""
    gap = abs(current - goal)
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
        self._step(printer, start, now)
        for listener in list(self._advance_listeners):
            listener(printer)

    def _step(self, printer: Printer, start: float, end: float) -> None:
        """Advance one printer from `start` to `end`, through its phase and stage changes.

        Each pass runs to `end` or to the next change, and a print has few changes, so the
        loop ends. Heaters move over each pass towards the goals set before its change: a
        change happens at the end of its pass, so the same span gives the same world
        however it is cut into steps.
        """
        at = start
        while at < end:
            nozzle_goal, bed_goal = _goal(printer.nozzle_target), _goal(printer.bed_target)
            reached = self._advance(printer, at, end)
            self._thermal(printer, nozzle_goal, bed_goal, reached - at)
            at = reached
        if printer.print_error == PRINT_ERROR_CANCELLED and end >= printer.print_error_until:
            printer.print_error = 0
            self._touch(printer)
        self._update_remaining(printer)

    def _advance(self, printer: Printer, at: float, end: float) -> float:
        """Advance within the current phase and stage; return the time it ran to."""
        if printer.phase is Phase.PREPARE:
            return self._prepare(printer, at, end)
        if printer.phase is not Phase.RUNNING:
            return end
        job = self._printer_job(printer)
        if printer.stage == STAGE_HEATBED_PREHEATING:
            wait = _time_to_reach(printer.bed_temp, _goal(printer.bed_target), BED_TAU)
            return self._stage_until(printer, STAGE_BED_LEVELING, at + wait, end)
        if printer.stage == STAGE_BED_LEVELING:
            return self._level(printer, job, at, end)
        if printer.stage == STAGE_HEATING_HOTEND:
            wait = _time_to_reach(printer.nozzle_temp, _goal(printer.nozzle_target), NOZZLE_TAU)
            return self._stage_until(printer, STAGE_PRINTING, at + wait, end)
        return self._print(printer, job, at, end)

    def _prepare(self, printer: Printer, at: float, end: float) -> float:
        """Download and prepare the file; start the print when preparing is done."""
        due = max(printer.stage_started_at + PREPARE_SECONDS, at)
        if end < due:
            # A share of the time since preparing started, not of this step: steps may be short
            elapsed = end - printer.stage_started_at
            printer.prepare_percent = int(elapsed / PREPARE_SECONDS * 100)
            return end
        printer.prepare_percent = 100
        self._start_running(printer, due)
        return due

    def _level(self, printer: Printer, job: Job, at: float, end: float) -> float:
        """Level the bed; then heat the hotend to the job's temperature."""
        due = max(printer.stage_started_at + LEVELING_SECONDS, at)
        if end < due:
            return end
        printer.nozzle_target = self._temps(job)[0]
        self._set_stage(printer, STAGE_HEATING_HOTEND, due)
        return due

    def _stage_until(self, printer: Printer, stage: int, due: float, end: float) -> float:
        """Move on to `stage` at `due` if the step gets there; return the time run to."""
        if end < due:
            return end
        self._set_stage(printer, stage, due)
        return due

    def _print(self, printer: Printer, job: Job, at: float, end: float) -> float:
        """Lay down filament until `end`; finish or fail the job when it is time."""
        profile = job.profile
        speed = SPEED_FACTORS[printer.speed_level]
        stop = min(profile.fail_at_percent or 100.0, 100.0)
        due = at + max(stop - job.progress, 0.0) / 100 * profile.print_seconds / speed
        done = due <= end
        reached = due if done else end
        before = job.progress
        # Set when done, not summed: however the time was stepped, it ends on the same percent
        job.progress = stop if done else before + (end - at) * speed / profile.print_seconds * 100
        self._consume(job, profile.grams * (job.progress - before) / 100)
        printer.progress = job.progress
        printer.layer = max(1, math.ceil(job.progress / 100 * printer.total_layers))
        printer.print_seconds_total += reached - at
        if done and stop < 100.0:  # noqa: PLR2004
            self._fail(printer, PRINT_ERROR_NOZZLE_CLOG, at=due)
        elif done:
            self._complete(printer, job, due)
        return reached

    def _thermal(self, printer: Printer, nozzle_goal: float, bed_goal: float, dt: float) -> None:
        """Let heaters and the chamber approach their goals over dt seconds."""
        bed = printer.bed_temp
        printer.nozzle_temp = _approach(printer.nozzle_temp, nozzle_goal, dt, NOZZLE_TAU)
        printer.bed_temp = _approach(bed, bed_goal, dt, BED_TAU)
        printer.chamber_temp = _chamber(printer.chamber_temp, bed, bed_goal, dt)

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

    def _complete(self, printer: Printer, job: Job, at: float) -> None:
        """Finish the print at `at`: the job is done, the bed waits to be cleared."""
        self._end_print(printer, Phase.FINISH)
        printer.progress = 100.0
        printer.layer = printer.total_layers
        printer.jobs_completed += 1
        printer.last_printed_at = at
        job.status = JobStatus.COMPLETED
        job.progress = 100.0
        job.completed_at = at
        self._touch(printer, job)
        self.emit(
            "job.completed",
            printer_id=printer.id,
            job_id=job.id,
            spool_id=job.spool_id,
            data={"consumed_grams": round(job.consumed_grams, 2)},
        )

    def _fail(self, printer: Printer, code: int, *, at: float | None = None) -> None:
        """Fail the print with a printer error, at `at` (default now)."""
        job = self._printer_job(printer)
        self._end_print(printer, Phase.FAILED)
        printer.print_error = code
        printer.jobs_failed += 1
        job.status = JobStatus.FAILED
        job.completed_at = self.clock.now() if at is None else at
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
