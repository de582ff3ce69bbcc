"""Tests for the printfarm sensor platform."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.select import DOMAIN as SELECT_DOMAIN
from homeassistant.components.select import SERVICE_SELECT_OPTION
from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_OPTION,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import DOMAIN as HA_DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from farmsim import FarmSim

from .helpers import (
    advance,
    autoprintfarm_entry,
    find_device,
    printer_id,
    refresh,
    setup_entry,
    value,
    wait_for,
)

FILE = (
    "https://files.example/{name}.3mf?sim_seconds={seconds}&sim_grams={grams}&sim_layers={layers}"
)
PRINTERS = ("x1c_01", "p1s_01", "a1_01")


@pytest.fixture
def platforms() -> list[Platform]:
    """Return the platforms to set up."""
    return [Platform.SENSOR, Platform.SELECT]


def number(hass: HomeAssistant, entity_id: str) -> float:
    """Return the numeric state of an entity, NaN while it has none."""
    try:
        return float(value(hass, entity_id) or "nan")
    except ValueError:
        return math.nan


def submit(sim: FarmSim, printer: str, *, seconds: int, grams: float = 5, layers: int = 100) -> str:
    """Queue a job for one printer in farmsim; return its ID."""
    url = FILE.format(name="bracket", seconds=seconds, grams=grams, layers=layers)
    return sim.world.submit_job(source="test", file_url=url, printer_id=printer).id


def idle_and_stable(hass: HomeAssistant) -> bool:
    """Return whether every printer pushed its idle state at room temperature."""
    return value(hass, "sensor.x1c_01_chamber_temperature") == "25.0" and all(
        value(hass, f"sensor.{p}_{sensor}") == "25.0"
        for p in PRINTERS
        for sensor in ("nozzle_temperature", "bed_temperature")
    )


@pytest.mark.freeze_time("2026-01-01 12:00:00", tick=True)
@pytest.mark.parametrize("platforms", [[Platform.SENSOR]], ids=["sensor"])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    snapshot: SnapshotAssertion,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Test the sensor entities of the farm, its materials and its printers."""
    await wait_for(hass, lambda: idle_and_stable(hass))
    # farmsim's Bambu face jitters the Wi-Fi signal every ~10 s: its sensors get their own test
    for printer in PRINTERS:
        entity_registry.async_remove(f"sensor.{printer}_signal_strength")
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)

    farm = find_device(hass, {("printfarm", str(init_integration.unique_id))})
    assert farm is not None
    for entity in er.async_entries_for_config_entry(entity_registry, init_integration.entry_id):
        device = device_registry.async_get(str(entity.device_id))
        assert device is not None
        assert farm.id in (device.id, device.via_device_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_wifi_signal(
    hass: HomeAssistant,
    sim: FarmSim,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Test the Wi-Fi signal is a diagnostic sensor near the printer's signal."""
    for name in ("X1C-01", "P1S-01", "A1-01"):
        entity_id = f"sensor.{name.lower().replace('-', '_')}_signal_strength"
        await wait_for(hass, lambda e=entity_id: not math.isnan(number(hass, e)))
        signal = sim.world.printers[printer_id(sim, name)].wifi_signal
        assert abs(number(hass, entity_id) - signal) <= 2
        assert (entry := entity_registry.async_get(entity_id))
        assert entry.entity_category is er.EntityCategory.DIAGNOSTIC
        assert hass.states.get(entity_id).attributes["unit_of_measurement"] == "dBm"


async def test_disabled_by_default(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Test rarely used sensors are disabled by default."""
    for key in (
        "current_file",
        "total_layers",
        "nozzle_target_temperature",
        "bed_target_temperature",
        "signal_strength",
    ):
        assert (entry := entity_registry.async_get(f"sensor.x1c_01_{key}"))
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert (entry := entity_registry.async_get("sensor.x1c_01_nozzle_temperature"))
    assert entry.disabled_by is None


async def test_chamber_temperature_where_the_model_has_one(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Test only the X1C, which has a chamber sensor, gets a chamber temperature."""
    await wait_for(hass, lambda: idle_and_stable(hass))
    assert value(hass, "sensor.x1c_01_chamber_temperature") == "25.0"
    assert entity_registry.async_get("sensor.p1s_01_chamber_temperature") is None
    assert entity_registry.async_get("sensor.a1_01_chamber_temperature") is None


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_print_progress(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test a print moves status, progress, time remaining, layers and temperatures."""
    await wait_for(hass, lambda: idle_and_stable(hass))
    for key in ("progress", "time_remaining", "current_layer", "current_job", "estimated_finish"):
        assert value(hass, f"sensor.x1c_01_{key}") == STATE_UNKNOWN
    assert value(hass, "sensor.x1c_01_total_layers") == STATE_UNKNOWN
    x1c = printer_id(sim, "X1C-01")

    submit(sim, x1c, seconds=1200, layers=100)
    await wait_for(hass, lambda: value(hass, "sensor.x1c_01") == "preparing")
    assert value(hass, "sensor.x1c_01_current_job") == "bracket"
    assert value(hass, "sensor.x1c_01_total_layers") == "100"
    assert value(hass, "sensor.x1c_01_active_filament") == "PLA black"
    assert number(hass, "sensor.x1c_01_time_remaining") > 20
    assert value(hass, "sensor.x1c_01_estimated_finish") not in (None, STATE_UNKNOWN)

    # Heating up: the bed heats first (once preparing is done), then the nozzle
    advance(sim, 75)
    await wait_for(hass, lambda: value(hass, "sensor.x1c_01") == "printing")
    await wait_for(hass, lambda: number(hass, "sensor.x1c_01_bed_temperature") > 30)
    assert value(hass, "sensor.x1c_01_bed_target_temperature") == "55.0"
    advance(sim, 400)
    await wait_for(hass, lambda: number(hass, "sensor.x1c_01_nozzle_temperature") > 200)
    assert value(hass, "sensor.x1c_01_nozzle_target_temperature") == "220.0"
    assert number(hass, "sensor.x1c_01_chamber_temperature") > 25

    # Printing: progress and layers go up, the time remaining goes down
    advance(sim, 300)
    await wait_for(hass, lambda: number(hass, "sensor.x1c_01_progress") >= 20)
    progress = number(hass, "sensor.x1c_01_progress")
    layer = number(hass, "sensor.x1c_01_current_layer")
    remaining = number(hass, "sensor.x1c_01_time_remaining")
    advance(sim, 300)
    await wait_for(hass, lambda: number(hass, "sensor.x1c_01_progress") > progress)
    await wait_for(hass, lambda: number(hass, "sensor.x1c_01_current_layer") > layer)
    await wait_for(hass, lambda: number(hass, "sensor.x1c_01_time_remaining") < remaining)

    # Done: the job stays shown at 100 % until the bed is cleared
    advance(sim, 1200)
    await wait_for(hass, lambda: value(hass, "sensor.x1c_01") == "finished")
    assert value(hass, "sensor.x1c_01_progress") == "100"
    assert value(hass, "sensor.x1c_01_current_layer") == "100"
    assert value(hass, "sensor.x1c_01_current_job") == "bracket"
    assert value(hass, "sensor.x1c_01_time_remaining") == STATE_UNKNOWN
    assert value(hass, "sensor.x1c_01_estimated_finish") == STATE_UNKNOWN

    sim.world.clear_bed(x1c)
    await wait_for(hass, lambda: value(hass, "sensor.x1c_01") == "idle")
    for key in ("progress", "current_layer", "current_job", "total_layers"):
        assert value(hass, f"sensor.x1c_01_{key}") == STATE_UNKNOWN


async def test_failed_print_shows_no_progress(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test a print that fails stops showing its progress at once, though the percent stays."""
    await wait_for(hass, lambda: idle_and_stable(hass))
    x1c = printer_id(sim, "X1C-01")
    submit(sim, x1c, seconds=1200, layers=100)
    advance(sim, 1000)
    await wait_for(hass, lambda: number(hass, "sensor.x1c_01_progress") >= 10)

    sim.world.fail_print(x1c)
    await wait_for(hass, lambda: value(hass, "sensor.x1c_01") == "error")
    assert sim.world.printers[x1c].progress >= 10
    await wait_for(hass, lambda: value(hass, "sensor.x1c_01_progress") == STATE_UNKNOWN)


@pytest.mark.freeze_time("2026-01-01 12:00:00", tick=True)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_estimated_finish_steady(
    hass: HomeAssistant,
    sim: FarmSim,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
) -> None:
    """Test the estimated finish stays put while the estimate holds, and moves when it changes."""
    await wait_for(hass, lambda: idle_and_stable(hass))
    x1c = printer_id(sim, "X1C-01")
    # A layer a second, so every push shows that time went on
    submit(sim, x1c, seconds=3600, layers=3600)
    await wait_for(hass, lambda: value(hass, "sensor.x1c_01") == "preparing")
    advance(sim, 600)
    await wait_for(hass, lambda: number(hass, "sensor.x1c_01_current_layer") > 10)

    def finish() -> datetime:
        return datetime.fromisoformat(str(value(hass, "sensor.x1c_01_estimated_finish")))

    first = finish()
    for _ in range(6):
        # Home Assistant's and farmsim's clocks move on together
        layer = number(hass, "sensor.x1c_01_current_layer")
        freezer.tick(20)
        await wait_for(
            hass, lambda lay=layer: number(hass, "sensor.x1c_01_current_layer") >= lay + 20
        )
        assert finish() == first

    # Sport speed shortens the print: the finish moves earlier
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: "select.x1c_01_print_speed", ATTR_OPTION: "sport"},
        blocking=True,
    )
    await wait_for(hass, lambda: finish() != first)
    remaining = sim.world.printers[x1c].remaining_seconds
    assert finish() < first - timedelta(minutes=5)
    assert abs((finish() - dt_util.utcnow()).total_seconds() - remaining) < 90


async def test_farm_sensors(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test the farm device's counts follow the farm after a refresh."""
    await wait_for(hass, lambda: idle_and_stable(hass))
    counts = {
        "printers_printing": "0",
        "printers_idle": "3",
        "printers_offline": "0",
        "printers_in_error": "0",
        "queued_jobs": "0",
        "active_jobs": "0",
        "jobs_completed_today": "0",
    }
    for key, expected in counts.items():
        assert value(hass, f"sensor.farmsim_{key}") == expected
    assert number(hass, "sensor.farmsim_api_budget_remaining") > 0

    x1c, p1s, a1 = (printer_id(sim, name) for name in ("X1C-01", "P1S-01", "A1-01"))
    submit(sim, x1c, seconds=600)
    submit(sim, p1s, seconds=600)
    submit(sim, x1c, seconds=600)
    sim.world.set_online(a1, online=False)
    await refresh(hass)
    counts |= {
        "printers_printing": "2",
        "printers_idle": "0",
        "printers_offline": "1",
        "queued_jobs": "1",
        "active_jobs": "2",
    }
    for key, expected in counts.items():
        assert value(hass, f"sensor.farmsim_{key}") == expected

    # One print fails, the other completes
    sim.world.fail_print(p1s)
    advance(sim, 2000)
    sim.world.set_online(a1, online=True)
    await refresh(hass)
    counts |= {
        "printers_printing": "0",
        "printers_idle": "1",
        "printers_offline": "0",
        "printers_in_error": "1",
        "queued_jobs": "1",
        "active_jobs": "0",
        "jobs_completed_today": "1",
    }
    for key, expected in counts.items():
        assert value(hass, f"sensor.farmsim_{key}") == expected


async def test_remaining_grams_follow_consumption(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test a spool's remaining grams follow what a print consumes."""
    await wait_for(hass, lambda: idle_and_stable(hass))
    entity_id = "sensor.farmsim_pla_red_a1_01_remaining"
    assert value(hass, entity_id) == "820.0"
    assert hass.states.get(entity_id).attributes["unit_of_measurement"] == "g"

    a1 = printer_id(sim, "A1-01")
    submit(sim, a1, seconds=600, grams=30)
    advance(sim, 2000)
    await refresh(hass)
    assert value(hass, entity_id) == "790.0"

    # A spool taken out of the inventory loses its sensor
    spool = next(s for s in sim.world.spools.values() if s.location == "Shelf B")
    sim.world.delete_spool(spool.id)
    await refresh(hass)
    assert hass.states.get("sensor.farmsim_tpu_black_shelf_b_remaining") is None


async def test_unavailable_while_farm_unreachable(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test farm sensors go unavailable when the farm fails, while pushed ones stay."""
    await wait_for(hass, lambda: idle_and_stable(hass))
    sim.ctx.faults.autoprintfarm.error_rate = 1.0
    await refresh(hass)
    await wait_for(hass, lambda: value(hass, "sensor.farmsim_queued_jobs") == STATE_UNAVAILABLE)
    assert value(hass, "sensor.farmsim_pla_red_a1_01_remaining") == STATE_UNAVAILABLE
    assert value(hass, "sensor.x1c_01") == "idle"
    assert value(hass, "sensor.x1c_01_nozzle_temperature") == "25.0"

    sim.ctx.faults.reset()
    await refresh(hass)
    await wait_for(hass, lambda: value(hass, "sensor.farmsim_queued_jobs") == "0")
    assert value(hass, "sensor.farmsim_pla_red_a1_01_remaining") == "820.0"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_printers_without_push(
    hass: HomeAssistant, sim: FarmSim, entity_registry: er.EntityRegistry
) -> None:
    """Test printers without a LAN connection show what the farm reports."""
    assert await async_setup_component(hass, HA_DOMAIN, {})
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    assert value(hass, "sensor.x1c_01") == "idle"
    # Readings only a printer pushes have no sensor
    for key in ("nozzle_temperature", "current_layer", "active_filament", "signal_strength"):
        assert entity_registry.async_get(f"sensor.x1c_01_{key}") is None

    x1c = printer_id(sim, "X1C-01")
    submit(sim, x1c, seconds=1200)
    advance(sim, 700)
    await refresh(hass)
    assert value(hass, "sensor.x1c_01") == "printing"
    assert value(hass, "sensor.x1c_01_current_job") == "bracket"
    assert value(hass, "sensor.x1c_01_current_file") == FILE.format(
        name="bracket", seconds=1200, grams=5, layers=100
    )
    assert number(hass, "sensor.x1c_01_progress") > 0
    assert number(hass, "sensor.x1c_01_time_remaining") > 0
    assert value(hass, "sensor.x1c_01_estimated_finish") not in (None, STATE_UNKNOWN)

    sim.world.fail_print(x1c)
    await refresh(hass)
    assert value(hass, "sensor.x1c_01") == "error"
    assert value(hass, "sensor.x1c_01_error_code") == "Print error 03008015"
    assert await hass.config_entries.async_unload(entry.entry_id)
