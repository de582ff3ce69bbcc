"""Support for printfarm events: the print lifecycle of each printer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import FarmEvent, Job, Material, PrinterStatus, PrinterView, farm_event
from .const import EVENT_TYPES, FARM_EVENT_TYPES
from .coordinator import EVENT, FARM, PrinterCoordinator, PrintFarmConfigEntry
from .entity import (
    FarmEntity,
    PrinterEntity,
    PrinterEntityDescription,
    async_add_printer_entities,
)

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PrinterEventDescription(EventEntityDescription, PrinterEntityDescription):
    """Describe a printfarm printer event entity."""


PRINT_EVENT = PrinterEventDescription(
    key="print",
    translation_key="print",
    event_types=list(EVENT_TYPES),
    # Events come on their own; pushed state matters only for availability
    push_fields=frozenset({"online", EVENT}),
)


FARM_EVENT = EventEntityDescription(
    key="farm",
    translation_key="farm",
    event_types=list(FARM_EVENT_TYPES),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrintFarmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up printfarm event entities based on a config entry."""
    async_add_entities([FarmEventEntity(entry.runtime_data.farm, FARM_EVENT)])
    async_add_printer_entities(entry, async_add_entities, [PRINT_EVENT], PrintEventEntity)


def _material_label(material: Material | None) -> str | None:
    """Return how a person names a material: its type and colour."""
    if material is None:
        return None
    return " ".join(part for part in (material.type, material.color) if part) or material.id


def farm_event_data(event: FarmEvent) -> dict[str, Any]:
    """Return the data of a farm event: the ids and names of what it is about."""
    job, printer, material = event.job, event.printer, event.material
    return {
        "event_id": event.id,
        "job_id": job.id if job else None,
        "job_name": job.name if job else None,
        "printer_id": printer.id if printer else (job.printer_id if job else None),
        "printer_name": printer.name if printer else None,
        "material_id": material.id if material else None,
        "material": _material_label(material),
    }


class FarmEventEntity(FarmEntity, EventEntity):
    """Defines the farm's own events (jobs, printers, materials), for automations."""

    @callback
    def _handle_coordinator_update(self) -> None:
        event = self.coordinator.event
        if event is not None and event.type.value in FARM_EVENT_TYPES:
            self._trigger_event(event.type.value, farm_event_data(event))
            self.async_write_ha_state()
            return
        super()._handle_coordinator_update()


def _farm_event_data(view: PrinterView, job: Job | None) -> dict[str, Any]:
    """Return the data of an event the farm's view shows, like that of a pushed one."""
    return {
        "job_name": job.name if job else None,
        "file": job.file if job else None,
        "progress": view.printer.progress,
        "source": "farm",
    }


class PrintEventEntity(PrinterEntity, EventEntity):
    """Defines the print lifecycle events of a printer, for automations.

    A printer that pushes its state tells its own events; for the others they follow from
    the status changes the farm reports.
    """

    entity_description: PrinterEventDescription

    def __init__(
        self, coordinator: PrinterCoordinator, description: PrinterEventDescription
    ) -> None:
        """Initialize the entity with the farm's status of the printer."""
        super().__init__(coordinator, description)
        self._status: PrinterStatus = coordinator.data.printer.status
        # The farm lists open jobs only: remember the last one, for the event that ends it
        self._job: Job | None = coordinator.data.job

    @callback
    def _handle_coordinator_update(self) -> None:
        coordinator = self.coordinator
        if EVENT in coordinator.changed:
            event = coordinator.event
            if event is not None and event.type.value in EVENT_TYPES:
                self._trigger_event(event.type.value, dict(event.data))
                self.async_write_ha_state()
            return
        if FARM in coordinator.changed:
            view = self.view
            # Followed also while the printer pushes its own events, so that a connection
            # removed later does not compare with a status from before it
            old, self._status = self._status, view.printer.status
            job, self._job = view.job or self._job, view.job
            event_type = farm_event(old, view.printer.status)
            if event_type is not None and not coordinator.has_push:
                self._trigger_event(event_type.value, _farm_event_data(view, job))
                self.async_write_ha_state()
                return
        super()._handle_coordinator_update()
