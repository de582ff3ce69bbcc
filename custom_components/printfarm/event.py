"""Support for printfarm events: the print lifecycle of each printer."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import PrinterEvent, PrinterStatus
from .const import EVENT_TYPES
from .coordinator import PrintFarmConfigEntry
from .entity import PrinterEntity, add_printer_entities

PARALLEL_UPDATES = 0

PRINT_EVENT = EventEntityDescription(
    key="print", translation_key="print", event_types=list(EVENT_TYPES)
)

# Farm-reported status changes that mean a lifecycle event, for printers without pushed state.
TRANSITIONS: dict[tuple[PrinterStatus, PrinterStatus], str] = {
    **{
        (old, new): "print_started"
        for old in (PrinterStatus.IDLE, PrinterStatus.FINISHED)
        for new in (PrinterStatus.PREPARING, PrinterStatus.PRINTING)
    },
    (PrinterStatus.PRINTING, PrinterStatus.PAUSED): "print_paused",
    (PrinterStatus.PAUSED, PrinterStatus.PRINTING): "print_resumed",
    (PrinterStatus.PRINTING, PrinterStatus.FINISHED): "print_finished",
    (PrinterStatus.PRINTING, PrinterStatus.ERROR): "print_failed",
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrintFarmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up printfarm event entities based on a config entry."""
    farm = entry.runtime_data.farm
    hub = entry.runtime_data.hub
    add_printer_entities(
        entry,
        async_add_entities,
        lambda view, _push: [PrintEventEntity(farm, hub, view.printer.id, PRINT_EVENT)],
    )


class PrintEventEntity(PrinterEntity, EventEntity):
    """Defines the print lifecycle events of a printer, for automations."""

    def __init__(self, *args: object) -> None:
        """Initialize the event entity."""
        super().__init__(*args)  # type: ignore[arg-type]
        self._status: PrinterStatus | None = None

    async def async_added_to_hass(self) -> None:
        """Listen to the printer's lifecycle events."""
        await super().async_added_to_hass()
        if (view := self.view) is not None:
            self._status = view.printer.status
        self.async_on_remove(self.hub.async_add_event_listener(self.printer_id, self._pushed))

    @callback
    def _pushed(self, event: PrinterEvent) -> None:
        if event.type.value in EVENT_TYPES:
            self._trigger_event(event.type.value, dict(event.data))
            self.async_write_ha_state()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Derive events from the farm's view when the printer pushes no state."""
        view = self.view
        if view is not None and not self.hub.has_push(self.printer_id):
            old, self._status = self._status, view.printer.status
            if old is not None and (event_type := TRANSITIONS.get((old, view.printer.status))):
                self._trigger_event(event_type, {"source": "farm"})
                self.async_write_ha_state()
                return
        super()._handle_coordinator_update()
