"""Tests for the printfarm diagnostics."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from homeassistant.components.diagnostics import REDACTED
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from farmsim import FarmSim

from .helpers import autoprintfarm_entry, printago_entry, setup_entry

# What changes from run to run: loopback ports, clocks, report counters and Wi-Fi jitter
VOLATILE = (
    "url",
    "port",
    "sequence_id",
    "t_utc",
    "wifi_signal",
    "created_at",
    "updated_at",
    "generated_at",
    "reset_at",
    "blocked_until",
)


def stable(hass: HomeAssistant) -> bool:
    """Return whether every printer pushed its idle state at room temperature."""
    return all(
        (state := hass.states.get(f"sensor.{printer}_nozzle_temperature")) is not None
        and state.state == "25.0"
        for printer in ("x1c_01", "p1s_01", "a1_01")
    )


def secrets(sim: FarmSim) -> list[str]:
    """Return every secret farmsim hands out: API keys, store, access codes, serials."""
    connection = sim.connection
    printago = connection["printago"]
    values = [
        connection["autoprintfarm"]["api_key"],
        printago["api_key"],
        printago["store_id"],
        printago["realtime"]["password"],
    ]
    for printer in connection["printers"]:
        values += [printer["serial"], printer["access_code"]]
    return values


def assert_no_secrets(sim: FarmSim, diagnostics: dict[str, Any]) -> None:
    """Assert none of farmsim's secrets appears anywhere in the diagnostics."""
    dump = json.dumps(diagnostics)
    for secret in secrets(sim):
        assert secret not in dump


@pytest.mark.freeze_time("2026-01-01 12:00:00", tick=True)
async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sim: FarmSim,
    snapshot: SnapshotAssertion,
) -> None:
    """Test the diagnostics of an AutoPrintFarm entry with LAN printers."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim))
    # Every printer pushed its idle state at room temperature
    async with asyncio.timeout(10):
        while not stable(hass):
            await hass.async_block_till_done()
            await asyncio.sleep(0.02)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics == snapshot(exclude=props(*VOLATILE))
    assert_no_secrets(sim, diagnostics)
    assert diagnostics["entry"]["data"]["api_key"] == REDACTED
    for subentry in diagnostics["entry"]["subentries"]:
        assert subentry["access_code"] == REDACTED
        assert subentry["serial"] == REDACTED
    for printer in diagnostics["printers"]:
        assert printer["serial_number"] == REDACTED
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_diagnostics_printago(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, sim: FarmSim
) -> None:
    """Test the diagnostics of a Printago entry carry none of its secrets."""
    entry = await setup_entry(hass, printago_entry(sim))
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert_no_secrets(sim, diagnostics)
    assert diagnostics["entry"]["data"]["store_id"] == REDACTED
    assert len(diagnostics["printers"]) == 3
    assert await hass.config_entries.async_unload(entry.entry_id)
