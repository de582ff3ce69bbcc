"""Tests that the simulated printing gives the same world however time is stepped."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farmsim.clock import SimClock
from farmsim.context import SimConfig
from farmsim.models import (
    STAGE_BED_LEVELING,
    STAGE_HEATBED_PREHEATING,
    STAGE_HEATING_HOTEND,
    STAGE_PRINTING,
    Job,
    JobStatus,
    Phase,
    Printer,
)
from farmsim.printing import LEVELING_SECONDS
from farmsim.scenario import populate
from farmsim.world import World

START = 1_700_000_000.0
PRINT = "https://files.example/benchy.gcode.3mf?sim_seconds=600&sim_grams=20&sim_layers=50"
FAILING = PRINT + "&sim_fail_at=40"
SPORT = 3
GRID = 1024
# Temperatures snap to their goal within 0.05 degrees, sooner or later depending on the steps
TEMPERATURE_TOLERANCE = 0.05


class ManualClock(SimClock):
    """A clock that stands still between advances, so every stepping ends at the same time."""

    def __init__(self) -> None:
        """Initialize the clock at START."""
        super().__init__(start=START)
        self._now = START

    def now(self) -> float:
        """Return the simulated time, moved only by `advance`."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward."""
        super().advance(seconds)
        self._now += seconds


@dataclass(frozen=True, kw_only=True)
class Run:
    """A job printed for `span` seconds; `speed_at`: when it is switched to sport speed."""

    url: str
    span: float
    speed_at: float | None = None


# A span ending in each part of a print (timings of a 25 °C X1C printing PLA at 220/55 °C)
RUNS = {
    "preparing": Run(url=PRINT, span=31.25),
    "heating bed": Run(url=PRINT, span=150),
    "levelling": Run(url=PRINT, span=290),
    "heating hotend": Run(url=PRINT, span=380),
    "printing": Run(url=PRINT, span=700),
    "finished and cooling": Run(url=PRINT, span=1300),
    "printing faster": Run(url=PRINT, span=1000, speed_at=500),
    "failed": Run(url=FAILING, span=900),
}


def start(url: str) -> tuple[World, Printer, Job]:
    """Return a one-printer farm on a standing clock, printing a job of `url`."""
    world = World(clock=ManualClock(), seed=1)
    populate(world, printers=1)
    job = world.submit_job(source="test", file_url=url)
    return world, world.printer(job.printer_id or ""), job


def play(run: Run, cuts: list[tuple[float, bool]]) -> tuple[dict[str, Any], dict[str, float]]:
    """Print `run` in steps ending at the `cuts` (share of the span, tick the farm or not).

    Return what must be equal whatever the steps, and the floats to compare within tolerance.
    """
    world, printer, job = start(run.url)
    # Steps on a binary grid add up exactly: every stepping ends at the same clock time
    stops = {(round(share * run.span * GRID) / GRID, farm) for share, farm in cuts}
    stops.add((run.span, True))
    if run.speed_at is not None:
        stops.add((run.speed_at, True))
    at = 0.0
    for stop, farm in sorted(stops):
        world.clock.advance(stop - at)
        at = stop
        if farm:
            world.tick()
        else:
            world.tick_printer(printer.id)
        if stop == run.speed_at:
            world.set_speed(printer.id, SPORT)
    spool = world.spool(job.spool_id or "")
    exact = {
        "phase": printer.phase,
        "stage": printer.stage,
        "layer": printer.layer,
        "prepare_percent": printer.prepare_percent,
        "print_error": printer.print_error,
        "status": job.status,
        "events": [event.type for event in world.events if event.job_id == job.id],
    }
    floats = {
        "progress": printer.progress,
        "job_progress": job.progress,
        "consumed_grams": job.consumed_grams,
        "spool_grams": spool.remaining_grams,
        "remaining_seconds": printer.remaining_seconds,
        "print_seconds": printer.print_seconds_total,
        "started_at": job.started_at or 0.0,
        "completed_at": job.completed_at or 0.0,
        "stage_started_at": printer.stage_started_at,
    }
    temperatures = {
        "nozzle": printer.nozzle_temp,
        "bed": printer.bed_temp,
        "chamber": printer.chamber_temp,
    }
    return exact, floats | {f"{name}_temp": value for name, value in temperatures.items()}


def assert_same_world(run: Run, cuts: list[tuple[float, bool]]) -> None:
    """Assert printing `run` in the steps of `cuts` ends where one large step does."""
    exact, floats = play(run, cuts)
    expected_exact, expected_floats = play(run, [])
    assert exact == expected_exact
    for name, value in floats.items():
        tolerance = TEMPERATURE_TOLERANCE if name.endswith("_temp") else 1e-6
        assert value == pytest.approx(expected_floats[name], rel=1e-9, abs=tolerance), name


def equal_steps(count: int) -> list[tuple[float, bool]]:
    """Return cuts into `count` equal steps, each advancing the printer alone."""
    return [(index / count, False) for index in range(1, count)]


def test_many_small_steps_print_as_far_as_one_large_step() -> None:
    """Test 600 s in one step, in 1 s steps and in 7 steps make the same print."""
    run = Run(url=PRINT, span=600)
    one_exact, one = play(run, [])
    _, small = play(run, equal_steps(600))
    _, seven = play(run, equal_steps(7))
    assert one_exact["phase"] is Phase.RUNNING
    assert 0 < one["progress"] < 100
    assert small["progress"] == pytest.approx(one["progress"])
    assert seven["progress"] == pytest.approx(one["progress"])
    assert_same_world(run, equal_steps(600))


def test_a_print_ends_when_it_is_done_not_when_next_looked_at() -> None:
    """Test a job finished inside a long step keeps the time it finished at."""
    world, printer, job = start(PRINT)
    world.clock.advance(5000)
    world.tick()
    assert job.status is JobStatus.COMPLETED
    assert job.started_at is not None
    assert job.completed_at is not None
    # Printing took the file's 600 s at standard speed, after heating
    assert job.completed_at - job.started_at > 600
    assert job.completed_at < START + 5000
    assert printer.last_printed_at == job.completed_at


def test_the_bed_heats_once_preparing_is_done() -> None:
    """Test the heaters move towards the goal they had, not the one set at a change."""
    world, printer, _ = start(PRINT)
    world.clock.advance(61)
    world.tick()
    # One second of heating, however the time was stepped: the bed stays near ambient
    assert printer.bed_target > 0
    assert printer.bed_temp < 26
    world.clock.advance(240)
    world.tick()
    assert printer.stage == STAGE_BED_LEVELING
    assert printer.nozzle_temp == pytest.approx(25, abs=0.1)


def test_a_heater_set_below_ambient_settles_at_ambient() -> None:
    """Test a heater cannot cool below the room, and heating towards it still ends."""
    world = World(clock=ManualClock(), seed=1)
    populate(world, printers=1)
    printer = next(iter(world.printers.values()))
    world.set_targets(printer.id, nozzle=200.0, bed=10.0)
    world.clock.advance(3600)
    world.tick()
    assert printer.nozzle_temp == 200.0
    assert printer.bed_temp == 25.0
    assert printer.chamber_temp == 25.0


cuts_strategy = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), st.booleans()),
    max_size=40,
)


@pytest.mark.parametrize("run", RUNS.values(), ids=RUNS.keys())
@settings(max_examples=15, deadline=None)
@given(cuts=cuts_strategy)
def test_any_steps_give_the_same_world(run: Run, cuts: list[tuple[float, bool]]) -> None:
    """Test any partition of a span ends in the world one large step gives."""
    assert_same_world(run, cuts)


def test_the_runs_end_in_the_parts_they_are_named_after() -> None:
    """Test the spans of the property test end where they claim, so it covers every part."""
    seen = {name: play(run, [])[0] for name, run in RUNS.items()}
    assert seen["preparing"]["phase"] is Phase.PREPARE
    assert seen["heating bed"]["stage"] == STAGE_HEATBED_PREHEATING
    assert seen["levelling"]["stage"] == STAGE_BED_LEVELING
    assert seen["heating hotend"]["stage"] == STAGE_HEATING_HOTEND
    assert seen["printing"]["stage"] == STAGE_PRINTING
    assert seen["printing"]["status"] is JobStatus.PRINTING
    assert seen["finished and cooling"]["status"] is JobStatus.COMPLETED
    assert seen["printing faster"]["status"] is JobStatus.COMPLETED
    assert seen["failed"]["status"] is JobStatus.FAILED
    assert seen["failed"]["phase"] is Phase.FAILED


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("report_interval", 0.0),
        ("report_interval", -1.0),
        ("report_interval", math.nan),
        ("tick_interval", 0.0),
        ("time_scale", 0.0),
        ("printago_stat_validity", -5.0),
        ("webhook_timeout", 0.0),
        ("idempotency_ttl", 0.0),
    ],
)
def test_config_refuses_times_that_are_not_positive(field: str, value: float) -> None:
    """Test a config with an interval or duration of zero or less is refused."""
    options: dict[str, Any] = {field: value}
    with pytest.raises(ValueError, match=f"{field} must be positive"):
        SimConfig(**options)


def test_config_refuses_bad_limit_windows_and_retry_delays() -> None:
    """Test rate limit windows must be positive and webhook retry delays not negative."""
    with pytest.raises(ValueError, match=r"printago_limits\[1\] window must be positive"):
        SimConfig(printago_limits=((60, 60.0), (600, 0.0)))
    with pytest.raises(ValueError, match="webhook_retry_delays must not be negative"):
        SimConfig(webhook_retry_delays=(1.0, -1.0))
    config = SimConfig(report_interval=0.01, webhook_retry_delays=(0.0,))
    assert config.report_interval == 0.01


def test_a_pause_while_levelling_does_not_shorten_it() -> None:
    """Test the time a print stays paused is not counted as time spent levelling."""
    world, printer, _ = start(PRINT)
    world.clock.advance(RUNS["levelling"].span)
    world.tick()
    assert printer.stage == STAGE_BED_LEVELING
    left = LEVELING_SECONDS - (world.clock.now() - printer.stage_started_at)
    world.pause_printer(printer.id)
    world.clock.advance(3600)
    world.tick()
    world.resume_printer(printer.id)
    world.clock.advance(left / 2)
    world.tick()
    assert printer.stage == STAGE_BED_LEVELING
    world.clock.advance(left)
    world.tick()
    assert printer.stage == STAGE_HEATING_HOTEND
