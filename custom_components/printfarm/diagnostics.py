"""Diagnostics support for printfarm."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant

from .const import CONF_ACCESS_CODE, CONF_SERIAL, CONF_STORE_ID
from .coordinator import PrintFarmConfigEntry

TO_REDACT = {
    CONF_API_KEY,
    CONF_ACCESS_CODE,
    CONF_SERIAL,
    CONF_STORE_ID,
    "secret",
    "serial",
    "serial_number",
    "sn",
    "deviceId",
    "dev_access_code",
    "access_code",
    "api_key",
    "storeId",
    "ca_cert",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PrintFarmConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    runtime = entry.runtime_data
    data = runtime.farm.data
    return async_redact_data(
        {
            "entry": {
                "data": dict(entry.data),
                "options": dict(entry.options),
                "subentries": [dict(sub.data) for sub in entry.subentries.values()],
            },
            "account": {"service": runtime.account.service, "name": runtime.account.name},
            "budget": asdict(data.budget),
            "refresh_interval": str(runtime.farm.update_interval),
            "printers": [dict(printer.raw) for printer in data.printers.values()],
            "jobs": [dict(job.raw) for job in data.jobs],
            "materials": [dict(material.raw) for material in data.materials.values()],
            "summary": dict(data.summary.raw),
            "pushed_state": {
                printer_id: {"online": state.online, "raw": dict(state.raw)}
                for printer_id, state in runtime.hub.states.items()
            },
        },
        TO_REDACT,
    )
