"""Tests for the printfarm select platform."""

from __future__ import annotations

import asyncio

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.select import DOMAIN as SELECT_DOMAIN
from homeassistant.components.select import SERVICE_SELECT_OPTION
from homeassistant.const import ATTR_ENTITY_ID, ATTR_OPTION, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from farmsim import FarmSim

from .helpers import admin, printer_id, value, wait_for

PRINTERS = ("x1c_01", "p1s_01", "a1_01")


@pytest.fixture
def platforms() -> list[Platform]:
    """Return the platforms to set up."""
    return [Platform.SELECT]


async def select(hass: HomeAssistant, entity_id: str, option: str) -> None:
    """Select an option."""
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: entity_id, ATTR_OPTION: option},
        blocking=True,
    )


@pytest.mark.freeze_time("2026-01-01 12:00:00", tick=True)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    snapshot: SnapshotAssertion,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Test the print speed of every printer reached on the LAN."""
    await wait_for(
        hass,
        lambda: all(value(hass, f"select.{p}_print_speed") == "standard" for p in PRINTERS),
    )
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_select_speed(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test the print speed reaches the printer, and shows what the printer reports."""
    a1 = sim.world.printers[printer_id(sim, "A1-01")]
    await wait_for(hass, lambda: value(hass, "select.a1_01_print_speed") == "standard")

    await select(hass, "select.a1_01_print_speed", "sport")
    assert a1.speed_level == 3
    await wait_for(hass, lambda: value(hass, "select.a1_01_print_speed") == "sport")

    await select(hass, "select.a1_01_print_speed", "silent")
    assert a1.speed_level == 1
    await wait_for(hass, lambda: value(hass, "select.a1_01_print_speed") == "silent")

    # Changed on the printer itself
    sim.world.set_speed(a1.id, 4)
    await wait_for(hass, lambda: value(hass, "select.a1_01_print_speed") == "ludicrous")


@pytest.mark.freeze_time("2026-01-01 12:00:00", tick=True)
async def test_select_unanswered(
    hass: HomeAssistant,
    sim: FarmSim,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
) -> None:
    """Test a command the printer does not acknowledge raises a translated error."""
    x1c = printer_id(sim, "X1C-01")
    await wait_for(hass, lambda: value(hass, "select.x1c_01_print_speed") == "standard")
    # Every report, acknowledgements too, arrives garbled
    await admin(hass, sim, "PATCH", "faults/mqtt", {"malformed_rate": 1.0})
    commands = sim.ctx.counters.mqtt_commands[x1c]

    call = asyncio.create_task(select(hass, "select.x1c_01_print_speed", "sport"))
    async with asyncio.timeout(10):
        while sim.ctx.counters.mqtt_commands[x1c] == commands:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    # The printer acknowledges nothing within its ten seconds
    freezer.tick(11)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_domain == "printfarm"
    assert err.value.translation_key == "printer_unreachable"
    assert str(err.value).startswith("The printer cannot be reached:")

    # The printer did take it; its next full report shows it
    await admin(hass, sim, "PATCH", "faults/mqtt", {"malformed_rate": 0.0})
    await wait_for(hass, lambda: value(hass, "select.x1c_01_print_speed") == "sport")
    await select(hass, "select.x1c_01_print_speed", "standard")
    await wait_for(hass, lambda: value(hass, "select.x1c_01_print_speed") == "standard")
