"""Tests for the printfarm button platform."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from unittest.mock import PropertyMock, patch

import aiohttp
import pytest
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN
from homeassistant.components.button import SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from farmsim import FarmSim
from farmsim.models import Phase

from .conftest import autoprintfarm_entry, setup_entry

FILE = "https://files.example/bracket.3mf?sim_seconds=1200&sim_grams=5"
BUTTONS = ("pause_print", "resume_print", "cancel_print", "mark_bed_clear")


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
    return [Platform.BUTTON, Platform.SENSOR]


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, sim: FarmSim, platforms: list[Platform]
) -> AsyncIterator[MockConfigEntry]:
    """Set up an AutoPrintFarm entry with LAN printers; unload it afterwards."""
    with patch("custom_components.printfarm.PLATFORMS", platforms):
        entry = await setup_entry(hass, autoprintfarm_entry(sim))
        yield entry
        assert await hass.config_entries.async_unload(entry.entry_id)


async def wait_for(hass: HomeAssistant, predicate: Callable[[], bool]) -> None:
    """Wait until pushed state makes the predicate true."""
    async with asyncio.timeout(10):
        while not predicate():
            await hass.async_block_till_done()
            await asyncio.sleep(0.02)


def value(hass: HomeAssistant, entity_id: str) -> str | None:
    """Return the state of an entity, or None without one."""
    return state.state if (state := hass.states.get(entity_id)) else None


def available(hass: HomeAssistant, printer: str) -> set[str]:
    """Return the buttons of a printer that are available."""
    return {
        button
        for button in BUTTONS
        if value(hass, f"button.{printer}_{button}") not in (None, STATE_UNAVAILABLE)
    }


def printer_id(sim: FarmSim, name: str) -> str:
    """Return the farm ID of a simulated printer."""
    return next(p.id for p in sim.world.printers.values() if p.name == name)


def advance(sim: FarmSim, seconds: float) -> None:
    """Move farmsim's clock (only farmsim's) forward."""
    sim.world.clock.advance(seconds)
    sim.world.tick()


async def press(hass: HomeAssistant, entity_id: str) -> None:
    """Press a button."""
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def admin_faults(sim: FarmSim, changes: dict[str, Any]) -> None:
    """Switch faults of farmsim's AutoPrintFarm face through its admin API."""
    async with (
        aiohttp.ClientSession() as session,
        session.patch(f"{sim.admin_url}/faults/autoprintfarm", json=changes) as response,
    ):
        assert response.status == 200, await response.text()


async def start_printing(hass: HomeAssistant, sim: FarmSim, name: str) -> str:
    """Start a print on a printer and wait until it prints; return the printer's ID."""
    printer = printer_id(sim, name)
    entity_id = f"sensor.{name.lower().replace('-', '_')}"
    sim.world.submit_job(source="test", file_url=FILE, printer_id=printer)
    await wait_for(hass, lambda: value(hass, entity_id) == "preparing")
    advance(sim, 60)
    await wait_for(hass, lambda: value(hass, entity_id) == "printing")
    return printer


@pytest.mark.freeze_time("2026-01-01 12:00:00", tick=True)
@pytest.mark.parametrize("platforms", [[Platform.BUTTON]], ids=["button"])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    sim: FarmSim,
    snapshot: SnapshotAssertion,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Test the buttons of the printers; idle printers have none to press."""
    # Each printer answered its version request and sent its first full report
    published = sim.ctx.counters.mqtt_published
    await wait_for(hass, lambda: all(published[p] >= 2 for p in sim.world.printers))
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_buttons_follow_the_print(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test each button is available only where it makes sense, and reaches the printer."""
    p1s = printer_id(sim, "P1S-01")
    await wait_for(hass, lambda: value(hass, "sensor.p1s_01") == "idle")
    assert available(hass, "p1s_01") == set()
    # An unavailable button is not pressed
    await press(hass, "button.p1s_01_pause_print")
    assert sim.world.printers[p1s].phase is Phase.IDLE

    sim.world.submit_job(source="test", file_url=FILE, printer_id=p1s)
    await wait_for(hass, lambda: value(hass, "sensor.p1s_01") == "preparing")
    assert available(hass, "p1s_01") == {"cancel_print"}
    advance(sim, 60)
    await wait_for(hass, lambda: value(hass, "sensor.p1s_01") == "printing")
    assert available(hass, "p1s_01") == {"pause_print", "cancel_print"}
    assert value(hass, "button.p1s_01_pause_print") == STATE_UNKNOWN

    await press(hass, "button.p1s_01_pause_print")
    assert sim.world.printers[p1s].phase is Phase.PAUSE
    await wait_for(hass, lambda: value(hass, "sensor.p1s_01") == "paused")
    assert available(hass, "p1s_01") == {"resume_print", "cancel_print"}
    assert value(hass, "button.p1s_01_pause_print") == STATE_UNAVAILABLE

    await press(hass, "button.p1s_01_resume_print")
    assert sim.world.printers[p1s].phase is Phase.RUNNING
    await wait_for(hass, lambda: value(hass, "sensor.p1s_01") == "printing")

    await press(hass, "button.p1s_01_cancel_print")
    job = sim.world.jobs[str(sim.world.printers[p1s].last_job_id)]
    assert job.status.value == "cancelled"
    await wait_for(hass, lambda: value(hass, "sensor.p1s_01") == "finished")
    assert available(hass, "p1s_01") == {"mark_bed_clear"}

    await press(hass, "button.p1s_01_mark_bed_clear")
    assert sim.world.printers[p1s].bed_clear
    await wait_for(hass, lambda: value(hass, "sensor.p1s_01") == "idle")
    assert available(hass, "p1s_01") == set()


async def test_clear_bed_after_error(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test a failed print is cleared from the bed with the button."""
    a1 = await start_printing(hass, sim, "A1-01")
    sim.world.fail_print(a1)
    await wait_for(hass, lambda: value(hass, "sensor.a1_01") == "error")
    assert available(hass, "a1_01") == {"mark_bed_clear"}

    await press(hass, "button.a1_01_mark_bed_clear")
    assert sim.world.printers[a1].ready
    await wait_for(hass, lambda: value(hass, "sensor.a1_01") == "idle")


async def test_press_fails_when_the_farm_fails(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test a press the farm cannot carry out raises a translated error, and works again."""
    x1c = await start_printing(hass, sim, "X1C-01")
    await admin_faults(sim, {"error_next": 1})

    with pytest.raises(HomeAssistantError) as err:
        await press(hass, "button.x1c_01_pause_print")
    assert err.value.translation_domain == "printfarm"
    assert err.value.translation_key == "printer_refused"
    assert str(err.value).startswith("The printer refused the command:")
    assert sim.world.printers[x1c].phase is Phase.RUNNING

    await press(hass, "button.x1c_01_pause_print")
    assert sim.world.printers[x1c].phase is Phase.PAUSE
    await wait_for(hass, lambda: value(hass, "sensor.x1c_01") == "paused")


async def test_press_refused_as_the_state_changes(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test pausing a print someone else paused a moment ago: the farm refuses it."""
    x1c = await start_printing(hass, sim, "X1C-01")
    # Paused at the farm before the printer's report of it reaches Home Assistant
    sim.world.set_silent(x1c, silent=True)
    sim.world.pause_printer(x1c)
    assert value(hass, "button.x1c_01_pause_print") == STATE_UNKNOWN

    with pytest.raises(HomeAssistantError) as err:
        await press(hass, "button.x1c_01_pause_print")
    assert err.value.translation_key == "printer_refused"
    assert "X1C-01 is paused, not printing" in str(err.value)

    sim.world.set_silent(x1c, silent=False)
    await wait_for(hass, lambda: value(hass, "sensor.x1c_01") == "paused")
    assert available(hass, "x1c_01") == {"resume_print", "cancel_print"}
    await press(hass, "button.x1c_01_resume_print")
    assert sim.world.printers[x1c].phase is Phase.RUNNING
