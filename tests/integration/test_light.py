"""Tests for the printfarm light platform."""

from __future__ import annotations

from unittest.mock import patch

import pytest
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from farmsim import FarmSim

from .helpers import autoprintfarm_entry, printer_id, setup_entry, value, wait_for


@pytest.fixture
def platforms() -> list[Platform]:
    """Return the platforms to set up."""
    return [Platform.LIGHT]


def lights_on(hass: HomeAssistant) -> bool:
    """Return whether the X1C and the P1S reported their chamber lights on."""
    return all(value(hass, f"light.{p}_chamber_light") == STATE_ON for p in ("x1c_01", "p1s_01"))


@pytest.mark.freeze_time("2026-01-01 12:00:00", tick=True)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    sim: FarmSim,
    snapshot: SnapshotAssertion,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Test the chamber lights of the printers that have one; the A1 has none."""
    await wait_for(hass, lambda: lights_on(hass))
    # The A1 reported too, and still has no light
    published = sim.ctx.counters.mqtt_published
    await wait_for(hass, lambda: published[printer_id(sim, "A1-01")] >= 2)
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)
    assert hass.states.get("light.a1_01_chamber_light") is None


async def test_switch_chamber_light(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test the chamber light reaches the printer, and shows what the printer reports."""
    await wait_for(hass, lambda: lights_on(hass))
    x1c = sim.world.printers[printer_id(sim, "X1C-01")]

    await hass.services.async_call(
        LIGHT_DOMAIN,
        SERVICE_TURN_OFF,
        {ATTR_ENTITY_ID: "light.x1c_01_chamber_light"},
        blocking=True,
    )
    assert x1c.lights == {"chamber_light": False, "work_light": True}
    await wait_for(hass, lambda: value(hass, "light.x1c_01_chamber_light") == STATE_OFF)
    assert value(hass, "light.p1s_01_chamber_light") == STATE_ON

    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: "light.x1c_01_chamber_light"}, blocking=True
    )
    assert x1c.lights["chamber_light"]
    await wait_for(hass, lambda: value(hass, "light.x1c_01_chamber_light") == STATE_ON)

    # Switched on the printer itself
    sim.world.set_light(x1c.id, "chamber_light", on=False)
    await wait_for(hass, lambda: value(hass, "light.x1c_01_chamber_light") == STATE_OFF)


async def test_no_lights_without_a_lan_connection(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test printers reached through the farm only have no light to switch."""
    with patch("custom_components.printfarm.PLATFORMS", [Platform.LIGHT]):
        entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    assert hass.states.async_entity_ids(LIGHT_DOMAIN) == []
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_printago_chamber_light(
    hass: HomeAssistant,
    sim: FarmSim,
    entity_registry: er.EntityRegistry,
    printago: MockConfigEntry,
) -> None:
    """Test Printago switches chamber lights with printer commands; it has no speed to set."""
    light = "light.x1c_01_chamber_light"
    await wait_for(hass, lambda: value(hass, light) == STATE_ON)
    x1c = sim.world.printers[printer_id(sim, "X1C-01")]

    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: light}, blocking=True
    )
    assert not x1c.lights["chamber_light"]
    await wait_for(hass, lambda: value(hass, light) == STATE_OFF)
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: light}, blocking=True
    )
    assert x1c.lights["chamber_light"]
    await wait_for(hass, lambda: value(hass, light) == STATE_ON)

    entities = er.async_entries_for_config_entry(entity_registry, printago.entry_id)
    assert not [e for e in entities if e.domain == "select"]
    assert hass.states.get("light.a1_01_chamber_light") is None
