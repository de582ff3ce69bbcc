"""Lifecycle events derived from two successive printer states."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Final

from .models import PrinterStatus
from .state import (
    EventCallback,
    HealthMessage,
    PrinterEvent,
    PrinterEventType,
    PrinterState,
    PrinterUpdate,
    UpdateCallback,
)

LOGGER = logging.getLogger(__name__)

# Bambu's `print_error` for a print the user cancelled; it is not an error.
PRINT_ERROR_CANCELLED: Final = 50348044
# HMS severities 1 (fatal) and 2 (serious) are errors; 3 (common) and 4 (info) are notices.
SEVERITY_SERIOUS: Final = 2

IDLE: Final = "IDLE"
PREPARE: Final = "PREPARE"
RUNNING: Final = "RUNNING"
PAUSE: Final = "PAUSE"
FINISH: Final = "FINISH"
FAILED: Final = "FAILED"

# Bambu's job states (`gcode_state`; Printago's realtime `state` uses them and a few of its
# own words): the printer status each means, and its lifecycle phase.
JOB_STATES: Final[dict[str, tuple[PrinterStatus, str | None]]] = {
    "IDLE": (PrinterStatus.IDLE, IDLE),
    "INIT": (PrinterStatus.IDLE, IDLE),
    "PREPARE": (PrinterStatus.PREPARING, PREPARE),
    "SLICING": (PrinterStatus.PREPARING, PREPARE),
    "RUNNING": (PrinterStatus.PRINTING, RUNNING),
    "PRINTING": (PrinterStatus.PRINTING, RUNNING),
    "PAUSE": (PrinterStatus.PAUSED, PAUSE),
    "PAUSED": (PrinterStatus.PAUSED, PAUSE),
    "FINISH": (PrinterStatus.FINISHED, FINISH),
    "FINISHED": (PrinterStatus.FINISHED, FINISH),
    "FAILED": (PrinterStatus.FINISHED, FAILED),
    "OFFLINE": (PrinterStatus.OFFLINE, None),
}
_STATUS_PHASES: Final = {
    PrinterStatus.IDLE: IDLE,
    PrinterStatus.PREPARING: PREPARE,
    PrinterStatus.PRINTING: RUNNING,
    PrinterStatus.PAUSED: PAUSE,
    PrinterStatus.FINISHED: FINISH,
}
_ACTIVE: Final = frozenset({PREPARE, RUNNING, PAUSE})
_STARTING: Final = frozenset({PREPARE, RUNNING})  # phases a pause can come from
# The state fields lifecycle events are derived from (see `derive_events`)
EVENT_FIELDS: Final = frozenset({"online", "status", "gcode_state", "print_error", "health"})
_PRINT_EVENTS: Final = frozenset(
    {
        PrinterEventType.PRINT_STARTED,
        PrinterEventType.PRINT_PAUSED,
        PrinterEventType.PRINT_RESUMED,
        PrinterEventType.PRINT_FINISHED,
        PrinterEventType.PRINT_FAILED,
        PrinterEventType.PRINT_CANCELLED,
    }
)


def job_state_status(word: str | None) -> PrinterStatus:
    """Return the printer status a job state word means (UNKNOWN for none or an unknown one)."""
    if word is None:
        return PrinterStatus.UNKNOWN
    return JOB_STATES.get(word.upper(), (PrinterStatus.UNKNOWN, None))[0]


def is_error(print_error: int, health: Iterable[HealthMessage]) -> bool:
    """Return whether a print error (other than a cancel) or a fatal/serious HMS is active."""
    if print_error not in (0, PRINT_ERROR_CANCELLED):
        return True
    return any(0 < message.severity <= SEVERITY_SERIOUS for message in health)


def has_error(state: PrinterState) -> bool:
    """Return whether a printer state shows an active error."""
    return is_error(state.print_error, state.health)


def phase(state: PrinterState) -> str | None:
    """Return the job phase of a state as a Bambu `gcode_state` word, or None if unknown."""
    known = JOB_STATES.get(state.gcode_state.upper()) if state.gcode_state else None
    if known is not None and (word := known[1]) is not None:
        return word
    return _STATUS_PHASES.get(state.status)


def derive_events(old: PrinterState | None, new: PrinterState) -> list[PrinterEventType]:
    """Return the lifecycle events of the transition from `old` to `new`."""
    events: list[PrinterEventType] = []
    if old is None:
        if new.online:
            events.append(PrinterEventType.ONLINE)
        if has_error(new):
            events.append(PrinterEventType.ERROR_RAISED)
        return events
    if old.online != new.online:
        events.append(PrinterEventType.ONLINE if new.online else PrinterEventType.OFFLINE)
    if (print_event := _print_event(old, new)) is not None:
        events.append(print_event)
    old_error, new_error = has_error(old), has_error(new)
    if new_error and not old_error:
        events.append(PrinterEventType.ERROR_RAISED)
    elif old_error and not new_error:
        events.append(PrinterEventType.ERROR_CLEARED)
    return events


def _print_event(old: PrinterState, new: PrinterState) -> PrinterEventType | None:  # noqa: PLR0911
    """Return the print lifecycle event of a transition, if any."""
    before, after = phase(old), phase(new)
    if after is None and new.status is PrinterStatus.ERROR and before in _ACTIVE:
        after = FAILED
    if after is None or after == before:
        return None
    if after in _ACTIVE and before not in _ACTIVE:
        return PrinterEventType.PRINT_STARTED
    if after == PAUSE and before in _STARTING:
        return PrinterEventType.PRINT_PAUSED
    if after == RUNNING and before == PAUSE:
        return PrinterEventType.PRINT_RESUMED
    if after == FINISH and before in _ACTIVE:
        return PrinterEventType.PRINT_FINISHED
    if after == FAILED and before in _ACTIVE:
        cancelled = PRINT_ERROR_CANCELLED in (old.print_error, new.print_error)
        return PrinterEventType.PRINT_CANCELLED if cancelled else PrinterEventType.PRINT_FAILED
    return None


def event_data(event_type: PrinterEventType, state: PrinterState) -> dict[str, Any]:
    """Return the data that goes with an event: the job for print events, the error for errors."""
    if event_type in _PRINT_EVENTS:
        return {"job_name": state.job_name, "file": state.file, "progress": state.progress}
    if event_type in (PrinterEventType.ERROR_RAISED, PrinterEventType.ERROR_CLEARED):
        return {
            "print_error": state.print_error,
            "error_code": state.error_code,
            "health": [message.code for message in state.health],
        }
    return {}


def build_events(
    printer_key: str, old: PrinterState | None, new: PrinterState
) -> list[PrinterEvent]:
    """Return the lifecycle events of a transition, ready for an event callback."""
    events: list[PrinterEvent] = []
    for event_type in derive_events(old, new):
        # A cleared error is described by the state that still had it.
        source = old if event_type is PrinterEventType.ERROR_CLEARED and old else new
        data = event_data(event_type, source)
        events.append(PrinterEvent(printer_key=printer_key, type=event_type, data=data))
    return events


# Status changes the farm reports between two polls that mean a lifecycle event, for
# printers that push no state of their own.
_FARM_TRANSITIONS: Final[dict[tuple[PrinterStatus, PrinterStatus], PrinterEventType]] = {
    **{
        (old, new): PrinterEventType.PRINT_STARTED
        for old in (PrinterStatus.IDLE, PrinterStatus.FINISHED, PrinterStatus.ERROR)
        for new in (PrinterStatus.PREPARING, PrinterStatus.PRINTING)
    },
    **{
        (old, PrinterStatus.ERROR): PrinterEventType.PRINT_FAILED
        for old in (PrinterStatus.PREPARING, PrinterStatus.PRINTING, PrinterStatus.PAUSED)
    },
    (PrinterStatus.PRINTING, PrinterStatus.PAUSED): PrinterEventType.PRINT_PAUSED,
    (PrinterStatus.PAUSED, PrinterStatus.PRINTING): PrinterEventType.PRINT_RESUMED,
    (PrinterStatus.PRINTING, PrinterStatus.FINISHED): PrinterEventType.PRINT_FINISHED,
    # A print that ends while preparing or paused was stopped
    (PrinterStatus.PREPARING, PrinterStatus.FINISHED): PrinterEventType.PRINT_CANCELLED,
    (PrinterStatus.PAUSED, PrinterStatus.FINISHED): PrinterEventType.PRINT_CANCELLED,
}


def farm_event(old: PrinterStatus, new: PrinterStatus) -> PrinterEventType | None:
    """Return the lifecycle event a change of the farm's printer status means, if any."""
    return _FARM_TRANSITIONS.get((old, new))


def call_safely[T](callback: Callable[[T], None], argument: T) -> None:
    """Call a consumer's callback; an exception in it is logged, never raised into the client."""
    try:
        callback(argument)
    except Exception:
        LOGGER.exception("Error in a printer callback")


def dispatch(
    printer_key: str,
    old: PrinterState | None,
    new: PrinterState,
    *,
    on_update: UpdateCallback | None,
    on_event: EventCallback | None,
    changed: frozenset[str] | None = None,
) -> bool:
    """Tell the callbacks about a new state if any field changed; return whether one did.

    `changed` names the changed fields when the caller knows them already.
    """
    if changed is None:
        changed = new.changed_fields(old)
    if not changed:
        return False
    if on_update is not None:
        call_safely(on_update, PrinterUpdate(printer_key=printer_key, state=new, changed=changed))
    # Most reports move a temperature or the progress: no event can come of them
    if on_event is not None and (old is None or not changed.isdisjoint(EVENT_FIELDS)):
        for event in build_events(printer_key, old, new):
            call_safely(on_event, event)
    return True
