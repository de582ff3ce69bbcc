"""End to end: a Printago store whose printers report over its realtime feed, all simulated."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import partial
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component

from custom_components.printfarm.api import Printago
from custom_components.printfarm.const import DOMAIN
from farmsim import FarmSim
from farmsim.models import JobStatus, Phase
from farmsim.testing import running_farmsim

from .helpers import admin, advance, entity, press, record_events, refresh, state, wait_for

# The story prints for an hour in a second: the request budget of that hour fits in a minute
LIMITS = ((600, 60.0), (6000, 3600.0))


@pytest.fixture
async def sim() -> AsyncIterator[FarmSim]:
    """Run the simulated farm with Printago's budget scaled to the story's pace."""
    async with running_farmsim(
        printers=3, report_interval=0.05, printago_limits=LIMITS, printago_stat_validity=2.0
    ) as farm:
        yield farm


@pytest.fixture(autouse=True)
def scaled_budget() -> Iterator[None]:
    """Give the client the same scaled budget."""
    with patch(
        "custom_components.printfarm.coordinator.Printago", partial(Printago, rate_windows=LIMITS)
    ):
        yield


async def test_printago_end_to_end(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test the whole story of a Printago store, from the config flow to an expired key."""
    printago = sim.connection["printago"]
    printer = next(p for p in sim.world.printers.values() if p.name == "X1C-01")
    part = next(p for p in sim.world.parts.values() if p.name == "Calibration cube")
    assert await async_setup_component(hass, "homeassistant", {})

    # Connect the store through the config flow
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "printago"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "url": printago["base_url"],
            "api_key": printago["api_key"],
            "store_id": printago["store_id"],
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    status = entity(hass, "X1C-01", "sensor", "status")
    progress = entity(hass, "X1C-01", "sensor", "progress")
    nozzle = entity(hass, "X1C-01", "sensor", "nozzle_temperature")
    print_event = entity(hass, "X1C-01", "event", "print")
    active_jobs = entity(hass, entry.title, "sensor", "jobs_active")
    queued_jobs = entity(hass, entry.title, "sensor", "jobs_queued")
    # Telemetry comes over the realtime feed
    await wait_for(hass, lambda: state(hass, nozzle) not in (STATE_UNAVAILABLE, STATE_UNKNOWN))
    assert state(hass, status) == "idle"
    assert state(hass, active_jobs) == "0"

    events, stop_recording = record_events(hass, print_event)
    device = next(
        d
        for d in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
        if d.name == "X1C-01"
    )

    # Submit the part to the printer through the action
    response = await hass.services.async_call(
        DOMAIN,
        "submit_job",
        {"config_entry_id": entry.entry_id, "part_id": part.id, "printer": device.id},
        blocking=True,
        return_response=True,
    )
    job = sim.world.job(response["jobs"][0]["id"])
    assert job.target_printer_id == printer.id
    spool = sim.world.spools[str(job.spool_id)]
    grams_before = spool.remaining_grams
    assert state(hass, active_jobs) == "1"
    await wait_for(hass, lambda: state(hass, status) == "preparing")
    await wait_for(hass, lambda: events == ["print_started"])

    # Heating, then printing with progress
    advance(sim, 420)
    await wait_for(hass, lambda: state(hass, status) == "printing")
    advance(sim, 450)
    await wait_for(hass, lambda: 30 < float(state(hass, progress)) < 70)

    # Pause with the button, resume with the action
    await press(hass, entity(hass, "X1C-01", "button", "pause"))
    assert printer.phase is Phase.PAUSE
    await wait_for(hass, lambda: state(hass, status) == "paused")
    await hass.services.async_call(DOMAIN, "resume_job", {"device_id": device.id}, blocking=True)
    assert job.status is JobStatus.PRINTING
    await wait_for(hass, lambda: state(hass, status) == "printing")

    # Finished: the queue and the spool follow
    advance(sim, 600)
    await wait_for(hass, lambda: state(hass, status) == "finished")
    assert job.status is JobStatus.COMPLETED
    assert events == ["print_started", "print_paused", "print_resumed", "print_finished"]
    await refresh(hass, active_jobs)
    assert state(hass, active_jobs) == "0"
    material = next(
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.domain == "sensor" and e.unique_id.endswith(f"_{spool.printago_id}_material_remaining")
    )
    assert float(state(hass, material)) == round(grams_before - part.profile.grams, 1)

    # Clear the bed; then cancel one job with the button and another with the action
    await press(hass, entity(hass, "X1C-01", "button", "clear_bed"))
    await wait_for(hass, lambda: state(hass, status) == "idle")
    response = await hass.services.async_call(
        DOMAIN,
        "submit_job",
        {
            "config_entry_id": entry.entry_id,
            "part_id": part.id,
            "printer": device.id,
            "quantity": 2,
        },
        blocking=True,
        return_response=True,
    )
    first, second = (sim.world.job(job["id"]) for job in response["jobs"])
    await wait_for(hass, lambda: state(hass, status) == "preparing")
    await press(hass, entity(hass, "X1C-01", "button", "cancel"))
    assert first.status is JobStatus.CANCELLED
    await wait_for(hass, lambda: events[-1] == "print_cancelled")
    await hass.services.async_call(
        DOMAIN,
        "cancel_job",
        {"config_entry_id": entry.entry_id, "job_id": second.printago_id},
        blocking=True,
    )
    assert second.status is JobStatus.CANCELLED
    await refresh(hass, queued_jobs)
    assert state(hass, queued_jobs) == "0"
    stop_recording()

    # A printer that drops off the network turns unavailable, and comes back
    await admin(hass, sim, "POST", f"printers/{printer.id}/online", {"online": False})
    await wait_for(hass, lambda: state(hass, nozzle) == STATE_UNAVAILABLE)
    await admin(hass, sim, "POST", f"printers/{printer.id}/online", {"online": True})
    await wait_for(hass, lambda: state(hass, nozzle) != STATE_UNAVAILABLE)

    # A printer gone silent turns unavailable once its last stats expire, and comes back
    other_nozzle = entity(hass, "P1S-01", "sensor", "nozzle_temperature")
    await admin(hass, sim, "POST", f"printers/{printer.id}/silent", {"silent": True})
    silent_since = hass.loop.time()
    await wait_for(hass, lambda: state(hass, nozzle) == STATE_UNAVAILABLE, seconds=20)
    # Not before its stats expired (two seconds), while the other printers' stats are renewed
    assert hass.loop.time() - silent_since > 1
    assert state(hass, other_nozzle) != STATE_UNAVAILABLE
    await admin(hass, sim, "POST", f"printers/{printer.id}/silent", {"silent": False})
    await wait_for(hass, lambda: state(hass, nozzle) != STATE_UNAVAILABLE, seconds=20)

    # When the realtime feed itself goes away, so do the live readings
    await admin(hass, sim, "POST", "brokers", {"target": "printago", "action": "stop"})
    await wait_for(hass, lambda: state(hass, nozzle) == STATE_UNAVAILABLE)
    await admin(hass, sim, "POST", "brokers", {"target": "printago", "action": "start"})
    await wait_for(hass, lambda: state(hass, nozzle) != STATE_UNAVAILABLE, seconds=20)

    # An expired key starts reauthentication; the new key brings the store back
    rotated = await admin(hass, sim, "POST", "keys/printago/rotate")
    await refresh(hass, active_jobs)
    assert state(hass, active_jobs) == STATE_UNAVAILABLE
    (flow,) = entry.async_get_active_flows(hass, {"reauth"})
    assert entry.state is ConfigEntryState.LOADED
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"api_key": rotated["api_key"]}
    )
    assert result["reason"] == "reauth_successful"
    await wait_for(hass, lambda: state(hass, active_jobs) == "0")
    await wait_for(hass, lambda: state(hass, nozzle) not in (STATE_UNAVAILABLE, STATE_UNKNOWN))
    assert not (await admin(hass, sim, "GET", "counters"))["rate_limited"]

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
