"""The printfarm integration: run a 3D print farm from Home Assistant."""

from __future__ import annotations

from functools import partial

from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    ConfigEntry,
    ConfigEntryChange,
    ConfigEntryState,
)
from homeassistant.const import CONF_API_KEY, CONF_URL, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.typing import ConfigType

from .api import (
    AutoPrintFarm,
    FarmClient,
    Printago,
    PrintFarmAuthenticationError,
    PrintFarmError,
)
from .const import (
    CONF_BUDGET_SHARE,
    CONF_LOW_STOCK_GRAMS,
    CONF_SERVICE,
    CONF_STORE_ID,
    DEFAULT_BUDGET_SHARE,
    DEFAULT_LOW_STOCK_GRAMS,
    DOMAIN,
    SERVICE_NAMES,
    SERVICE_PRINTAGO,
)
from .coordinator import FarmCoordinator, PrintFarmConfigEntry, PrintFarmRuntimeData
from .entity import account_id, printer_device_id
from .hub import BambuHub, PrintagoHub, PrinterHub
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


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the printfarm actions."""
    async_setup_services(hass)
    return True


def create_client(hass: HomeAssistant, entry: PrintFarmConfigEntry) -> FarmClient:
    """Return the farm service client of an entry."""
    data = entry.data
    share = entry.options.get(CONF_BUDGET_SHARE, DEFAULT_BUDGET_SHARE) / 100
    session = async_get_clientsession(hass)
    if data[CONF_SERVICE] == SERVICE_PRINTAGO:
        return Printago(
            base_url=data[CONF_URL],
            api_key=data[CONF_API_KEY],
            store_id=data[CONF_STORE_ID],
            session=session,
            budget_share=share,
            low_stock_grams=entry.options.get(CONF_LOW_STOCK_GRAMS, DEFAULT_LOW_STOCK_GRAMS),
        )
    return AutoPrintFarm(
        base_url=data[CONF_URL], api_key=data[CONF_API_KEY], session=session, budget_share=share
    )


async def async_setup_entry(hass: HomeAssistant, entry: PrintFarmConfigEntry) -> bool:
    """Set up a print farm from a config entry."""
    client = create_client(hass, entry)
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

    # Printer telemetry is pushed: Printago's realtime feed, or each Bambu printer on the LAN
    hub: PrinterHub
    if entry.data[CONF_SERVICE] == SERVICE_PRINTAGO:
        hub = PrintagoHub(hass, entry, on_entities=farm.async_remote_change)
    else:
        hub = BambuHub(hass, entry)

    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, account_id(entry))},
        manufacturer=SERVICE_NAMES[entry.data[CONF_SERVICE]],
        name=account.name,
        entry_type=dr.DeviceEntryType.SERVICE,
    )

    entry.runtime_data = PrintFarmRuntimeData(client=client, account=account, farm=farm, hub=hub)
    # A device per printer; printers that left the farm lose theirs
    _async_sync_devices(hass, entry)
    entry.async_on_unload(farm.async_add_listener(lambda: _async_sync_devices(hass, entry)))

    await hub.async_start()
    entry.async_on_unload(hub.async_stop)
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
def _async_sync_devices(hass: HomeAssistant, entry: PrintFarmConfigEntry) -> None:
    """Create or update a device per printer, and remove those of printers gone."""
    registry = dr.async_get(hass)
    runtime = entry.runtime_data
    farm_id = account_id(entry)
    known = {farm_id}
    farm_device = registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, farm_id)}
    )
    for printer in runtime.farm.data.printers.values():
        identifier = printer_device_id(entry, printer.id)
        known.add(identifier)
        state = runtime.hub.states.get(printer.id)
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
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if not any(domain == DOMAIN and ident in known for domain, ident in device.identifiers):
            registry.async_update_device(device.id, remove_config_entry_id=entry.entry_id)


async def _async_entry_changed(
    entry: PrintFarmConfigEntry, change: ConfigEntryChange, changed: ConfigEntry
) -> None:
    """Connect or disconnect printers as the entry's printer connections change."""
    if change is ConfigEntryChange.UPDATED and changed is entry:
        await entry.runtime_data.hub.async_update_connections()


async def async_unload_entry(hass: HomeAssistant, entry: PrintFarmConfigEntry) -> bool:
    """Unload a printfarm config entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


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
