"""Base entities for the printfarm integration, and the entities the farm gains and loses."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from homeassistant.core import callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import Material, PrinterView
from .const import DOMAIN
from .coordinator import (
    CONNECTION,
    FARM,
    FarmCoordinator,
    PrinterCoordinator,
    PrintFarmConfigEntry,
)

# Pushed fields that tell what a printer has (its model is known once it answered its version,
# its AMS units and trays come and go)
CAPABILITY_FIELDS = frozenset({"model", "chamber", "lights", "trays", "ams", CONNECTION})
# What every printer entity follows beside the fields it shows: the farm's view of the
# printer, its connection, and whether its pushed state is fresh
ALWAYS_FOLLOWED = frozenset({FARM, CONNECTION, "online"})


@dataclass(frozen=True, kw_only=True)
class PrinterEntityDescription(EntityDescription):
    """Describe a printfarm printer entity: whether it exists and the pushed fields it shows."""

    # Pushed fields the entity shows; an update touching none of them is not even compared
    push_fields: frozenset[str] = frozenset()
    # Whether the entity shows pushed state only (unavailable while the printer is silent)
    push_only: bool = False
    # Whether the printer has the entity, from what is known of it
    exists_fn: Callable[[PrinterCoordinator], bool] = lambda _coordinator: True
    # The words the entity's name is made of (an AMS tray's unit and slot)
    placeholders: Mapping[str, str] | None = None


def account_id(entry: PrintFarmConfigEntry) -> str:
    """Return the id the entry's devices and entities are scoped by."""
    return str(entry.unique_id)


def printer_device_id(entry: PrintFarmConfigEntry, printer_id: str) -> str:
    """Return the device identifier of a farm printer."""
    return f"{account_id(entry)}_{printer_id}"


class WrittenOnChange(Entity):
    """An entity whose state is written only when what Home Assistant would show changed.

    Home Assistant drops a write of an unchanged state from its history, but still does the
    work and fires `state_reported`; at a report per printer per second that is most writes.
    """

    _written: Any = None

    def _shown(self) -> Any:
        """Return what the state machine would show of the entity."""
        if not self.available:
            return None
        return (self.state, self.extra_state_attributes)

    async def async_added_to_hass(self) -> None:
        """Remember what the entity showed when it was added."""
        await super().async_added_to_hass()
        self._written = self._shown()

    @callback
    def _async_write_if_changed(self) -> None:
        shown = self._shown()
        if shown != self._written:
            self._written = shown
            self.async_write_ha_state()


class FarmEntity(WrittenOnChange, CoordinatorEntity[FarmCoordinator]):
    """Defines an entity of the farm device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: FarmCoordinator, description: EntityDescription) -> None:
        """Initialize the entity."""
        super().__init__(coordinator=coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        self._attr_unique_id = f"{account_id(entry)}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, account_id(entry))})

    @callback
    def _handle_coordinator_update(self) -> None:
        self._async_write_if_changed()


class MaterialEntity(FarmEntity):
    """Defines an entity about one spool or stock item, on the farm device."""

    def __init__(
        self, coordinator: FarmCoordinator, material_id: str, description: EntityDescription
    ) -> None:
        """Initialize the entity, named after the material."""
        super().__init__(coordinator, description)
        self.material_id = material_id
        self._attr_unique_id = (
            f"{account_id(coordinator.config_entry)}_{material_id}_{description.key}"
        )
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


class PrinterEntity(WrittenOnChange, CoordinatorEntity[PrinterCoordinator]):
    """Defines an entity of a printer device, fed by its printer's coordinator."""

    _attr_has_entity_name = True
    entity_description: PrinterEntityDescription

    def __init__(
        self, coordinator: PrinterCoordinator, description: PrinterEntityDescription
    ) -> None:
        """Initialize the entity."""
        super().__init__(coordinator=coordinator)
        self.entity_description = description
        self.printer_id = coordinator.printer_id
        self._followed = description.push_fields | ALWAYS_FOLLOWED
        device_id = printer_device_id(coordinator.config_entry, coordinator.printer_id)
        self._attr_unique_id = f"{device_id}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, device_id)})
        if description.placeholders is not None:
            self._attr_translation_placeholders = dict(description.placeholders)

    @property
    def view(self) -> PrinterView:
        """Return what is known of the printer."""
        return self.coordinator.data

    @property
    def available(self) -> bool:
        """Return whether the printer's data is at hand."""
        coordinator = self.coordinator
        if self.entity_description.push_only:
            return coordinator.available
        return coordinator.farm_available or coordinator.available

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state if the update changed anything the entity shows."""
        if self.coordinator.changed.isdisjoint(self._followed):
            return
        self._async_write_if_changed()


type EntityFactory[DescriptionT] = Callable[[PrinterCoordinator, DescriptionT], Entity]
# The descriptions of a printer's entities: the same for every printer, or made from what
# the printer has (a sensor per AMS tray)
type Descriptions[DescriptionT] = (
    Iterable[DescriptionT] | Callable[[PrinterCoordinator], Iterable[DescriptionT]]
)


class _PrinterEntities[DescriptionT: PrinterEntityDescription]:
    """Adds a printer's entities as the printer gains them, and drops those it loses.

    Which entities a printer has follows from its coordinator (`exists_fn`): its push
    connection and what it reported having. Those a removed connection alone fed leave the
    entity registry, as they would be missing at the next setup.
    """

    def __init__(
        self,
        entry: PrintFarmConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
        descriptions: Descriptions[DescriptionT],
        factory: EntityFactory[DescriptionT],
    ) -> None:
        self.entry = entry
        self.async_add_entities = async_add_entities
        if callable(descriptions):
            self.descriptions_of = descriptions
        else:
            fixed = tuple(descriptions)
            self.descriptions_of = lambda _coordinator: fixed
        self.factory = factory
        # The entities added, by printer and description key
        self.added: dict[str, dict[str, Entity]] = {}

    @callback
    def farm_updated(self) -> None:
        """Add the entities of printers new to the farm; forget those of printers gone."""
        printers = self.entry.runtime_data.printers
        for printer_id in self.added.keys() - printers.keys():
            # Its device is removed, and its entities with it
            del self.added[printer_id]
        for printer_id in printers.keys() - self.added.keys():
            coordinator = printers[printer_id]
            self.added[printer_id] = {}
            self.entry.async_on_unload(
                coordinator.async_add_listener(partial(self.printer_updated, coordinator))
            )
            self.sync(coordinator)

    @callback
    def printer_updated(self, coordinator: PrinterCoordinator) -> None:
        """Follow a printer's connection and what it reported having."""
        if not coordinator.changed.isdisjoint(CAPABILITY_FIELDS):
            self.sync(coordinator)

    @callback
    def sync(self, coordinator: PrinterCoordinator) -> None:
        """Add the entities the printer has now; remove those it no longer has."""
        if (added := self.added.get(coordinator.printer_id)) is None:
            return
        # Only a removed connection takes entities away; a new one reports what it has
        removed = CONNECTION in coordinator.changed and not coordinator.has_push
        new: list[Entity] = []
        described: set[str] = set()
        for description in self.descriptions_of(coordinator):
            described.add(description.key)
            exists = description.exists_fn(coordinator)
            if exists and description.key not in added:
                entity = self.factory(coordinator, description)
                added[description.key] = entity
                new.append(entity)
            elif not exists and removed and description.key in added:
                self._remove(coordinator, added.pop(description.key))
        # What the printer no longer has (an AMS unit taken off) goes with it
        gone = removed or coordinator.data.pushed is not None
        for key in [key for key in added if key not in described and gone]:
            self._remove(coordinator, added.pop(key))
        if new:
            self.async_add_entities(new)

    @staticmethod
    def _remove(coordinator: PrinterCoordinator, entity: Entity) -> None:
        """Remove an entity the printer no longer has from the entity registry."""
        registry = er.async_get(coordinator.hass)
        if entity.entity_id and entity.entity_id in registry.entities:
            registry.async_remove(entity.entity_id)


@callback
def async_add_printer_entities[DescriptionT: PrinterEntityDescription](
    entry: PrintFarmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    descriptions: Descriptions[DescriptionT],
    factory: EntityFactory[DescriptionT],
) -> None:
    """Add the entities of every printer, and of those the farm or a connection adds later."""
    entities = _PrinterEntities(entry, async_add_entities, descriptions, factory)
    entities.farm_updated()
    entry.async_on_unload(entry.runtime_data.farm.async_add_listener(entities.farm_updated))


@callback
def async_add_material_entities(
    entry: PrintFarmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    factory: Callable[[str], Entity],
) -> None:
    """Add an entity for every material, and for those the farm gains later.

    Those of materials gone from the inventory leave the entity registry.
    """
    farm = entry.runtime_data.farm
    added: dict[str, Entity] = {}

    @callback
    def farm_updated() -> None:
        materials = farm.data.materials
        registry = er.async_get(farm.hass)
        for material_id in added.keys() - materials.keys():
            entity = added.pop(material_id)
            if entity.entity_id and entity.entity_id in registry.entities:
                registry.async_remove(entity.entity_id)
        new = {material_id: factory(material_id) for material_id in materials.keys() - added}
        added.update(new)
        if new:
            async_add_entities(new.values())

    farm_updated()
    entry.async_on_unload(farm.async_add_listener(farm_updated))
