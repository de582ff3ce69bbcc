"""Support for printfarm lights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.light import LightEntity, LightEntityDescription
from homeassistant.components.light.const import ColorMode
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CHAMBER_LIGHT
from .coordinator import PrintFarmConfigEntry
from .entity import PrinterEntity, PrinterEntityDescription, add_printer_entities
from .helpers import printfarm_exception_handler

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PrinterLightDescription(LightEntityDescription, PrinterEntityDescription):
    """Describe a printfarm printer light."""


CHAMBER_LIGHT_DESCRIPTION = PrinterLightDescription(
    key=CHAMBER_LIGHT,
    translation_key=CHAMBER_LIGHT,
    push_fields=frozenset({"lights"}),
    push_only=True,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrintFarmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up printfarm lights based on a config entry."""
    farm = entry.runtime_data.farm
    hub = entry.runtime_data.hub
    add_printer_entities(
        entry,
        async_add_entities,
        lambda view, _push: (
            [ChamberLightEntity(farm, hub, view.printer.id, CHAMBER_LIGHT_DESCRIPTION)]
            if hub.has_light(view.printer.id)
            and view.state is not None
            and CHAMBER_LIGHT in view.state.lights
            else []
        ),
    )


class ChamberLightEntity(PrinterEntity, LightEntity):
    """Defines the chamber light of a printer reached on the LAN."""

    _attr_color_mode = ColorMode.ONOFF
    _attr_supported_color_modes = {ColorMode.ONOFF}
    entity_description: PrinterLightDescription

    @property
    def is_on(self) -> bool | None:
        """Return whether the light is on."""
        state = self.hub.states.get(self.printer_id)
        return state.lights.get(CHAMBER_LIGHT) if state else None

    def shown(self) -> Any:
        """Return what the light shows."""
        return self.is_on

    @printfarm_exception_handler
    async def async_turn_on(self, /, **kwargs: Any) -> None:
        """Switch the light on."""
        await self.hub.async_set_light(self.printer_id, on=True)

    @printfarm_exception_handler
    async def async_turn_off(self, /, **kwargs: Any) -> None:
        """Switch the light off."""
        await self.hub.async_set_light(self.printer_id, on=False)
