"""Tests for the printfarm button platform."""

from __future__ import annotations

import pytest
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from farmsim import FarmSim
from farmsim.models import Phase

from .helpers import admin, advance, press, printer_id, value, wait_first_reports, wait_for

FILE = "https://files.example/bracket.3mf?sim_seconds=1200&sim_grams=5"
BUTTONS = ("pause_print", "resume_print", "cancel_print", "mark_bed_clear")


@pytest.fixture
def platforms() -> list[Platform]:
    """Return the platforms to set up."""
    return [Platform.BUTTON, Platform.SENSOR]


def available(hass: HomeAssistant, printer: str) -> set[str]:
    """Return the buttons of a printer that are available."""
    return {
        button
        for button in BUTTONS
        if value(hass, f"button.{printer}_{button}") not in (None, STATE_UNAVAILABLE)
    }


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
    await wait_first_reports(hass, sim)
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
    await admin(hass, sim, "PATCH", "faults/autoprintfarm", {"error_next": 1})

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
