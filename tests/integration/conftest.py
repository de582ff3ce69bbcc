"""Fixtures for the printfarm integration tests: Home Assistant against farmsim."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PORT, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printfarm.const import (
    CONF_ACCESS_CODE,
    CONF_CA_CERT,
    CONF_PRINTER_ID,
    CONF_REALTIME_URL,
    CONF_SERIAL,
    CONF_SERVICE,
    CONF_STORE_ID,
    DOMAIN,
    SERVICE_AUTOPRINTFARM,
    SERVICE_PRINTAGO,
    SUBENTRY_PRINTER,
)
from farmsim import FarmSim
from farmsim.testing import running_farmsim


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Enable the printfarm custom integration in every test."""


@pytest.fixture
async def sim() -> AsyncIterator[FarmSim]:
    """Run a simulated farm of three printers (X1C, P1S, A1)."""
    async with running_farmsim(printers=3, report_interval=0.05) as farm:
        yield farm


def printer_subentry(printer: dict[str, Any]) -> ConfigSubentryData:
    """Return the LAN connection subentry of a simulated printer."""
    return ConfigSubentryData(
        data={
            CONF_PRINTER_ID: printer["autoprintfarm_id"],
            CONF_HOST: printer["host"],
            CONF_PORT: printer["port"],
            CONF_SERIAL: printer["serial"],
            CONF_ACCESS_CODE: printer["access_code"],
            CONF_VERIFY_SSL: True,
            CONF_CA_CERT: Path(printer["ca_cert"]).read_text(encoding="utf-8"),
        },
        subentry_type=SUBENTRY_PRINTER,
        title=printer["name"],
        unique_id=printer["serial"],
    )


def autoprintfarm_entry(sim: FarmSim, *, printers: bool = True) -> MockConfigEntry:
    """Return a config entry of the simulated AutoPrintFarm account."""
    conn = sim.connection["autoprintfarm"]
    return MockConfigEntry(
        domain=DOMAIN,
        title=sim.config.farm_name,
        unique_id=f"{SERVICE_AUTOPRINTFARM}_{sim.config.autoprintfarm_account_id}",
        data={
            CONF_SERVICE: SERVICE_AUTOPRINTFARM,
            CONF_URL: conn["base_url"],
            CONF_API_KEY: conn["api_key"],
        },
        subentries_data=(
            [printer_subentry(p) for p in sim.connection["printers"]] if printers else []
        ),
    )


def printago_entry(sim: FarmSim) -> MockConfigEntry:
    """Return a config entry of the simulated Printago store."""
    conn = sim.connection["printago"]
    return MockConfigEntry(
        domain=DOMAIN,
        title="farmsim",
        unique_id=f"{SERVICE_PRINTAGO}_{conn['store_id']}",
        data={
            CONF_SERVICE: SERVICE_PRINTAGO,
            CONF_URL: conn["base_url"],
            CONF_API_KEY: conn["api_key"],
            CONF_STORE_ID: conn["store_id"],
            CONF_REALTIME_URL: conn["realtime"]["url"],
        },
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add an entry and set it up."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
