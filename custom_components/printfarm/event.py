"""Support for printfarm events: the print lifecycle of each printer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Job, PrinterEvent, PrinterStatus
from .const import EVENT_TYPES
from .coordinator import PrintFarmConfigEntry
from .entity import PrinterEntity, PrinterEntityDescription, PrinterView, add_printer_entities

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PrinterEventDescription(EventEntityDescription, PrinterEntityDescription):
    """Describe a printfarm printer event entity."""


PRINT_EVENT = PrinterEventDescription(
    key="print",
    translation_key="print",
    event_types=list(EVENT_TYPES),
    # Events come on their own; pushed state matters only for availability
    push_fields=frozenset({"online"}),
)

# Farm-reported status changes that mean a lifecycle event, for printers without pushed state.
TRANSITIONS: dict[tuple[PrinterStatus, PrinterStatus], str] = {
    **{
        (old, new): "print_started"
        for old in (PrinterStatus.IDLE, PrinterStatus.FINISHED, PrinterStatus.ERROR)
        for new in (PrinterStatus.PREPARING, PrinterStatus.PRINTING)
    },
    **{
        (old, PrinterStatus.ERROR): "print_failed"
        for old in (PrinterStatus.PREPARING, PrinterStatus.PRINTING, PrinterStatus.PAUSED)
    },
    (PrinterStatus.PRINTING, PrinterStatus.PAUSED): "print_paused",
    (PrinterStatus.PAUSED, PrinterStatus.PRINTING): "print_resumed",
    (PrinterStatus.PRINTING, PrinterStatus.FINISHED): "print_finished",
    # A print that ends while preparing or paused was stopped
    (PrinterStatus.PREPARING, PrinterStatus.FINISHED): "print_cancelled",
    (PrinterStatus.PAUSED, PrinterStatus.FINISHED): "print_cancelled",
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


def _farm_event_data(view: PrinterView, job: Job | None) -> dict[str, Any]:
    """Return the data of an event the farm's view shows, like that of a pushed one."""
    return {
        "job_name": job.name if job else None,
        "file": job.file if job else None,
        "progress": view.printer.progress,
        "source": "farm",
    }


class PrintEventEntity(PrinterEntity, EventEntity):
    """Defines the print lifecycle events of a printer, for automations."""

    entity_description: PrinterEventDescription
    _status: PrinterStatus | None = None
    # The farm lists open jobs only: remember the last one, for the event that ends it
    _job: Job | None = None

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
        if view is not None:
            # Followed also while the printer pushes its own events, so that a connection
            # removed later does not compare with a status from before it
            old, self._status = self._status, view.printer.status
            job, self._job = view.job or self._job, view.job
            event_type = TRANSITIONS.get((old, view.printer.status)) if old is not None else None
            if event_type and not self.hub.has_push(self.printer_id):
                self._trigger_event(event_type, _farm_event_data(view, job))
                self.async_write_ha_state()
                return
        super()._handle_coordinator_update()
