"""Tests for AutoPrintFarm's webhooks into Home Assistant, delivered by farmsim over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from aiohttp.test_utils import TestClient
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.printfarm.api import (
    AutoPrintFarm,
    PrintFarmPermissionError,
    Webhook,
)
from custom_components.printfarm.const import (
    CONF_WEBHOOK_EVENTS,
    CONF_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
    CONF_WEBHOOK_SUBSCRIPTION,
    DOMAIN,
)
from farmsim import FarmSim
from farmsim.models import JobStatus

from .helpers import (
    FILE_URL,
    advance,
    autoprintfarm_entry,
    entity,
    printago_entry,
    printer_id,
    refresh,
    requests_sent,
    setup_entry,
    state,
    wait_for,
)

type ClientFactory = Callable[[], Coroutine[Any, Any, TestClient[Any, Any]]]


@pytest.fixture
async def reachable(hass: HomeAssistant, hass_client_no_auth: ClientFactory) -> str:
    """Serve Home Assistant over HTTP on loopback and make that its external address."""
    assert await async_setup_component(hass, "webhook", {})
    # Set up before the server starts, as the diagnostics the tests read register a view at
    # setup: on the newest leg a started server's router takes no more views
    assert await async_setup_component(hass, "diagnostics", {})
    client = await hass_client_no_auth()
    url = str(client.make_url("/")).rstrip("/")
    await hass.config.async_update(external_url=url)
    return url


def farm_client(hass: HomeAssistant, sim: FarmSim) -> AutoPrintFarm:
    """Return a client of the simulated farm's API, as any other tool of the owner's."""
    conn = sim.connection["autoprintfarm"]
    return AutoPrintFarm(
        base_url=conn["base_url"], api_key=conn["api_key"], session=async_get_clientsession(hass)
    )


async def subscriptions(hass: HomeAssistant, sim: FarmSim) -> list[Webhook]:
    """Return the farm's webhook subscriptions, as its API lists them."""
    return await farm_client(hass, sim).webhooks()


def farm_events(hass: HomeAssistant, entity_id: str) -> list[dict[str, Any]]:
    """Record the events an event entity fires, with their data."""
    fired: list[dict[str, Any]] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] == entity_id and new is not None and new.state != "unknown":
            fired.append(dict(new.attributes))

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    return fired


async def test_printer_without_lan_follows_the_farm_at_once(
    hass: HomeAssistant, sim: FarmSim, reachable: str
) -> None:
    """Test a job's steps show within a second each, with no REST refresh in between."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    (subscription,) = await subscriptions(hass, sim)
    assert subscription.url == f"{reachable}/api/webhook/{entry.data[CONF_WEBHOOK_ID]}"
    assert subscription.raw["secret_last4"] == entry.data[CONF_WEBHOOK_SECRET][-4:]

    status = entity(hass, "P1S-01", "sensor", "status")
    farm_event = entity(hass, entry.title, "event", "farm")
    print_event = entity(hass, "P1S-01", "event", "print")
    fired = farm_events(hass, farm_event)
    printed = farm_events(hass, print_event)
    assert state(hass, status) == "idle"
    sent = await requests_sent(hass, sim)
    p1s = printer_id(sim, "P1S-01")

    job = sim.world.submit_job(source="test", file_url=FILE_URL, printer_id=p1s, name="Bracket")
    await wait_for(hass, lambda: state(hass, status) == "preparing", seconds=1)
    advance(sim, 420)
    await wait_for(hass, lambda: state(hass, status) == "printing", seconds=1)
    sim.world.pause_printer(p1s)
    await wait_for(hass, lambda: state(hass, status) == "paused", seconds=1)
    sim.world.resume_printer(p1s)
    await wait_for(hass, lambda: state(hass, status) == "printing", seconds=1)
    advance(sim, 900)
    await wait_for(hass, lambda: state(hass, status) == "finished", seconds=1)
    assert job.status is JobStatus.COMPLETED

    # Nothing was asked of the farm: the webhooks told it all
    assert await requests_sent(hass, sim) == sent
    types = [event["event_type"] for event in fired]
    for expected in ("job_queued", "job_started", "job_paused", "job_resumed", "job_completed"):
        assert expected in types
    completed = next(event for event in fired if event["event_type"] == "job_completed")
    assert completed["job_id"] == job.id
    assert completed["job_name"] == "Bracket"
    assert completed["printer_id"] == p1s
    # The printer's own Print event follows the farm's statuses
    assert [event["event_type"] for event in printed] == [
        "print_started",
        "print_paused",
        "print_resumed",
        "print_finished",
    ]
    assert state(hass, entity(hass, entry.title, "sensor", "jobs_active")) == "0"


def _signed(
    secret: str, payload: dict[str, Any], *, at: float | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Signature": f"sha256={signature}",
        "X-Webhook-Timestamp": str(int(at if at is not None else time.time())),
    }
    return body, headers


async def test_forged_stale_and_replayed_deliveries_are_refused(
    hass: HomeAssistant,
    sim: FarmSim,
    reachable: str,
    hass_client_no_auth: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Test a bad, missing or stale signature and a replay are refused, changing nothing."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    secret = entry.data[CONF_WEBHOOK_SECRET]
    path = f"/api/webhook/{entry.data[CONF_WEBHOOK_ID]}"
    client = await hass_client_no_auth()
    status = entity(hass, "P1S-01", "sensor", "status")
    printer = await farm_client(hass, sim).printer(printer_id(sim, "P1S-01"))
    payload = {
        "id": "evt_test_1",
        "type": "printer.error",
        "created_at": "2026-12-04T12:00:00Z",
        "data": {"printer": {**printer.raw, "status": "error"}, "job": None, "material": None},
    }

    forged_body, headers = _signed("not-the-secret", payload)
    cases = [
        (forged_body, headers, 401),
        (forged_body, {"Content-Type": "application/json"}, 401),
        (*_signed(secret, payload, at=time.time() - 3600), 401),
    ]
    for body, sent_headers, expected in cases:
        response = await client.post(path, data=body, headers=sent_headers)
        assert response.status == expected
    assert state(hass, status) == "idle"
    assert secret not in caplog.text

    # A genuine delivery is applied once; its replay is refused
    body, headers = _signed(secret, payload)
    response = await client.post(path, data=body, headers=headers)
    assert response.status == 200
    await wait_for(hass, lambda: state(hass, status) == "error", seconds=1)
    payload["data"]["printer"]["status"] = "idle"
    response = await client.post(path, data=body, headers=headers)
    assert response.status == 409
    assert state(hass, status) == "error"
    # A malformed body, even signed, changes nothing
    response = await client.post(path, data=b"{not json", headers=_signed(secret, {})[1])
    assert response.status == 401
    assert "Refused a webhook delivery" in caplog.text


async def test_one_subscription_across_reloads_none_after_unload(
    hass: HomeAssistant, sim: FarmSim, reachable: str
) -> None:
    """Test reloads and restarts leave exactly one subscription, and unloading none."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    (first,) = await subscriptions(hass, sim)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    (after_reload,) = await subscriptions(hass, sim)
    assert after_reload.url == first.url
    # A restart does not unload: what it left (and any other subscription of the same
    # address) is replaced by one with a new secret, so an old delivery cannot be replayed
    client = farm_client(hass, sim)
    await hass.config_entries.async_unload(entry.entry_id)
    left = await client.subscribe_webhook(
        first.url, events=list(after_reload.events), secret="from-before-the-restart-0123"
    )
    data = {**entry.data, CONF_WEBHOOK_SECRET: "from-before-the-restart-0123"}
    hass.config_entries.async_update_entry(entry, data={**data, CONF_WEBHOOK_SUBSCRIPTION: left.id})
    await client.subscribe_webhook(
        first.url, events=["job.completed"], secret="an-old-secret-0123456789"
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (replaced,) = await subscriptions(hass, sim)
    assert replaced.id != left.id
    assert entry.data[CONF_WEBHOOK_SECRET] != "from-before-the-restart-0123"
    assert replaced.raw["secret_last4"] == entry.data[CONF_WEBHOOK_SECRET][-4:]
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await subscriptions(hass, sim) == []


async def test_chosen_events_only(hass: HomeAssistant, sim: FarmSim, reachable: str) -> None:
    """Test the subscription asks for the events chosen in the options."""
    entry = autoprintfarm_entry(sim, printers=False)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={CONF_WEBHOOK_EVENTS: ["job.completed", "printer.error"]}
    )
    await setup_entry(hass, entry)
    (subscription,) = await subscriptions(hass, sim)
    assert sorted(subscription.events) == ["job.completed", "printer.error"]


async def test_no_reachable_address(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test without an address the farm can reach, a repair issue says so and polling goes on."""
    entry: MockConfigEntry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"webhook_unreachable_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {"name": entry.title}
    assert await subscriptions(hass, sim) == []
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_removing_the_entry_leaves_nothing_at_the_farm(
    hass: HomeAssistant, sim: FarmSim, reachable: str
) -> None:
    """Test removing the entry removes its subscription; the repair issue goes with it."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    assert len(await subscriptions(hass, sim)) == 1
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert await subscriptions(hass, sim) == []


async def test_home_assistant_cloud_hook(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test a Home Assistant Cloud subscription gives the farm a cloud webhook address."""
    hass.config.components.add("cloud")
    cloudhook = "https://hooks.nabu.casa/printfarm-test"
    # Home Assistant Cloud as an integration sees it (the real one needs an account)
    cloud = SimpleNamespace(
        async_active_subscription=lambda _hass: True,
        async_get_or_create_cloudhook=AsyncMock(return_value=cloudhook),
    )
    with patch.dict(sys.modules, {"homeassistant.components.cloud": cloud}):
        entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    (subscription,) = await subscriptions(hass, sim)
    assert subscription.url == cloudhook
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_farm_refuses_the_subscription(
    hass: HomeAssistant, sim: FarmSim, reachable: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Test a farm that refuses the subscription is polled as before."""
    with patch.object(
        AutoPrintFarm, "subscribe_webhook", side_effect=PrintFarmPermissionError("no scope")
    ):
        entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    assert "Could not subscribe to the farm's webhooks" in caplog.text
    assert CONF_WEBHOOK_SECRET not in entry.data
    assert await subscriptions(hass, sim) == []
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_printago_job_events(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test Printago's realtime job changes fire the farm's events, once each."""
    entry = await setup_entry(hass, printago_entry(sim))
    farm_event = er.async_get(hass).async_get_entity_id("event", DOMAIN, f"{entry.unique_id}_farm")
    assert farm_event is not None
    fired = farm_events(hass, farm_event)
    x1c = printer_id(sim, "X1C-01")
    # Entity changes are not retained: wait for the feed before the job is queued
    nozzle = entity(hass, "X1C-01", "sensor", "nozzle_temperature")
    await wait_for(hass, lambda: state(hass, nozzle) not in ("unavailable", "unknown"))
    part = next(p for p in sim.world.parts.values() if p.name == "Calibration cube")
    job = sim.world.submit_job(
        source="printago", file_url=part.file_uris[0], part_id=part.id, printer_id=x1c
    )
    await wait_for(hass, lambda: "job_queued" in [e["event_type"] for e in fired])
    advance(sim, 420)
    await wait_for(hass, lambda: "job_started" in [e["event_type"] for e in fired])
    sim.world.pause_printer(x1c)
    await wait_for(hass, lambda: "job_paused" in [e["event_type"] for e in fired])
    sim.world.resume_printer(x1c)
    await wait_for(hass, lambda: "job_resumed" in [e["event_type"] for e in fired])
    for _ in range(20):
        advance(sim, 600)
        if job.status is JobStatus.COMPLETED:
            break
    assert job.status is JobStatus.COMPLETED
    await wait_for(hass, lambda: "job_completed" in [e["event_type"] for e in fired])
    # Printago names the job by its own id, the same in every event of it
    assert len({e["job_id"] for e in fired}) == 1
    assert [e["event_type"] for e in fired] == [
        "job_queued",
        "job_started",
        "job_paused",
        "job_resumed",
        "job_completed",
    ]


async def test_webhooks_stretch_the_refresh(
    hass: HomeAssistant,
    sim: FarmSim,
    reachable: str,
    hass_client: ClientSessionGenerator,
) -> None:
    """Test the poll is a safety net while deliveries arrive, and returns when they stop."""
    assert await async_setup_component(hass, "homeassistant", {})
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    status = entity(hass, "P1S-01", "sensor", "status")
    p1s = printer_id(sim, "P1S-01")

    async def interval() -> str:
        diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        return str(diagnostics["refresh_interval"])

    assert await interval() == "0:06:00"
    sim.world.submit_job(source="test", file_url=FILE_URL, printer_id=p1s, name="Long print")
    await wait_for(hass, lambda: state(hass, status) == "preparing", seconds=2)
    assert await interval() == "0:15:00"
    # A refresh while deliveries arrive keeps the safety net's interval
    await refresh(hass)
    assert await interval() == "0:15:00"

    # The farm is busy, but no delivery came for a while: the refresh returns to the
    # budget's interval
    with patch("custom_components.printfarm.coordinator.WEBHOOK_SILENCE", timedelta(0)):
        await refresh(hass)
        # What the budget left allows: six minutes or a little more, never the safety net's
        minutes, seconds = (await interval()).split(":")[1:]
        assert 6 <= int(minutes) < 15, (minutes, seconds)
