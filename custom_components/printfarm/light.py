"""Support for printfarm lights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.light import LightEntity, LightEntityDescription
from homeassistant.components.light.const import ColorMode
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CHAMBER_LIGHT
from .coordinator import PrinterCoordinator, PrintFarmConfigEntry
from .entity import PrinterEntity, PrinterEntityDescription, async_add_printer_entities
from .helpers import printfarm_exception_handler

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PrinterLightDescription(LightEntityDescription, PrinterEntityDescription):
    """Describe a printfarm printer light."""


def _has_chamber_light(coordinator: PrinterCoordinator) -> bool:
    """Return whether the printer has reported a chamber light its connection can switch."""
    state = coordinator.data.state
    return coordinator.has_push and state is not None and CHAMBER_LIGHT in state.lights


CHAMBER_LIGHT_DESCRIPTION = PrinterLightDescription(
    key=CHAMBER_LIGHT,
    translation_key=CHAMBER_LIGHT,
    exists_fn=_has_chamber_light,
    push_fields=frozenset({"lights"}),
    push_only=True,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrintFarmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up printfarm lights based on a config entry."""
    async_add_printer_entities(
        entry, async_add_entities, [CHAMBER_LIGHT_DESCRIPTION], ChamberLightEntity
    )


class ChamberLightEntity(PrinterEntity, LightEntity):
    """Defines the chamber light of a printer."""

    _attr_color_mode = ColorMode.ONOFF
    _attr_supported_color_modes = {ColorMode.ONOFF}
    entity_description: PrinterLightDescription

    @property
    def is_on(self) -> bool | None:
        """Return whether the light is on."""
        state = self.view.state
        return state.lights.get(CHAMBER_LIGHT) if state else None

    @printfarm_exception_handler
    async def async_turn_on(self, /, **kwargs: Any) -> None:
        """Switch the light on."""
        await self.coordinator.command().async_set_light(on=True)

    @printfarm_exception_handler
    async def async_turn_off(self, /, **kwargs: Any) -> None:
        """Switch the light off."""
        await self.coordinator.command().async_set_light(on=False)
