"""Support for printfarm selects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import SPEED_LEVELS
from .coordinator import PrintFarmConfigEntry
from .entity import PrinterEntity, PrinterEntityDescription, add_printer_entities
from .helpers import printfarm_exception_handler

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PrinterSelectDescription(SelectEntityDescription, PrinterEntityDescription):
    """Describe a printfarm printer select."""


PRINT_SPEED = PrinterSelectDescription(
    key="print_speed",
    translation_key="print_speed",
    entity_category=EntityCategory.CONFIG,
    options=list(SPEED_LEVELS.values()),
    push_fields=frozenset({"speed_level"}),
    push_only=True,
)
LEVELS = {name: level for level, name in SPEED_LEVELS.items()}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrintFarmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up printfarm selects based on a config entry."""
    farm = entry.runtime_data.farm
    hub = entry.runtime_data.hub
    add_printer_entities(
        entry,
        async_add_entities,
        lambda view, _push: (
            [PrintSpeedEntity(farm, hub, view.printer.id, PRINT_SPEED)]
            if hub.has_speed(view.printer.id)
            else []
        ),
    )


class PrintSpeedEntity(PrinterEntity, SelectEntity):
    """Defines the print speed of a printer reached on the LAN."""

    entity_description: PrinterSelectDescription

    @property
    def current_option(self) -> str | None:
        """Return the print speed."""
        state = self.hub.states.get(self.printer_id)
        if state is None or state.speed_level is None:
            return None
        return SPEED_LEVELS.get(state.speed_level)

    def shown(self) -> Any:
        """Return what the select shows."""
        return self.current_option

    @printfarm_exception_handler
    async def async_select_option(self, option: str) -> None:
        """Set the print speed."""
        await self.hub.async_set_speed(self.printer_id, LEVELS[option])
