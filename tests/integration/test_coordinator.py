"""Tests for the farm's REST data: refreshed within the rate budget, and after actions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.printfarm.api import AutoPrintFarm, Printago
from custom_components.printfarm.const import DOMAIN
from farmsim import FarmSim
from farmsim.models import JobStatus

from .helpers import FILE_URL, admin, farm_entity, named_device, printer_entity, requests_sent

RATE_LIMITED = "The farm's request budget is spent; the next request is allowed at"


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> int:
    """Return how many warnings and errors say the text.

    A debug record's traceback that quotes it does not count: newer Home Assistant logs a
    coordinator's failure once as an error and once more, in full, at debug level.
    """
    return sum(
        text in record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING
    )


def _now() -> float:
    """Return the time the way the test's (maybe frozen) clock tells it."""
    return time.time()


@pytest.fixture
def frozen(freezer: FrozenDateTimeFactory) -> Iterator[FrozenDateTimeFactory]:
    """Freeze time; the clients count their request budget on the frozen clock too."""
    with (
        patch(
            "custom_components.printfarm.coordinator.AutoPrintFarm",
            partial(AutoPrintFarm, clock=_now),
        ),
        patch("custom_components.printfarm.coordinator.Printago", partial(Printago, clock=_now)),
    ):
        yield freezer


@pytest.fixture
async def printago(hass: HomeAssistant, printago: MockConfigEntry) -> MockConfigEntry:
    """Set up the Printago store and wait for its realtime feed."""
    nozzle = printer_entity(hass, "X1C-01", "nozzle_temperature")
    await wait_for(hass, lambda: hass.states.get(nozzle).state != STATE_UNAVAILABLE)
    return printago


async def settle(hass: HomeAssistant, seconds: float = 0.2) -> None:
    """Give farmsim's pushes time to arrive, also while the clock is frozen."""
    await hass.async_add_executor_job(time.sleep, seconds)
    await hass.async_block_till_done()


async def reconnected(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the realtime feed reconnect after a jump in time broke its keepalive."""
    nozzle = printer_entity(hass, "X1C-01", "nozzle_temperature")
    for _ in range(50):
        await tick(hass, freezer, timedelta(seconds=2))
        await settle(hass, 0.05)
        if hass.states.get(nozzle).state != STATE_UNAVAILABLE:
            return
    pytest.fail("The realtime feed did not come back")


async def wait_for(hass: HomeAssistant, check: Callable[[], bool]) -> None:
    """Wait until a condition on Home Assistant's state holds, also while the clock is frozen."""
    for _ in range(500):
        await hass.async_block_till_done()
        if check():
            return
        await hass.async_add_executor_job(time.sleep, 0.02)
    pytest.fail("Timed out")


async def tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    """Let time pass and run what was due."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    # Let the refresh finish before time moves on, or its request times out
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_interval_from_budget(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    frozen: FrozenDateTimeFactory,
    sim: FarmSim,
    apf: MockConfigEntry,
) -> None:
    """Test the farm is polled as often as half of its budget allows, and no more."""
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, apf)
    # 100 requests an hour, half of them for printfarm, 4 requests a refresh, a fifth spare
    assert diagnostics["budget"]["limit"] == 50
    assert diagnostics["refresh_interval"] == "0:06:00"

    queued = farm_entity(hass, "jobs_queued")
    await admin(hass, sim, "POST", "counters/reset")
    # Three hours, in steps off the six-minute grid of the refreshes
    for _step in range(177):
        await tick(hass, frozen, timedelta(seconds=61))
        assert hass.states.get(queued).state != STATE_UNAVAILABLE

    counters = await admin(hass, sim, "GET", "counters")
    assert not counters["rate_limited"]
    # About ten refreshes of four requests an hour: under half of farmsim's 100
    sent = sum(counters["requests"]["autoprintfarm"].values())
    assert 3 * 36 <= sent <= 3 * 44


async def test_interval_shares_the_key(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sim: FarmSim,
    apf: MockConfigEntry,
) -> None:
    """Test refreshes are spread out when other tools spend the same key's budget."""
    conn = sim.connection["autoprintfarm"]
    session = async_get_clientsession(hass)
    headers = {"Authorization": f"Bearer {conn['api_key']}"}
    for _ in range(60):
        async with session.get(f"{conn['base_url']}/printers", headers=headers) as response:
            assert response.status == 200
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await hass.async_block_till_done(wait_background_tasks=True)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, apf)
    # 100 - 5 at setup - 60 by others - 4 now: 31 left for the rest of the hour
    assert diagnostics["budget"]["remaining"] == 31
    hours, minutes, seconds = diagnostics["refresh_interval"].split(":")
    assert hours == "0"
    # Four requests at a time: 3600 / 31 * 4 seconds apart, not six minutes
    assert 7 * 60 < int(minutes) * 60 + float(seconds) <= 8 * 60


async def test_rate_limited(
    hass: HomeAssistant,
    frozen: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    sim: FarmSim,
    apf: MockConfigEntry,
) -> None:
    """Test a 429 makes the farm unavailable until the block ends, with one log line."""
    queued = farm_entity(hass, "jobs_queued")
    cancel = printer_entity(hass, "X1C-01", "cancel", "button")
    device = named_device(hass, "X1C-01")
    submit = {"config_entry_id": apf.entry_id, "file_url": FILE_URL, "printer": device.id}
    await hass.services.async_call(DOMAIN, "submit_job", submit, blocking=True)
    (job,) = sim.world.jobs.values()

    await admin(hass, sim, "PATCH", "faults/autoprintfarm", {"rate_limit_storm": True})
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call("button", "press", {"entity_id": cancel}, blocking=True)
    assert err.value.translation_key == "rate_limited"
    assert job.open
    # Past the next planned refresh: six minutes apart, a little more when the hour's
    # remaining budget spread until its reset asks for it
    await tick(hass, frozen, timedelta(minutes=7))
    assert hass.states.get(queued).state == STATE_UNAVAILABLE
    assert _logged(caplog, RATE_LIMITED) == 1
    assert (await admin(hass, sim, "GET", "counters"))["rate_limited"] == {"autoprintfarm": 2}

    # The farm asked for a minute's pause: no request goes out before, even when asked to
    await admin(hass, sim, "PATCH", "faults/autoprintfarm", {"rate_limit_storm": False})
    await tick(hass, frozen, timedelta(seconds=30))
    with pytest.raises(HomeAssistantError, match=RATE_LIMITED):
        await hass.services.async_call(DOMAIN, "submit_job", submit, blocking=True)
    assert hass.states.get(queued).state == STATE_UNAVAILABLE
    assert (await admin(hass, sim, "GET", "counters"))["rate_limited"] == {"autoprintfarm": 2}
    assert len(sim.world.jobs) == 1
    assert _logged(caplog, RATE_LIMITED) == 1

    with caplog.at_level(logging.INFO):
        await tick(hass, frozen, timedelta(seconds=31))
    assert hass.states.get(queued).state == "0"
    assert "Fetching printfarm farmsim farm data recovered" in caplog.text
    assert _logged(caplog, RATE_LIMITED) == 1
    await hass.services.async_call("button", "press", {"entity_id": cancel}, blocking=True)
    assert job.status is JobStatus.CANCELLED


async def test_unavailable_and_back(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, sim: FarmSim, apf: MockConfigEntry
) -> None:
    """Test the farm turns unavailable while it fails, with its reason logged, and recovers."""
    queued = farm_entity(hass, "jobs_queued")
    await admin(hass, sim, "PATCH", "faults/autoprintfarm", {"error_next": 3})
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await wait_for(hass, lambda: hass.states.get(queued).state == STATE_UNAVAILABLE)
    assert (
        "An error occurred while communicating with the farm: "
        "The service is temporarily unavailable"
    ) in caplog.text

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await wait_for(hass, lambda: hass.states.get(queued).state == "0")


async def test_refresh_after_action(
    hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry
) -> None:
    """Test an action is followed by a refresh, without waiting for the planned one."""
    queued = farm_entity(hass, "jobs_queued")
    before = await requests_sent(hass, sim, "autoprintfarm")
    await hass.services.async_call(
        DOMAIN,
        "submit_job",
        {"config_entry_id": apf.entry_id, "file_url": FILE_URL, "group": "none", "quantity": 2},
        blocking=True,
    )
    # Two jobs queued and one refresh of four requests
    assert await requests_sent(hass, sim, "autoprintfarm") - before == 6
    assert hass.states.get(queued).state == "2"


async def test_key_expired(hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry) -> None:
    """Test a refused key starts reauthentication; the new key brings the farm back."""
    queued = farm_entity(hass, "jobs_queued")
    rotated = await admin(hass, sim, "POST", "keys/autoprintfarm/rotate")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await wait_for(hass, lambda: hass.states.get(queued).state == STATE_UNAVAILABLE)
    (flow,) = apf.async_get_active_flows(hass, {"reauth"})
    assert apf.state is ConfigEntryState.LOADED

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"api_key": rotated["api_key"]}
    )
    assert result["reason"] == "reauth_successful"
    await wait_for(hass, lambda: hass.states.get(queued).state == "0")
    assert apf.data["api_key"] == rotated["api_key"]


async def test_printago_follows_changes(
    hass: HomeAssistant,
    frozen: FrozenDateTimeFactory,
    sim: FarmSim,
    printago: MockConfigEntry,
) -> None:
    """Test changes Printago reports refresh the farm soon, within the budget's headroom."""
    queued = farm_entity(hass, "jobs_queued")
    part = next(p for p in sim.world.parts.values() if p.name == "3DBenchy")

    async def queue_elsewhere() -> None:
        # A job queued on Printago's own dashboard: only the realtime feed tells of it
        sim.world.submit_job(source="printago", file_url=part.file_uris[0], group="none")
        await settle(hass)

    await queue_elsewhere()
    # Soon, not at once: refreshes are at least 30 seconds apart
    assert hass.states.get(queued).state == "0"
    before = await requests_sent(hass, sim, "printago")
    await tick(hass, frozen, timedelta(seconds=30))
    assert hass.states.get(queued).state == "1"
    per_refresh = await requests_sent(hass, sim, "printago") - before
    # What the planned refreshes leave of 300 requests an hour (a fifth) allows this many
    allowed = int(300 * 0.2 // per_refresh)
    assert allowed >= 3

    for number in range(2, allowed + 3):
        await queue_elsewhere()
        assert hass.states.get(queued).state == str(min(number - 1, allowed))
        await tick(hass, frozen, timedelta(seconds=30))
    assert hass.states.get(queued).state == str(allowed)
    # The planned refresh comes as always
    await tick(hass, frozen, timedelta(minutes=5))
    assert hass.states.get(queued).state == str(allowed + 2)
    total = allowed + 2

    # An hour later, there is headroom again
    await tick(hass, frozen, timedelta(hours=1))
    await reconnected(hass, frozen)
    await queue_elsewhere()
    assert hass.states.get(queued).state == str(total)
    await tick(hass, frozen, timedelta(seconds=30))
    assert hass.states.get(queued).state == str(total + 1)

    # A refresh still waiting when the entry unloads is dropped (no timer lingers)
    await queue_elsewhere()
    assert await hass.config_entries.async_unload(printago.entry_id)
