"""Support for printfarm buttons."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import FarmClient, PrinterStatus, PrinterView
from .coordinator import PrintFarmConfigEntry
from .entity import PrinterEntity, PrinterEntityDescription, async_add_printer_entities
from .helpers import printfarm_exception_handler

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PrinterButtonDescription(ButtonEntityDescription, PrinterEntityDescription):
    """Describe a printfarm printer button."""

    push_fields: frozenset[str] = frozenset({"status"})
    available_fn: Callable[[PrinterView], bool]
    press_fn: Callable[[FarmClient, str], Awaitable[None]]


BUTTONS: tuple[PrinterButtonDescription, ...] = (
    PrinterButtonDescription(
        key="pause",
        translation_key="pause",
        available_fn=lambda view: view.status is PrinterStatus.PRINTING,
        press_fn=lambda client, printer_id: client.pause_printer(printer_id),
    ),
    PrinterButtonDescription(
        key="resume",
        translation_key="resume",
        available_fn=lambda view: view.status is PrinterStatus.PAUSED,
        press_fn=lambda client, printer_id: client.resume_printer(printer_id),
    ),
    PrinterButtonDescription(
        key="cancel",
        translation_key="cancel",
        available_fn=lambda view: view.busy,
        press_fn=lambda client, printer_id: client.stop_printer(printer_id),
    ),
    PrinterButtonDescription(
        key="clear_bed",
        translation_key="clear_bed",
        available_fn=lambda view: view.bed_clearable,
        press_fn=lambda client, printer_id: client.clear_bed(printer_id),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrintFarmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up printfarm buttons based on a config entry."""
    async_add_printer_entities(entry, async_add_entities, BUTTONS, PrinterButtonEntity)


class PrinterButtonEntity(PrinterEntity, ButtonEntity):
    """Defines a printfarm printer button, available only where the printer's state allows it."""

    entity_description: PrinterButtonDescription

    @property
    def available(self) -> bool:
        """Return whether the printer is in a state where the button makes sense."""
        return super().available and self.entity_description.available_fn(self.view)

    @printfarm_exception_handler
    async def async_press(self) -> None:
        """Send the command to the printer through the farm."""
        runtime = self.coordinator.config_entry.runtime_data
        await self.entity_description.press_fn(runtime.client, self.printer_id)
        # Show the effect at once rather than at the next planned refresh
        await runtime.farm.async_request_refresh()
