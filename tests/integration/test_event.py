"""Tests for the printfarm event platform."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components.event import ATTR_EVENT_TYPE
from homeassistant.components.homeassistant import SERVICE_UPDATE_ENTITY
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNKNOWN, Platform
from homeassistant.core import DOMAIN as HA_DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from farmsim import FarmSim

from .helpers import advance, autoprintfarm_entry, printer_id, setup_entry, wait_first_reports

FILE = "https://files.example/{name}.3mf?sim_seconds=600&sim_grams=5"


@pytest.fixture
def platforms() -> list[Platform]:
    """Return the platforms to set up."""
    return [Platform.EVENT, Platform.SENSOR]


def submit(sim: FarmSim, printer: str, name: str) -> None:
    """Queue a job for one printer in farmsim."""
    sim.world.submit_job(source="test", file_url=FILE.format(name=name), printer_id=printer)


class Events:
    """The events an event entity fired, from its state."""

    def __init__(self, hass: HomeAssistant, entity_id: str) -> None:
        """Start with the entity's current state."""
        self.hass = hass
        self.entity_id = entity_id
        self.last = self.state.state

    @property
    def state(self) -> Any:
        """Return the entity's state."""
        return self.hass.states.get(self.entity_id)

    async def next(self, action: Callable[[], object] | None = None) -> tuple[str, dict[str, Any]]:
        """Return the type and data of the next event (fired after the action, if any)."""
        if action is not None:
            action()
        async with asyncio.timeout(10):
            while self.state.state == self.last:
                await self.hass.async_block_till_done()
                await asyncio.sleep(0.02)
        self.last = self.state.state
        attributes = dict(self.state.attributes)
        for name in ("event_types", "friendly_name"):
            attributes.pop(name)
        return attributes.pop(ATTR_EVENT_TYPE), attributes


@pytest.mark.freeze_time("2026-01-01 12:00:00", tick=True)
@pytest.mark.parametrize("platforms", [[Platform.EVENT]], ids=["event"])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    sim: FarmSim,
    snapshot: SnapshotAssertion,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Test the print event entity of every printer."""
    await wait_first_reports(hass, sim)
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_print_lifecycle(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test the events of prints that finish, are paused, cancelled and fail."""
    x1c = printer_id(sim, "X1C-01")
    events = Events(hass, "event.x1c_01_print")
    assert events.last == STATE_UNKNOWN
    world = sim.world
    # A print under way when the printer first reports was not started now: wait for it
    async with asyncio.timeout(10):
        while hass.states.get("sensor.x1c_01_nozzle_temperature").state != "25.0":
            await hass.async_block_till_done()
            await asyncio.sleep(0.02)

    event_type, data = await events.next(lambda: submit(sim, x1c, "bracket"))
    assert event_type == "print_started"
    assert data == {"job_name": "bracket", "file": "/data/Metadata/plate_1.gcode", "progress": 0}

    advance(sim, 60)
    assert (await events.next(lambda: world.pause_printer(x1c)))[0] == "print_paused"
    assert (await events.next(lambda: world.resume_printer(x1c)))[0] == "print_resumed"
    event_type, data = await events.next(lambda: advance(sim, 1200))
    assert event_type == "print_finished"
    assert data["job_name"] == "bracket"
    assert data["progress"] == 100

    world.clear_bed(x1c)
    assert (await events.next(lambda: submit(sim, x1c, "hinge")))[0] == "print_started"
    event_type, data = await events.next(lambda: world.stop_printer(x1c))
    assert event_type == "print_cancelled"
    assert data["job_name"] == "hinge"

    world.clear_bed(x1c)
    assert (await events.next(lambda: submit(sim, x1c, "lid")))[0] == "print_started"
    event_type, data = await events.next(lambda: world.fail_print(x1c))
    assert event_type == "print_failed"
    assert data["job_name"] == "lid"


async def test_events_from_the_farm(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test printers without pushed state get their events from what the farm reports."""
    assert await async_setup_component(hass, HA_DOMAIN, {})
    with patch("custom_components.printfarm.PLATFORMS", [Platform.EVENT, Platform.SENSOR]):
        entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    p1s = printer_id(sim, "P1S-01")
    events = Events(hass, "event.p1s_01_print")
    world = sim.world

    async def refresh() -> None:
        await hass.services.async_call(
            HA_DOMAIN,
            SERVICE_UPDATE_ENTITY,
            {ATTR_ENTITY_ID: "sensor.farmsim_queued_jobs"},
            blocking=True,
        )
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
        await hass.async_block_till_done(wait_background_tasks=True)

    submit(sim, p1s, "bracket")
    await refresh()
    event_type, data = await events.next()
    assert event_type == "print_started"
    assert data == {
        "job_name": "bracket",
        "file": FILE.format(name="bracket"),
        "progress": 0.0,
        "source": "farm",
    }

    # Printing after preparing is no new event
    advance(sim, 60)
    await refresh()
    assert events.state.state == events.last
    world.pause_printer(p1s)
    await refresh()
    assert (await events.next())[0] == "print_paused"
    world.resume_printer(p1s)
    await refresh()
    assert (await events.next())[0] == "print_resumed"
    advance(sim, 1200)
    await refresh()
    event_type, data = await events.next()
    assert event_type == "print_finished"
    assert data["job_name"] == "bracket"

    world.clear_bed(p1s)
    submit(sim, p1s, "hinge")
    await refresh()
    assert (await events.next())[0] == "print_started"
    world.fail_print(p1s)
    await refresh()
    assert (await events.next())[0] == "print_failed"

    # Nothing changed, nothing fired
    last = events.state.last_changed
    await refresh()
    assert events.state.last_changed == last
    assert await hass.config_entries.async_unload(entry.entry_id)
