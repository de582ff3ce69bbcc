"""Tests for the simulated farm world: scheduling, printing, filament and events."""

from __future__ import annotations

import pytest

from farmsim.clock import SimClock
from farmsim.models import (
    PRINT_ERROR_CANCELLED,
    FileProfile,
    JobStatus,
    Phase,
    WorldEvent,
)
from farmsim.scenario import populate
from farmsim.world import (
    InvalidStateError,
    NotFoundError,
    ValidationError,
    World,
    file_name,
    file_profile,
    running_job,
)

SHORT = "https://files.example/benchy.gcode.3mf?sim_seconds=600&sim_grams=20&sim_layers=50"


@pytest.fixture
def world() -> World:
    """Return a farm of three printers (X1C, P1S, A1) on a frozen-ish clock."""
    world = World(clock=SimClock(time_scale=0.001, start=1_700_000_000.0), seed=1)
    populate(world, printers=3)
    return world


@pytest.fixture
def events(world: World) -> list[WorldEvent]:
    """Collect the world's events."""
    seen: list[WorldEvent] = []
    world.subscribe(seen.append)
    return seen


def run(world: World, seconds: float) -> None:
    """Advance simulated time and tick, in steps like the real ticker."""
    for _ in range(int(seconds // 30)):
        world.clock.advance(30)
        world.tick()
    world.clock.advance(seconds % 30)
    world.tick()


def test_populate_builds_a_mixed_farm(world: World) -> None:
    """Test the default farm has different models, loaded trays and low stock."""
    models = [p.model.code for p in world.printers.values()]
    assert models == ["X1C", "P1S", "A1"]
    x1c, _, a1 = world.printers.values()
    assert len(x1c.trays) == 4
    assert all(world.tray_spool(t) for t in x1c.trays)
    assert [t.tray_id for t in a1.trays] == [254]
    assert any(s.low_stock for s in world.spools.values())
    assert len(world.parts) == 3
    assert all(p.ready for p in world.printers.values())


def test_job_lifecycle(world: World, events: list[WorldEvent]) -> None:
    """Test a job is assigned, prepares, heats, prints, finishes and consumes filament."""
    job = world.submit_job(source="test", file_url=SHORT, material="PLA")
    assert job.status is JobStatus.PREPARING
    printer = world.printer(job.printer_id or "")
    assert printer.phase is Phase.PREPARE
    assert not printer.bed_clear
    spool = world.spool(job.spool_id or "")
    before = spool.remaining_grams

    run(world, 30)
    assert 0 < printer.prepare_percent < 100
    run(world, 40)
    assert printer.phase is Phase.RUNNING
    assert job.status is JobStatus.PRINTING
    assert printer.bed_target == 55.0
    run(world, 400)
    assert printer.stage == 0
    assert 0 < job.progress < 100
    assert 0 < printer.layer < 50
    assert spool.remaining_grams < before
    assert printer.remaining_seconds > 0

    run(world, 900)
    assert job.status is JobStatus.COMPLETED
    assert printer.phase is Phase.FINISH
    assert world.status_word(printer) == "finished"
    assert job.consumed_grams == pytest.approx(20, abs=0.01)
    assert spool.remaining_grams == pytest.approx(before - 20, abs=0.01)
    assert not printer.ready
    types = [e.type for e in events if e.job_id == job.id]
    assert types == ["job.created", "job.assigned", "job.started", "job.completed"]

    run(world, 600)
    assert printer.nozzle_temp == pytest.approx(25, abs=0.5)
    world.clear_bed(printer.id)
    assert printer.ready
    assert world.status_word(printer) == "idle"


def test_one_tick_can_cover_a_whole_print(world: World) -> None:
    """Test a large jump of simulated time walks through every phase."""
    job = world.submit_job(source="test", file_url=SHORT)
    world.clock.advance(5000)
    world.tick()
    assert job.status is JobStatus.COMPLETED
    assert job.progress == 100.0


def test_queue_order_priority_and_targets(world: World) -> None:
    """Test the scheduler honours printer, group, tag and priority."""
    x1c, p1s, a1 = world.printers.values()
    first = world.submit_job(source="test", file_url=SHORT, printer_id=a1.id)
    assert first.printer_id == a1.id
    grouped = world.submit_job(source="test", file_url=SHORT, group="prototyping")
    assert grouped.status is JobStatus.QUEUED
    tagged = world.submit_job(source="test", file_url=SHORT, tags=["x1c"])
    assert tagged.printer_id == x1c.id
    world.set_enabled(p1s.id, enabled=False)
    low = world.submit_job(source="test", file_url=SHORT, priority=0)
    high = world.submit_job(source="test", file_url=SHORT, priority=3)
    assert [j.id for j in world.open_jobs()] == [high.id, grouped.id, low.id]
    world.move_to_front(low.id)
    assert [j.id for j in world.open_jobs()] == [high.id, grouped.id, low.id]
    world.update_job(low.id, priority=3)
    assert [j.id for j in world.open_jobs()] == [low.id, high.id, grouped.id]
    world.set_enabled(p1s.id, enabled=True)
    assert low.printer_id == p1s.id
    assert high.status is JobStatus.QUEUED


def test_material_and_color_matching(world: World) -> None:
    """Test jobs wait for a printer that has the filament they need."""
    heavy = world.submit_job(source="test", file_url="https://files.example/a.3mf?sim_grams=5000")
    assert heavy.status is JobStatus.QUEUED
    tpu = world.submit_job(source="test", file_url=SHORT, material="TPU")
    assert tpu.status is JobStatus.QUEUED
    petg = world.submit_job(source="test", file_url=SHORT, material="petg")
    assert petg.material == "PETG"
    assert world.spool(petg.spool_id or "").material == "PETG"
    a1 = list(world.printers.values())[2]
    color = world.spool(a1.trays[0].spool_id or "").color_name
    colored = world.submit_job(source="test", file_url=SHORT, color=color.lower())
    assert colored.status is not JobStatus.QUEUED


def test_pause_resume_cancel(world: World, events: list[WorldEvent]) -> None:
    """Test pausing freezes progress, resuming continues and cancelling stops the print."""
    job = world.submit_job(source="test", file_url=SHORT)
    printer = world.printer(job.printer_id or "")
    with pytest.raises(InvalidStateError):
        world.pause_job(job.id)
    run(world, 450)
    world.pause_job(job.id)
    assert printer.phase is Phase.PAUSE
    assert job.status is JobStatus.PAUSED
    progress = job.progress
    run(world, 300)
    assert job.progress == progress
    with pytest.raises(InvalidStateError):
        world.pause_printer(printer.id)
    world.resume_job(job.id)
    assert job.status is JobStatus.PRINTING
    with pytest.raises(InvalidStateError):
        world.resume_job(job.id)
    run(world, 60)
    assert job.progress > progress
    world.cancel_job(job.id)
    assert job.status is JobStatus.CANCELLED
    assert printer.phase is Phase.FAILED
    assert printer.print_error == PRINT_ERROR_CANCELLED
    run(world, 3)
    assert printer.print_error == 0
    with pytest.raises(InvalidStateError):
        world.cancel_job(job.id)
    assert [e.type for e in events if e.job_id == job.id][-3:] == [
        "job.paused",
        "job.resumed",
        "job.cancelled",
    ]


def test_cancel_queued_and_retry(world: World) -> None:
    """Test a queued job can be cancelled, retried and cleared."""
    for printer in world.printers.values():
        world.set_enabled(printer.id, enabled=False)
    job = world.submit_job(source="test", file_url=SHORT)
    world.cancel_job(job.id)
    assert job.status is JobStatus.CANCELLED
    with pytest.raises(InvalidStateError):
        world.move_to_front(job.id)
    world.hide_job(job.id)
    assert job.hidden
    world.retry_job(job.id)
    assert job.status is JobStatus.QUEUED
    assert not job.hidden
    with pytest.raises(InvalidStateError):
        world.retry_job(job.id)
    with pytest.raises(InvalidStateError):
        world.hide_job(job.id)
    world.update_job(job.id, priority=2, name="renamed")
    assert (job.priority, job.name) == (2, "renamed")
    world.set_enabled(next(iter(world.printers)), enabled=True)
    assert job.status is JobStatus.PREPARING


def test_failing_print(world: World, events: list[WorldEvent]) -> None:
    """Test a print that fails part way reports an error until the bed is cleared."""
    job = world.submit_job(source="test", file_url=SHORT + "&sim_fail_at=40")
    printer = world.printer(job.printer_id or "")
    run(world, 2000)
    assert job.status is JobStatus.FAILED
    assert job.progress == pytest.approx(40)
    assert job.error_message
    assert world.status_word(printer) == "error"
    assert printer.has_error
    assert "printer.error" in [e.type for e in events]
    world.clear_bed(printer.id)
    assert not printer.has_error
    assert "printer.error_cleared" in [e.type for e in events]


def test_forced_failure_and_hms(world: World) -> None:
    """Test failing a print and raising health messages from outside."""
    printer = next(iter(world.printers.values()))
    with pytest.raises(InvalidStateError):
        world.fail_print(printer.id)
    job = world.submit_job(source="test", file_url=SHORT, printer_id=printer.id)
    world.fail_print(printer.id)
    assert job.status is JobStatus.FAILED
    world.clear_bed(printer.id)
    world.raise_hms(printer.id, attr=0x03000100, code=0x00010007)
    assert printer.has_error
    assert not printer.ready
    world.clear_hms(printer.id)
    assert printer.ready
    world.raise_hms(printer.id, attr=0x03000100, code=0x00040001)
    assert not printer.has_error


def test_printer_controls(world: World) -> None:
    """Test speed, lights, heater targets, maintenance and going offline."""
    x1c, p1s, a1 = world.printers.values()
    job = world.submit_job(source="test", file_url=SHORT, printer_id=p1s.id)
    run(world, 200)
    remaining = p1s.remaining_seconds
    world.set_speed(p1s.id, 4)
    assert p1s.remaining_seconds < remaining
    with pytest.raises(ValidationError):
        world.set_speed(p1s.id, 9)
    world.set_light(x1c.id, "chamber_light", on=False)
    assert x1c.lights["chamber_light"] is False
    with pytest.raises(InvalidStateError):
        world.set_light(a1.id, "chamber_light", on=True)
    world.set_targets(x1c.id, nozzle=999, bed=60)
    assert (x1c.nozzle_target, x1c.bed_target) == (320.0, 60.0)
    with pytest.raises(InvalidStateError):
        world.set_maintenance(p1s.id, maintenance=True)
    world.set_maintenance(a1.id, maintenance=True)
    assert world.status_word(a1) == "maintenance"
    world.set_online(p1s.id, online=False)
    assert world.status_word(p1s) == "offline"
    run(world, 400)
    assert job.progress > 0
    world.set_online(p1s.id, online=True)
    world.set_silent(p1s.id, silent=True)
    assert p1s.silent
    world.set_bed_clear(x1c.id, ready=False)
    assert world.status_word(x1c) == "finished"


def test_start_file_on_printer(world: World) -> None:
    """Test a LAN print started on the printer itself."""
    printer = list(world.printers.values())[1]
    job = world.start_file(printer.id, file_url="file:///sdcard/cube.3mf", name="cube")
    assert job.source == "lan"
    assert job.printer_id == printer.id
    assert job.name == "cube"
    with pytest.raises(InvalidStateError):
        world.start_file(printer.id, file_url="file:///sdcard/cube.3mf")
    world.stop_printer(printer.id)
    with pytest.raises(InvalidStateError):
        world.stop_printer(printer.id)
    # Not ready (bed not cleared), but a LAN start goes ahead anyway.
    again = world.start_file(printer.id, file_url="file:///sdcard/other.gcode.3mf")
    assert again.status is JobStatus.PREPARING
    assert running_job(world, printer) is again


def test_spools(world: World, events: list[WorldEvent]) -> None:
    """Test low stock alerts once, refills, loading and deleting spools."""
    printer = next(iter(world.printers.values()))
    spool = world.tray_spool(printer.trays[0])
    assert spool is not None
    world.update_spool(spool.id, remaining_grams=100.0)
    world.update_spool(spool.id, remaining_grams=90.0)
    alerts = [e for e in events if e.type == "material.low_stock" and e.spool_id == spool.id]
    assert len(alerts) == 1
    world.update_spool(spool.id, remaining_grams=800.0)
    assert not spool.low_stock_alerted
    with pytest.raises(ValidationError):
        world.update_spool(spool.id, colour="red")
    shelf = world.add_spool(
        material="pla", color_name="Green", color_hex="#00ff00", remaining_grams=500
    )
    assert shelf.material == "PLA"
    world.load_spool(printer.id, printer.trays[0].tray_id, shelf.id)
    assert world.printer_of_spool(shelf.id) is printer
    assert world.printer_of_spool(spool.id) is None
    other = list(world.printers.values())[1]
    world.load_spool(other.id, other.trays[0].tray_id, shelf.id)
    assert printer.trays[0].spool_id is None
    with pytest.raises(NotFoundError):
        world.load_spool(other.id, 99, shelf.id)
    job = world.submit_job(source="test", file_url=SHORT, printer_id=other.id)
    with pytest.raises(InvalidStateError):
        world.delete_spool(job.spool_id or "")
    world.delete_spool(spool.id)
    with pytest.raises(NotFoundError):
        world.spool(spool.id)
    world.load_spool(other.id, other.trays[1].tray_id, None)
    assert other.trays[1].spool_id is None


def test_lookups_and_errors(world: World) -> None:
    """Test lookups by any id and the errors for unknown ones."""
    printer = next(iter(world.printers.values()))
    assert world.printer(printer.printago_id) is printer
    assert world.printer(printer.serial) is printer
    job = world.submit_job(source="test", file_url=SHORT)
    assert world.job(job.printago_id) is job
    spool = next(iter(world.spools.values()))
    assert world.spool(spool.printago_id) is spool
    for lookup in (world.printer, world.job, world.spool):
        with pytest.raises(NotFoundError) as err:
            lookup("nope")
        assert err.value.status == 404
    with pytest.raises(ValidationError):
        world.submit_job(source="test", file_url="")
    with pytest.raises(NotFoundError):
        world.submit_job(source="test", file_url=SHORT, printer_id="prt_missing")


def test_remove_printer(world: World, events: list[WorldEvent]) -> None:
    """Test removing a printer cancels its work and frees its spools."""
    printer = next(iter(world.printers.values()))
    running = world.submit_job(source="test", file_url=SHORT, printer_id=printer.id)
    waiting = world.submit_job(source="test", file_url=SHORT, printer_id=printer.id)
    spool_id = printer.trays[0].spool_id or ""
    world.remove_printer(printer.id)
    assert running.status is JobStatus.CANCELLED
    assert waiting.status is JobStatus.CANCELLED
    assert world.spool(spool_id).location == "Shelf"
    assert events[-1].type == "printer.removed"
    assert printer.id not in world.printers


def test_listener_errors_are_contained(world: World) -> None:
    """Test a failing listener neither breaks the world nor other listeners."""
    seen: list[str] = []

    def broken(event: WorldEvent) -> None:
        raise RuntimeError(event.type)

    world.subscribe(broken)
    unsubscribe = world.subscribe(lambda e: seen.append(e.type))
    world.submit_job(source="test", file_url=SHORT)
    assert "job.created" in seen
    unsubscribe()
    world.submit_job(source="test", file_url=SHORT)
    assert seen.count("job.created") == 1


def test_file_profiles() -> None:
    """Test file profiles are stable per URL and can be overridden."""
    profile = file_profile("https://x.example/a.gcode.3mf")
    assert profile == file_profile("https://x.example/a.gcode.3mf")
    assert 1800 <= profile.print_seconds < 7200
    custom = file_profile(
        "https://x.example/a.3mf?sim_seconds=60&sim_grams=2&sim_layers=3&sim_material=PETG&sim_fail_at=50"
    )
    assert custom == FileProfile(
        print_seconds=60, grams=2, layers=3, material="PETG", fail_at_percent=50
    )
    assert file_profile("https://x.example/a.3mf?sim_seconds=abc").print_seconds > 0
    assert file_name("https://x.example/dir/bracket.gcode.3mf") == "bracket"
    assert file_name("https://x.example/") == "print"
    assert file_name("https://x.example/model.obj") == "model.obj"


def test_clock() -> None:
    """Test the simulated clock scales, advances and refuses nonsense."""
    clock = SimClock(time_scale=60, start=0)
    assert clock.real_seconds(120) == 2
    clock.advance(100)
    assert clock.now() >= 100
    clock.time_scale = 1
    assert clock.time_scale == 1
    with pytest.raises(ValueError, match="positive"):
        clock.time_scale = 0
    with pytest.raises(ValueError, match="positive"):
        SimClock(time_scale=-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


def test_demo_scenario_queues_jobs() -> None:
    """Test the demo farm starts busy with jobs from both services."""
    world = World(clock=SimClock(time_scale=1), seed=3)
    populate(world, printers=6, demo=True)
    sources = {job.source for job in world.jobs.values()}
    assert sources == {"autoprintfarm", "printago"}
    assert sum(1 for p in world.printers.values() if p.busy) == 6


def test_a_printer_report_advances_that_printer_only(world: World) -> None:
    """Test advancing one printer per report costs one printer step, however large the farm."""
    for index in range(20):
        world.add_printer(model="P1S", name=f"Extra-{index}")
    advanced: list[str] = []
    unsubscribe = world.add_advance_listener(lambda printer: advanced.append(printer.id))
    world.clock.advance(30)
    for printer_id in world.printers:
        world.tick_printer(printer_id)
    # One advance per report: N reports cost N printer steps, not N times the farm
    assert sorted(advanced) == sorted(world.printers)
    world.clock.advance(30)
    world.tick()
    assert len(advanced) == 2 * len(world.printers)
    unsubscribe()
    world.clock.advance(30)
    world.tick()
    assert len(advanced) == 2 * len(world.printers)


def test_a_printer_advanced_alone_prints_and_the_farm_catches_up(world: World) -> None:
    """Test a printer advanced by its reports alone prints; a tick brings the others along."""
    x1c, p1s, _ = world.printers.values()
    alone = world.submit_job(source="test", file_url=SHORT, printer_id=x1c.id)
    farm = world.submit_job(source="test", file_url=SHORT, printer_id=p1s.id)
    for _ in range(20):
        world.clock.advance(30)
        world.tick_printer(x1c.id)
    assert alone.status is JobStatus.PRINTING
    assert farm.status is JobStatus.PREPARING
    world.tick()
    assert farm.status is JobStatus.PRINTING
    assert 0 < alone.progress < 100
    assert 0 < farm.progress < 100
    world.clock.advance(5000)
    world.tick_printer(x1c.id)
    assert alone.status is JobStatus.COMPLETED
    assert farm.status is JobStatus.PRINTING


def test_a_printer_report_assigns_jobs_only_after_a_change(world: World) -> None:
    """Test a report assigns a waiting job once a change (a spool loaded) lets it print."""
    x1c, _, a1 = world.printers.values()
    tpu = world.submit_job(source="test", file_url=SHORT, material="TPU")
    assert tpu.status is JobStatus.QUEUED
    world.tick_printer(x1c.id)
    assert tpu.status is JobStatus.QUEUED
    spool = world.add_spool(
        material="TPU", color_name="Red", color_hex="#FF0000", remaining_grams=500
    )
    world.load_spool(a1.id, a1.trays[0].tray_id, spool.id)
    world.tick_printer(x1c.id)
    assert tpu.printer_id == a1.id
    assert tpu.spool_id == spool.id
