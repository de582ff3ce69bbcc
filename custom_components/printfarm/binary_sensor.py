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

from .api import PrinterStatus, PrinterView
from .coordinator import PrintFarmConfigEntry
from .entity import (
    MaterialEntity,
    PrinterEntity,
    PrinterEntityDescription,
    async_add_material_entities,
    async_add_printer_entities,
)

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PrinterBinarySensorDescription(BinarySensorEntityDescription, PrinterEntityDescription):
    """Describe a printfarm printer binary sensor."""

    attributes_fn: Callable[[PrinterView], dict[str, Any] | None] = lambda _view: None
    is_on_fn: Callable[[PrinterView], bool | None]


def _error_attributes(view: PrinterView) -> dict[str, Any]:
    """Return the printer's error in words, and every health message it pushes."""
    error = view.error
    return {
        "error_code": view.error_code,
        "error": error.description if error else None,
        "module": error.module if error else None,
        "severity": error.severity if error else None,
        "wiki_url": error.url if error else None,
        "health_messages": [
            {
                "code": info.code,
                "module": info.module,
                "severity": info.severity,
                "description": info.description,
                "wiki_url": info.url,
            }
            for info in view.errors
        ],
    }


PRINTER_BINARY_SENSORS: tuple[PrinterBinarySensorDescription, ...] = (
    PrinterBinarySensorDescription(
        key="online",
        translation_key="online",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        push_fields=frozenset({"online"}),
        is_on_fn=lambda view: view.online,
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
        is_on_fn=lambda view: view.has_error,
        attributes_fn=_error_attributes,
    ),
    PrinterBinarySensorDescription(
        key="awaiting_bed_clear",
        translation_key="awaiting_bed_clear",
        push_fields=frozenset({"status"}),
        is_on_fn=lambda view: view.awaiting_bed_clear,
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
    async_add_printer_entities(
        entry, async_add_entities, PRINTER_BINARY_SENSORS, PrinterBinarySensorEntity
    )
    async_add_material_entities(
        entry,
        async_add_entities,
        lambda material_id: LowStockEntity(farm, material_id, MATERIAL_LOW_STOCK),
    )


class PrinterBinarySensorEntity(PrinterEntity, BinarySensorEntity):
    """Defines a printfarm printer binary sensor."""

    entity_description: PrinterBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        """Return the state of the binary sensor."""
        return self.entity_description.is_on_fn(self.view)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the details of the state."""
        return self.entity_description.attributes_fn(self.view)


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
