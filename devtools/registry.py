"""printfarm's config entries, devices and entities as Home Assistant's registries list them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from .const import DOMAIN, LOGGER
from .hass_api import HassApi


@dataclass(kw_only=True)
class Registry:
    """printfarm's config entries, devices and entities as Home Assistant lists them."""

    entries: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    entities: list[dict[str, Any]]

    def entity_id(self, device_id: str, translation_key: str) -> str | None:
        """Return the entity of a device with a translation key (the status sensor has none)."""
        for entity in self.entities:
            if entity["device_id"] == device_id and entity.get("translation_key") == (
                translation_key
            ):
                return str(entity["entity_id"])
        return None

    def printer_devices(self, entry_id: str) -> list[dict[str, Any]]:
        """Return an entry's printer devices (those below the farm device), by name."""
        devices = [
            d
            for d in self.devices
            if entry_id in d.get("config_entries", []) and d.get("via_device_id")
        ]
        return sorted(devices, key=lambda d: str(d.get("name_by_user") or d.get("name")))

    def farm_device(self, entry_id: str) -> dict[str, Any] | None:
        """Return an entry's farm (service) device."""
        for device in self.devices:
            if entry_id in device.get("config_entries", []) and not device.get("via_device_id"):
                return device
        return None


class RegistryApi(HassApi):
    """Home Assistant's registries, read over the websocket API."""

    async def registry(self) -> Registry:
        """Return the config entries, devices and entities of printfarm."""
        async with self.websocket() as ws:
            entries = await ws.call({"type": "config_entries/get", "domain": DOMAIN})
            devices = await ws.call({"type": "config/device_registry/list"})
            entities = await ws.call({"type": "config/entity_registry/list"})
        ids = {entry["entry_id"] for entry in entries}
        return Registry(
            entries=list(entries),
            devices=[d for d in devices if ids & set(d.get("config_entries", []))],
            entities=[e for e in entities if e.get("config_entry_id") in ids],
        )


# Entities a printer shows once its pushed state arrived (see the integration's sensor.py).
PUSHED_KEY = "nozzle_temperature"


async def wait_for_entities(client: RegistryApi, within: float) -> Registry:
    """Wait until every printer device has its entities (pushed ones included), or `within`."""
    deadline = time.monotonic() + within
    previous = -1
    while True:
        registry = await client.registry()
        printers = [d for e in registry.entries for d in registry.printer_devices(e["entry_id"])]
        complete = bool(printers) and all(registry.entity_id(d["id"], PUSHED_KEY) for d in printers)
        count = len(registry.entities)
        if (complete and count == previous) or time.monotonic() > deadline:
            if not complete:
                LOGGER.warning("not every printer reported its state within %gs", within)
            return registry
        previous = count
        await asyncio.sleep(1.0)


ASSIST_KEYS = ("status", "progress", "time_remaining", "current_job")


def assist_entities(registry: Registry) -> list[str]:
    """Return the printers' status, progress, time and job sensors and the farm's counters."""
    exposed: list[str] = []
    for entity in registry.entities:
        if entity["entity_id"].split(".")[0] != "sensor" or entity.get("disabled_by"):
            continue
        device = next((d for d in registry.devices if d["id"] == entity["device_id"]), None)
        if device is None:
            continue
        key = entity.get("translation_key")
        if device.get("via_device_id"):
            if key in ASSIST_KEYS:
                exposed.append(entity["entity_id"])
        elif key in ("jobs_queued", "jobs_active", "printers_printing"):
            exposed.append(entity["entity_id"])
    return exposed
