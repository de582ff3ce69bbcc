"""Tests for deriving lifecycle events from printer state transitions."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.printfarm.api.events import (
    PRINT_ERROR_CANCELLED,
    build_events,
    derive_events,
    dispatch,
    has_error,
    phase,
)
from custom_components.printfarm.api.models import PrinterStatus
from custom_components.printfarm.api.state import (
    HealthMessage,
    PrinterEvent,
    PrinterEventType,
    PrinterState,
)

E = PrinterEventType
PHASE_STATUS = {
    "IDLE": PrinterStatus.IDLE,
    "PREPARE": PrinterStatus.PREPARING,
    "RUNNING": PrinterStatus.PRINTING,
    "PAUSE": PrinterStatus.PAUSED,
    "FINISH": PrinterStatus.FINISHED,
    "FAILED": PrinterStatus.FINISHED,
}
NOZZLE_CLOG = 50364437
FATAL = HealthMessage(code="0300_0100_0001_0007", severity=1)
NOTICE = HealthMessage(code="0300_0100_0003_0007", severity=3)


def printer(gcode_state: str | None = "IDLE", **changes: Any) -> PrinterState:
    """Return a Bambu-like state in a phase."""
    status = PHASE_STATUS.get(gcode_state or "", PrinterStatus.UNKNOWN)
    return PrinterState(**{"online": True, "status": status, "gcode_state": gcode_state, **changes})


@pytest.mark.parametrize(
    ("old", "new", "events"),
    [
        (printer("IDLE"), printer("PREPARE"), [E.PRINT_STARTED]),
        (printer("FINISH"), printer("RUNNING"), [E.PRINT_STARTED]),
        (printer("FAILED"), printer("PREPARE"), [E.PRINT_STARTED]),
        (printer(None), printer("RUNNING"), [E.PRINT_STARTED]),
        (printer("PREPARE"), printer("RUNNING"), []),
        (printer("RUNNING"), printer("PAUSE"), [E.PRINT_PAUSED]),
        (printer("PREPARE"), printer("PAUSE"), [E.PRINT_PAUSED]),
        (printer("PAUSE"), printer("RUNNING"), [E.PRINT_RESUMED]),
        (printer("RUNNING"), printer("FINISH"), [E.PRINT_FINISHED]),
        (printer("PAUSE"), printer("FINISH"), [E.PRINT_FINISHED]),
        (printer("IDLE"), printer("PAUSE"), [E.PRINT_STARTED]),
        (printer("IDLE"), printer("FINISH"), []),
        (printer("FINISH"), printer("IDLE"), []),
        (
            printer("RUNNING"),
            printer("FAILED", print_error=NOZZLE_CLOG, status=PrinterStatus.ERROR),
            [E.PRINT_FAILED, E.ERROR_RAISED],
        ),
        (printer("RUNNING"), printer("FAILED"), [E.PRINT_FAILED]),
        (
            printer("RUNNING"),
            printer("FAILED", print_error=PRINT_ERROR_CANCELLED),
            [E.PRINT_CANCELLED],
        ),
        (
            printer("PAUSE", print_error=PRINT_ERROR_CANCELLED),
            printer("FAILED"),
            [E.PRINT_CANCELLED],
        ),
        (printer("IDLE"), printer("FAILED"), []),
        (
            printer(None, status=PrinterStatus.PRINTING),
            printer(None, status=PrinterStatus.ERROR, health=(FATAL,)),
            [E.PRINT_FAILED, E.ERROR_RAISED],
        ),
        (printer("RUNNING"), printer("RUNNING", health=(FATAL,)), [E.ERROR_RAISED]),
        (printer("RUNNING", health=(FATAL,)), printer("RUNNING"), [E.ERROR_CLEARED]),
        (printer("RUNNING"), printer("RUNNING", health=(NOTICE,)), []),
        (printer("RUNNING"), printer("RUNNING", online=False), [E.OFFLINE]),
        (printer("RUNNING", online=False), printer("FINISH"), [E.ONLINE, E.PRINT_FINISHED]),
        (printer("RUNNING"), printer("RUNNING", progress=5), []),
    ],
)
def test_transitions(old: PrinterState, new: PrinterState, events: list[PrinterEventType]) -> None:
    """Test the events of each transition."""
    assert derive_events(old, new) == events


def test_first_state() -> None:
    """Test the first state reports online and an active error, and no print event."""
    assert derive_events(None, printer("RUNNING")) == [E.ONLINE]
    assert derive_events(None, printer("RUNNING", online=False)) == []
    assert derive_events(None, printer("FAILED", print_error=NOZZLE_CLOG)) == [
        E.ONLINE,
        E.ERROR_RAISED,
    ]


def test_phase_and_error() -> None:
    """Test phases come from the gcode state, else from the status."""
    assert phase(printer("SLICING")) == "PREPARE"
    assert phase(PrinterState(status=PrinterStatus.PAUSED, gcode_state="OFFLINE")) == "PAUSE"
    assert phase(PrinterState(status=PrinterStatus.OFFLINE)) is None
    assert not has_error(printer(print_error=PRINT_ERROR_CANCELLED))
    assert has_error(printer(print_error=NOZZLE_CLOG))


def test_event_data() -> None:
    """Test print events carry the job and error events the error (the old one when cleared)."""
    old = printer("RUNNING", job_name="benchy", progress=99)
    new = printer("FAILED", job_name="benchy", print_error=NOZZLE_CLOG, error_code="0300_8015")
    events = build_events("OMGPUPPIES", old, new)
    assert [(event.printer_key, event.type) for event in events] == [
        ("OMGPUPPIES", E.PRINT_FAILED),
        ("OMGPUPPIES", E.ERROR_RAISED),
    ]
    assert events[0].data == {"job_name": "benchy", "file": None, "progress": None}
    assert events[1].data == {"print_error": NOZZLE_CLOG, "error_code": "0300_8015", "health": []}
    cleared = build_events("OMGPUPPIES", new, printer("IDLE"))
    assert [event.type for event in cleared] == [E.ERROR_CLEARED]
    assert cleared[0].data["print_error"] == NOZZLE_CLOG
    offline = build_events("OMGPUPPIES", old, printer("RUNNING", online=False))
    assert offline[0].data == {}


# Property-based tests

PHASES = st.sampled_from([*PHASE_STATUS, None])
ERRORS = st.sampled_from([0, PRINT_ERROR_CANCELLED, NOZZLE_CLOG])
STATES = st.builds(
    printer,
    gcode_state=PHASES,
    online=st.booleans(),
    print_error=ERRORS,
    health=st.sampled_from([(), (FATAL,), (NOTICE,)]),
)


@settings(max_examples=300, deadline=None)
@given(old=STATES, new=STATES)
def test_event_invariants(old: PrinterState, new: PrinterState) -> None:
    """Test events only describe real changes, and at most one print event per transition."""
    events = derive_events(old, new)
    assert len(events) == len(set(events))
    assert derive_events(new, new) == []
    print_events = {E.PRINT_STARTED, E.PRINT_PAUSED, E.PRINT_RESUMED, E.PRINT_FINISHED}
    print_events |= {E.PRINT_FAILED, E.PRINT_CANCELLED}
    assert len(print_events.intersection(events)) <= 1
    assert (E.ONLINE in events) == (new.online and not old.online)
    assert (E.OFFLINE in events) == (old.online and not new.online)
    assert (E.ERROR_RAISED in events) == (has_error(new) and not has_error(old))
    assert (E.ERROR_CLEARED in events) == (has_error(old) and not has_error(new))


@settings(max_examples=300, deadline=None)
@given(old=STATES, new=STATES, progress=st.none() | st.integers(0, 100))
def test_dispatch_tells_every_event(
    old: PrinterState, new: PrinterState, progress: int | None
) -> None:
    """Test a dispatched change tells exactly the events of the two states (none are skipped)."""
    new = replace(new, progress=progress)
    told: list[PrinterEvent] = []
    dispatch("OMGPUPPIES", old, new, on_update=None, on_event=told.append)
    assert told == build_events("OMGPUPPIES", old, new)


@settings(max_examples=200, deadline=None)
@given(path=st.lists(PHASES, min_size=1, max_size=12))
def test_prints_start_and_end_once(path: list[str | None]) -> None:
    """Test along any phase sequence, each print starts once and ends at most once."""
    states = [printer("IDLE"), *(printer(word) for word in path)]
    started = False
    left_active = False
    for old, new in itertools.pairwise(states):
        for event in derive_events(old, new):
            if event is E.PRINT_STARTED:
                assert not started or left_active
                started, left_active = True, False
            elif event in (E.PRINT_FINISHED, E.PRINT_FAILED, E.PRINT_CANCELLED):
                assert started
                started = False
        if phase(new) not in ("PREPARE", "RUNNING", "PAUSE"):
            left_active = True
