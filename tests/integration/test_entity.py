"""Tests for what every printfarm entity shares: devices, pushed state and its writes."""

from __future__ import annotations

import time

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printfarm.const import CONF_STALE_TIMEOUT, DOMAIN
from farmsim import FarmSim

from .helpers import (
    autoprintfarm_entry,
    farm_entity,
    find_device,
    printer_id,
    refresh,
    requests_sent,
    setup_entry,
    value,
    wait_for,
)

PRINTERS = ("x1c_01", "p1s_01", "a1_01")


def idle_and_stable(hass: HomeAssistant) -> bool:
    """Return whether every printer pushed its idle state at room temperature."""
    return value(hass, "light.x1c_01_chamber_light") == STATE_ON and all(
        value(hass, f"sensor.{printer}_nozzle_temperature") == "25.0" for printer in PRINTERS
    )


async def test_devices(
    hass: HomeAssistant,
    sim: FarmSim,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Test a device per printer, linked to the farm, says what the printer is."""
    farm = find_device(hass, {(DOMAIN, str(init_integration.unique_id))})
    assert farm is not None
    assert farm.name == "farmsim"
    assert farm.entry_type is dr.DeviceEntryType.SERVICE

    for printer in sim.world.printers.values():
        device = find_device(hass, {(DOMAIN, f"{init_integration.unique_id}_{printer.id}")})
        assert device is not None
        assert device.name == printer.name
        assert device.manufacturer == "Bambu Lab"
        assert device.model == printer.model.product_name
        assert device.serial_number == printer.serial
        assert device.sw_version == printer.model.firmware
        assert device.via_device_id == farm.id


async def test_write_only_on_change(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test pushed reports that change nothing an entity shows write nothing for it."""
    await wait_for(hass, lambda: idle_and_stable(hass))
    watched = {
        "sensor.x1c_01",
        "sensor.x1c_01_nozzle_temperature",
        "sensor.x1c_01_bed_temperature",
        "sensor.x1c_01_progress",
        "sensor.x1c_01_estimated_finish",
        "binary_sensor.x1c_01_online",
        "binary_sensor.x1c_01_error",
        "button.x1c_01_pause_print",
        "event.x1c_01_print",
        "select.x1c_01_print_speed",
        "light.x1c_01_chamber_light",
    }
    writes: list[str] = []

    @callback
    def is_watched(data: dict[str, str]) -> bool:
        return data["entity_id"] in watched

    @callback
    def written(event: Event) -> None:
        writes.append(event.data["entity_id"])

    for event_type in (EVENT_STATE_CHANGED, EVENT_STATE_REPORTED):
        init_integration.async_on_unload(
            hass.bus.async_listen(event_type, written, event_filter=is_watched)
        )

    # The X1C sends a full report every 50 ms; idle at room temperature, nothing changes
    x1c = printer_id(sim, "X1C-01")
    published = sim.ctx.counters.mqtt_published[x1c]
    await wait_for(hass, lambda: sim.ctx.counters.mqtt_published[x1c] >= published + 20)
    await hass.async_block_till_done()
    assert writes == []

    # Heating the nozzle changes its temperature, and only that is written
    sim.world.set_targets(x1c, nozzle=60)
    await wait_for(hass, lambda: float(value(hass, "sensor.x1c_01_nozzle_temperature") or 0) > 26)
    assert set(writes) == {"sensor.x1c_01_nozzle_temperature"}
    assert len(writes) < sim.ctx.counters.mqtt_published[x1c] - published


async def test_farm_entities_write_only_on_change(
    hass: HomeAssistant,
    sim: FarmSim,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Test a farm refresh writes only the farm and material entities whose state changed."""
    await wait_for(hass, lambda: idle_and_stable(hass))
    farm = find_device(hass, {(DOMAIN, str(init_integration.unique_id))})
    assert farm is not None
    farm_entities = {e.entity_id for e in er.async_entries_for_device(entity_registry, farm.id)}
    # The request budget left shrinks with every refresh: it is written each time
    budget = farm_entity(hass, "budget_remaining")
    writes: list[str] = []

    @callback
    def on_farm(data: dict[str, str]) -> bool:
        return data["entity_id"] in farm_entities

    @callback
    def written(event: Event) -> None:
        writes.append(event.data["entity_id"])

    for event_type in (EVENT_STATE_CHANGED, EVENT_STATE_REPORTED):
        init_integration.async_on_unload(
            hass.bus.async_listen(event_type, written, event_filter=on_farm)
        )

    # A refresh that finds the farm as it was writes only the budget
    sent = await requests_sent(hass, sim)
    left = value(hass, budget)
    await refresh(hass, budget)
    assert await requests_sent(hass, sim) > sent
    assert value(hass, budget) != left
    assert set(writes) == {budget}

    # A spool that lost filament writes its own entities, and no other material's
    spool = next(iter(sim.world.spools.values()))
    spool_entities = {
        entity_registry.async_get_entity_id(
            domain, DOMAIN, f"{init_integration.unique_id}_{spool.id}_{key}"
        )
        for domain, key in (
            ("sensor", "material_remaining"),
            ("binary_sensor", "material_low_stock"),
        )
    }
    assert None not in spool_entities
    writes.clear()
    sim.world.update_spool(spool.id, remaining_grams=spool.remaining_grams - 10)
    await refresh(hass, budget)
    assert set(writes) == {budget, *spool_entities}


@pytest.mark.freeze_time("2026-01-01 12:00:00", tick=True)
async def test_silent_printer(
    hass: HomeAssistant, sim: FarmSim, freezer: FrozenDateTimeFactory
) -> None:
    """Test a printer that stops reporting makes its pushed readings unavailable, until back."""
    entry = autoprintfarm_entry(sim)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_STALE_TIMEOUT: 10})
    await setup_entry(hass, entry)
    await wait_for(hass, lambda: idle_and_stable(hass))
    pushed_only = (
        "sensor.x1c_01_nozzle_temperature",
        "sensor.x1c_01_chamber_temperature",
        "select.x1c_01_print_speed",
        "light.x1c_01_chamber_light",
    )

    sim.world.set_silent(printer_id(sim, "X1C-01"), silent=True)
    # Let a report already on its way (through the broker) arrive before time jumps: one
    # arriving after the jump would count as fresh
    await hass.async_add_executor_job(time.sleep, 0.3)
    await hass.async_block_till_done()
    freezer.tick(11)
    await wait_for(hass, lambda: value(hass, "binary_sensor.x1c_01_online") == STATE_OFF)
    # The other printers report on (their next report follows the jump in time at once)
    await wait_for(hass, lambda: value(hass, "sensor.p1s_01_nozzle_temperature") == "25.0")
    await wait_for(hass, lambda: value(hass, "binary_sensor.p1s_01_online") == STATE_ON)
    for entity_id in pushed_only:
        assert value(hass, entity_id) == STATE_UNAVAILABLE
    # What the farm knows stays
    assert value(hass, "sensor.x1c_01") == "idle"
    assert value(hass, "binary_sensor.x1c_01_online") == STATE_OFF

    sim.world.set_silent(printer_id(sim, "X1C-01"), silent=False)
    await wait_for(hass, lambda: value(hass, "binary_sensor.x1c_01_online") == STATE_ON)
    assert value(hass, "sensor.x1c_01_nozzle_temperature") == "25.0"
    assert value(hass, "select.x1c_01_print_speed") == "standard"
    assert value(hass, "light.x1c_01_chamber_light") == STATE_ON
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_printers_join_and_leave(
    hass: HomeAssistant,
    sim: FarmSim,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Test a printer added to the farm gets a device, and loses it when it leaves."""
    printer = sim.world.add_printer(model="A1MINI", name="A1 mini-01")
    identifier = {(DOMAIN, f"{init_integration.unique_id}_{printer.id}")}
    assert find_device(hass, identifier) is None

    await refresh(hass)
    device = find_device(hass, identifier)
    assert device is not None
    assert device.model == "A1 mini"
    assert value(hass, "sensor.a1_mini_01") == "idle"
    assert value(hass, "binary_sensor.a1_mini_01_online") == STATE_ON
    assert hass.states.get("event.a1_mini_01_print") is not None
    # Without a LAN connection, it has no readings only a printer pushes
    assert hass.states.get("sensor.a1_mini_01_nozzle_temperature") is None
    assert hass.states.get("select.a1_mini_01_print_speed") is None
    entities = er.async_entries_for_device(entity_registry, device.id)
    assert entities

    sim.world.remove_printer(printer.id)
    await refresh(hass)
    assert find_device(hass, identifier) is None
    for entity in entities:
        assert entity_registry.async_get(entity.entity_id) is None
        assert hass.states.get(entity.entity_id) is None
    # The other printers stay
    assert value(hass, "sensor.x1c_01") == "idle"

    # A printer that comes back gets its device and entities again
    sim.world.printers[printer.id] = printer
    await refresh(hass)
    assert find_device(hass, identifier) is not None
    assert value(hass, "sensor.a1_mini_01") == "idle"
