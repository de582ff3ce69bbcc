"""The printfarm integration: run a 3D print farm from Home Assistant."""

from __future__ import annotations

from functools import partial

from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    ConfigEntry,
    ConfigEntryChange,
    ConfigEntryState,
)
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.typing import ConfigType

from .api import (
    AutoPrintFarm,
    Printago,
    PrinterEvent,
    PrinterEventType,
    PrinterUpdate,
    PrinterView,
    PrintFarmAuthenticationError,
    PrintFarmError,
)
from .connections import BambuConnections, PrintagoConnections, PrinterConnections, PushCallbacks
from .const import (
    CONF_SERVICE,
    DOMAIN,
    SERVICE_NAMES,
)
from .coordinator import (
    FarmCoordinator,
    PrinterCoordinator,
    PrintFarmConfigEntry,
    PrintFarmRuntimeData,
    create_client,
)
from .entity import account_id, printer_device_id
from .farm_webhooks import async_setup_webhook, async_unsubscribe_webhook
from .services import async_setup_services

PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.LIGHT,
    Platform.SELECT,
    Platform.SENSOR,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

# Pushed events after which the farm's queue and filament stock have changed
JOB_EVENTS = frozenset(
    {
        PrinterEventType.PRINT_STARTED,
        PrinterEventType.PRINT_FINISHED,
        PrinterEventType.PRINT_FAILED,
        PrinterEventType.PRINT_CANCELLED,
    }
)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the printfarm actions."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PrintFarmConfigEntry) -> bool:
    """Set up a print farm from a config entry."""
    client = create_client(hass, entry.data, entry.options)
    try:
        account = await client.account()
    except PrintFarmAuthenticationError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="authentication_failed"
        ) from err
    except PrintFarmError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="communication_error",
            translation_placeholders={"error": str(err)},
        ) from err

    # The farm's printers, queue and filament come from its REST API, within the rate budget
    farm = FarmCoordinator(hass, entry, client)
    await farm.async_config_entry_first_refresh()

    # Printer telemetry is pushed: Printago's realtime feed, or each Bambu printer on the LAN;
    # what they push goes to the printer's coordinator
    callbacks = PushCallbacks(
        on_update=partial(_async_pushed, entry),
        on_event=partial(_async_pushed_event, entry),
        on_connection=partial(_async_connection_changed, entry),
        on_farm_change=farm.async_remote_change,
        on_farm_event=farm.async_tell_event,
    )
    connections: PrinterConnections
    if isinstance(client, Printago):
        connections = PrintagoConnections(hass, entry, callbacks, client)
    else:
        connections = BambuConnections(hass, entry, callbacks)

    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, account_id(entry))},
        manufacturer=SERVICE_NAMES[entry.data[CONF_SERVICE]],
        name=account.name,
        entry_type=dr.DeviceEntryType.SERVICE,
    )

    entry.runtime_data = PrintFarmRuntimeData(
        client=client, account=account, farm=farm, connections=connections
    )
    # A device and a coordinator per printer; printers that left the farm lose theirs
    _async_sync_printers(hass, entry)
    entry.async_on_unload(farm.async_add_listener(lambda: _async_sync_printers(hass, entry)))

    await connections.async_start()
    entry.async_on_unload(connections.async_stop)
    # The farm's own events arrive by webhook where Home Assistant can be reached
    if isinstance(client, AutoPrintFarm):
        await async_setup_webhook(hass, entry, client, farm)
    # Options reload the entry (OptionsFlowWithReload); printer connections (subentries)
    # are followed without one
    entry.async_on_unload(
        async_dispatcher_connect(
            hass, SIGNAL_CONFIG_ENTRY_CHANGED, partial(_async_entry_changed, entry)
        )
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


@callback
def _async_pushed(entry: PrintFarmConfigEntry, printer_id: str, update: PrinterUpdate) -> None:
    """Hand a pushed state to its printer's coordinator."""
    if (coordinator := entry.runtime_data.printers.get(printer_id)) is not None:
        coordinator.async_push(update)


@callback
def _async_pushed_event(entry: PrintFarmConfigEntry, printer_id: str, event: PrinterEvent) -> None:
    """Hand a pushed lifecycle event to its printer's coordinator."""
    if (coordinator := entry.runtime_data.printers.get(printer_id)) is not None:
        coordinator.async_push_event(event)
    if event.type in JOB_EVENTS:
        # The farm's queue and filament changed with the print
        entry.runtime_data.farm.async_remote_change()


@callback
def _async_connection_changed(entry: PrintFarmConfigEntry, printer_id: str) -> None:
    """Tell a printer's coordinator of its new push connection, or that it has none."""
    runtime = entry.runtime_data
    if (coordinator := runtime.printers.get(printer_id)) is not None:
        coordinator.async_connection_changed(
            runtime.connections.commands(printer_id), runtime.connections.state(printer_id)
        )


@callback
def _async_sync_printers(hass: HomeAssistant, entry: PrintFarmConfigEntry) -> None:
    """Bring every printer's device and coordinator up to the farm's latest view.

    A printer new to the farm gets both; one that left loses its device, with its entities.
    """
    runtime = entry.runtime_data
    farm = runtime.farm
    data = farm.data
    synced = runtime.synced
    if synced is not None and synced[0] is data and synced[1] == farm.last_update_success:
        # An event told without new data (Printago's job events) changes no printer
        return
    runtime.synced = (data, farm.last_update_success)
    registry = dr.async_get(hass)
    farm_id = account_id(entry)
    known = {farm_id}
    farm_device = registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, farm_id)}
    )
    for printer in data.printers.values():
        identifier = printer_device_id(entry, printer.id)
        known.add(identifier)
        job = data.printer_jobs.get(printer.id)
        if (coordinator := runtime.printers.get(printer.id)) is None:
            state = runtime.connections.state(printer.id)
            coordinator = PrinterCoordinator(
                hass,
                entry,
                PrinterView(printer=printer, state=state, job=job),
                runtime.connections.commands(printer.id),
            )
            runtime.printers[printer.id] = coordinator
        else:
            coordinator.async_farm_update(printer, job, available=farm.last_update_success)
        state = coordinator.data.state
        device = registry.async_get_or_create(
            config_entry_id=entry.entry_id,
            identifiers={(DOMAIN, identifier)},
            name=printer.name,
            manufacturer=printer.manufacturer,
            model=printer.model,
            serial_number=printer.serial,
            sw_version=(state.firmware if state and state.firmware else printer.firmware),
        )
        # Linked by the farm device's id: `via_device` identifiers are deprecated
        if device.via_device_id != farm_device.id:
            registry.async_update_device(device.id, via_device_id=farm_device.id)
    for printer_id in runtime.printers.keys() - data.printers.keys():
        del runtime.printers[printer_id]
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if not any(domain == DOMAIN and ident in known for domain, ident in device.identifiers):
            # The device belongs to this entry alone (to one entry at all from 2026.8)
            registry.async_remove_device(device.id)


async def _async_entry_changed(
    entry: PrintFarmConfigEntry, change: ConfigEntryChange, changed: ConfigEntry
) -> None:
    """Connect or disconnect printers as the entry's printer connections change."""
    if change is ConfigEntryChange.UPDATED and changed is entry:
        await entry.runtime_data.connections.async_update_connections()


async def async_unload_entry(hass: HomeAssistant, entry: PrintFarmConfigEntry) -> bool:
    """Unload a printfarm config entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: PrintFarmConfigEntry) -> None:
    """Leave nothing at the farm: remove the entry's webhook subscription if it has one."""
    client = create_client(hass, entry.data, entry.options)
    if isinstance(client, AutoPrintFarm):
        await async_unsubscribe_webhook(hass, entry, client)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: PrintFarmConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Allow removing a printer device once the printer has left the farm."""
    if (DOMAIN, account_id(entry)) in device.identifiers:
        return False
    # Without the farm's printer list, a printer still in the farm returns at the next setup
    if entry.state is not ConfigEntryState.LOADED:
        return True
    printers = entry.runtime_data.farm.data.printers
    return not any(
        (DOMAIN, printer_device_id(entry, printer_id)) in device.identifiers
        for printer_id in printers
    )
