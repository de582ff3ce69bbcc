"""Tests for the printfarm intents and the Assist sentences that reach them."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import intent
from homeassistant.setup import async_setup_component

from custom_components.printfarm.intent import INTENT_PRINTER, INTENT_QUEUE
from farmsim import FarmSim

from .helpers import autoprintfarm_entry, setup_entry

ROOT = Path(__file__).parent.parent.parent
QUICK = "https://files.example/bracket.gcode.3mf?sim_seconds=1200&sim_grams=5&sim_layers=40"


async def _wait_for(hass: HomeAssistant, entity_id: str, state: str) -> None:
    async with asyncio.timeout(10):
        while (current := hass.states.get(entity_id)) is None or current.state != state:
            await hass.async_block_till_done()
            await asyncio.sleep(0.02)


@pytest.fixture
async def printing(hass: HomeAssistant, sim: FarmSim) -> FarmSim:
    """Set up the farm with one printer printing a job half way."""
    await setup_entry(hass, autoprintfarm_entry(sim))
    printer = next(p for p in sim.world.printers.values() if p.name == "P1S-01")
    sim.world.submit_job(source="test", file_url=QUICK, printer_id=printer.id)
    sim.world.clock.advance(900)
    sim.world.tick()
    await _wait_for(hass, "sensor.p1s_01", "printing")
    assert await async_setup_component(hass, "intent", {})
    await hass.async_block_till_done()
    return sim


async def test_queue_intent(hass: HomeAssistant, printing: FarmSim) -> None:
    """Test the queue intent reports counts and the next printer to finish."""
    response = await intent.async_handle(hass, "test", INTENT_QUEUE, {})
    slots = response.speech_slots
    assert slots["printing"] == 1
    assert slots["idle"] == 2
    assert slots["queued"] == 0
    assert slots["next_printer"] == "P1S-01"
    assert slots["next_minutes"] > 0


async def test_printer_intent(hass: HomeAssistant, printing: FarmSim) -> None:
    """Test the printer intent finds a printer by its spoken name."""
    response = await intent.async_handle(
        hass, "test", INTENT_PRINTER, {"name": {"value": "p1s 01"}}
    )
    slots = response.speech_slots
    assert slots["printer"] == "P1S-01"
    assert slots["status"] == "printing"
    assert slots["job"] == "bracket"
    assert 0 < slots["progress"] < 100
    assert slots["minutes"] > 0
    with pytest.raises(intent.MatchFailedError):
        await intent.async_handle(hass, "test", INTENT_PRINTER, {"name": {"value": "Z9"}})


async def test_assist_sentences(hass: HomeAssistant, printing: FarmSim, tmp_path: Path) -> None:
    """Test the shipped English sentences reach the intents through Assist."""
    target = Path(hass.config.path("custom_sentences", "en"))
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "custom_sentences/en/printfarm.yaml", target / "printfarm.yaml")
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    await hass.async_block_till_done()
    # Assist knows a printer by its status sensor, once that is exposed.
    async_expose_entity(hass, conversation.DOMAIN, "sensor.p1s_01", should_expose=True)

    result = await conversation.async_converse(
        hass, "how many print jobs are queued", None, Context(), language="en"
    )
    speech = result.response.speech["plain"]["speech"]
    assert "0 jobs are queued, 1 printer is printing and 2 are idle" in speech
    assert "P1S-01 finishes next" in speech

    result = await conversation.async_converse(
        hass, "when will printer P1S-01 be done", None, Context(), language="en"
    )
    speech = result.response.speech["plain"]["speech"]
    assert speech.startswith("P1S-01 is printing bracket.")
    assert "percent done" in speech
