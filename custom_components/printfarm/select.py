"""Support for printfarm selects."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import SPEED_LEVELS
from .coordinator import PrintFarmConfigEntry
from .entity import PrinterEntity, PrinterEntityDescription, async_add_printer_entities
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
    # Printers whose connection takes a speed command (Bambu on the LAN; Printago has none)
    exists_fn=lambda coordinator: (
        coordinator.commands is not None and coordinator.commands.has_speed
    ),
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
    async_add_printer_entities(entry, async_add_entities, [PRINT_SPEED], PrintSpeedEntity)


class PrintSpeedEntity(PrinterEntity, SelectEntity):
    """Defines the print speed of a printer reached on the LAN."""

    entity_description: PrinterSelectDescription

    @property
    def current_option(self) -> str | None:
        """Return the print speed."""
        state = self.view.state
        if state is None or state.speed_level is None:
            return None
        return SPEED_LEVELS.get(state.speed_level)

    @printfarm_exception_handler
    async def async_select_option(self, option: str) -> None:
        """Set the print speed."""
        await self.coordinator.command().async_set_speed(LEVELS[option])
