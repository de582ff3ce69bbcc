"""Helpers for the printfarm integration tests: drive farmsim, read Home Assistant's state."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN
from homeassistant.components.button import SERVICE_PRESS
from homeassistant.components.homeassistant import SERVICE_UPDATE_ENTITY
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_API_KEY,
    CONF_HOST,
    CONF_PORT,
    CONF_URL,
    CONF_VERIFY_SSL,
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.core import DOMAIN as HA_DOMAIN
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.printfarm.const import (
    CONF_ACCESS_CODE,
    CONF_CA_CERT,
    CONF_PRINTER_ID,
    CONF_REALTIME_URL,
    CONF_SERIAL,
    CONF_SERVICE,
    CONF_STORE_ID,
    DOMAIN,
    SERVICE_AUTOPRINTFARM,
    SERVICE_PRINTAGO,
    SUBENTRY_PRINTER,
)
from farmsim import FarmSim

FILE_URL = "https://files.example.com/bracket.gcode.3mf?sim_seconds=600&sim_grams=5"


def printer_input(printer: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Return what a user enters to connect a simulated printer on the LAN."""
    user_input = {
        CONF_HOST: printer["host"],
        CONF_PORT: printer["port"],
        CONF_SERIAL: printer["serial"],
        CONF_ACCESS_CODE: printer["access_code"],
        CONF_VERIFY_SSL: True,
        CONF_CA_CERT: Path(printer["ca_cert"]).read_text(encoding="utf-8"),
    }
    return {**user_input, **changes}


def printer_subentry(printer: dict[str, Any]) -> ConfigSubentryData:
    """Return the LAN connection subentry of a simulated printer."""
    return ConfigSubentryData(
        data={CONF_PRINTER_ID: printer["autoprintfarm_id"], **printer_input(printer)},
        subentry_type=SUBENTRY_PRINTER,
        title=printer["name"],
        unique_id=printer["serial"],
    )


def autoprintfarm_entry(sim: FarmSim, *, printers: bool = True) -> MockConfigEntry:
    """Return a config entry of the simulated AutoPrintFarm account."""
    conn = sim.connection["autoprintfarm"]
    return MockConfigEntry(
        domain=DOMAIN,
        title=sim.config.farm_name,
        unique_id=f"{SERVICE_AUTOPRINTFARM}_{sim.config.autoprintfarm_account_id}",
        data={
            CONF_SERVICE: SERVICE_AUTOPRINTFARM,
            CONF_URL: conn["base_url"],
            CONF_API_KEY: conn["api_key"],
        },
        subentries_data=(
            [printer_subentry(p) for p in sim.connection["printers"]] if printers else []
        ),
    )


def printago_entry(sim: FarmSim) -> MockConfigEntry:
    """Return a config entry of the simulated Printago store."""
    conn = sim.connection["printago"]
    return MockConfigEntry(
        domain=DOMAIN,
        title="farmsim",
        unique_id=f"{SERVICE_PRINTAGO}_{conn['store_id']}",
        data={
            CONF_SERVICE: SERVICE_PRINTAGO,
            CONF_URL: conn["base_url"],
            CONF_API_KEY: conn["api_key"],
            CONF_STORE_ID: conn["store_id"],
            CONF_REALTIME_URL: conn["realtime"]["url"],
        },
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add an entry and set it up."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def admin(
    hass: HomeAssistant, sim: FarmSim, method: str, path: str, body: dict[str, Any] | None = None
) -> Any:
    """Call farmsim's admin API."""
    session = async_get_clientsession(hass)
    async with session.request(method, f"{sim.admin_url}/{path}", json=body) as response:
        assert response.status < 300, await response.text()
        return await response.json()


async def requests_sent(
    hass: HomeAssistant, sim: FarmSim, service: str = SERVICE_AUTOPRINTFARM
) -> int:
    """Return how many requests farmsim answered for a service."""
    counters = await admin(hass, sim, "GET", "counters")
    return sum(counters["requests"].get(service, {}).values())


async def wait_for(hass: HomeAssistant, predicate: Callable[[], bool], seconds: float = 10) -> None:
    """Wait until pushed state or a farmsim observation makes the predicate hold."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                await hass.async_block_till_done()
                if predicate():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        states = sorted(f"{s.entity_id}={s.state}" for s in hass.states.async_all())
        pytest.fail("Timed out; states: " + ", ".join(states))


async def wait_first_reports(hass: HomeAssistant, sim: FarmSim) -> None:
    """Wait until each printer answered its version request and Home Assistant shows its report.

    farmsim's count of reports alone can run ahead of Home Assistant's connections.
    """
    published = sim.ctx.counters.mqtt_published

    def shown() -> bool:
        readings = [
            state.state
            for state in hass.states.async_all("sensor")
            if state.entity_id.endswith("_nozzle_temperature")
        ]
        # Without the sensor platform, farmsim's count is all there is to go by
        return all(reading not in (STATE_UNAVAILABLE, STATE_UNKNOWN) for reading in readings)

    await wait_for(hass, lambda: all(published[p] >= 2 for p in sim.world.printers) and shown())


def record_events(hass: HomeAssistant, entity_id: str) -> tuple[list[str], CALLBACK_TYPE]:
    """Record the types of the events an event entity fires; return them and the unsubscribe."""
    events: list[str] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if (
            event.data["entity_id"] == entity_id
            and new is not None
            and (old is None or old.state != new.state)
            and new.state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
        ):
            events.append(new.attributes["event_type"])

    return events, hass.bus.async_listen(EVENT_STATE_CHANGED, record)


def value(hass: HomeAssistant, entity_id: str) -> str | None:
    """Return the state of an entity, or None without one."""
    return state.state if (state := hass.states.get(entity_id)) else None


def state(hass: HomeAssistant, entity_id: str) -> str:
    """Return the state of an entity."""
    current = hass.states.get(entity_id)
    assert current is not None
    return current.state


def printer_id(sim: FarmSim, name: str) -> str:
    """Return the farm ID of a simulated printer."""
    return next(p.id for p in sim.world.printers.values() if p.name == name)


def advance(sim: FarmSim, seconds: float) -> None:
    """Move farmsim's clock (only farmsim's) forward."""
    sim.world.clock.advance(seconds)
    sim.world.tick()


async def refresh(hass: HomeAssistant, entity_id: str = "sensor.farmsim_queued_jobs") -> None:
    """Refresh the farm's data now, as a user asking for an update does."""
    await hass.services.async_call(
        HA_DOMAIN, SERVICE_UPDATE_ENTITY, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )
    # A refresh asked for within the cooldown of the last one runs when the cooldown ends
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    await hass.async_block_till_done(wait_background_tasks=True)


async def press(hass: HomeAssistant, entity_id: str) -> None:
    """Press a button."""
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


def devices(hass: HomeAssistant) -> list[dr.DeviceEntry]:
    """Return the devices of every config entry.

    Through `async_entries_for_config_entry`, as every tested Home Assistant allows: newer ones
    refuse the registry's `devices` as a mapping and `async_get_device` (a device's identifiers
    are unique only within its config entry).
    """
    registry = dr.async_get(hass)
    found = {
        device.id: device
        for entry in hass.config_entries.async_entries()
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
    }
    return list(found.values())


def find_device(hass: HomeAssistant, identifiers: set[tuple[str, str]]) -> dr.DeviceEntry | None:
    """Return the device with any of the identifiers, or None."""
    return next((d for d in devices(hass) if d.identifiers & identifiers), None)


def named_device(hass: HomeAssistant, name: str) -> dr.DeviceEntry:
    """Return the one device of a name."""
    named = [d for d in devices(hass) if d.name == name]
    assert len(named) == 1
    return named[0]


def entity(hass: HomeAssistant, device_name: str, domain: str, key: str) -> str:
    """Return the entity id of a device's entity by its translation key."""
    return next(
        entry.entity_id
        for entry in er.async_entries_for_device(
            er.async_get(hass), named_device(hass, device_name).id
        )
        if entry.domain == domain and entry.translation_key == key
    )


def printer_entity(hass: HomeAssistant, printer: str, key: str, domain: str = "sensor") -> str:
    """Return the entity id of a printer entity by its translation key."""
    return entity(hass, printer, domain, key)


def farm_entity(hass: HomeAssistant, key: str, domain: str = "sensor") -> str:
    """Return the entity id of a farm entity by its translation key."""
    registry = er.async_get(hass)
    return next(
        entry.entity_id
        for farm in devices(hass)
        if farm.entry_type is not None
        for entry in er.async_entries_for_device(registry, farm.id)
        if entry.domain == domain and entry.translation_key == key
    )


def broker_clients(sim: FarmSim, printer_id: str) -> int:
    """Return how many MQTT clients are connected to a simulated printer."""
    return len(sim.fleet.get(printer_id).transport.broker.clients)


async def wait_connected(hass: HomeAssistant, sim: FarmSim, entry: MockConfigEntry) -> None:
    """Wait until every printer connected on the LAN has its MQTT connection up."""
    printer_ids = [sub.data[CONF_PRINTER_ID] for sub in entry.subentries.values()]
    await wait_for(hass, lambda: all(broker_clients(sim, p) == 1 for p in printer_ids))


def closed_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_url(path: str = "") -> str:
    """Return an address on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{closed_port()}{path}"
