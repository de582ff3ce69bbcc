"""Base entities for the printfarm integration."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from homeassistant.core import callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import PRINT_ERROR_CANCELLED, Job, Material, Printer, PrinterState, PrinterStatus
from .const import DOMAIN
from .coordinator import FarmCoordinator, PrintFarmConfigEntry
from .hub import PrinterHub


@dataclass(frozen=True, kw_only=True)
class PrinterView:
    """What is known of one printer: the farm's view, its pushed state and its job."""

    printer: Printer
    state: PrinterState | None
    job: Job | None

    @property
    def status(self) -> PrinterStatus:
        """Return the printer status, pushed if fresh, else the farm's."""
        if self.state is not None and self.state.online:
            return self.state.status
        return self.printer.status

    @property
    def progress(self) -> float | None:
        """Return the print progress in percent, while printing or just finished."""
        if not self.shows_job:
            return None
        if self.state is not None and self.state.online and self.state.progress is not None:
            return self.state.progress
        return self.printer.progress

    @property
    def busy(self) -> bool:
        """Return whether a print is under way (preparing, printing or paused)."""
        return self.status in BUSY_STATUSES

    @property
    def shows_job(self) -> bool:
        """Return whether the printer shows a job: one under way, or one done on the bed."""
        return self.busy or self.status is PrinterStatus.FINISHED

    @property
    def error_code(self) -> str | None:
        """Return the printer's error code, or None without an error."""
        state = self.state
        if state is not None and state.online:
            # A cancelled print leaves its code behind, but it is no error
            if state.error_code and state.print_error != PRINT_ERROR_CANCELLED:
                return state.error_code
            serious = [h.code for h in state.health if h.severity <= SERIOUS_SEVERITY]
            return serious[0] if serious else None
        return self.printer.error

    @property
    def remaining_seconds(self) -> int | None:
        """Return the estimated seconds until the print finishes, while printing."""
        if not self.busy:
            return None
        state = self.state
        if state is not None and state.online and state.remaining_seconds is not None:
            return state.remaining_seconds
        return self.printer.remaining_seconds


BUSY_STATUSES = frozenset({PrinterStatus.PREPARING, PrinterStatus.PRINTING, PrinterStatus.PAUSED})
# Health messages of severity 1 (fatal) and 2 (serious) are errors; 3 and 4 are notices.
SERIOUS_SEVERITY = 2


@dataclass(frozen=True, kw_only=True)
class PrinterEntityDescription(EntityDescription):
    """Describe a printfarm printer entity: the pushed fields it shows."""

    # Pushed fields the entity shows; an update touching none of them is skipped
    push_fields: frozenset[str] = frozenset()
    # Whether the entity shows pushed state only (unavailable while the printer is silent)
    push_only: bool = False


def account_id(entry: PrintFarmConfigEntry) -> str:
    """Return the id the entry's devices and entities are scoped by."""
    return str(entry.unique_id)


def printer_device_id(entry: PrintFarmConfigEntry, printer_id: str) -> str:
    """Return the device identifier of a farm printer."""
    return f"{account_id(entry)}_{printer_id}"


class PrintFarmEntity(CoordinatorEntity[FarmCoordinator]):
    """Defines a printfarm entity; its state is written only when what it shows changed."""

    _attr_has_entity_name = True
    _written: Any = None

    def shown(self) -> Any:
        """Return what the entity shows; a change of it is written to the state machine."""
        return None

    async def async_added_to_hass(self) -> None:
        """Remember what the entity showed when it was added."""
        await super().async_added_to_hass()
        self._written = (self.available, self.shown())

    @callback
    def _handle_coordinator_update(self) -> None:
        self._write_if_changed()

    @callback
    def _write_if_changed(self) -> None:
        snapshot = (self.available, self.shown())
        if snapshot != self._written:
            self._written = snapshot
            self.async_write_ha_state()


class FarmEntity(PrintFarmEntity):
    """Defines an entity of the farm device."""

    def __init__(self, coordinator: FarmCoordinator, description: EntityDescription) -> None:
        """Initialize the entity."""
        super().__init__(coordinator=coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        self._attr_unique_id = f"{account_id(entry)}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, account_id(entry))})


class PrinterEntity(PrintFarmEntity):
    """Defines an entity of a printer device, fed by the farm and by pushed state."""

    entity_description: PrinterEntityDescription

    def __init__(
        self,
        coordinator: FarmCoordinator,
        hub: PrinterHub,
        printer_id: str,
        description: PrinterEntityDescription,
    ) -> None:
        """Initialize the entity."""
        super().__init__(coordinator=coordinator)
        self.entity_description = description
        self.hub = hub
        self.printer_id = printer_id
        entry = coordinator.config_entry
        device_id = printer_device_id(entry, printer_id)
        self._attr_unique_id = f"{device_id}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, device_id)})

    @property
    def view(self) -> PrinterView | None:
        """Return what is known of the printer, or None when it left the farm."""
        data = self.coordinator.data
        if (printer := data.printers.get(self.printer_id)) is None:
            return None
        return PrinterView(
            printer=printer,
            state=self.hub.states.get(self.printer_id),
            job=data.printer_jobs.get(self.printer_id),
        )

    @property
    def available(self) -> bool:
        """Return whether the printer's data is at hand."""
        if self.printer_id not in self.coordinator.data.printers:
            return False
        if self.entity_description.push_only:
            return self.hub.available(self.printer_id)
        return self.coordinator.last_update_success or self.hub.available(self.printer_id)

    async def async_added_to_hass(self) -> None:
        """Listen to the pushed fields the entity shows (to every field if it names none)."""
        await super().async_added_to_hass()
        fields = self.entity_description.push_fields or None
        self.async_on_remove(
            self.hub.async_add_listener(self.printer_id, self._push_update, fields)
        )

    @callback
    def _push_update(self, _changed: frozenset[str]) -> None:
        self._write_if_changed()


class MaterialEntity(PrintFarmEntity):
    """Defines an entity about one spool or stock item, on the farm device."""

    def __init__(
        self, coordinator: FarmCoordinator, material_id: str, description: EntityDescription
    ) -> None:
        """Initialize the entity, named after the material."""
        super().__init__(coordinator=coordinator)
        self.entity_description = description
        self.material_id = material_id
        entry = coordinator.config_entry
        self._attr_unique_id = f"{account_id(entry)}_{material_id}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, account_id(entry))})
        material = coordinator.data.materials[material_id]
        where = material.location or material_id[-6:]
        label = " ".join(part for part in (material.type, material.color, where) if part)
        self._attr_translation_placeholders = {"material": label}

    @property
    def material(self) -> Material | None:
        """Return the material, or None when it left the inventory."""
        return self.coordinator.data.materials.get(self.material_id)

    @property
    def available(self) -> bool:
        """Return whether the material is still in the inventory."""
        return super().available and self.material is not None


# Pushed fields that tell what a printer has (its model is known once it answered its version)
CAPABILITY_FIELDS = frozenset({"model", "chamber", "lights"})

type PrinterFactory = Callable[[PrinterView, bool], Iterable[Entity]]
type MaterialFactory = Callable[[str], Iterable[Entity]]


class _DynamicEntities:
    """Adds entities for printers and materials as the farm gains them, drops those it loses."""

    def __init__(
        self,
        entry: PrintFarmConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
        printer_factory: PrinterFactory,
        material_factory: MaterialFactory | None,
    ) -> None:
        self.entry = entry
        self.async_add_entities = async_add_entities
        self.printer_factory = printer_factory
        self.material_factory = material_factory
        self.added: dict[str, Entity] = {}
        self.printers: set[str] = set()
        self.listening: set[str] = set()
        self.reported: set[str] = set()
        self.materials: set[str] = set()

    def add(self, entities: Iterable[Entity]) -> None:
        new = [entity for entity in entities if entity.unique_id not in self.added]
        self.added.update((str(entity.unique_id), entity) for entity in new)
        if new:
            self.async_add_entities(new)

    def forget(self, prefix: str, *, remove: bool, keep: Container[str] = ()) -> None:
        """Forget the entities whose unique ID starts with `prefix`, but those to keep.

        Those forgotten are removed from the entity registry if asked.
        """
        registry = er.async_get(self.entry.runtime_data.farm.hass)
        for unique_id in [key for key in self.added if key.startswith(prefix)]:
            if unique_id in keep:
                continue
            entity = self.added.pop(unique_id)
            if remove and entity.entity_id in registry.entities:
                registry.async_remove(entity.entity_id)

    def printer_entities(self, printer_id: str) -> list[Entity]:
        """Return the entities of a farm printer, as what is known of it now allows."""
        farm = self.entry.runtime_data.farm.data
        hub = self.entry.runtime_data.hub
        view = PrinterView(
            printer=farm.printers[printer_id],
            state=hub.states.get(printer_id),
            job=farm.printer_jobs.get(printer_id),
        )
        return list(self.printer_factory(view, hub.has_push(printer_id)))

    def printer(self, printer_id: str) -> None:
        self.add(self.printer_entities(printer_id))

    @callback
    def connection_changed(self, printer_id: str) -> None:
        """Add the entities a printer's connection allows; remove those a removed one took.

        The entities only a connection feeds go with it, as they would at the next setup.
        """
        if printer_id not in self.printers:
            return
        # Its next report is a first one: it tells again what the printer has
        self.reported.discard(printer_id)
        entities = self.printer_entities(printer_id)
        if not self.entry.runtime_data.hub.has_push(printer_id):
            keep = {str(entity.unique_id) for entity in entities}
            self.forget(f"{printer_device_id(self.entry, printer_id)}_", remove=True, keep=keep)
        self.add(entities)

    @callback
    def pushed(self, printer_id: str, changed: frozenset[str]) -> None:
        """Add the entities a printer's first report, or a report of what it has, allows."""
        if printer_id not in self.printers:
            return
        if printer_id not in self.reported or changed & CAPABILITY_FIELDS:
            self.reported.add(printer_id)
            self.printer(printer_id)

    @callback
    def refresh(self) -> None:
        runtime = self.entry.runtime_data
        data = runtime.farm.data
        # A printer that left the farm loses its device, and with it its entities
        for printer_id in self.printers - data.printers.keys():
            self.printers.discard(printer_id)
            self.reported.discard(printer_id)
            self.forget(f"{printer_device_id(self.entry, printer_id)}_", remove=False)
        for printer_id in data.printers.keys() - self.printers:
            self.printers.add(printer_id)
            self.printer(printer_id)
            if printer_id not in self.listening:
                self.listening.add(printer_id)
                # A first report changes every field, `online` with them; later ones matter
                # only if they tell what the printer has
                self.entry.async_on_unload(
                    runtime.hub.async_add_listener(
                        printer_id, partial(self.pushed, printer_id), CAPABILITY_FIELDS
                    )
                )
        if self.material_factory is None:
            return
        for material_id in self.materials - data.materials.keys():
            self.materials.discard(material_id)
            self.forget(f"{account_id(self.entry)}_{material_id}_", remove=True)
        for material_id in data.materials.keys() - self.materials:
            self.materials.add(material_id)
            self.add(self.material_factory(material_id))


@callback
def add_printer_entities(
    entry: PrintFarmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    printer_factory: PrinterFactory,
    material_factory: MaterialFactory | None = None,
) -> None:
    """Add entities for every printer and material, and for those the farm gains later.

    A printer's entities are made again once its first pushed state arrives, and when it
    reports what it has, so entities that depend on it (a chamber sensor) appear then.
    Those a printer's LAN connection feeds come and go with the connection.
    """
    dynamic = _DynamicEntities(entry, async_add_entities, printer_factory, material_factory)
    dynamic.refresh()
    entry.async_on_unload(entry.runtime_data.farm.async_add_listener(dynamic.refresh))
    entry.async_on_unload(
        entry.runtime_data.hub.async_add_connection_listener(dynamic.connection_changed)
    )
