"""Fixtures for the printfarm integration tests: Home Assistant against farmsim."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from unittest.mock import PropertyMock, patch

import pytest
from homeassistant.const import Platform
from homeassistant.core import DOMAIN as HA_DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.printfarm import PLATFORMS
from farmsim import FarmSim
from farmsim.testing import running_farmsim

from .helpers import autoprintfarm_entry, printago_entry, setup_entry
from .snapshot_extension import PrintfarmSnapshotExtension


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Enable the printfarm custom integration in every test."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Return syrupy's snapshot in the format of snapshot_extension.py.

    This conftest fixture overrides syrupy's own on every leg: pytest-homeassistant-custom-component
    overrides it too, but in newer releases syrupy's plugin is registered after it and wins.
    """
    return snapshot.use_extension(PrintfarmSnapshotExtension)


@pytest.fixture
async def sim() -> AsyncIterator[FarmSim]:
    """Run a simulated farm of three printers (X1C, P1S, A1)."""
    async with running_farmsim(printers=3, report_interval=0.05) as farm:
        yield farm


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Enable every entity, also those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def platforms() -> list[Platform]:
    """Return the platforms to set up."""
    return list(PLATFORMS)


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, sim: FarmSim, platforms: list[Platform]
) -> AsyncIterator[MockConfigEntry]:
    """Set up an AutoPrintFarm entry with LAN printers; unload it afterwards."""
    assert await async_setup_component(hass, HA_DOMAIN, {})
    with patch("custom_components.printfarm.PLATFORMS", platforms):
        entry = await setup_entry(hass, autoprintfarm_entry(sim))
        yield entry
        assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.fixture
async def apf(hass: HomeAssistant, sim: FarmSim) -> AsyncIterator[MockConfigEntry]:
    """Set up the AutoPrintFarm account, without LAN printers."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.fixture
async def printago(hass: HomeAssistant, sim: FarmSim) -> AsyncIterator[MockConfigEntry]:
    """Set up the Printago store; it is unloaded before farmsim stops."""
    entry = await setup_entry(hass, printago_entry(sim))
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
