"""Tests for the printfarm actions against farmsim."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printfarm.const import DOMAIN
from farmsim import FarmSim
from farmsim.models import JobStatus, WorldEvent

from .helpers import FILE_URL, admin, devices, farm_entity, named_device, printer_entity


def sim_printer(sim: FarmSim, name: str) -> Any:
    """Return a simulated printer by its name."""
    return next(p for p in sim.world.printers.values() if p.name == name)


def jobs_of(sim: FarmSim, source: str) -> list[Any]:
    """Return the jobs of the simulated world that a farm service created."""
    return [job for job in sim.world.jobs.values() if job.source == source]


async def call(
    hass: HomeAssistant, service: str, data: dict[str, Any], *, response: bool = False
) -> Any:
    """Call a printfarm action and wait for it."""
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=response
    )


async def test_submit_job(hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry) -> None:
    """Test a job is queued on the farm and the queue is refreshed right away."""
    active_jobs = farm_entity(hass, "jobs_active")
    assert hass.states.get(active_jobs).state == "0"
    device = named_device(hass, "P1S-01")
    result = await call(
        hass,
        "submit_job",
        {
            "config_entry_id": apf.entry_id,
            "file_url": FILE_URL,
            "printer": device.id,
            "name": "Order 1042 bracket",
            "priority": "high",
            "material": "PLA",
        },
        response=True,
    )
    (job,) = jobs_of(sim, "autoprintfarm")
    assert job.name == "Order 1042 bracket"
    assert job.target_printer_id == sim_printer(sim, "P1S-01").id
    assert job.priority == 2
    assert job.material == "PLA"
    assert result == {
        "jobs": [
            {
                "id": job.id,
                "name": "Order 1042 bracket",
                "status": "preparing",
                "printer_id": job.target_printer_id,
                "printer": "P1S-01",
                "progress": 0.0,
                "queue_position": None,
                "priority": "high",
                "created_at": result["jobs"][0]["created_at"],
            }
        ]
    }
    # The farm was asked again right after the action, not at the next planned refresh
    assert hass.states.get(active_jobs).state == "1"


async def test_submit_copies(hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry) -> None:
    """Test each copy of a submission is a job, and unassigned copies wait in the queue."""
    result = await call(
        hass,
        "submit_job",
        {
            "config_entry_id": apf.entry_id,
            "file_url": FILE_URL,
            "group": "prototyping",
            "quantity": 3,
        },
        response=True,
    )
    jobs = jobs_of(sim, "autoprintfarm")
    assert [job["id"] for job in result["jobs"]] == [job.id for job in jobs]
    assert [job.target_group for job in jobs] == ["prototyping"] * 3
    # Only A1-01 is in the prototyping group: one copy prints, two wait
    assert [job["status"] for job in result["jobs"]] == ["preparing", "queued", "queued"]
    assert hass.states.get(farm_entity(hass, "jobs_queued")).state == "2"

    queue = await call(hass, "get_queue", {"config_entry_id": apf.entry_id}, response=True)
    assert [(job["id"], job["status"]) for job in queue["jobs"]] == [
        (job["id"], job["status"]) for job in result["jobs"]
    ]
    assert queue["jobs"][0]["printer"] == "A1-01"


async def test_idempotent_retry(hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry) -> None:
    """Test a retry with the same key never queues a second job, even after a lost answer."""
    data = {"config_entry_id": apf.entry_id, "file_url": FILE_URL, "idempotency_key": "order-1"}
    await admin(hass, sim, "PATCH", "faults/autoprintfarm", {"drop_next": 1})

    first = await call(hass, "submit_job", data, response=True)
    again = await call(hass, "submit_job", data, response=True)

    counters = await admin(hass, sim, "GET", "counters")
    assert counters["responses"]["autoprintfarm"]["dropped"] == 1
    (job,) = jobs_of(sim, "autoprintfarm")
    assert first["jobs"][0]["id"] == again["jobs"][0]["id"] == job.id

    # Another key is another job
    other = await call(hass, "submit_job", {**data, "idempotency_key": "order-2"}, response=True)
    assert other["jobs"][0]["id"] != job.id
    assert len(jobs_of(sim, "autoprintfarm")) == 2


async def test_printago_submit(
    hass: HomeAssistant, sim: FarmSim, printago: MockConfigEntry
) -> None:
    """Test a Printago part is queued once per key, even when the creating answer is lost."""
    part = next(p for p in sim.world.parts.values() if p.name == "Calibration cube")

    def drop_answer(event: WorldEvent) -> None:
        # Lose the answer of the request that created the job, after farmsim acted on it
        if event.type == "job.created":
            sim.ctx.faults.update("printago", {"drop_next": 1})

    unsubscribe = sim.world.subscribe(drop_answer)
    data = {
        "config_entry_id": printago.entry_id,
        "part_id": part.id,
        "name": "Cube",
        "tags": ["prototype"],
        "idempotency_key": "order-7",
    }
    first = await call(hass, "submit_job", data, response=True)
    unsubscribe()
    again = await call(hass, "submit_job", data, response=True)

    counters = await admin(hass, sim, "GET", "counters")
    assert counters["responses"]["printago"]["dropped"] == 1
    (job,) = jobs_of(sim, "printago")
    assert job.part_id == part.id
    assert job.required_tags == ["prototype"]
    assert first["jobs"] == again["jobs"]
    assert first["jobs"][0]["id"] == job.printago_id
    assert first["jobs"][0]["status"] == "preparing"
    assert first["jobs"][0]["printer"] == "A1-01"


@pytest.mark.parametrize(
    ("service", "status"),
    [("pause_job", JobStatus.PAUSED), ("cancel_job", JobStatus.CANCELLED)],
)
async def test_job_action_by_printer(
    hass: HomeAssistant,
    sim: FarmSim,
    apf: MockConfigEntry,
    service: str,
    status: JobStatus,
) -> None:
    """Test an action on a printer's current job reaches the farm."""
    device = named_device(hass, "X1C-01")
    await call(
        hass,
        "submit_job",
        {"config_entry_id": apf.entry_id, "file_url": FILE_URL, "printer": device.id},
    )
    (job,) = jobs_of(sim, "autoprintfarm")
    sim.world.clock.advance(600)
    sim.world.tick()
    assert job.status is JobStatus.PRINTING

    await call(hass, service, {"device_id": device.id})
    assert job.status is status


async def test_pause_resume_by_job_id(
    hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry
) -> None:
    """Test a job is paused and resumed by its id."""
    result = await call(
        hass,
        "submit_job",
        {"config_entry_id": apf.entry_id, "file_url": FILE_URL},
        response=True,
    )
    job = sim.world.job(result["jobs"][0]["id"])
    sim.world.clock.advance(600)
    sim.world.tick()
    data = {"config_entry_id": apf.entry_id, "job_id": job.id}

    await call(hass, "pause_job", data)
    assert job.status is JobStatus.PAUSED
    await call(hass, "resume_job", data)
    assert job.status is JobStatus.PRINTING
    await call(hass, "cancel_job", data)
    assert job.status is JobStatus.CANCELLED


async def test_entry_not_loaded(hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry) -> None:
    """Test actions refuse a farm that is unknown or not loaded, and work once it is."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_queue", {"config_entry_id": "nope"}, response=True)
    assert err.value.translation_key == "entry_not_loaded"
    assert str(err.value) == "The farm nope is not loaded"

    assert await hass.config_entries.async_unload(apf.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "submit_job", {"config_entry_id": apf.entry_id, "file_url": FILE_URL})
    assert err.value.translation_key == "entry_not_loaded"
    assert str(err.value) == f"The farm {apf.title} is not loaded"
    device = named_device(hass, "X1C-01")
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "pause_job", {"device_id": device.id})
    assert err.value.translation_key == "entry_not_loaded"
    assert not jobs_of(sim, "autoprintfarm")

    assert await hass.config_entries.async_setup(apf.entry_id)
    await hass.async_block_till_done()
    assert apf.state is ConfigEntryState.LOADED
    await call(hass, "submit_job", {"config_entry_id": apf.entry_id, "file_url": FILE_URL})
    assert len(jobs_of(sim, "autoprintfarm")) == 1


async def test_what_to_print_required(
    hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry, printago: MockConfigEntry
) -> None:
    """Test each farm service insists on what it prints: a file or a part."""
    part = next(iter(sim.world.parts.values()))
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "submit_job", {"config_entry_id": apf.entry_id, "part_id": part.id})
    assert err.value.translation_key == "file_url_required"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "submit_job", {"config_entry_id": printago.entry_id, "file_url": FILE_URL})
    assert err.value.translation_key == "part_required"
    # Each service prints for printers its own way: groups or tags
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass,
            "submit_job",
            {"config_entry_id": apf.entry_id, "file_url": FILE_URL, "tags": ["production"]},
        )
    assert str(err.value) == "AutoPrintFarm farms do not support the tags option"
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass,
            "submit_job",
            {"config_entry_id": printago.entry_id, "part_id": part.id, "group": "production"},
        )
    assert str(err.value) == "Printago farms do not support the group option"
    assert not sim.world.jobs

    await call(hass, "submit_job", {"config_entry_id": apf.entry_id, "file_url": FILE_URL})
    await call(hass, "submit_job", {"config_entry_id": printago.entry_id, "part_id": part.id})
    assert len(jobs_of(sim, "autoprintfarm")) == len(jobs_of(sim, "printago")) == 1


async def test_not_a_printer(
    hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry, printago: MockConfigEntry
) -> None:
    """Test a device that is no printer of the farm is refused."""
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    registry = dr.async_get(hass)
    lamp = registry.async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "lamp")}, name="Lamp"
    )
    farm = next(d for d in devices(hass) if d.entry_type is not None)
    printago_printer = next(
        d
        for d in dr.async_entries_for_config_entry(registry, printago.entry_id)
        if d.name == "X1C-01"
    )
    submit = {"config_entry_id": apf.entry_id, "file_url": FILE_URL}
    for device_id in (lamp.id, farm.id, printago_printer.id, "unknown"):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "submit_job", {**submit, "printer": device_id})
        assert err.value.translation_key == "not_a_printer"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "cancel_job", {"device_id": lamp.id})
    assert err.value.translation_key == "not_a_printer"
    assert str(err.value) == "The device Lamp is not a printer of a printfarm farm"
    assert not sim.world.jobs

    apf_printer = next(
        d for d in dr.async_entries_for_config_entry(registry, apf.entry_id) if d.name == "X1C-01"
    )
    await call(hass, "submit_job", {**submit, "printer": apf_printer.id})
    (job,) = jobs_of(sim, "autoprintfarm")
    assert job.target_printer_id == sim_printer(sim, "X1C-01").id


async def test_job_or_printer_required(
    hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry
) -> None:
    """Test a job action needs a job of a farm, or a printer with a current job."""
    device = named_device(hass, "A1-01")
    for data in ({}, {"job_id": "job_1"}, {"config_entry_id": apf.entry_id}):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "pause_job", data)
        assert err.value.translation_key == "job_or_printer_required"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "cancel_job", {"device_id": device.id})
    assert err.value.translation_key == "no_current_job"
    assert str(err.value) == "A1-01 has no job running"

    await call(
        hass,
        "submit_job",
        {"config_entry_id": apf.entry_id, "file_url": FILE_URL, "printer": device.id},
    )
    await call(hass, "cancel_job", {"device_id": device.id})
    (job,) = jobs_of(sim, "autoprintfarm")
    assert job.status is JobStatus.CANCELLED


async def test_farm_refuses(hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry) -> None:
    """Test the farm's reason reaches the user when it refuses an action."""
    result = await call(
        hass, "submit_job", {"config_entry_id": apf.entry_id, "file_url": FILE_URL}, response=True
    )
    job = sim.world.job(result["jobs"][0]["id"])
    sim.world.clock.advance(3600)
    sim.world.tick()
    assert job.status is JobStatus.COMPLETED
    data = {"config_entry_id": apf.entry_id, "job_id": job.id}

    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "cancel_job", data)
    assert err.value.translation_key == "farm_refused"
    assert str(err.value) == (
        "The farm did not carry out the request: "
        f"Job has already ended (Job {job.id} is already completed)"
    )
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "pause_job", {**data, "job_id": "job_nope"})
    assert str(err.value) == (
        "The farm did not carry out the request: Job not found (No job with ID job_nope)"
    )

    # The farm fails, then works again
    second = await call(
        hass, "submit_job", {"config_entry_id": apf.entry_id, "file_url": FILE_URL}, response=True
    )
    data["job_id"] = second["jobs"][0]["id"]
    await admin(hass, sim, "PATCH", "faults/autoprintfarm", {"error_next": 1})
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "cancel_job", data)
    assert err.value.translation_key == "farm_refused"
    assert "The service is temporarily unavailable" in str(err.value)
    assert sim.world.job(data["job_id"]).open

    await call(hass, "cancel_job", data)
    assert sim.world.job(data["job_id"]).status is JobStatus.CANCELLED


async def test_answer_lost(hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry) -> None:
    """Test an action whose answer is lost is reported, and the next one works."""
    result = await call(
        hass, "submit_job", {"config_entry_id": apf.entry_id, "file_url": FILE_URL}, response=True
    )
    job = sim.world.job(result["jobs"][0]["id"])
    sim.world.clock.advance(600)
    sim.world.tick()
    data = {"config_entry_id": apf.entry_id, "job_id": job.id}

    await admin(hass, sim, "PATCH", "faults/autoprintfarm", {"drop_next": 1})
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "pause_job", data)
    assert err.value.translation_key == "communication_error"
    # The farm acted; only its answer was lost
    assert job.status is JobStatus.PAUSED

    await call(hass, "resume_job", data)
    assert job.status is JobStatus.PRINTING


async def test_key_refused(hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry) -> None:
    """Test a refused API key in an action starts reauthentication, which recovers."""
    rotated = await admin(hass, sim, "POST", "keys/autoprintfarm/rotate")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "submit_job", {"config_entry_id": apf.entry_id, "file_url": FILE_URL})
    assert err.value.translation_key == "authentication_failed"
    await hass.async_block_till_done()
    (flow,) = apf.async_get_active_flows(hass, {"reauth"})
    assert flow["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"api_key": rotated["api_key"]}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert apf.state is ConfigEntryState.LOADED
    await call(hass, "submit_job", {"config_entry_id": apf.entry_id, "file_url": FILE_URL})
    assert len(jobs_of(sim, "autoprintfarm")) == 1


async def press(hass: HomeAssistant, entity_id: str) -> None:
    """Press a button."""
    await hass.services.async_call("button", "press", {"entity_id": entity_id}, blocking=True)


async def test_button_errors(hass: HomeAssistant, sim: FarmSim, apf: MockConfigEntry) -> None:
    """Test a printer button reports why the farm did not act, and works again after."""
    device = named_device(hass, "P1S-01")
    cancel = printer_entity(hass, "P1S-01", "cancel", "button")
    submit = {"config_entry_id": apf.entry_id, "file_url": FILE_URL, "printer": device.id}

    # The job ended on the farm before Home Assistant heard of it
    await call(hass, "submit_job", submit)
    (job,) = jobs_of(sim, "autoprintfarm")
    sim.world.cancel_job(job.id)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, cancel)
    assert err.value.translation_key == "printer_refused"
    assert "nothing to stop" in str(err.value)

    # The farm cancels, but its answer is lost
    sim.world.clear_bed(sim_printer(sim, "P1S-01").id)
    await call(hass, "submit_job", submit)
    job = jobs_of(sim, "autoprintfarm")[-1]
    await admin(hass, sim, "PATCH", "faults/autoprintfarm", {"drop_next": 1})
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, cancel)
    assert err.value.translation_key == "printer_unreachable"
    assert job.status is JobStatus.CANCELLED

    # The key was revoked: reauthentication starts, and the new key works
    sim.world.clear_bed(sim_printer(sim, "P1S-01").id)
    await call(hass, "submit_job", submit)
    job = jobs_of(sim, "autoprintfarm")[-1]
    rotated = await admin(hass, sim, "POST", "keys/autoprintfarm/rotate")
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, cancel)
    assert err.value.translation_key == "authentication_failed"
    await hass.async_block_till_done()
    (flow,) = apf.async_get_active_flows(hass, {"reauth"})
    await hass.config_entries.flow.async_configure(flow["flow_id"], {"api_key": rotated["api_key"]})
    await hass.async_block_till_done()
    assert job.open
    await press(hass, cancel)
    assert job.status is JobStatus.CANCELLED
