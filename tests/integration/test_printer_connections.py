"""Tests for printers' LAN connections coming and going while the farm entry stays loaded."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState, ConfigSubentry
from homeassistant.const import STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import DOMAIN as HA_DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printfarm.const import (
    CONF_ACCESS_CODE,
    CONF_PRINTER_ID,
    CONF_SERIAL,
    DOMAIN,
    SUBENTRY_PRINTER,
)
from farmsim import FarmSim

from .helpers import (
    FILE_URL,
    autoprintfarm_entry,
    broker_clients,
    find_device,
    printago_entry,
    printer_input,
    printer_subentry,
    record_events,
    refresh,
    requests_sent,
    setup_entry,
    value,
    wait_connected,
    wait_for,
)

# What only a printer's LAN connection feeds: its telemetry and its controls
PUSHED = (
    "sensor.x1c_01_nozzle_temperature",
    "sensor.x1c_01_chamber_temperature",
    "select.x1c_01_print_speed",
    "light.x1c_01_chamber_light",
)


def sim_printer(sim: FarmSim, name: str) -> dict[str, Any]:
    """Return the connection details of a simulated printer by its name."""
    return next(p for p in sim.connection["printers"] if p["name"] == name)


def lan_peers(sim: FarmSim, printer_id: str) -> list[str]:
    """Return the addresses of the MQTT clients connected to a simulated printer."""
    return [client.peer for client in sim.fleet.get(printer_id).transport.broker.clients]


def pushing(hass: HomeAssistant) -> bool:
    """Return whether the X1C's LAN connection feeds its telemetry and controls."""
    return (
        value(hass, "sensor.x1c_01_nozzle_temperature") == "25.0"
        and value(hass, "select.x1c_01_print_speed") == "standard"
        and value(hass, "light.x1c_01_chamber_light") == STATE_ON
    )


def watch_entry(entry: MockConfigEntry) -> list[ConfigEntryState]:
    """Record every state the entry passes through: a reload would unload it."""
    states: list[ConfigEntryState] = []
    entry.async_on_state_change(lambda: states.append(entry.state))
    return states


async def add_printer(hass: HomeAssistant, entry: MockConfigEntry, printer: dict[str, Any]) -> None:
    """Connect a farm printer on the LAN through the subentry flow."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_PRINTER), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PRINTER_ID: printer["autoprintfarm_id"]}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], printer_input(printer)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def unload(hass: HomeAssistant, sim: FarmSim, entry: MockConfigEntry) -> None:
    """Unload the entry; no connection to a printer may stay open."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await wait_for(hass, lambda: not any(broker_clients(sim, p) for p in sim.world.printers))


async def test_printer_connection_comes_and_goes(
    hass: HomeAssistant, sim: FarmSim, entity_registry: er.EntityRegistry
) -> None:
    """Test adding and removing a LAN connection neither reloads nor asks the farm anything."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    entry_states = watch_entry(entry)
    sent = await requests_sent(hass, sim)
    x1c = sim_printer(sim, "X1C-01")
    for entity_id in PUSHED:
        assert hass.states.get(entity_id) is None

    await add_printer(hass, entry, x1c)

    await wait_for(hass, lambda: broker_clients(sim, x1c["autoprintfarm_id"]) == 1)
    await wait_for(hass, lambda: pushing(hass))
    assert value(hass, "sensor.x1c_01_chamber_temperature") == "25.0"
    # The other printers stay without a LAN connection
    assert hass.states.get("sensor.p1s_01_nozzle_temperature") is None

    (subentry,) = entry.subentries.values()
    assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()

    await wait_for(hass, lambda: broker_clients(sim, x1c["autoprintfarm_id"]) == 0)
    # What only the connection fed went with it; what the farm tells stays
    for entity_id in PUSHED:
        assert hass.states.get(entity_id) is None
        assert entity_registry.async_get(entity_id) is None
    assert value(hass, "sensor.x1c_01") == "idle"
    assert value(hass, "binary_sensor.x1c_01_online") == STATE_ON

    # Connected again, the printer feeds the same entities again
    await add_printer(hass, entry, x1c)
    await wait_for(hass, lambda: pushing(hass))

    assert entry.state is ConfigEntryState.LOADED
    assert entry_states == []
    assert await requests_sent(hass, sim) == sent
    await unload(hass, sim, entry)


async def test_printers_connected_at_once(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test connections added together get one MQTT connection each, without a reload."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    entry_states = watch_entry(entry)
    sent = await requests_sent(hass, sim)

    for printer in sim.connection["printers"]:
        hass.config_entries.async_add_subentry(entry, ConfigSubentry(**printer_subentry(printer)))
    await hass.async_block_till_done()

    await wait_connected(hass, sim, entry)
    for printer in ("x1c_01", "p1s_01", "a1_01"):
        await wait_for(hass, lambda p=printer: value(hass, f"sensor.{p}_bed_temperature") == "25.0")
    assert all(broker_clients(sim, p) == 1 for p in sim.world.printers)
    assert entry_states == []
    assert await requests_sent(hass, sim) == sent
    await unload(hass, sim, entry)


async def test_printer_connection_reconfigured(
    hass: HomeAssistant, sim: FarmSim, entity_registry: er.EntityRegistry
) -> None:
    """Test a changed access code reconnects the printer, keeping its entities, without a reload."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim))
    await wait_connected(hass, sim, entry)
    await wait_for(hass, lambda: pushing(hass))
    entry_states = watch_entry(entry)
    sent = await requests_sent(hass, sim)
    registered = {entity_id: entity_registry.async_get(entity_id) for entity_id in PUSHED}
    x1c = sim_printer(sim, "X1C-01")
    (peer,) = lan_peers(sim, x1c["autoprintfarm_id"])
    subentry = next(s for s in entry.subentries.values() if s.unique_id == x1c["serial"])

    sim.world.printer(x1c["autoprintfarm_id"]).access_code = "87654321"
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    changes = printer_input(x1c, **{CONF_ACCESS_CODE: "87654321"})
    del changes[CONF_SERIAL]
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], changes)
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()

    # A new connection with the new access code replaced the old one
    await wait_for(hass, lambda: lan_peers(sim, x1c["autoprintfarm_id"]) not in ([], [peer]))
    assert len(lan_peers(sim, x1c["autoprintfarm_id"])) == 1
    await wait_for(hass, lambda: pushing(hass))
    for entity_id, registered_entry in registered.items():
        assert entity_registry.async_get(entity_id) == registered_entry
    # The other printers kept their connections
    assert all(broker_clients(sim, p) == 1 for p in sim.world.printers)
    assert entry_states == []
    assert await requests_sent(hass, sim) == sent
    await unload(hass, sim, entry)


async def test_connection_of_printer_gone_from_farm(
    hass: HomeAssistant,
    sim: FarmSim,
    device_registry: dr.DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Test the connection of a printer that left the farm can still be removed."""
    assert await async_setup_component(hass, HA_DOMAIN, {})
    entry = await setup_entry(hass, autoprintfarm_entry(sim))
    await wait_connected(hass, sim, entry)
    x1c = sim_printer(sim, "X1C-01")
    sim.world.remove_printer(x1c["autoprintfarm_id"])
    await refresh(hass)
    device = {(DOMAIN, f"{entry.unique_id}_{x1c['autoprintfarm_id']}")}
    assert find_device(hass, device) is None

    subentry = next(s for s in entry.subentries.values() if s.unique_id == x1c["serial"])
    caplog.clear()
    assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert find_device(hass, device) is None
    assert entry.state is ConfigEntryState.LOADED
    # The printers still in the farm keep their connections
    await wait_connected(hass, sim, entry)
    await unload(hass, sim, entry)


async def test_removed_connection_takes_its_repair_issue(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test removing a connection whose access code was refused removes its repair issue."""
    x1c = printer_subentry(sim_printer(sim, "X1C-01"))
    farm = autoprintfarm_entry(sim, printers=False)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=farm.title,
        unique_id=farm.unique_id,
        data=dict(farm.data),
        subentries_data=[{**x1c, "data": {**x1c["data"], CONF_ACCESS_CODE: "OMGSPIDERS"}}],
    )
    await setup_entry(hass, entry)
    issues = ir.async_get(hass)
    issue_id = f"push_auth_failed_{entry.entry_id}_{x1c['data'][CONF_SERIAL]}"
    await wait_for(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)

    (subentry,) = entry.subentries.values()
    assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()

    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert entry.state is ConfigEntryState.LOADED
    await unload(hass, sim, entry)


async def test_title_change_keeps_printago_loaded(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test renaming a Printago entry neither reloads it nor touches its realtime feed."""
    entry = await setup_entry(hass, printago_entry(sim))
    nozzle = "sensor.x1c_01_nozzle_temperature"
    await wait_for(hass, lambda: value(hass, nozzle) not in (None, STATE_UNAVAILABLE))
    entry_states = watch_entry(entry)

    hass.config_entries.async_update_entry(entry, title="OMG farm")
    await hass.async_block_till_done()

    assert entry_states == []
    assert len(sim.realtime.broker.clients) == 1
    assert await hass.config_entries.async_unload(entry.entry_id)
    await wait_for(hass, lambda: not sim.realtime.broker.clients)


async def test_removed_connection_replays_no_print_event(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test the farm's view tells no event the printer's connection already told."""
    assert await async_setup_component(hass, HA_DOMAIN, {})
    entry = await setup_entry(hass, autoprintfarm_entry(sim))
    x1c = sim_printer(sim, "X1C-01")["autoprintfarm_id"]
    # The printer's own state arrived (a print started before it would be no news)
    await wait_for(hass, lambda: value(hass, "sensor.x1c_01_nozzle_temperature") == "25.0")
    events, stop_recording = record_events(hass, "event.x1c_01_print")
    sim.world.submit_job(source="test", file_url=FILE_URL, printer_id=x1c)
    await wait_for(hass, lambda: events == ["print_started"])
    # The farm reports the print too
    await refresh(hass)

    subentry = next(s for s in entry.subentries.values() if s.data[CONF_PRINTER_ID] == x1c)
    assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()
    await refresh(hass)
    assert value(hass, "sensor.x1c_01") in ("preparing", "printing")
    assert events == ["print_started"]
    stop_recording()
    await unload(hass, sim, entry)


async def test_no_connection_after_unload(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test a connection change still queued at unload connects nothing."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim))
    x1c = sim_printer(sim, "X1C-01")["autoprintfarm_id"]
    await wait_for(hass, lambda: broker_clients(sim, x1c) == 1)
    subentry = next(iter(entry.subentries.values()))

    # The change is told to the entry as a task of its own, which runs after the unload
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, CONF_ACCESS_CODE: "changed"}
    )
    await unload(hass, sim, entry)
    await hass.async_block_till_done()
    assert broker_clients(sim, x1c) == 0
