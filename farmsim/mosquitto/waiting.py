"""Waiting on the real clock, also where Home Assistant's tests run timers early."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

# Each wait on the loop is this short, so that a timer run early only ends one of them
STEP: Final = 0.1


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until the event is set or `seconds` passed; return whether it is set.

    Home Assistant's tests run the loop's timers before their time when they move the
    clock forward, so the deadline is kept on `time.monotonic()` and only short steps are
    waited on the loop.
    """
    deadline = time.monotonic() + seconds
    while not event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(left, STEP)):
                await event.wait()
    return True
