"""Tests for AutoPrintFarm's webhooks into Home Assistant from a misbehaving farm.

farmsim's webhook faults (switched through its admin API) sign with a wrong secret, send
stale timestamps, send a delivery again unchanged, or hold deliveries back and release them
newest first; Home Assistant receives them over real HTTP on loopback.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from custom_components.printfarm.const import CONF_WEBHOOK_SECRET, CONF_WEBHOOK_SUBSCRIPTION
from farmsim import FarmSim
from farmsim.models import Job, JobStatus

from . import test_farm_webhooks
from .helpers import (
    FILE_URL,
    admin,
    advance,
    autoprintfarm_entry,
    entity,
    printer_id,
    setup_entry,
    state,
    wait_for,
)
from .test_farm_webhooks import farm_events

# Home Assistant served on loopback, at an address the farm can reach, in every test
reachable = test_farm_webhooks.reachable
pytestmark = pytest.mark.usefixtures("reachable")

PRINTER = "P1S-01"


async def deliveries(hass: HomeAssistant, sim: FarmSim, webhook_id: str) -> list[dict[str, Any]]:
    """Return a subscription's delivery log at the farm, oldest first."""
    conn = sim.connection["autoprintfarm"]
    async with async_get_clientsession(hass).get(
        f"{conn['base_url']}/webhooks/{webhook_id}/deliveries",
        headers={"Authorization": f"Bearer {conn['api_key']}"},
    ) as response:
        assert response.status == 200
        return list(reversed((await response.json())["data"]))


def statuses(log: list[dict[str, Any]], event_type: str) -> list[int | None]:
    """Return the answers to the attempts of one event type, in order."""
    return [d["status_code"] for d in log if d["event_type"] == event_type]


def submit(sim: FarmSim) -> Job:
    """Queue a job on the P1S; the farm assigns it at once and the printer prepares."""
    return sim.world.submit_job(
        source="test", file_url=FILE_URL, printer_id=printer_id(sim, PRINTER), name="Bracket"
    )


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"wrong_secret_rate": 1.0}, "signature does not match"),
        ({"stale_rate": 1.0, "stale_seconds": 3600}, "timestamp is missing or too far from now"),
    ],
    ids=["wrong_secret", "stale_timestamp"],
)
async def test_forged_deliveries_change_nothing(
    hass: HomeAssistant,
    sim: FarmSim,
    caplog: pytest.LogCaptureFixture,
    fault: dict[str, Any],
    reason: str,
) -> None:
    """Test deliveries signed with a wrong secret or stale are refused (401), changing nothing."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    hook = entry.data[CONF_WEBHOOK_SUBSCRIPTION]
    status = entity(hass, PRINTER, "sensor", "status")
    fired = farm_events(hass, entity(hass, entry.title, "event", "farm"))
    await admin(hass, sim, "PATCH", "faults/webhooks", fault)

    submit(sim)
    # job.created and job.assigned, each refused on every attempt until farmsim gives up
    retries = len(sim.config.webhook_retry_delays)
    await wait_for(hass, lambda: sim.ctx.counters.webhooks["failed"] >= 2)
    log = await deliveries(hass, sim, hook)
    for event_type in ("job.created", "job.assigned"):
        assert statuses(log, event_type) == [401] * (retries + 1)
    assert not any(d["success"] for d in log)
    # Nothing of the refused deliveries was applied or told
    assert fired == []
    # Each refusal is logged, without the secret
    warnings = [
        record.message
        for record in caplog.records
        if record.levelno >= logging.WARNING and "Refused a webhook delivery" in record.message
    ]
    assert warnings
    assert all(reason in message for message in warnings)
    assert entry.data[CONF_WEBHOOK_SECRET] not in caplog.text

    # With the faults off, the next change gets through
    await admin(hass, sim, "POST", "faults/reset")
    advance(sim, 420)
    await wait_for(hass, lambda: state(hass, status) == "printing", seconds=1)
    assert statuses(await deliveries(hass, sim, hook), "job.started") == [200]


async def test_replayed_deliveries_are_refused(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test a delivery sent again unchanged is refused (409) and changes nothing."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    hook = entry.data[CONF_WEBHOOK_SUBSCRIPTION]
    status = entity(hass, PRINTER, "sensor", "status")
    fired = farm_events(hass, entity(hass, entry.title, "event", "farm"))

    submit(sim)
    await wait_for(hass, lambda: state(hass, status) == "preparing", seconds=1)
    advance(sim, 420)
    await wait_for(hass, lambda: state(hass, status) == "printing", seconds=1)
    assigned = next(
        d for d in await deliveries(hass, sim, hook) if d["event_type"] == "job.assigned"
    )
    seen = len(fired)

    # The job.assigned delivery again (the printer preparing), with its signature and id
    record = await admin(
        hass, sim, "POST", f"webhooks/{hook}/replay", {"event_id": assigned["event_id"]}
    )
    assert (record["event_id"], record["status_code"], record["success"]) == (
        assigned["event_id"],
        409,
        False,
    )
    assert statuses(await deliveries(hass, sim, hook), "job.assigned") == [200, 409]
    await hass.async_block_till_done()
    assert state(hass, status) == "printing"
    assert len(fired) == seen

    # A farm that sends every delivery twice: the second one is refused
    await admin(hass, sim, "PATCH", "faults/webhooks", {"duplicate_next": 1})
    sim.world.pause_printer(printer_id(sim, PRINTER))
    await wait_for(hass, lambda: sim.ctx.counters.webhooks["replayed"] == 2)
    await wait_for(hass, lambda: state(hass, status) == "paused", seconds=1)
    assert statuses(await deliveries(hass, sim, hook), "job.paused") == [200, 409]
    assert [event["event_type"] for event in fired[seen:]] == ["job_paused"]


async def hold_the_end_of_a_print(hass: HomeAssistant, sim: FarmSim) -> tuple[str, str, str]:
    """Print a job, holding back job.started and job.completed; release them newest first.

    Return the printer's status entity, the farm's active jobs entity and the subscription.
    """
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    hook = entry.data[CONF_WEBHOOK_SUBSCRIPTION]
    status = entity(hass, PRINTER, "sensor", "status")
    job = submit(sim)
    await wait_for(hass, lambda: state(hass, status) == "preparing", seconds=1)

    await admin(hass, sim, "PATCH", "faults/webhooks", {"hold": True})
    advance(sim, 420)
    advance(sim, 900)
    assert job.status is JobStatus.COMPLETED
    (held,) = (await admin(hass, sim, "GET", "webhooks"))["webhooks"]
    assert [d["event_type"] for d in held["held"]] == ["job.started", "job.completed"]
    assert state(hass, status) == "preparing"

    await admin(hass, sim, "PATCH", "faults/webhooks", {"hold": False})
    released = await admin(hass, sim, "POST", "webhooks/release", {"order": "reverse"})
    assert [d["event_type"] for d in released["released"]] == ["job.completed", "job.started"]
    await hass.async_block_till_done()
    return status, entity(hass, entry.title, "sensor", "jobs_active"), hook


async def test_out_of_order_deliveries_are_accepted(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test deliveries released newest first are each authentic, and accepted."""
    _status, _active, hook = await hold_the_end_of_a_print(hass, sim)
    log = await deliveries(hass, sim, hook)
    assert [(d["event_type"], d["status_code"]) for d in log[-2:]] == [
        ("job.completed", 200),
        ("job.started", 200),
    ]


async def test_out_of_order_deliveries_leave_the_newest_state(
    hass: HomeAssistant, sim: FarmSim
) -> None:
    """Test job.started arriving after job.completed leaves the finished print shown."""
    status, active, _hook = await hold_the_end_of_a_print(hass, sim)
    assert (state(hass, status), state(hass, active)) == ("finished", "0")
