"""End to end: an AutoPrintFarm farm with a Bambu Lab printer on the LAN, all simulated."""

from __future__ import annotations

from pathlib import Path

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printfarm.const import DOMAIN
from farmsim import FarmSim
from farmsim.models import JobStatus, Phase

from .helpers import (
    FILE_URL,
    admin,
    advance,
    autoprintfarm_entry,
    entity,
    find_device,
    press,
    printer_subentry,
    record_events,
    refresh,
    setup_entry,
    state,
    wait_for,
)


async def test_autoprintfarm_end_to_end(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test the whole story of a farm, from the config flow to an expired key."""
    apf = sim.connection["autoprintfarm"]
    lan = next(p for p in sim.connection["printers"] if p["name"] == "X1C-01")
    printer = sim.world.printer(lan["autoprintfarm_id"])

    assert await async_setup_component(hass, "homeassistant", {})

    # Connect the farm through the config flow
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "autoprintfarm"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": apf["base_url"], "api_key": apf["api_key"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    # The whole budget, and a printer counts as silent after ten seconds
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"budget_share": 100, "stale_timeout": 10}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    # Connect X1C-01 on the LAN
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "printer"), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"printer_id": printer.id}
    )
    assert result["step_id"] == "connection"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "host": lan["host"],
            "port": lan["port"],
            "serial": lan["serial"],
            "access_code": lan["access_code"],
            "verify_ssl": True,
            "ca_cert": Path(lan["ca_cert"]).read_text(encoding="utf-8"),
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    status = entity(hass, "X1C-01", "sensor", "status")
    progress = entity(hass, "X1C-01", "sensor", "progress")
    nozzle = entity(hass, "X1C-01", "sensor", "nozzle_temperature")
    print_event = entity(hass, "X1C-01", "event", "print")
    active_jobs = entity(hass, entry.title, "sensor", "jobs_active")
    queued_jobs = entity(hass, entry.title, "sensor", "jobs_queued")
    await wait_for(hass, lambda: state(hass, nozzle) not in (STATE_UNAVAILABLE, STATE_UNKNOWN))
    assert state(hass, status) == "idle"
    assert state(hass, active_jobs) == "0"

    events, stop_recording = record_events(hass, print_event)
    device = find_device(hass, {(DOMAIN, f"{entry.unique_id}_{printer.id}")})
    assert device is not None

    # Submit a job to the printer through the action
    response = await hass.services.async_call(
        DOMAIN,
        "submit_job",
        {"config_entry_id": entry.entry_id, "file_url": FILE_URL, "printer": device.id},
        blocking=True,
        return_response=True,
    )
    job = sim.world.job(response["jobs"][0]["id"])
    spool = sim.world.spools[str(job.spool_id)]
    grams_before = spool.remaining_grams
    assert state(hass, active_jobs) == "1"
    await wait_for(hass, lambda: state(hass, status) == "preparing")
    await wait_for(hass, lambda: events == ["print_started"])

    # Heating, then printing with progress
    advance(sim, 420)
    await wait_for(hass, lambda: state(hass, status) == "printing")
    advance(sim, 300)
    await wait_for(hass, lambda: 30 < float(state(hass, progress)) < 70)

    # Speed and light are set on the printer over the LAN
    speed = entity(hass, "X1C-01", "select", "print_speed")
    await hass.services.async_call(
        "select", "select_option", {"entity_id": speed, "option": "sport"}, blocking=True
    )
    assert printer.speed_level == 3
    await wait_for(hass, lambda: state(hass, speed) == "sport")
    light = entity(hass, "X1C-01", "light", "chamber_light")
    await hass.services.async_call("light", "turn_off", {"entity_id": light}, blocking=True)
    assert printer.lights["chamber_light"] is False
    await wait_for(hass, lambda: state(hass, light) == "off")

    # Pause with the button, resume with the action
    await press(hass, entity(hass, "X1C-01", "button", "pause"))
    assert printer.phase is Phase.PAUSE
    await wait_for(hass, lambda: state(hass, status) == "paused")
    await hass.services.async_call(DOMAIN, "resume_job", {"device_id": device.id}, blocking=True)
    assert job.status is JobStatus.PRINTING
    await wait_for(hass, lambda: state(hass, status) == "printing")

    # Finished: the queue and the spool follow
    advance(sim, 400)
    await wait_for(hass, lambda: state(hass, status) == "finished")
    assert job.status is JobStatus.COMPLETED
    assert events == ["print_started", "print_paused", "print_resumed", "print_finished"]
    await refresh(hass, active_jobs)
    assert state(hass, active_jobs) == "0"
    material = next(
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.domain == "sensor" and e.unique_id.endswith(f"_{spool.id}_material_remaining")
    )
    assert float(state(hass, material)) == round(grams_before - 5, 1)

    # Clear the bed; then cancel one job with the button and another with the action
    await press(hass, entity(hass, "X1C-01", "button", "clear_bed"))
    await wait_for(hass, lambda: state(hass, status) == "idle")
    response = await hass.services.async_call(
        DOMAIN,
        "submit_job",
        {
            "config_entry_id": entry.entry_id,
            "file_url": FILE_URL,
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
        {"config_entry_id": entry.entry_id, "job_id": second.id},
        blocking=True,
    )
    assert second.status is JobStatus.CANCELLED
    await refresh(hass, queued_jobs)
    assert state(hass, queued_jobs) == "0"
    stop_recording()

    # A printer gone silent turns unavailable after the stale timeout, and comes back
    await admin(hass, sim, "POST", f"printers/{printer.id}/silent", {"silent": True})
    silent_since = hass.loop.time()
    await wait_for(hass, lambda: state(hass, nozzle) == STATE_UNAVAILABLE, seconds=20)
    assert hass.loop.time() - silent_since > 9
    await admin(hass, sim, "POST", f"printers/{printer.id}/silent", {"silent": False})
    await wait_for(hass, lambda: state(hass, nozzle) != STATE_UNAVAILABLE, seconds=20)

    # An expired key starts reauthentication; the new key brings the farm back
    rotated = await admin(hass, sim, "POST", "keys/autoprintfarm/rotate")
    await refresh(hass, active_jobs)
    assert state(hass, active_jobs) == STATE_UNAVAILABLE
    (flow,) = entry.async_get_active_flows(hass, {"reauth"})
    assert entry.state is ConfigEntryState.LOADED
    # The printer's own connection is not the farm's: its readings stay
    assert state(hass, nozzle) != STATE_UNAVAILABLE
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"api_key": rotated["api_key"]}
    )
    assert result["reason"] == "reauth_successful"
    await wait_for(hass, lambda: state(hass, active_jobs) == "0")
    assert entry.state is ConfigEntryState.LOADED

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_printer_connection_refused(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test a printer refusing its access code raises a repair issue, gone once it is fixed."""
    good = {p["name"]: printer_subentry(p) for p in sim.connection["printers"]}
    wrong_code = {**good["X1C-01"], "data": {**good["X1C-01"]["data"], "access_code": "00000000"}}
    bad_cert = {**good["P1S-01"], "data": {**good["P1S-01"]["data"], "ca_cert": "not a cert"}}
    farm = autoprintfarm_entry(sim, printers=False)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=farm.title,
        unique_id=farm.unique_id,
        data=dict(farm.data),
        subentries_data=[wrong_code, bad_cert],
    )
    await setup_entry(hass, entry)
    issues = ir.async_get(hass)
    serial = good["X1C-01"]["data"]["serial"]
    issue_id = f"push_auth_failed_{entry.entry_id}_{serial}"
    await wait_for(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)
    assert issues.async_get_issue(DOMAIN, issue_id).translation_key == "push_auth_failed"
    nozzle = entity(hass, "X1C-01", "sensor", "nozzle_temperature")
    assert state(hass, nozzle) == STATE_UNAVAILABLE
    # The printer whose certificate authority is unreadable gets no live readings
    registry = er.async_get(hass)
    p1s = find_device(hass, {(DOMAIN, f"{entry.unique_id}_{good['P1S-01']['data']['printer_id']}")})
    assert p1s is not None
    assert not [
        e
        for e in er.async_entries_for_device(registry, p1s.id)
        if e.translation_key == "nozzle_temperature"
    ]

    for subentry in list(entry.subentries.values()):
        hass.config_entries.async_update_subentry(
            entry, subentry, data=good[subentry.title]["data"]
        )
    await hass.async_block_till_done()
    await wait_for(hass, lambda: state(hass, nozzle) not in (STATE_UNAVAILABLE, STATE_UNKNOWN))
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    p1s_nozzle = entity(hass, "P1S-01", "sensor", "nozzle_temperature")
    await wait_for(hass, lambda: state(hass, p1s_nozzle) not in (STATE_UNAVAILABLE, STATE_UNKNOWN))
    assert await hass.config_entries.async_unload(entry.entry_id)
