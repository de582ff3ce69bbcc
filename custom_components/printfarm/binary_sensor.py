"""Support for printfarm binary sensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import PrinterStatus
from .coordinator import PrintFarmConfigEntry
from .entity import (
    MaterialEntity,
    PrinterEntity,
    PrinterEntityDescription,
    PrinterView,
    add_printer_entities,
)

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PrinterBinarySensorDescription(BinarySensorEntityDescription, PrinterEntityDescription):
    """Describe a printfarm printer binary sensor."""

    attributes_fn: Callable[[PrinterView], dict[str, Any] | None] = lambda _view: None
    is_on_fn: Callable[[PrinterView], bool | None]


def _online(view: PrinterView) -> bool:
    """Return whether the printer is reachable: pushing state, or online for the farm."""
    if view.state is not None:
        return view.state.online
    return view.printer.online


def _error(view: PrinterView) -> dict[str, Any] | None:
    """Return the readable error: its code and the printer's health messages."""
    state = view.state
    messages = [h.code for h in state.health] if state is not None and state.online else []
    return {"error_code": view.error_code, "health_messages": messages}


def _awaiting_bed_clear(view: PrinterView) -> bool:
    """Return whether a finished print waits on the bed; never while a print is under way."""
    if view.busy:
        return False
    return view.status is PrinterStatus.FINISHED or view.printer.bed_clear_required


PRINTER_BINARY_SENSORS: tuple[PrinterBinarySensorDescription, ...] = (
    PrinterBinarySensorDescription(
        key="online",
        translation_key="online",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        push_fields=frozenset({"online"}),
        is_on_fn=_online,
    ),
    PrinterBinarySensorDescription(
        key="printing",
        translation_key="printing",
        device_class=BinarySensorDeviceClass.RUNNING,
        push_fields=frozenset({"status"}),
        is_on_fn=lambda view: view.status in (PrinterStatus.PREPARING, PrinterStatus.PRINTING),
    ),
    PrinterBinarySensorDescription(
        key="error",
        translation_key="error",
        device_class=BinarySensorDeviceClass.PROBLEM,
        push_fields=frozenset({"status", "error_code", "health"}),
        is_on_fn=lambda view: view.status is PrinterStatus.ERROR or view.error_code is not None,
        attributes_fn=_error,
    ),
    PrinterBinarySensorDescription(
        key="awaiting_bed_clear",
        translation_key="awaiting_bed_clear",
        push_fields=frozenset({"status"}),
        is_on_fn=_awaiting_bed_clear,
    ),
)

MATERIAL_LOW_STOCK = BinarySensorEntityDescription(
    key="material_low_stock",
    translation_key="material_low_stock",
    device_class=BinarySensorDeviceClass.PROBLEM,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrintFarmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up printfarm binary sensors based on a config entry."""
    farm = entry.runtime_data.farm
    hub = entry.runtime_data.hub
    add_printer_entities(
        entry,
        async_add_entities,
        lambda view, _push: (
            PrinterBinarySensorEntity(farm, hub, view.printer.id, description)
            for description in PRINTER_BINARY_SENSORS
        ),
        lambda material_id: [LowStockEntity(farm, material_id, MATERIAL_LOW_STOCK)],
    )


class PrinterBinarySensorEntity(PrinterEntity, BinarySensorEntity):
    """Defines a printfarm printer binary sensor."""

    entity_description: PrinterBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        """Return the state of the binary sensor."""
        if (view := self.view) is None:
            return None
        return self.entity_description.is_on_fn(view)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the details of the state."""
        if (view := self.view) is None:
            return None
        return self.entity_description.attributes_fn(view)

    def shown(self) -> Any:
        """Return what the binary sensor shows."""
        return (self.is_on, self.extra_state_attributes)


class LowStockEntity(MaterialEntity, BinarySensorEntity):
    """Defines whether a spool or stock item is at or below its reorder threshold."""

    @property
    def is_on(self) -> bool | None:
        """Return whether the material runs low."""
        material = self.material
        return material.low_stock if material else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the reorder threshold and what is left."""
        if (material := self.material) is None:
            return None
        return {
            "remaining_grams": material.remaining_grams,
            "reorder_threshold_grams": material.reorder_threshold_grams,
        }

    def shown(self) -> Any:
        """Return what the binary sensor shows."""
        return (self.is_on, self.extra_state_attributes)
