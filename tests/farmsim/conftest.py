"""Fixtures for the farmsim tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from farmsim.printago import PrintagoServer


@pytest.fixture
async def session(server: PrintagoServer) -> AsyncIterator[aiohttp.ClientSession]:
    """Return a client session signed in to the module's Printago server."""
    async with aiohttp.ClientSession(base_url=server.url, headers=server.headers) as client:
        yield client
