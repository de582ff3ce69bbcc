"""Support for printfarm sensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
    UnitOfMass,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .api import (
    AMS_HT_FIRST_ID,
    SLOTS_PER_AMS,
    AmsUnit,
    FarmSummary,
    FilamentTray,
    PrinterStatus,
    PrinterView,
    color_name,
)
from .const import FINISH_TIME_TOLERANCE
from .coordinator import FarmData, PrinterCoordinator, PrintFarmConfigEntry
from .entity import (
    FarmEntity,
    MaterialEntity,
    PrinterEntity,
    PrinterEntityDescription,
    async_add_material_entities,
    async_add_printer_entities,
)

PARALLEL_UPDATES = 0

FINISH_KEY = "estimated_finish"
NO_ERROR = "none"
PRINTER_STATUSES = [status.value for status in PrinterStatus]


@dataclass(frozen=True, kw_only=True)
class PrinterSensorDescription(SensorEntityDescription, PrinterEntityDescription):
    """Describe a printfarm printer sensor."""

    value_fn: Callable[[PrinterView], StateType | datetime]
    attributes_fn: Callable[[PrinterView], dict[str, Any] | None] = lambda _view: None


@dataclass(frozen=True, kw_only=True)
class FarmSensorDescription(SensorEntityDescription):
    """Describe a printfarm farm sensor."""

    value_fn: Callable[[FarmData], StateType]


def _pushed(coordinator: PrinterCoordinator) -> bool:
    """Return whether the printer pushes its state: only then has it live readings."""
    return coordinator.has_push


def _temperature(
    key: str, attr: str, field: str, *, enabled: bool = True
) -> PrinterSensorDescription:
    """Return the description of a heater's current or target temperature."""
    return PrinterSensorDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_registry_enabled_default=enabled,
        exists_fn=_pushed,
        push_fields=frozenset({field}),
        push_only=True,
        value_fn=lambda view: getattr(getattr(view.state, field), attr) if view.state else None,
    )


PRINTER_SENSORS: tuple[PrinterSensorDescription, ...] = (
    PrinterSensorDescription(
        key="status",
        translation_key="status",
        device_class=SensorDeviceClass.ENUM,
        options=PRINTER_STATUSES,
        push_fields=frozenset({"status"}),
        value_fn=lambda view: view.status.value,
    ),
    PrinterSensorDescription(
        key="progress",
        translation_key="progress",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        # Shown only while the printer has a job: its status decides
        push_fields=frozenset({"progress", "status"}),
        value_fn=lambda view: view.progress,
    ),
    PrinterSensorDescription(
        key="time_remaining",
        translation_key="time_remaining",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
        push_fields=frozenset({"remaining_seconds", "status"}),
        value_fn=lambda view: view.remaining_seconds,
    ),
    PrinterSensorDescription(
        key="current_job",
        translation_key="current_job",
        push_fields=frozenset({"job_name", "status"}),
        value_fn=lambda view: view.job_name,
    ),
    PrinterSensorDescription(
        key="current_file",
        translation_key="current_file",
        entity_registry_enabled_default=False,
        push_fields=frozenset({"file", "status"}),
        value_fn=lambda view: view.job_file,
    ),
    PrinterSensorDescription(
        key="current_layer",
        translation_key="current_layer",
        state_class=SensorStateClass.MEASUREMENT,
        exists_fn=_pushed,
        push_fields=frozenset({"layer", "status"}),
        push_only=True,
        value_fn=lambda view: view.state.layer if view.state and view.shows_job else None,
    ),
    PrinterSensorDescription(
        key="total_layers",
        translation_key="total_layers",
        entity_registry_enabled_default=False,
        exists_fn=_pushed,
        push_fields=frozenset({"total_layers", "status"}),
        push_only=True,
        value_fn=lambda view: view.state.total_layers if view.state and view.shows_job else None,
    ),
    _temperature("nozzle_temperature", "current", "nozzle"),
    _temperature("nozzle_target_temperature", "target", "nozzle", enabled=False),
    _temperature("bed_temperature", "current", "bed"),
    _temperature("bed_target_temperature", "target", "bed", enabled=False),
    PrinterSensorDescription(
        key="chamber_temperature",
        translation_key="chamber_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        exists_fn=lambda coordinator: (
            coordinator.has_push
            and coordinator.data.state is not None
            and coordinator.data.state.chamber is not None
        ),
        push_fields=frozenset({"chamber"}),
        push_only=True,
        value_fn=lambda view: (
            view.state.chamber.current if view.state and view.state.chamber else None
        ),
    ),
    PrinterSensorDescription(
        key="active_filament",
        translation_key="active_filament",
        exists_fn=_pushed,
        push_fields=frozenset({"active_tray", "trays"}),
        push_only=True,
        value_fn=lambda view: view.active_filament,
    ),
    PrinterSensorDescription(
        key="wifi_signal",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        exists_fn=_pushed,
        push_fields=frozenset({"wifi_signal"}),
        push_only=True,
        value_fn=lambda view: view.state.wifi_signal if view.state else None,
    ),
    PrinterSensorDescription(
        key="error_code",
        translation_key="error_code",
        entity_category=EntityCategory.DIAGNOSTIC,
        push_fields=frozenset({"error_code", "health", "status"}),
        # "none" rather than unknown: the printer is known to have no error
        value_fn=lambda view: view.error_code or NO_ERROR,
    ),
    PrinterSensorDescription(
        key=FINISH_KEY,
        translation_key=FINISH_KEY,
        device_class=SensorDeviceClass.TIMESTAMP,
        push_fields=frozenset({"remaining_seconds", "status"}),
        # FinishSensorEntity keeps the time steady while the estimate holds
        value_fn=lambda _view: None,
    ),
)


def _tray(view: PrinterView, tray_id: str) -> FilamentTray | None:
    """Return one of the printer's trays, if it still has it."""
    state = view.pushed
    trays = state.trays if state is not None else ()
    return next((tray for tray in trays if tray.tray_id == tray_id), None)


def _tray_attributes(view: PrinterView, tray_id: str) -> dict[str, Any] | None:
    """Return what a tray holds: type, colour (named, and its hex), whether it feeds."""
    if (tray := _tray(view, tray_id)) is None:
        return None
    state = view.pushed
    return {
        "loaded": tray.loaded,
        "type": tray.type,
        "color": color_name(tray.color),
        "color_hex": tray.color,
        "active": state is not None and state.active_tray == tray_id,
    }


def _ams(view: PrinterView, unit_id: str) -> AmsUnit | None:
    """Return one of the printer's AMS units, if it still has it."""
    state = view.pushed
    units = state.ams if state is not None else ()
    return next((unit for unit in units if unit.unit_id == unit_id), None)


# Templates of the sensors a printer has per AMS tray, external spool and AMS unit
TRAY_SENSOR = PrinterSensorDescription(
    key="tray",
    translation_key="ams_tray",
    native_unit_of_measurement=PERCENTAGE,
    state_class=SensorStateClass.MEASUREMENT,
    push_fields=frozenset({"trays", "active_tray"}),
    push_only=True,
    value_fn=lambda _view: None,
)
EXTERNAL_SPOOL_SENSOR = replace(TRAY_SENSOR, translation_key="external_spool")
AMS_HUMIDITY_SENSOR = PrinterSensorDescription(
    key="ams_humidity",
    translation_key="ams_humidity",
    device_class=SensorDeviceClass.HUMIDITY,
    native_unit_of_measurement=PERCENTAGE,
    state_class=SensorStateClass.MEASUREMENT,
    push_fields=frozenset({"ams"}),
    push_only=True,
    value_fn=lambda _view: None,
)
AMS_TEMPERATURE_SENSOR = PrinterSensorDescription(
    key="ams_temperature",
    translation_key="ams_temperature",
    device_class=SensorDeviceClass.TEMPERATURE,
    native_unit_of_measurement=UnitOfTemperature.CELSIUS,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=1,
    push_fields=frozenset({"ams"}),
    push_only=True,
    value_fn=lambda _view: None,
)
EXTERNAL_TRAYS = frozenset({"254", "255"})


def _unit_label(unit_id: int) -> str:
    """Return how the printer's screen names an AMS unit: 1, 2, ... or HT 1, HT 2, ..."""
    if unit_id >= AMS_HT_FIRST_ID:
        return f"HT {unit_id - AMS_HT_FIRST_ID + 1}"
    return str(unit_id + 1)


@cache
def _tray_sensor(tray_id: str) -> PrinterSensorDescription:
    """Return the description of the sensor of one tray (its remaining filament in %).

    Made once per tray id: the printers' entities are checked against it whenever a tray's
    filament moves, which is often while printing.
    """
    number = int(tray_id)
    if tray_id in EXTERNAL_TRAYS:
        template = EXTERNAL_SPOOL_SENSOR
        placeholders = {"spool": str(number - min(int(t) for t in EXTERNAL_TRAYS) + 1)}
    else:
        template = TRAY_SENSOR
        unit = number if number >= AMS_HT_FIRST_ID else number // SLOTS_PER_AMS
        slot = 0 if number >= AMS_HT_FIRST_ID else number % SLOTS_PER_AMS
        placeholders = {"unit": _unit_label(unit), "slot": str(slot + 1)}
    return replace(
        template,
        key=f"tray_{tray_id}",
        placeholders=placeholders,
        value_fn=lambda view: tray.remaining_percent if (tray := _tray(view, tray_id)) else None,
        attributes_fn=lambda view: _tray_attributes(view, tray_id),
    )


@cache
def _ams_sensors(unit_id: str) -> tuple[PrinterSensorDescription, ...]:
    """Return the descriptions of an AMS unit's humidity and temperature sensors."""
    placeholders = {"unit": _unit_label(int(unit_id))}
    return (
        replace(
            AMS_HUMIDITY_SENSOR,
            key=f"ams_{unit_id}_humidity",
            placeholders=placeholders,
            value_fn=lambda view: unit.humidity if (unit := _ams(view, unit_id)) else None,
            attributes_fn=lambda view: (
                {
                    "humidity_index": unit.humidity_index,
                    "drying_minutes": unit.drying_minutes,
                }
                if (unit := _ams(view, unit_id))
                else None
            ),
        ),
        replace(
            AMS_TEMPERATURE_SENSOR,
            key=f"ams_{unit_id}_temperature",
            placeholders=placeholders,
            value_fn=lambda view: unit.temperature if (unit := _ams(view, unit_id)) else None,
        ),
    )


def printer_sensors(coordinator: PrinterCoordinator) -> list[PrinterSensorDescription]:
    """Return the sensors a printer has: the fixed ones, one per tray and two per AMS unit."""
    descriptions = list(PRINTER_SENSORS)
    if (state := coordinator.data.state) is not None and coordinator.has_push:
        descriptions.extend(_tray_sensor(tray.tray_id) for tray in state.trays)
        for unit in state.ams:
            descriptions.extend(_ams_sensors(unit.unit_id))
    return descriptions


def _printer_count(key: str, *statuses: PrinterStatus) -> FarmSensorDescription:
    """Return the description of how many of the farm's printers are in some statuses."""
    return FarmSensorDescription(
        key=key,
        translation_key=key,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda data: data.count_printers(*statuses),
    )


def _summary_count(
    key: str,
    count: Callable[[FarmSummary], int],
    state_class: SensorStateClass = SensorStateClass.MEASUREMENT,
) -> FarmSensorDescription:
    """Return the description of one of the farm summary's job counts."""
    return FarmSensorDescription(
        key=key,
        translation_key=key,
        state_class=state_class,
        value_fn=lambda data: count(data.summary),
    )


FARM_SENSORS: tuple[FarmSensorDescription, ...] = (
    _printer_count("printers_printing", PrinterStatus.PRINTING, PrinterStatus.PREPARING),
    _printer_count("printers_idle", PrinterStatus.IDLE),
    _printer_count("printers_offline", PrinterStatus.OFFLINE),
    _printer_count("printers_error", PrinterStatus.ERROR),
    _summary_count("jobs_queued", lambda summary: summary.jobs_queued),
    _summary_count("jobs_active", lambda summary: summary.jobs_active),
    _summary_count(
        "jobs_completed_today",
        lambda summary: summary.jobs_completed_today,
        SensorStateClass.TOTAL_INCREASING,
    ),
    FarmSensorDescription(
        key="budget_remaining",
        translation_key="budget_remaining",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda data: data.budget.remaining,
    ),
)

MATERIAL_REMAINING = SensorEntityDescription(
    key="material_remaining",
    translation_key="material_remaining",
    device_class=SensorDeviceClass.WEIGHT,
    native_unit_of_measurement=UnitOfMass.GRAMS,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=0,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrintFarmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up printfarm sensors based on a config entry."""
    farm = entry.runtime_data.farm
    async_add_entities(FarmSensorEntity(farm, description) for description in FARM_SENSORS)
    async_add_printer_entities(entry, async_add_entities, printer_sensors, _printer_sensor)
    async_add_material_entities(
        entry,
        async_add_entities,
        lambda material_id: MaterialRemainingEntity(farm, material_id, MATERIAL_REMAINING),
    )


def _printer_sensor(
    coordinator: PrinterCoordinator, description: PrinterSensorDescription
) -> PrinterSensorEntity:
    """Return a printer sensor; the estimated finish keeps steady while the estimate holds."""
    if description.key == FINISH_KEY:
        return FinishSensorEntity(coordinator, description)
    return PrinterSensorEntity(coordinator, description)


class FarmSensorEntity(FarmEntity, SensorEntity):
    """Defines a printfarm farm sensor."""

    entity_description: FarmSensorDescription

    @property
    def native_value(self) -> StateType:
        """Return the state of the sensor."""
        return self.entity_description.value_fn(self.coordinator.data)


class PrinterSensorEntity(PrinterEntity, SensorEntity):
    """Defines a printfarm printer sensor."""

    entity_description: PrinterSensorDescription

    def __init__(
        self, coordinator: PrinterCoordinator, description: PrinterSensorDescription
    ) -> None:
        """Initialize the sensor; the status sensor is the device's main entity."""
        super().__init__(coordinator, description)
        if description.key == "status":
            self._attr_name = None

    @property
    def native_value(self) -> StateType | datetime:
        """Return the state of the sensor."""
        return self.entity_description.value_fn(self.view)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the details of the state."""
        return self.entity_description.attributes_fn(self.view)


class FinishSensorEntity(PrinterSensorEntity):
    """Defines the estimated finish time of a print, steady while the estimate holds."""

    _finish: datetime | None = None

    @property
    def native_value(self) -> datetime | None:
        """Return when the print will finish; the time moves only when the estimate does."""
        if (remaining := self.view.remaining_seconds) is None:
            self._finish = None
            return None
        finish = (dt_util.utcnow() + timedelta(seconds=remaining)).replace(microsecond=0)
        if self._finish is None or abs(finish - self._finish) > FINISH_TIME_TOLERANCE:
            self._finish = finish
        return self._finish


class MaterialRemainingEntity(MaterialEntity, SensorEntity):
    """Defines the remaining filament of a spool or stock item."""

    @property
    def native_value(self) -> float | None:
        """Return the remaining grams."""
        material = self.material
        return material.remaining_grams if material else None
