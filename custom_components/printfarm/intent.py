"""Intents for printfarm: ask Assist about the queue and about a printer."""

from __future__ import annotations

import re
from datetime import timedelta

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import intent
from homeassistant.util import dt as dt_util

from .api import PrinterStatus, PrinterView
from .const import DOMAIN
from .coordinator import PrintFarmConfigEntry

INTENT_QUEUE = "PrintFarmQueue"
INTENT_PRINTER = "PrintFarmPrinter"


async def async_setup_intents(hass: HomeAssistant) -> None:
    """Register the printfarm intents."""
    intent.async_register(hass, QueueIntentHandler())
    intent.async_register(hass, PrinterIntentHandler())


def _loaded_entries(hass: HomeAssistant) -> list[PrintFarmConfigEntry]:
    entries: list[PrintFarmConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    return [entry for entry in entries if entry.state is ConfigEntryState.LOADED]


def _views(hass: HomeAssistant) -> list[PrinterView]:
    return [
        coordinator.data
        for entry in _loaded_entries(hass)
        for coordinator in entry.runtime_data.printers.values()
    ]


def _spoken(name: str) -> str:
    """Return a name as speech recognition may render it: letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def _job_name(view: PrinterView) -> str | None:
    """Return the name of the printer's job: the farm's, or the one the printer reports."""
    if view.job is not None:
        return view.job.name
    if view.busy and view.state is not None:
        return view.state.job_name
    return None


def _minutes(seconds: int | None) -> int | None:
    return None if seconds is None else max(round(seconds / 60), 0)


class QueueIntentHandler(intent.IntentHandler):
    """Tell how many jobs wait and how many printers print, and which finishes next."""

    intent_type = INTENT_QUEUE
    description = "Tells how many print jobs are queued and printing on the print farm"
    platforms = None

    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Handle the intent."""
        hass = intent_obj.hass
        entries = _loaded_entries(hass)
        views = _views(hass)
        printing = [view for view in views if view.busy]
        finishing = [view for view in printing if view.remaining_seconds is not None]
        next_done = min(finishing, key=lambda view: view.remaining_seconds or 0, default=None)
        response = intent_obj.create_response()
        response.async_set_speech_slots(
            {
                "queued": sum(e.runtime_data.farm.data.summary.jobs_queued for e in entries),
                "printing": len(printing),
                "idle": sum(1 for view in views if view.status is PrinterStatus.IDLE),
                "next_printer": next_done.printer.name if next_done else None,
                "next_minutes": _minutes(next_done.remaining_seconds) if next_done else None,
            }
        )
        return response


class PrinterIntentHandler(intent.IntentHandler):
    """Tell what a printer is doing and when it will be done."""

    intent_type = INTENT_PRINTER
    description = "Tells what a 3D printer of the print farm is doing and when it will finish"
    slot_schema = {vol.Required("name"): cv.string}
    platforms = None

    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Handle the intent."""
        slots = self.async_validate_slots(intent_obj.slots)
        wanted = _spoken(str(slots["name"]["value"]))
        view = next((v for v in _views(intent_obj.hass) if _spoken(v.printer.name) == wanted), None)
        if view is None:
            raise intent.MatchFailedError(
                result=intent.MatchTargetsResult(
                    is_match=False, no_match_reason=intent.MatchFailedReason.NAME
                ),
                constraints=intent.MatchTargetsConstraints(name=str(slots["name"]["value"])),
            )
        remaining = view.remaining_seconds
        finish = (
            (dt_util.now() + timedelta(seconds=remaining)).strftime("%H:%M")
            if remaining is not None
            else None
        )
        response = intent_obj.create_response()
        response.async_set_speech_slots(
            {
                "printer": view.printer.name,
                "status": view.status.value,
                "job": _job_name(view),
                "progress": round(view.progress) if view.progress is not None else None,
                "minutes": _minutes(remaining),
                "finish_time": finish,
            }
        )
        return response
