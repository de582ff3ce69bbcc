"""The live state printers push, and the callbacks that deliver it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Final

from .models import PrinterStatus


class PrinterEventType(StrEnum):
    """Lifecycle events derived from pushed printer state."""

    PRINT_STARTED = "print_started"
    PRINT_PAUSED = "print_paused"
    PRINT_RESUMED = "print_resumed"
    PRINT_FINISHED = "print_finished"
    PRINT_FAILED = "print_failed"
    PRINT_CANCELLED = "print_cancelled"
    ONLINE = "online"
    OFFLINE = "offline"
    ERROR_RAISED = "error_raised"
    ERROR_CLEARED = "error_cleared"


@dataclass(frozen=True, kw_only=True)
class Temperature:
    """A heater's current and target temperature in degrees Celsius."""

    current: float | None = None
    target: float | None = None


@dataclass(frozen=True, kw_only=True)
class HealthMessage:
    """A printer health message (Bambu HMS), with its code as the vendor writes it."""

    code: str
    severity: int
    attr: int = 0
    raw_code: int = 0


@dataclass(frozen=True, kw_only=True)
class FilamentTray:
    """A filament tray as the printer reports it."""

    tray_id: str
    loaded: bool
    type: str | None = None
    color: str | None = None
    remaining_percent: int | None = None


@dataclass(frozen=True, kw_only=True)
class AmsUnit:
    """An AMS unit: its climate, as the printer reports it."""

    unit_id: str
    # Bambu's humidity index, 1 (wet) to 5 (dry), and the relative humidity where reported
    humidity_index: int | None = None
    humidity: int | None = None
    temperature: float | None = None
    # Minutes of drying left, while the unit dries its filament (AMS 2 Pro, AMS HT)
    drying_minutes: int | None = None


@dataclass(frozen=True, kw_only=True)
class PrinterState:
    """Everything a printer pushes, merged from full and delta reports."""

    online: bool = False
    status: PrinterStatus = PrinterStatus.UNKNOWN
    gcode_state: str | None = None
    stage: int | None = None
    progress: int | None = None
    remaining_seconds: int | None = None
    layer: int | None = None
    total_layers: int | None = None
    job_name: str | None = None
    file: str | None = None
    nozzle: Temperature = field(default_factory=Temperature)
    bed: Temperature = field(default_factory=Temperature)
    chamber: Temperature | None = None
    speed_level: int | None = None
    lights: Mapping[str, bool] = field(default_factory=dict)
    wifi_signal: int | None = None
    print_error: int = 0
    error_code: str | None = None
    health: tuple[HealthMessage, ...] = ()
    active_tray: str | None = None
    trays: tuple[FilamentTray, ...] = ()
    ams: tuple[AmsUnit, ...] = ()
    model: str | None = None
    firmware: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def changed_fields(self, other: PrinterState | None) -> frozenset[str]:
        """Return the names of the fields whose values differ from `other` (raw excluded)."""
        if other is None:
            return _COMPARED_FIELDS
        return frozenset(
            name for name in _COMPARED_FIELDS if getattr(self, name) != getattr(other, name)
        )


# Looked up once: `fields()` is slow for a check that runs on every pushed message.
_COMPARED_FIELDS: Final = frozenset(f.name for f in fields(PrinterState) if f.name != "raw")


@dataclass(frozen=True, kw_only=True)
class PrinterUpdate:
    """New state of one printer and what changed in it."""

    printer_key: str
    state: PrinterState
    changed: frozenset[str]


@dataclass(frozen=True, kw_only=True)
class PrinterEvent:
    """A lifecycle event of one printer."""

    printer_key: str
    type: PrinterEventType
    data: Mapping[str, Any] = field(default_factory=dict)


type UpdateCallback = Callable[[PrinterUpdate], None]
type EventCallback = Callable[[PrinterEvent], None]
