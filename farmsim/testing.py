"""Helpers to run farmsim inside a test process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .context import SimConfig
from .server import FarmSim

TEST_DEFAULTS: dict[str, Any] = {
    "printers": 3,
    "report_interval": 0.1,
    "tick_interval": 0.05,
    "webhook_retry_delays": (0.05, 0.1, 0.2),
    "webhook_timeout": 2.0,
}


@asynccontextmanager
async def running_farmsim(**overrides: Any) -> AsyncIterator[FarmSim]:
    """Run a farmsim on free loopback ports for the duration of the block."""
    config = SimConfig(**{**TEST_DEFAULTS, **overrides})
    async with FarmSim(config) as sim:
        yield sim
