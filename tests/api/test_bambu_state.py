"""Tests for merging Bambu reports and parsing them into a printer state."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.printfarm.api.bambu.state import (
    deep_merge,
    error_code,
    hms_code,
    merge_report,
    next_state,
    parse_model,
    parse_state,
    parse_trays,
    signature_required,
    tray_loaded,
)
from custom_components.printfarm.api.models import PrinterStatus
from custom_components.printfarm.api.state import (
    FilamentTray,
    HealthMessage,
    PrinterState,
    Temperature,
)

SERIAL = "01S00A000000000"

# A full push from a P1S mid-print (research note §3.9, shortened).
FULL_P1S: dict[str, Any] = {
    "print": {
        "command": "push_status",
        "msg": 0,
        "sequence_id": "1843",
        "gcode_state": "RUNNING",
        "print_type": "local",
        "gcode_file": "bracket.gcode.3mf",
        "subtask_name": "bracket",
        "mc_percent": 37,
        "mc_remaining_time": 52,
        "layer_num": 41,
        "total_layer_num": 112,
        "stg_cur": 0,
        "nozzle_temper": 219.8,
        "nozzle_target_temper": 220.0,
        "bed_temper": 54.9,
        "bed_target_temper": 55.0,
        "chamber_temper": 5,
        "spd_lvl": 2,
        "wifi_signal": "-58dBm",
        "print_error": 0,
        "hms": [],
        "home_flag": 1415,
        "fun": "3EC18FFF9CFF",
        "lights_report": [{"node": "chamber_light", "mode": "on"}],
        "net": {"conf": 0, "info": [{"ip": 16777343, "mask": 16777215}]},
        "ams": {
            "ams": [
                {
                    "id": "0",
                    "humidity": "4",
                    "temp": "27.1",
                    "tray": [
                        {
                            "id": "0",
                            "state": 11,
                            "tray_type": "PLA",
                            "tray_color": "0A2989FF",
                            "remain": 81,
                        },
                        {"id": "1", "state": 8},
                    ],
                }
            ],
            "tray_now": "0",
        },
        "vt_tray": {"id": "254", "tray_type": "", "tray_color": "00000000", "remain": 0},
    }
}
VERSION_P1S: dict[str, Any] = {
    "info": {
        "command": "get_version",
        "sequence_id": "1",
        "result": "success",
        "module": [
            {"name": "ota", "product_name": "Bambu Lab P1S", "sw_ver": "01.08.01.00", "sn": SERIAL},
            {"name": "esp32", "hw_ver": "AP04", "project_name": "C12", "sw_ver": "01.11.32.89"},
        ],
    }
}


def state_of(*messages: Any, online: bool = True) -> Any:
    """Return the state after merging messages into an empty store."""
    raw: Any = {}
    for message in messages:
        raw = merge_report(raw, message)
    return parse_state(raw, online=online)


def delta(**fields: Any) -> dict[str, Any]:
    """Return a delta push with the given fields."""
    return {"print": {"command": "push_status", "msg": 1, **fields}}


def test_full_report() -> None:
    """Test every field of a full P1S report with its version reply."""
    state = state_of(FULL_P1S, VERSION_P1S)
    assert state.online
    assert state.status is PrinterStatus.PRINTING
    assert state.gcode_state == "RUNNING"
    assert state.stage == 0
    assert state.progress == 37
    assert state.remaining_seconds == 52 * 60
    assert (state.layer, state.total_layers) == (41, 112)
    assert state.job_name == "bracket"
    assert state.file == "bracket.gcode.3mf"
    assert state.nozzle == Temperature(current=219.8, target=220.0)
    assert state.bed == Temperature(current=54.9, target=55.0)
    assert state.chamber is None
    assert state.speed_level == 2
    assert state.lights == {"chamber_light": True}
    assert state.wifi_signal == -58
    assert state.print_error == 0
    assert state.error_code is None
    assert state.health == ()
    assert state.active_tray == "0"
    assert state.trays == (
        FilamentTray(tray_id="0", loaded=True, type="PLA", color="#0A2989", remaining_percent=81),
        FilamentTray(tray_id="1", loaded=False),
        FilamentTray(tray_id="254", loaded=False),
    )
    assert state.model == "P1S"
    assert state.firmware == "01.08.01.00"
    assert state.raw["print"]["sequence_id"] == "1843"


def test_delta_merges_and_full_resets() -> None:
    """Test deltas change only their keys and a full report replaces everything."""
    raw = merge_report({}, FULL_P1S)
    raw = merge_report(raw, delta(mc_percent=38, layer_num=42, wifi_signal="-57dBm"))
    state = parse_state(raw, online=True)
    assert (state.progress, state.layer, state.wifi_signal) == (38, 42, -57)
    assert state.job_name == "bracket"
    raw = merge_report(raw, {"print": {"command": "push_status", "gcode_state": "IDLE"}})
    state = parse_state(raw, online=True)
    assert state.status is PrinterStatus.IDLE
    assert state.job_name is None
    assert state.trays == ()


def test_delta_before_full() -> None:
    """Test a delta without a stored full report still gives what it has."""
    state = state_of(delta(gcode_state="PAUSE", mc_percent=5))
    assert state.status is PrinterStatus.PAUSED
    assert state.progress == 5


def test_messages_that_change_nothing() -> None:
    """Test acknowledgements, logs, failed version replies and non-objects leave the store."""
    raw = merge_report({}, FULL_P1S)
    ack = {"print": {"command": "pause", "sequence_id": "7", "result": "success"}}
    for message in (
        ack,
        {"mc_print": {"command": "push_info", "param": "[BMC] M900"}},
        {"info": {"command": "get_version", "result": "fail"}},
        {"system": {"command": "ledctrl", "led_node": "chamber_light"}},
        [1, 2],
        "OMG PUPPIES",
        None,
    ):
        assert merge_report(raw, message) is raw


def test_merge_never_changes_its_input() -> None:
    """Test the stored state is never mutated by a merge."""
    raw = merge_report({}, FULL_P1S)
    before = copy.deepcopy(raw)
    merge_report(raw, delta(mc_percent=99, ams={"ams": [{"id": "0", "tray": [{"id": "0"}]}]}))
    assert raw == before


def test_wrong_types_do_not_corrupt() -> None:
    """Test values of the wrong JSON kind are ignored and scalars of the wrong type tolerated."""
    raw = merge_report({}, FULL_P1S)
    raw = merge_report(
        raw,
        delta(
            ams="broken",
            lights_report={"node": "x"},
            hms=None,
            mc_percent="lots",
            nozzle_temper=None,
            wifi_signal=17,
            spd_lvl=True,
        ),
    )
    state = parse_state(raw, online=True)
    assert state.trays[0].type == "PLA"
    assert state.lights == {"chamber_light": True}
    assert state.progress is None
    assert state.nozzle.current is None
    assert state.wifi_signal == 17
    assert state.speed_level is None


def test_ams_merge_by_id() -> None:
    """Test AMS units and trays merge field by field by id; other lists are replaced."""
    raw = merge_report({}, FULL_P1S)
    raw = merge_report(
        raw,
        delta(
            ams={
                "ams": [
                    {"id": "0", "tray": [{"id": "1", "state": 11, "tray_type": "PETG"}]},
                    {"id": "1", "tray": [{"id": "0", "state": 11, "tray_type": "ABS"}]},
                ],
                "tray_now": "5",
            },
            hms=[{"attr": 50331904, "code": 196615}],
            lights_report=[{"node": "chamber_light", "mode": "off"}],
        ),
    )
    units = raw["print"]["ams"]["ams"]
    assert [unit["id"] for unit in units] == ["0", "1"]
    assert units[0]["humidity"] == "4"
    assert units[0]["tray"][0]["tray_type"] == "PLA"
    assert units[0]["tray"][1] == {"id": "1", "state": 11, "tray_type": "PETG"}
    state = parse_state(raw, online=True)
    assert [tray.tray_id for tray in state.trays] == ["0", "1", "4", "254"]
    assert state.active_tray == "5"
    assert state.lights == {"chamber_light": False}
    assert [message.code for message in state.health] == ["0300_0100_0003_0007"]


def test_lists_without_ids_are_replaced() -> None:
    """Test a by-id list whose new elements lack ids is replaced as a whole."""
    merged = deep_merge({"info": [{"id": 1, "a": 1}]}, {"info": [{"ip": 2}]})
    assert merged == {"info": [{"ip": 2}]}


@pytest.mark.parametrize(
    ("gcode_state", "print_error", "hms", "status"),
    [
        ("IDLE", 0, [], PrinterStatus.IDLE),
        ("INIT", 0, [], PrinterStatus.IDLE),
        ("PREPARE", 0, [], PrinterStatus.PREPARING),
        ("SLICING", 0, [], PrinterStatus.PREPARING),
        ("RUNNING", 0, [], PrinterStatus.PRINTING),
        ("PAUSE", 0, [], PrinterStatus.PAUSED),
        ("FINISH", 0, [], PrinterStatus.FINISHED),
        ("FAILED", 50348044, [], PrinterStatus.FINISHED),
        ("FAILED", 0, [], PrinterStatus.FINISHED),
        ("FAILED", 50364437, [], PrinterStatus.ERROR),
        ("RUNNING", 117473286, [], PrinterStatus.ERROR),
        ("RUNNING", 0, [{"attr": 50331904, "code": 65543}], PrinterStatus.ERROR),
        ("RUNNING", 0, [{"attr": 50331904, "code": 131079}], PrinterStatus.ERROR),
        ("RUNNING", 0, [{"attr": 50331904, "code": 196615}], PrinterStatus.PRINTING),
        (
            "RUNNING",
            0,
            [{"attr": "x", "code": 1}, {"attr": -1, "code": 1}, 7],
            PrinterStatus.PRINTING,
        ),
        ("OMGSPIDERS", 0, [], PrinterStatus.UNKNOWN),
        (None, 0, [], PrinterStatus.UNKNOWN),
    ],
)
def test_status(
    gcode_state: str | None, print_error: int, hms: list[Any], status: PrinterStatus
) -> None:
    """Test the status mapping, with errors and HMS severities."""
    body: dict[str, Any] = {"print_error": print_error, "hms": hms}
    if gcode_state is not None:
        body["gcode_state"] = gcode_state
    assert state_of({"print": body}).status is status


def test_offline() -> None:
    """Test a printer that is not connected or stale is offline whatever it reported."""
    state = state_of(FULL_P1S, online=False)
    assert not state.online
    assert state.status is PrinterStatus.OFFLINE
    assert state.progress == 37


def test_codes() -> None:
    """Test print error and HMS codes are written like Bambu does."""
    assert error_code(0) is None
    assert error_code(50348044) == "0300_400C"
    assert error_code(117473286) == "0700_8006"
    assert hms_code(50331904, 65543) == "0300_0100_0001_0007"
    state = state_of(
        {"print": {"print_error": 117473286, "hms": [{"attr": 50331904, "code": 65543}]}}
    )
    assert state.error_code == "0700_8006"
    assert state.health == (
        HealthMessage(code="0300_0100_0001_0007", severity=1, attr=50331904, raw_code=65543),
    )


@pytest.mark.parametrize(
    ("modules", "model"),
    [
        ([{"name": "ota", "product_name": "Bambu Lab X1 Carbon"}], "X1C"),
        ([{"name": "ota", "product_name": "Bambu Lab A1 mini"}], "A1MINI"),
        ([{"name": "ota", "product_name": "Bambu Lab H2D Pro"}], "H2DPRO"),
        ([{"name": "ota", "product_name": "Bambu Lab P2S"}], "P2S"),
        ([{"name": "mc", "hw_ver": "MC07"}, {"name": "rv1126", "hw_ver": "AP02"}], "X1E"),
        ([{"name": "esp32", "hw_ver": "AP04", "project_name": "C11"}], "P1P"),
        ([{"name": "rv1126", "hw_ver": "AP05", "project_name": None}], "X1C"),
        ([{"name": "esp32", "hw_ver": "AP09", "project_name": "Z9"}], None),
        ([{"name": "mc", "hw_ver": "MC07"}, "junk"], None),
    ],
)
def test_model(modules: list[Any], model: str | None) -> None:
    """Test the model from the product name, or from the main board."""
    assert parse_model({"module": modules}) == model


def test_chamber_and_packed_temperatures() -> None:
    """Test the chamber shows on models with a sensor, and packed device temperatures win."""
    x1 = {"info": {"command": "get_version", "module": [{"product_name": "Bambu Lab X1 Carbon"}]}}
    state = state_of({"print": {"chamber_temper": "31.5", "chamber_target_temper": "OMG"}}, x1)
    assert state.chamber == Temperature(current=31.5, target=None)
    packed = {
        "print": {
            "bed_temper": 20,
            "nozzle_temper": 20,
            "device": {
                "bed": {"info": {"temp": 100 << 16 | 98}},
                "ctc": {"info": {"temp": 45 << 16 | 40}},
                "extruder": {
                    "state": 0x12,
                    "info": [{"id": 0, "temp": 200 << 16 | 25}, {"id": 1, "temp": 220 << 16 | 219}],
                },
            },
        }
    }
    state = state_of(packed)
    assert state.bed == Temperature(current=98.0, target=100.0)
    assert state.chamber == Temperature(current=40.0, target=45.0)
    assert state.nozzle == Temperature(current=219.0, target=220.0)
    broken = {"print": {"nozzle_temper": 20, "device": {"extruder": {"state": 0x12, "info": [7]}}}}
    assert state_of(broken).nozzle == Temperature(current=20.0, target=None)


@pytest.mark.parametrize(
    ("tray", "loaded"),
    [
        ({"id": "0", "state": 11}, True),
        ({"id": "0", "state": 9}, True),
        ({"id": "0", "state": 8}, False),
        ({"id": "0", "state": 3}, True),
        ({"id": "0", "state": 2}, False),
        ({"id": "0", "tray_type": "PLA"}, True),
        ({"id": "0"}, False),
    ],
)
def test_tray_loaded(tray: dict[str, Any], loaded: bool) -> None:
    """Test tray `state` bits, legacy values and old firmware without a state."""
    assert tray_loaded(tray) is loaded


def test_trays() -> None:
    """Test AMS HT ids, the remain flag, bad colours, bad ids and external slots."""
    report = {
        "home_flag": 0,
        "ams": {
            "ams": [
                {
                    "id": "128",
                    "tray": [{"id": "0", "state": 11, "tray_type": "PETG", "remain": 50}],
                },
                {"id": "x", "tray": [{"id": "0"}]},
                {
                    "id": "1",
                    "tray": [{"id": "y"}, {"id": "2", "state": 11, "tray_color": "ZZZZZZ"}],
                },
            ],
        },
        "vir_slot": [{"id": "255", "state": 11, "tray_type": "TPU", "tray_color": "FF0000"}],
        "vt_tray": {"id": "254", "tray_type": "PLA"},
    }
    assert parse_trays(report) == (
        FilamentTray(tray_id="6", loaded=True),
        FilamentTray(tray_id="128", loaded=True, type="PETG"),
        FilamentTray(tray_id="255", loaded=True, type="TPU", color="#FF0000"),
    )
    remain = {"ams": {"ams": [{"id": "0", "tray": [{"id": "0", "state": 11, "remain": -1}]}]}}
    assert parse_trays(remain)[0].remaining_percent is None


@pytest.mark.parametrize(("tray_now", "active"), [("255", None), ("254", "254"), ("-1", None)])
def test_active_tray(tray_now: str, active: str | None) -> None:
    """Test the active tray from `tray_now`."""
    assert state_of({"print": {"ams": {"tray_now": tray_now}}}).active_tray == active


def test_signature_required() -> None:
    """Test the developer-mode bit of `fun`."""
    assert not signature_required({"print": {"fun": "3EC18FFF9CFF"}})
    assert signature_required({"print": {"fun": "3EC1AFFF9CFF"}})
    assert not signature_required({"print": {"fun": "OMG"}})
    assert not signature_required({"print": {"fun": 7}})
    assert not signature_required({})


# Property-based tests

KEYS = st.sampled_from(["gcode_state", "mc_percent", "layer_num", "wifi_signal", "spd_lvl"])
NESTED = st.sampled_from(["ipcam_record", "timelapse", "resolution"])
SCALARS = st.one_of(st.integers(-10, 1000), st.text(max_size=5), st.booleans())
LEAF_PATHS = st.one_of(KEYS.map(lambda key: (key,)), NESTED.map(lambda key: ("ipcam", key)))
REPORT = st.dictionaries(LEAF_PATHS, SCALARS, max_size=8)


def build(leaves: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    """Return the report object with the given leaf values."""
    report: dict[str, Any] = {}
    for path, value in leaves.items():
        target = report
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return report


def leaves_of(report: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Return the leaf values of a report object by path."""
    leaves: dict[tuple[str, ...], Any] = {}
    for key, value in report.items():
        if isinstance(value, dict):
            leaves.update(leaves_of(value, (*prefix, key)))
        else:
            leaves[(*prefix, key)] = value
    return leaves


def push(leaves: dict[tuple[str, ...], Any], *, full: bool) -> dict[str, Any]:
    """Return a push_status message."""
    return {"print": {**build(leaves), "command": "push_status", "msg": 0 if full else 1}}


@settings(max_examples=100, deadline=None)
@given(full=REPORT, deltas=st.lists(REPORT, max_size=6))
def test_merge_keeps_the_latest_value_per_key(
    full: dict[tuple[str, ...], Any], deltas: list[dict[tuple[str, ...], Any]]
) -> None:
    """Test a full report plus deltas equals applying the latest value of every key."""
    raw: Any = merge_report({}, push(full, full=True))
    expected = dict(full)
    for changes in deltas:
        raw = merge_report(raw, push(changes, full=False))
        expected.update(changes)
    merged = leaves_of(raw["print"])
    for key in ("command", "msg"):
        merged.pop((key,))
    assert merged == expected


@settings(max_examples=100, deadline=None)
@given(
    full=REPORT,
    deltas=st.lists(REPORT, max_size=5),
    order=st.randoms(use_true_random=False),
)
def test_disjoint_deltas_commute(
    full: dict[tuple[str, ...], Any], deltas: list[dict[tuple[str, ...], Any]], order: Any
) -> None:
    """Test deltas touching disjoint keys give the same state in any order."""
    seen: set[tuple[str, ...]] = set()
    disjoint: list[dict[tuple[str, ...], Any]] = []
    for changes in deltas:
        kept = {path: value for path, value in changes.items() if path not in seen}
        seen.update(kept)
        disjoint.append(kept)
    shuffled = list(disjoint)
    order.shuffle(shuffled)
    first: Any = merge_report({}, push(full, full=True))
    second: Any = first
    for changes in disjoint:
        first = merge_report(first, push(changes, full=False))
    for changes in shuffled:
        second = merge_report(second, push(changes, full=False))
    assert first == second


TRAY_FIELDS = st.sampled_from(["tray_type", "tray_color", "remain", "state"])
TRAY_UPDATE = st.tuples(
    st.sampled_from(["0", "1", "128"]), st.sampled_from(["0", "1", "2", "3"]), TRAY_FIELDS, SCALARS
)


@settings(max_examples=100, deadline=None)
@given(updates=st.lists(st.lists(TRAY_UPDATE, max_size=4), max_size=6))
def test_ams_trays_merge_by_id(updates: list[list[tuple[str, str, str, Any]]]) -> None:
    """Test tray fields keep their latest value per (unit, tray, field), whatever the order."""
    raw: Any = merge_report({}, {"print": {"command": "push_status", "msg": 0, "ams": {}}})
    expected: dict[tuple[str, str, str], Any] = {}
    for batch in updates:
        units: dict[str, dict[str, dict[str, Any]]] = {}
        for unit_id, tray_id, name, value in batch:
            units.setdefault(unit_id, {}).setdefault(tray_id, {"id": tray_id})[name] = value
            expected[unit_id, tray_id, name] = value
        body = {
            "ams": {
                "ams": [
                    {"id": unit_id, "tray": list(trays.values())}
                    for unit_id, trays in units.items()
                ]
            }
        }
        raw = merge_report(raw, {"print": {"command": "push_status", "msg": 1, **body}})
    found: dict[tuple[str, str, str], Any] = {}
    unit_ids: list[str] = []
    for unit in raw["print"]["ams"].get("ams", []):
        unit_ids.append(unit["id"])
        tray_ids = [tray["id"] for tray in unit["tray"]]
        assert len(tray_ids) == len(set(tray_ids))
        for tray in unit["tray"]:
            for name, value in tray.items():
                if name != "id":
                    found[unit["id"], tray["id"], name] = value
    assert len(unit_ids) == len(set(unit_ids))
    assert found == expected
    parse_state(raw, online=True)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
FIELD_NAMES = st.sampled_from(
    [
        "gcode_state",
        "mc_percent",
        "mc_remaining_time",
        "print_error",
        "hms",
        "ams",
        "vt_tray",
        "vir_slot",
        "lights_report",
        "wifi_signal",
        "device",
        "home_flag",
        "fun",
        "stg_cur",
        "nozzle_temper",
        "chamber_temper",
        "msg",
        "command",
    ]
)


@settings(max_examples=100, deadline=None)
@given(
    bodies=st.lists(st.dictionaries(FIELD_NAMES, JSON, max_size=8), min_size=1, max_size=4),
    info=JSON,
)
def test_any_json_is_tolerated(bodies: list[dict[str, Any]], info: Any) -> None:
    """Test merging and parsing never fail on valid JSON with wrong types."""
    raw: Any = {}
    for body in bodies:
        message = json.loads(json.dumps({"print": body, "info": info}, allow_nan=True))
        raw = merge_report(raw, message)
        state = parse_state(raw, online=True)
        assert isinstance(state.status, PrinterStatus)


# Deriving the next state from what changed


@pytest.mark.parametrize(
    ("message", "changed"),
    [
        (delta(mc_percent=38, bed_temper=56.5), {"progress", "bed"}),
        (delta(mc_percent=37, gcode_file_prepare_percent="80"), set()),
        (delta(mc_percent="OMG"), {"progress"}),
        (delta(mc_percent={"OMG": 1}), set()),
        (delta(print_error=50364437), {"print_error", "error_code", "status"}),
        (delta(hms=[{"attr": 0x03000100, "code": 0x00030007}]), {"health"}),
        (delta(ams={"tray_now": "255"}), {"active_tray"}),
        (delta(device={"bed": {"info": {"temp": 60 << 16 | 58}}}), {"bed"}),
        (delta(gcode_state="FINISH", mc_percent=100), {"gcode_state", "status", "progress"}),
        ({"info": {**VERSION_P1S["info"], "module": []}}, {"model", "firmware"}),
    ],
)
def test_next_state_derives_what_changed(message: dict[str, Any], changed: set[str]) -> None:
    """Test a message re-derives exactly the fields it changed, as a full parse would."""
    raw = merge_report(merge_report({}, FULL_P1S), VERSION_P1S)
    old = parse_state(raw, online=True)
    new_raw = merge_report(raw, message)
    state, fields = next_state(old, new_raw, online=True)
    assert fields == changed
    assert state == parse_state(new_raw, online=True)
    assert state.raw is new_raw


def test_next_state_parses_in_full_when_the_connection_changes() -> None:
    """Test a first state, or one going offline, is parsed in full with every changed field."""
    raw = merge_report({}, FULL_P1S)
    first, fields = next_state(None, raw, online=True)
    assert first == parse_state(raw, online=True)
    assert fields == PrinterState().changed_fields(None)
    offline, fields = next_state(first, raw, online=False)
    assert fields == {"online", "status"}
    assert offline.status is PrinterStatus.OFFLINE
    x1c = merge_report(raw, {"info": {"command": "get_version", "module": [X1C_OTA]}})
    state, fields = next_state(offline, x1c, online=False)
    assert fields == {"model", "firmware", "chamber"}
    assert state.chamber == Temperature(current=5.0, target=None)


X1C_OTA = {"name": "ota", "product_name": "Bambu Lab X1 Carbon", "sw_ver": "01.09.00.00"}
# Realistic other values of every key a state field reads (and of one no field reads).
ALTERNATIVES: dict[str, list[Any]] = {
    "gcode_state": ["PREPARE", "PAUSE", "FINISH", "FAILED", ""],
    "print_error": [0, 50348044, 50364437],
    "hms": [[], [{"attr": 0x03000100, "code": 0x00010007}], [{"attr": 1, "code": 0x00030001}]],
    "stg_cur": [1, 2, 255],
    "mc_percent": [0, 38, 100],
    "mc_remaining_time": [0, 51, -1],
    "layer_num": [0, 42],
    "total_layer_num": [0, 113],
    "subtask_name": ["", "benchy"],
    "gcode_file": ["", "benchy.gcode.3mf"],
    "nozzle_temper": [25.0, 220.1],
    "nozzle_target_temper": [0.0, 230.0],
    "bed_temper": [25.0, 60.2],
    "bed_target_temper": [0.0, 65.0],
    "chamber_temper": [5, 38.5],
    "chamber_target_temper": [0, 45],
    "device": [
        {"bed": {"info": {"temp": 60 << 16 | 58}}},
        {"ctc": {"info": {"temp": 45 << 16 | 40}}},
        {"extruder": {"state": 0x10, "info": [{"id": 1, "temp": 250 << 16 | 249}]}},
    ],
    "spd_lvl": [1, 4],
    "lights_report": [[{"node": "chamber_light", "mode": "off"}], []],
    "wifi_signal": ["-60dBm", -70],
    "ams": [
        {"tray_now": "255"},
        {"tray_now": "1", "ams": [{"id": "0", "tray": [{"id": "1", "state": 11, "remain": 5}]}]},
    ],
    "vt_tray": [{"id": "254", "state": 11, "tray_type": "PETG", "tray_color": "FF0000FF"}],
    "vir_slot": [[{"id": "255", "state": 11, "tray_type": "TPU"}]],
    "home_flag": [0, 1415],
    "gcode_file_prepare_percent": ["80"],
}
CHANGE = st.sampled_from(sorted(ALTERNATIVES)).flatmap(
    lambda key: st.tuples(st.just(key), st.sampled_from(ALTERNATIVES[key]) | JSON)
)
MESSAGES = st.lists(
    st.tuples(st.lists(CHANGE, max_size=5), st.booleans(), st.booleans()),
    min_size=1,
    max_size=8,
)
INFO = st.sampled_from([None, VERSION_P1S["info"], {"command": "get_version", "module": [X1C_OTA]}])


@settings(max_examples=300, deadline=None)
@given(messages=MESSAGES, info=INFO)
def test_next_state_matches_a_full_parse(
    messages: list[tuple[list[tuple[str, Any]], bool, bool]], info: dict[str, Any] | None
) -> None:
    """Test any sequence of reports gives the state and changed fields of a full parse."""
    raw: Any = merge_report({}, FULL_P1S)
    state = parse_state(raw, online=True)
    for changes, full, online in messages:
        body = {**(FULL_P1S["print"] if full else {}), **dict(changes)}
        envelope = {**body, "command": "push_status", "msg": 0 if full else 1}
        message = json.loads(json.dumps({"print": envelope, "info": info}, allow_nan=True))
        new_raw = merge_report(raw, message)
        expected = parse_state(new_raw, online=online)
        new, changed = next_state(state, new_raw, online=online)
        assert new == expected
        assert changed == expected.changed_fields(state)
        state, raw = new, new_raw


def test_a_false_stage_is_no_stage_zero() -> None:
    """Test a delta turning `stg_cur` from 0 to JSON false reads as no stage, as in full."""
    raw: Any = merge_report({}, {"print": {**FULL_P1S["print"], "stg_cur": 0}})
    state = parse_state(raw, online=True)
    assert state.stage == 0
    delta = {"print": {"command": "push_status", "msg": 1, "stg_cur": False}}
    new_raw = merge_report(raw, delta)
    new, changed = next_state(state, new_raw, online=True)
    assert new.stage is None
    assert new == parse_state(new_raw, online=True)
    assert "stage" in changed
