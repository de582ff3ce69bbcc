"""Helpers for the client library tests: farmsim's admin API and waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from custom_components.printfarm.api.transport.http import RetryPolicy
from farmsim import FarmSim

FAST = RetryPolicy(attempts=3, base=0.001, cap=0.01)
TIMEOUT = 10.0


async def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:  # noqa: ASYNC109
    """Wait until a condition holds, failing the test after a timeout."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def admin(sim: FarmSim, method: str, path: str, body: Any = None) -> Any:
    """Call farmsim's admin API."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{sim.admin_url}/{path}", json=body) as response,
    ):
        assert response.status < 300, await response.text()
        return await response.json()


async def sim_counters(sim: FarmSim) -> dict[str, Any]:
    """Return what farmsim counted."""
    counters: dict[str, Any] = await admin(sim, "GET", "counters")
    return counters


async def requests_sent(sim: FarmSim, service: str) -> int:
    """Return how many requests farmsim answered for a service."""
    return sum((await sim_counters(sim))["requests"].get(service, {}).values())
