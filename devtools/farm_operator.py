"""The demo farm's operator: clears finished beds and keeps the queue filled."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from .const import DOMAIN, LOGGER
from .errors import HarnessError
from .hass_api import HassApi
from .registry import Registry

DEMO_JOBS = (
    ("bracket", 7200, 30),
    ("gear-housing", 10800, 55),
    ("cable-clip", 3600, 8),
    ("lamp-shade", 14400, 90),
    ("hinge", 5400, 14),
    ("phone-stand", 9000, 45),
)
DEMO_FILES = "https://files.printfarm.invalid/models"


class FarmOperator:
    """Keeps a demo farm busy as its staff would, through printfarm's own entities and actions.

    A finished print waits on its printer until the bed is cleared; the operator presses the
    printer's "Mark bed clear" button a while after a print finished, and submits a new job
    (`printfarm.submit_job`) whenever the queue runs short, so the farm keeps printing.
    """

    def __init__(
        self,
        client: HassApi,
        registry: Registry,
        entry_id: str,
        *,
        interval: float = 5.0,
        clear_after: float = 20.0,
        min_queue: int = 3,
        submit_every: float = 10.0,
    ) -> None:
        """Operate the farm of one config entry."""
        self.client = client
        self.entry_id = entry_id
        self.interval = interval
        self.clear_after = clear_after
        self.min_queue = min_queue
        self.submit_every = submit_every
        farm = registry.farm_device(entry_id)
        self.queued = registry.entity_id(str(farm["id"]), "jobs_queued") if farm else None
        self.beds = [
            (awaiting, button)
            for device in registry.printer_devices(entry_id)
            if (awaiting := registry.entity_id(str(device["id"]), "awaiting_bed_clear"))
            and (button := registry.entity_id(str(device["id"]), "clear_bed"))
        ]
        self._finished_since: dict[str, float] = {}
        self._last_submit = -submit_every
        self._jobs = 0
        self.presses = 0
        self.submitted = 0

    async def run(self) -> None:
        """Operate until cancelled; a failed round is logged and the next one tried."""
        while True:
            try:
                await self.step()
            except (HarnessError, aiohttp.ClientError, TimeoutError) as err:
                LOGGER.debug("farm operator: %s", err)
            await asyncio.sleep(self.interval)

    async def step(self) -> None:
        """Clear the beds that waited long enough; top the queue up."""
        states = {s["entity_id"]: s["state"] for s in await self.client.states()}
        now = time.monotonic()
        for awaiting, button in self.beds:
            if states.get(awaiting) != "on":
                self._finished_since.pop(awaiting, None)
                continue
            since = self._finished_since.setdefault(awaiting, now)
            if now - since >= self.clear_after and states.get(button) != "unavailable":
                await self.client.request(
                    "POST", "/api/services/button/press", json_body={"entity_id": button}
                )
                self._finished_since.pop(awaiting, None)
                self.presses += 1
        try:
            queued = int(float(states.get(self.queued or "", "")))
        except ValueError:
            return
        if queued < self.min_queue and now - self._last_submit >= self.submit_every:
            name, seconds, grams = DEMO_JOBS[self._jobs % len(DEMO_JOBS)]
            self._jobs += 1
            await self.client.request(
                "POST",
                f"/api/services/{DOMAIN}/submit_job",
                json_body={
                    "config_entry_id": self.entry_id,
                    "file_url": f"{DEMO_FILES}/{name}.gcode.3mf"
                    f"?sim_seconds={seconds}&sim_grams={grams}",
                    "name": name,
                },
            )
            self._last_submit = now
            self.submitted += 1
