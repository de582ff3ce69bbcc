"""Tests for the Bambu LAN command handlers."""

from __future__ import annotations

import json

import pytest

from farmsim.bambu.commands import Request, acknowledgement, execute, parse_request
from farmsim.clock import SimClock
from farmsim.models import Phase, Printer
from farmsim.scenario import populate
from farmsim.world import World

FAST = "https://files.printfarm.invalid/part.3mf?sim_seconds=600"


@pytest.fixture(name="world")
def world_fixture() -> World:
    world = World(clock=SimClock(start=1_700_000_000.0), seed=5)
    populate(world, printers=3)
    return world


@pytest.fixture(name="printer")
def printer_fixture(world: World) -> Printer:
    return next(p for p in world.printers.values() if p.model.code == "P1S")


def _phase(printer: Printer) -> Phase:
    return printer.phase


def _run(world: World, printer: Printer, category: str, command: str, **params: object) -> object:
    body = {"sequence_id": "20001", "command": command, **params}
    return execute(world, printer.id, Request(category=category, command=command, body=body))


def _result(ack: object) -> tuple[str, str]:
    assert isinstance(ack, dict)
    [body] = ack.values()
    return body["result"], body["reason"]


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"\xff",
        b"null",
        b'"pushall"',
        b'{"print": []}',
        b'{"print": {"sequence_id": "1"}}',
        b'{"print": {"command": 5}}',
        b'{"user_id": "1"}',
    ],
)
def test_malformed_requests_parse_to_nothing(payload: bytes) -> None:
    assert parse_request(payload) == []


def test_requests_with_several_categories() -> None:
    payload = json.dumps(
        {
            "pushing": {"command": "pushall"},
            "info": {"command": "get_version", "sequence_id": "9"},
            "user_id": "1234",
        }
    ).encode()
    assert [(r.category, r.command) for r in parse_request(payload)] == [
        ("pushing", "pushall"),
        ("info", "get_version"),
    ]


def test_acknowledgement_echoes_the_request() -> None:
    request = Request(
        category="print", command="pause", body={"sequence_id": 0, "command": "pause"}
    )
    assert acknowledgement(request) == {
        "print": {"sequence_id": 0, "command": "pause", "result": "success", "reason": ""}
    }
    assert acknowledgement(request, reason="nope")["print"]["result"] == "failed"


def test_pause_resume_stop(world: World, printer: Printer) -> None:
    result, reason = _result(_run(world, printer, "print", "pause", param=""))
    assert result == "failed"
    assert reason == "Printer is not printing"
    assert _result(_run(world, printer, "print", "stop"))[0] == "failed"
    world.submit_job(source="autoprintfarm", file_url=FAST, printer_id=printer.id)
    world.clock.advance(120)
    world.tick()
    assert _result(_run(world, printer, "print", "pause"))[0] == "success"
    assert _phase(printer) is Phase.PAUSE
    assert _result(_run(world, printer, "print", "resume"))[0] == "success"
    assert _phase(printer) is Phase.RUNNING
    assert _result(_run(world, printer, "print", "resume"))[0] == "failed"
    assert _result(_run(world, printer, "print", "stop"))[0] == "success"
    assert _phase(printer) is Phase.FAILED


@pytest.mark.parametrize(
    ("param", "level", "result"),
    [("1", 1, "success"), (4, 4, "success"), (" 3 ", 3, "success"), ("7", 2, "failed")],
)
def test_print_speed(
    world: World, printer: Printer, param: object, level: int, result: str
) -> None:
    assert _result(_run(world, printer, "print", "print_speed", param=param))[0] == result
    assert printer.speed_level == level


def test_print_speed_needs_a_number(world: World, printer: Printer) -> None:
    assert _result(_run(world, printer, "print", "print_speed", param="fast")) == (
        "failed",
        "Invalid speed level 'fast'",
    )


@pytest.mark.parametrize(
    ("node", "mode", "result", "on"),
    [
        ("chamber_light", "off", "success", False),
        ("chamber_light", "flashing", "success", True),
        ("chamber_light", "disco", "failed", True),
        (None, "on", "failed", True),
        ("work_light", "on", "failed", True),
    ],
)
def test_ledctrl(
    world: World, printer: Printer, node: str | None, mode: str, result: str, *, on: bool
) -> None:
    ack = _run(world, printer, "system", "ledctrl", led_node=node, led_mode=mode)
    assert _result(ack)[0] == result
    assert printer.lights["chamber_light"] is on


def test_project_file(world: World, printer: Printer) -> None:
    ack = _run(
        world,
        printer,
        "print",
        "project_file",
        param="Metadata/plate_1.gcode",
        url="file:///sdcard/cache/bracket.3mf",
        subtask_name="bracket.3mf",
        bed_leveling=True,
    )
    assert _result(ack)[0] == "success"
    assert _phase(printer) is Phase.PREPARE
    assert world.jobs[printer.job_id or ""].name == "bracket"
    result, reason = _result(_run(world, printer, "print", "project_file", url="file:///x.3mf"))
    assert result == "failed"
    assert reason == "Printer is busy"


def test_project_file_without_url(world: World, printer: Printer) -> None:
    assert _result(_run(world, printer, "print", "project_file")) == ("failed", "url is required")


def test_gcode_file(world: World, printer: Printer) -> None:
    assert _result(_run(world, printer, "print", "gcode_file", param=""))[0] == "failed"
    assert _result(_run(world, printer, "print", "gcode_file", param="/sdcard/a.gcode"))[0] == (
        "success"
    )
    assert world.jobs[printer.job_id or ""].name == "a"


def test_gcode_line_temperatures(world: World, printer: Printer) -> None:
    gcode = "G28\nM109 S215 ; wait\nM190 S60\nM106 P1 S255\n"
    assert _result(_run(world, printer, "print", "gcode_line", param=gcode))[0] == "success"
    assert (printer.nozzle_target, printer.bed_target) == (215.0, 60.0)
    _run(world, printer, "print", "gcode_line", param="m104 s999\n")
    assert printer.nozzle_target == printer.model.nozzle_max
    _run(world, printer, "print", "gcode_line", param="M140 S0\nG1 X10\n")
    assert (printer.nozzle_target, printer.bed_target) == (printer.model.nozzle_max, 0.0)
    assert _result(_run(world, printer, "print", "gcode_line", param=None))[0] == "failed"


def test_ack_only_and_unknown_commands(world: World, printer: Printer) -> None:
    ack = _run(world, printer, "print", "ams_change_filament", target=255)
    assert _result(ack)[0] == "success"
    assert _run(world, printer, "print", "self_destruct") is None
    assert _run(world, printer, "upgrade", "upgrade_confirm") is None
