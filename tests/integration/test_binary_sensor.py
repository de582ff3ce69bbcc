"""Tests for the printfarm binary sensor platform."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.const import STATE_OFF, STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.printfarm.const import DOMAIN
from farmsim import FarmSim

from .helpers import admin, advance, printer_id, refresh, value, wait_first_reports, wait_for

FILE = "https://files.example/bracket.3mf?sim_seconds={seconds}&sim_grams={grams}"


@pytest.fixture
def platforms() -> list[Platform]:
    """Return the platforms to set up."""
    return [Platform.BINARY_SENSOR, Platform.SENSOR]


def attribute(hass: HomeAssistant, entity_id: str, name: str) -> Any:
    """Return an attribute of an entity's state."""
    return hass.states.get(entity_id).attributes[name]


def submit(sim: FarmSim, printer: str, *, seconds: int, grams: float = 5) -> str:
    """Queue a job for one printer in farmsim; return its ID."""
    url = FILE.format(seconds=seconds, grams=grams)
    return sim.world.submit_job(source="test", file_url=url, printer_id=printer).id


@pytest.mark.freeze_time("2026-01-01 12:00:00", tick=True)
@pytest.mark.parametrize("platforms", [[Platform.BINARY_SENSOR]], ids=["binary_sensor"])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    sim: FarmSim,
    snapshot: SnapshotAssertion,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Test the binary sensors of the farm's materials and of its printers."""
    await wait_first_reports(hass, sim)
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_print_and_bed_clear(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test printing turns on while a print runs, and awaiting bed clear once it is done."""
    p1s = printer_id(sim, "P1S-01")
    await wait_for(hass, lambda: value(hass, "sensor.p1s_01_nozzle_temperature") == "25.0")
    assert value(hass, "binary_sensor.p1s_01_printing") == STATE_OFF
    assert value(hass, "binary_sensor.p1s_01_awaiting_bed_clear") == STATE_OFF

    submit(sim, p1s, seconds=600)
    submit(sim, p1s, seconds=600)
    await wait_for(hass, lambda: value(hass, "binary_sensor.p1s_01_printing") == STATE_ON)
    assert value(hass, "binary_sensor.p1s_01_awaiting_bed_clear") == STATE_OFF

    advance(sim, 1500)
    await wait_for(hass, lambda: value(hass, "binary_sensor.p1s_01_printing") == STATE_OFF)
    assert value(hass, "binary_sensor.p1s_01_awaiting_bed_clear") == STATE_ON
    await refresh(hass)
    assert value(hass, "binary_sensor.p1s_01_awaiting_bed_clear") == STATE_ON

    # Once the bed is clear, the next job starts before the farm is asked again
    sim.world.clear_bed(p1s)
    await wait_for(hass, lambda: value(hass, "binary_sensor.p1s_01_printing") == STATE_ON)
    assert value(hass, "binary_sensor.p1s_01_awaiting_bed_clear") == STATE_OFF


async def test_error(hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry) -> None:
    """Test a failed print and a serious health message turn the error on, with their codes."""
    a1 = printer_id(sim, "A1-01")
    await wait_for(hass, lambda: value(hass, "sensor.a1_01_nozzle_temperature") == "25.0")
    assert value(hass, "binary_sensor.a1_01_error") == STATE_OFF
    assert attribute(hass, "binary_sensor.a1_01_error", "error_code") is None

    submit(sim, a1, seconds=600)
    await wait_for(hass, lambda: value(hass, "sensor.a1_01") == "preparing")
    await admin(hass, sim, "POST", f"printers/{a1}/fail", {"code": 50364437})
    await wait_for(hass, lambda: value(hass, "binary_sensor.a1_01_error") == STATE_ON)
    assert attribute(hass, "binary_sensor.a1_01_error", "error_code") == "0300_8015"
    assert attribute(hass, "binary_sensor.a1_01_error", "module") == "motion_controller"
    assert attribute(hass, "binary_sensor.a1_01_error", "wiki_url") == (
        "https://wiki.bambulab.com/en/a1/troubleshooting/hmscode/0300_8015"
    )
    assert value(hass, "sensor.a1_01_error_code") == "0300_8015"
    assert value(hass, "sensor.a1_01") == "error"
    # A print error is a repair issue, gone with the error
    issues = ir.async_get(hass)
    issue_id = f"printer_error_{init_integration.entry_id}_{a1}"
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["code"] == "0300_8015"
    assert issue.learn_more_url == attribute(hass, "binary_sensor.a1_01_error", "wiki_url")

    sim.world.clear_bed(a1)
    await wait_for(hass, lambda: value(hass, "binary_sensor.a1_01_error") == STATE_OFF)
    assert value(hass, "sensor.a1_01") == "idle"
    # The error code sensor agrees with the error binary sensor
    assert value(hass, "sensor.a1_01_error_code") == "none"
    assert issues.async_get_issue(DOMAIN, issue_id) is None

    # A serious health message is an error; a notice is not
    await admin(hass, sim, "POST", f"printers/{a1}/hms", {"attr": 0x03000100, "code": 0x00030001})
    await wait_for(
        hass, lambda: attribute(hass, "binary_sensor.a1_01_error", "health_messages") != []
    )
    assert value(hass, "binary_sensor.a1_01_error") == STATE_OFF
    await admin(hass, sim, "POST", f"printers/{a1}/hms", {"attr": 0x03000100, "code": 0x00020001})
    await wait_for(hass, lambda: value(hass, "binary_sensor.a1_01_error") == STATE_ON)
    assert attribute(hass, "binary_sensor.a1_01_error", "error_code") == "0300_0100_0002_0001"
    assert attribute(hass, "binary_sensor.a1_01_error", "severity") == "serious"
    messages = attribute(hass, "binary_sensor.a1_01_error", "health_messages")
    assert [(m["code"], m["severity"], m["module"]) for m in messages] == [
        ("0300_0100_0003_0001", "common", "motion_controller"),
        ("0300_0100_0002_0001", "serious", "motion_controller"),
    ]
    assert issues.async_get_issue(DOMAIN, issue_id) is not None

    await admin(hass, sim, "POST", f"printers/{a1}/clear_hms")
    await wait_for(hass, lambda: value(hass, "binary_sensor.a1_01_error") == STATE_OFF)
    assert attribute(hass, "binary_sensor.a1_01_error", "health_messages") == []
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_cancelled_print_is_no_error(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test a cancelled print leaves its code behind without raising an error."""
    x1c = printer_id(sim, "X1C-01")
    submit(sim, x1c, seconds=600)
    await wait_for(hass, lambda: value(hass, "binary_sensor.x1c_01_printing") == STATE_ON)
    sim.world.stop_printer(x1c)
    await wait_for(hass, lambda: value(hass, "binary_sensor.x1c_01_awaiting_bed_clear") == STATE_ON)
    assert sim.world.printers[x1c].print_error == 50348044
    assert value(hass, "binary_sensor.x1c_01_error") == STATE_OFF
    assert value(hass, "sensor.x1c_01_error_code") == "none"
    assert value(hass, "sensor.x1c_01") == "finished"


async def test_online(hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry) -> None:
    """Test the printer's connectivity follows it leaving the network and coming back."""
    a1 = printer_id(sim, "A1-01")
    await wait_for(hass, lambda: value(hass, "sensor.a1_01_nozzle_temperature") == "25.0")
    assert value(hass, "binary_sensor.a1_01_online") == STATE_ON

    sim.world.set_online(a1, online=False)
    await wait_for(hass, lambda: value(hass, "binary_sensor.a1_01_online") == STATE_OFF)
    await refresh(hass)
    assert value(hass, "sensor.a1_01") == "offline"

    sim.world.set_online(a1, online=True)
    await wait_for(hass, lambda: value(hass, "binary_sensor.a1_01_online") == STATE_ON)
    assert value(hass, "sensor.a1_01") == "idle"


async def test_low_stock(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test a spool's low stock follows its remaining grams against its reorder threshold."""
    low_stock = "binary_sensor.farmsim_pla_red_a1_01_low_stock"
    remaining = "sensor.farmsim_pla_red_a1_01_remaining"
    assert value(hass, low_stock) == STATE_OFF
    assert attribute(hass, low_stock, "reorder_threshold_grams") == 150.0
    assert value(hass, "binary_sensor.farmsim_tpu_black_shelf_b_low_stock") == STATE_ON

    a1 = printer_id(sim, "A1-01")
    spool = sim.world.spools[next(t.spool_id for t in sim.world.printers[a1].trays)]
    sim.world.update_spool(spool.id, remaining_grams=170.0)
    await refresh(hass)
    assert value(hass, remaining) == "170.0"
    assert value(hass, low_stock) == STATE_OFF

    submit(sim, a1, seconds=600, grams=30)
    advance(sim, 1500)
    await refresh(hass)
    assert value(hass, remaining) == "140.0"
    assert value(hass, low_stock) == STATE_ON
    assert attribute(hass, low_stock, "remaining_grams") == 140.0

    # A new spool in its place
    sim.world.update_spool(spool.id, remaining_grams=1000.0)
    await refresh(hass)
    assert value(hass, low_stock) == STATE_OFF
