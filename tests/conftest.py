"""Fixtures shared by every printfarm and farmsim test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from farmsim import FarmSim
from farmsim.testing import running_farmsim


@pytest.fixture
async def farmsim() -> AsyncIterator[FarmSim]:
    """Run a small simulated farm on free loopback ports."""
    async with running_farmsim() as sim:
        yield sim
