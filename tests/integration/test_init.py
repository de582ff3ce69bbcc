"""Tests for setting up, unloading and reloading printfarm entries."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_API_KEY, CONF_URL, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import WebSocketGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.printfarm.const import CONF_PRINTER_ID, DOMAIN
from farmsim import FarmSim

from .helpers import (
    admin,
    autoprintfarm_entry,
    broker_clients,
    closed_url,
    find_device,
    printago_entry,
    setup_entry,
    wait_connected,
    wait_for,
)


async def refresh(hass: HomeAssistant) -> None:
    """Let the farm coordinator's next refresh run."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await hass.async_block_till_done(wait_background_tasks=True)


def farm_entry(sim: FarmSim, **changes: str) -> MockConfigEntry:
    """Return an AutoPrintFarm entry without printers whose data differs from the farm's."""
    entry = autoprintfarm_entry(sim, printers=False)
    return MockConfigEntry(
        domain=DOMAIN, title=entry.title, unique_id=entry.unique_id, data={**entry.data, **changes}
    )


def reauth_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[Any]:
    """Return the reauthentication flows in progress for an entry."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
        and flow["context"]["entry_id"] == entry.entry_id
    ]


async def test_load_unload_autoprintfarm(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test an AutoPrintFarm entry connects its LAN printers and unloads without a trace."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim))
    assert entry.state is ConfigEntryState.LOADED
    await wait_connected(hass, sim, entry)
    await wait_for(hass, lambda: hass.states.get("sensor.x1c_01_nozzle_temperature") is not None)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.NOT_LOADED
    assert (state := hass.states.get("sensor.x1c_01"))
    assert state.state == STATE_UNAVAILABLE
    # No MQTT connection to a printer stays open
    await wait_for(hass, lambda: not any(broker_clients(sim, p) for p in sim.world.printers))


async def test_load_unload_printago(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test a Printago entry subscribes to the realtime feed and leaves it on unload."""
    entry = await setup_entry(hass, printago_entry(sim))
    assert entry.state is ConfigEntryState.LOADED

    async def realtime_clients(expected: int) -> None:
        async with asyncio.timeout(10):
            while True:
                if (await admin(hass, sim, "GET", "counters"))["realtime_clients"] == expected:
                    return
                await asyncio.sleep(0.02)

    await realtime_clients(1)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.NOT_LOADED
    await realtime_clients(0)


async def test_setup_retry_on_server_error(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test the entry retries while the farm answers 503, and loads once it recovers."""
    await admin(hass, sim, "PATCH", "faults/autoprintfarm", {"error_rate": 1.0})
    entry = autoprintfarm_entry(sim, printers=False)
    entry.add_to_hass(hass)

    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert (await admin(hass, sim, "GET", "counters"))["responses"]["autoprintfarm"]["503"] >= 1

    await admin(hass, sim, "POST", "faults/reset")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=2))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_setup_retry_unreachable(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test an unreachable farm is retried, and loads once its address is corrected."""
    entry = farm_entry(sim, **{CONF_URL: closed_url("/v1")})
    entry.add_to_hass(hass)

    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_URL: sim.connection["autoprintfarm"]["base_url"],
            CONF_API_KEY: entry.data[CONF_API_KEY],
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_setup_auth_failed(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test a refused key fails setup and starts reauthentication, which recovers it."""
    entry = farm_entry(sim, **{CONF_API_KEY: "apf_live_OMGSPIDERS"})
    entry.add_to_hass(hass)

    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    (flow,) = reauth_flows(hass, entry)
    assert flow["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: sim.config.autoprintfarm_api_key}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_refresh_auth_failed_starts_reauth(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test a key revoked while running starts reauthentication; the new key recovers."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    assert not reauth_flows(hass, entry)
    new_key = (await admin(hass, sim, "POST", "keys/autoprintfarm/rotate"))["api_key"]

    await refresh(hass)

    (flow,) = reauth_flows(hass, entry)
    assert (state := hass.states.get("sensor.x1c_01"))
    assert state.state == STATE_UNAVAILABLE

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: new_key}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert entry.state is ConfigEntryState.LOADED
    assert (state := hass.states.get("sensor.x1c_01"))
    assert state.state != STATE_UNAVAILABLE
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_device_registry(
    hass: HomeAssistant,
    sim: FarmSim,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Test the farm device and one device per printer, linked through the farm."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))

    devices = sorted(
        dr.async_entries_for_config_entry(device_registry, entry.entry_id),
        key=lambda device: device.name or "",
    )
    assert devices == snapshot

    farm = find_device(hass, {(DOMAIN, str(entry.unique_id))})
    assert farm is not None
    assert farm.entry_type is dr.DeviceEntryType.SERVICE
    printers = [device for device in devices if device.id != farm.id]
    assert sorted(device.serial_number for device in printers) == sorted(
        printer.serial for printer in sim.world.printers.values()
    )
    assert all(device.via_device_id == farm.id for device in printers)
    assert all(device.manufacturer == "Bambu Lab" for device in printers)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_dynamic_devices(
    hass: HomeAssistant, sim: FarmSim, device_registry: dr.DeviceRegistry
) -> None:
    """Test a printer added to the farm gets a device, and a removed one loses it."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    farm = find_device(hass, {(DOMAIN, str(entry.unique_id))})
    assert farm is not None

    added = await admin(hass, sim, "POST", "printers", {"model": "A1", "name": "A1-OMG"})
    printer_id = added["autoprintfarm_id"]
    identifiers = {(DOMAIN, f"{entry.unique_id}_{printer_id}")}
    assert find_device(hass, identifiers) is None

    await refresh(hass)
    assert (device := find_device(hass, identifiers))
    assert device.name == "A1-OMG"
    assert device.serial_number == added["serial"]
    assert device.via_device_id == farm.id

    await admin(hass, sim, "DELETE", f"printers/{printer_id}")
    await refresh(hass)
    assert find_device(hass, identifiers) is None
    assert len(dr.async_entries_for_config_entry(device_registry, entry.entry_id)) == 4
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_remove_printer_connection(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test removing a printer's LAN connection closes it; the other printers stay."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim))
    await wait_connected(hass, sim, entry)
    subentry = next(iter(entry.subentries.values()))
    removed = subentry.data[CONF_PRINTER_ID]

    assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    await wait_connected(hass, sim, entry)
    await wait_for(hass, lambda: broker_clients(sim, removed) == 0)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_remove_config_entry_device(
    hass: HomeAssistant,
    sim: FarmSim,
    device_registry: dr.DeviceRegistry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """Test only devices of printers that left the farm can be removed by the user."""
    assert await async_setup_component(hass, "config", {})
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    farm = find_device(hass, {(DOMAIN, str(entry.unique_id))})
    printer_id = next(iter(sim.world.printers))
    identifiers = {(DOMAIN, f"{entry.unique_id}_{printer_id}")}
    printer = find_device(hass, identifiers)
    assert farm is not None
    assert printer is not None
    client = await hass_ws_client(hass)

    async def remove(device: dr.DeviceEntry) -> bool:
        await client.send_json_auto_id(
            {
                "type": "config/device_registry/remove_config_entry",
                "config_entry_id": entry.entry_id,
                "device_id": device.id,
            }
        )
        return bool((await client.receive_json())["success"])

    # The farm and a printer still in it stay
    assert not await remove(farm)
    assert not await remove(printer)
    assert device_registry.async_get(printer.id) is not None

    # A printer that left the farm while the entry was not loaded can be removed
    assert await hass.config_entries.async_unload(entry.entry_id)
    await admin(hass, sim, "DELETE", f"printers/{printer_id}")
    assert not await remove(farm)
    assert await remove(printer)
    assert device_registry.async_get(printer.id) is None
    assert device_registry.async_get(farm.id) is not None


@pytest.mark.parametrize("service", ["autoprintfarm", "printago"])
async def test_reload_leaves_nothing_running(
    hass: HomeAssistant, sim: FarmSim, service: str
) -> None:
    """Test a reload replaces the push connections rather than adding to them."""
    entry = autoprintfarm_entry(sim) if service == "autoprintfarm" else printago_entry(sim)
    await setup_entry(hass, entry)
    await wait_connected(hass, sim, entry)

    def connections() -> int:
        printers = sum(broker_clients(sim, p) for p in sim.world.printers)
        return printers + len(sim.realtime.broker.clients)

    expected = 3 if service == "autoprintfarm" else 1
    await wait_for(hass, lambda: connections() == expected)

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(hass, lambda: connections() == expected)
    await asyncio.sleep(0.2)
    assert connections() == expected

    assert await hass.config_entries.async_unload(entry.entry_id)
    await wait_for(hass, lambda: connections() == 0)
