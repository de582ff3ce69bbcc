"""Fixtures shared by every printfarm and farmsim test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from farmsim import FarmSim
from farmsim.testing import running_farmsim


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Let tests open real sockets; the test plugin still only allows 127.0.0.1."""


@pytest.fixture
async def farmsim() -> AsyncIterator[FarmSim]:
    """Run a small simulated farm on free loopback ports."""
    async with running_farmsim() as sim:
        yield sim
