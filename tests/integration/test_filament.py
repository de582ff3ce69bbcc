"""Tests for a printer's filament: a sensor per AMS tray and external spool, AMS climate."""

from __future__ import annotations

from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
from pytest_homeassistant_custom_component.common import MockConfigEntry

from farmsim import FarmSim

from .helpers import printer_id, value, wait_first_reports, wait_for
from .test_entity import idle_and_stable


def attributes(hass: HomeAssistant, entity_id: str) -> dict[str, Any]:
    """Return the attributes of an entity's state."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return dict(state.attributes)


def tray_entities(hass: HomeAssistant, printer: str) -> set[str]:
    """Return the tray and spool sensors of a printer."""
    prefix = f"sensor.{printer}_"
    return {
        state.entity_id
        for state in hass.states.async_all("sensor")
        if state.entity_id.startswith(prefix)
        and ("_tray_" in state.entity_id or "_external_spool_" in state.entity_id)
    }


async def test_trays_and_ams(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test each tray shows its filament left, type and named colour; AMS units their climate."""
    await wait_first_reports(hass, sim)
    x1c = sim.world.printers[printer_id(sim, "X1C-01")]
    # One sensor per tray of every AMS unit, and one for the external spool
    expected = {
        f"sensor.x1c_01_ams_{tray.ams_id + 1}_tray_{tray.slot + 1}"
        for tray in x1c.trays
        if tray.ams_id is not None
    }
    assert expected
    assert tray_entities(hass, "x1c_01") == {*expected, "sensor.x1c_01_external_spool_1"}

    first = next(t for t in x1c.trays if t.ams_id == 0 and t.slot == 0)
    spool = sim.world.tray_spool(first)
    assert spool is not None
    tray = "sensor.x1c_01_ams_1_tray_1"
    assert float(value(hass, tray) or 0) > 0
    details = attributes(hass, tray)
    assert details["loaded"] is True
    assert details["type"] == spool.material
    assert details["color_hex"] == f"#{spool.color_hex.lstrip('#')[:6].upper()}"
    assert details["color"] in ("black", "white", "red", "blue", "orange", "gray", "green")

    # The AMS unit's humidity (%) and temperature
    humidity = float(value(hass, "sensor.x1c_01_ams_1_humidity") or -1)
    assert 0 <= humidity <= 100
    assert 1 <= attributes(hass, "sensor.x1c_01_ams_1_humidity")["humidity_index"] <= 5
    assert float(value(hass, "sensor.x1c_01_ams_1_temperature") or 0) > 0


async def test_one_tray_changing_writes_one_state(
    hass: HomeAssistant, sim: FarmSim, init_integration: MockConfigEntry
) -> None:
    """Test filament taken from one tray writes that tray's sensor and no other tray's."""
    await wait_first_reports(hass, sim)
    # Nothing prints, so no other tray loses filament meanwhile
    await wait_for(hass, lambda: idle_and_stable(hass))
    x1c = sim.world.printers[printer_id(sim, "X1C-01")]
    trays = tray_entities(hass, "x1c_01")
    writes: list[str] = []

    @callback
    def is_tray(data: dict[str, Any]) -> bool:
        return data["entity_id"] in trays

    @callback
    def written(event: Event) -> None:
        writes.append(event.data["entity_id"])

    for event_type in (EVENT_STATE_CHANGED, EVENT_STATE_REPORTED):
        init_integration.async_on_unload(
            hass.bus.async_listen(event_type, written, event_filter=is_tray)
        )
    first = next(t for t in x1c.trays if t.ams_id == 0 and t.slot == 0)
    spool = sim.world.tray_spool(first)
    assert spool is not None
    before = value(hass, "sensor.x1c_01_ams_1_tray_1")
    sim.world.update_spool(spool.id, remaining_grams=spool.remaining_grams / 2)
    await wait_for(hass, lambda: value(hass, "sensor.x1c_01_ams_1_tray_1") != before)
    await hass.async_block_till_done()
    assert set(writes) == {"sensor.x1c_01_ams_1_tray_1"}

    # An emptied tray says so, and keeps its sensor
    sim.world.load_spool(x1c.id, first.tray_id, None)
    await wait_for(hass, lambda: attributes(hass, "sensor.x1c_01_ams_1_tray_1")["loaded"] is False)
    assert attributes(hass, "sensor.x1c_01_ams_1_tray_1")["type"] is None
