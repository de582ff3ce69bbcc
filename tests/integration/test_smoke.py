"""Smoke tests of the integration against farmsim."""

from __future__ import annotations

import asyncio

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from farmsim import FarmSim

from .conftest import autoprintfarm_entry, printago_entry, setup_entry


async def test_autoprintfarm_sets_up(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test an AutoPrintFarm entry with LAN printers sets up and unloads."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim))
    assert entry.state is ConfigEntryState.LOADED
    for _ in range(100):
        if hass.states.get("sensor.x1c_01_nozzle_temperature") and hass.states.get(
            "sensor.x1c_01_nozzle_temperature"
        ).state not in ("unavailable", "unknown"):
            break
        await asyncio.sleep(0.05)
    states = sorted(s.entity_id + "=" + s.state for s in hass.states.async_all())
    print("\n".join(states))
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_printago_sets_up(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test a Printago entry sets up and unloads."""
    entry = await setup_entry(hass, printago_entry(sim))
    assert entry.state is ConfigEntryState.LOADED
    await asyncio.sleep(0.5)
    states = sorted(s.entity_id + "=" + s.state for s in hass.states.async_all())
    print("\n".join(states))
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
