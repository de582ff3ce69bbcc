"""Tests for the Bambu report and get_version builders."""

from __future__ import annotations

import pytest

from farmsim.bambu.filament import FILAMENTS, rgba, tray_entry
from farmsim.bambu.reports import (
    changed_fields,
    display_job,
    home_flag,
    push_status,
    status_fields,
    version_modules,
    version_reply,
)
from farmsim.clock import SimClock
from farmsim.models import Hms, Phase, Printer
from farmsim.scenario import populate
from farmsim.world import World

FAST = "https://files.printfarm.invalid/part.gcode.3mf?sim_seconds=120&sim_layers=10"


@pytest.fixture(name="world")
def world_fixture() -> World:
    world = World(clock=SimClock(start=1_700_000_000.0), seed=3)
    populate(world, printers=6)
    return world


def _printer(world: World, model: str) -> Printer:
    return next(p for p in world.printers.values() if p.model.code == model)


def _fields(world: World, printer: Printer) -> dict[str, object]:
    return status_fields(world, printer, wifi_signal=-61)


def _finish(world: World, printer: Printer) -> None:
    world.submit_job(source="autoprintfarm", file_url=FAST, printer_id=printer.id)
    for _ in range(20):
        world.clock.advance(60)
        world.tick()


@pytest.mark.parametrize(
    ("model", "idle_stage", "chamber", "lights", "board"),
    [
        ("X1C", -1, 25.0, ["chamber_light", "work_light"], "rv1126"),
        ("P1S", 255, 5, ["chamber_light"], "esp32"),
        ("A1", 255, 5, None, "esp32"),
        ("A1MINI", 255, 5, None, "esp32"),
    ],
)
def test_models_differ_as_real_ones(
    world: World,
    *,
    model: str,
    idle_stage: int,
    chamber: object,
    lights: list[str] | None,
    board: str,
) -> None:
    printer = _printer(world, model)
    fields = _fields(world, printer)
    assert fields["stg_cur"] == idle_stage
    assert fields["chamber_temper"] == chamber
    assert type(fields["chamber_temper"]) is type(chamber)
    if lights is None:
        assert "lights_report" not in fields
    else:
        assert fields["lights_report"] == [{"node": node, "mode": "on"} for node in lights]
    assert fields["wifi_signal"] == "-61dBm"
    assert ("t_utc" in fields) is (model == "X1C")
    modules = version_modules(printer)
    names = [module["name"] for module in modules]
    assert names[:2] == ["ota", board]
    assert modules[0]["sw_ver"] == printer.model.firmware
    assert modules[0]["sn"] == printer.serial
    assert modules[1]["hw_ver"] == printer.model.hw_ver
    assert modules[1]["project_name"] == printer.model.project_name
    assert modules[1]["product_name"] == printer.model.display_name
    assert ("ams/0" in names) is (printer.model.ams is not None)


def test_printers_without_ams_feed_from_the_external_spool(world: World) -> None:
    printer = _printer(world, "A1MINI")
    fields = _fields(world, printer)
    ams = fields["ams"]
    assert isinstance(ams, dict)
    assert ams["ams"] == []
    assert ams["ams_exist_bits"] == "0"
    assert ams["tray_now"] == "255"
    vt_tray = fields["vt_tray"]
    assert isinstance(vt_tray, dict)
    assert vt_tray["id"] == "254"
    assert vt_tray["state"] == 11
    assert home_flag(printer) == 0x20107
    world.load_spool(printer.id, 254, None)
    assert _fields(world, printer)["vt_tray"] == {"id": "254", "state": 8}


def test_ams_units_and_bits(world: World) -> None:
    printer = world.add_printer(model="X1C", name="Big", ams_units=2)
    spool = world.add_spool(
        material="TPU", color_name="Red", color_hex="#C12E1F", remaining_grams=500, brand="Other"
    )
    world.load_spool(printer.id, 5, spool.id)
    bambu = world.add_spool(
        material="PLA", color_name="Black", color_hex="#161616", remaining_grams=1000
    )
    world.load_spool(printer.id, 0, bambu.id)
    ams = status_fields(world, printer, wifi_signal=-50)["ams"]
    assert [unit["id"] for unit in ams["ams"]] == ["0", "1"]
    assert ams["ams_exist_bits"] == "3"
    assert ams["tray_exist_bits"] == "21"
    assert ams["tray_is_bbl_bits"] == "1"
    assert ams["insert_flag"] is True
    tray = ams["ams"][1]["tray"][1]
    assert tray["id"] == "1"
    assert tray["tray_type"] == "TPU"
    assert tray["tray_info_idx"] == FILAMENTS["TPU"][1]
    assert tray["tray_sub_brands"] == ""
    assert tray["tray_color"] == "C12E1FFF"
    assert tray["remain"] == 50
    assert ams["ams"][0]["tray"][0]["tray_info_idx"] == "GFA00"
    assert ams["ams"][0]["tray"][1] == {"id": "1", "state": 8}
    names = [module["name"] for module in version_modules(printer)]
    assert names[-2:] == ["ams/0", "ams/1"]
    assert status_fields(world, printer, wifi_signal=-50)["vt_tray"]["tray_color"] == "00000000"


def test_unknown_material_and_colours(world: World) -> None:
    spool = world.add_spool(
        material="nylon", color_name="Clear", color_hex="abcdef80", remaining_grams=10
    )
    entry = tray_entry(world, spool, "3")
    assert entry["tray_type"] == "NYLON"
    assert entry["tray_info_idx"] == ""
    assert entry["bed_temp"] == "0"
    assert entry["tray_color"] == "ABCDEF80"
    assert rgba("#0a2989") == "0A2989FF"
    assert rgba("#fff") == "FFF000FF"


def test_printing_fields(world: World) -> None:
    printer = _printer(world, "P1S")
    url = FAST.replace("sim_seconds=120", "sim_seconds=1200")
    job = world.submit_job(source="printago", file_url=url, printer_id=printer.id)
    fields = _fields(world, printer)
    assert fields["gcode_state"] == "PREPARE"
    assert fields["print_type"] == "cloud"
    assert fields["subtask_name"] == job.name == "part"
    assert fields["gcode_file"] == "part.gcode.3mf"
    assert fields["stg"] == [2, 1, 7]
    assert fields["mc_print_stage"] == "2"
    ams = fields["ams"]
    assert isinstance(ams, dict)
    assert ams["tray_now"] == str(printer.active_tray)
    for _ in range(9):
        world.clock.advance(60)
        world.tick()
    fields = _fields(world, printer)
    assert printer.phase is Phase.RUNNING
    assert fields["stg_cur"] == 0
    assert fields["cooling_fan_speed"] == "15"
    assert fields["big_fan2_speed"] == "5"
    assert fields["heatbreak_fan_speed"] == "15"
    assert fields["fan_gear"] == 255 | (85 << 16)
    assert fields["gcode_start_time"] == str(int(job.started_at or 0))
    assert isinstance(fields["mc_percent"], int)
    assert 0 < fields["mc_percent"] < 100


def test_x1_gcode_file_and_finished_jobs(world: World) -> None:
    printer = _printer(world, "X1C")
    _finish(world, printer)
    fields = _fields(world, printer)
    assert fields["gcode_state"] == "FINISH"
    assert fields["gcode_file"] == "/data/Metadata/plate_1.gcode"
    assert fields["mc_percent"] == 100
    assert fields["mc_remaining_time"] == 0
    assert fields["print_type"] == "local"
    assert display_job(world, printer) is not None
    world.clear_bed(printer.id)
    fields = _fields(world, printer)
    assert fields["gcode_state"] == "IDLE"
    assert fields["gcode_file"] == ""
    assert fields["print_type"] == "idle"
    assert fields["stg"] == []


def test_gcode_file_falls_back_to_the_job_name(world: World) -> None:
    printer = _printer(world, "A1")
    world.start_file(printer.id, file_url="https://files.printfarm.invalid/", name="thing")
    assert _fields(world, printer)["gcode_file"] == "thing.gcode.3mf"


def test_errors_and_hms(world: World) -> None:
    printer = _printer(world, "P1S")
    world.raise_hms(printer.id, attr=50331904, code=65543)
    printer.hms.append(Hms(attr=1, code=2))
    fields = _fields(world, printer)
    assert fields["hms"] == [{"attr": 50331904, "code": 65543}, {"attr": 1, "code": 2}]
    assert fields["print_error"] == 0


def test_deltas_and_envelopes() -> None:
    previous = {"a": 1, "b": {"x": 1}, "c": [1]}
    current = {"a": 1, "b": {"x": 2}, "c": [1], "d": "new"}
    assert changed_fields(previous, current) == {"b": {"x": 2}, "d": "new"}
    assert changed_fields(current, current) == {}
    message = push_status({"a": 1}, sequence_id="12", full=False)
    assert message == {"print": {"command": "push_status", "msg": 1, "sequence_id": "12", "a": 1}}
    assert push_status({}, sequence_id="13", full=True)["print"]["msg"] == 0


def test_version_reply_echoes_the_sequence_id(world: World) -> None:
    printer = _printer(world, "P1S")
    reply = version_reply(printer, sequence_id=20001)
    assert reply["info"]["sequence_id"] == 20001
    assert reply["info"]["command"] == "get_version"
    assert reply["info"]["result"] == "success"
    assert reply["info"]["module"][1]["hw_ver"] == "AP04"
    assert reply["info"]["module"][1]["project_name"] == "C12"
