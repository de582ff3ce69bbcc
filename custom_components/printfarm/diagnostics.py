"""Diagnostics support for printfarm."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant

from .const import (
    CONF_ACCESS_CODE,
    CONF_SERIAL,
    CONF_STORE_ID,
    CONF_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
)
from .coordinator import PrintFarmConfigEntry

TO_REDACT = {
    CONF_API_KEY,
    CONF_ACCESS_CODE,
    CONF_SERIAL,
    CONF_STORE_ID,
    "accessCode",
    "apiKey",
    "ca_cert",
    "dev_access_code",
    "dev_id",
    "deviceId",
    "password",
    "secret",
    "serial_number",
    "serialNumber",
    "sn",
    "storeId",
    "token",
    "webhook_id",
    "webhook_secret",
}
# Shorter values would be redacted wherever they happen to appear, secret or not
MIN_SECRET_LENGTH = 4


def _scrub(data: Any, secrets: frozenset[str]) -> Any:
    """Return the data with every secret replaced, wherever a payload carries it."""
    if isinstance(data, dict):
        return {key: _scrub(value, secrets) for key, value in data.items()}
    if isinstance(data, list):
        return [_scrub(value, secrets) for value in data]
    if isinstance(data, str):
        for secret in secrets:
            data = data.replace(secret, REDACTED)
    return data


def _secrets(entry: PrintFarmConfigEntry) -> Iterable[str | None]:
    """Return the entry's credentials and the serial numbers of its printers."""
    yield entry.data.get(CONF_API_KEY)
    yield entry.data.get(CONF_STORE_ID)
    yield entry.data.get(CONF_WEBHOOK_ID)
    yield entry.data.get(CONF_WEBHOOK_SECRET)
    for subentry in entry.subentries.values():
        yield subentry.data.get(CONF_ACCESS_CODE)
        yield subentry.data.get(CONF_SERIAL)
    for printer in entry.runtime_data.farm.data.printers.values():
        yield printer.serial


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PrintFarmConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    runtime = entry.runtime_data
    data = runtime.farm.data
    diagnostics = async_redact_data(
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
                for printer_id, coordinator in runtime.printers.items()
                if (state := coordinator.data.state) is not None
            },
        },
        TO_REDACT,
    )
    # Payloads may carry a secret under a key not listed above: redact it by value too
    secrets = frozenset(
        secret for secret in _secrets(entry) if secret and len(secret) >= MIN_SECRET_LENGTH
    )
    return dict(_scrub(diagnostics, secrets))
