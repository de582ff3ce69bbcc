"""Request budgets as the farm services enforce them (in real time, not simulated time)."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The outcome of asking a limiter for one request."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float
    retry_after: int


class FixedWindowLimiter:
    """A per-key budget that resets at the end of each fixed window (AutoPrintFarm's hour)."""

    def __init__(self, *, limit: int, window: float = 3600.0) -> None:
        """Initialize the limiter."""
        self.limit = limit
        self.window = window
        self._windows: dict[str, tuple[float, int]] = {}

    def check(self, key: str, now: float | None = None) -> Decision:
        """Count one request for `key` and say whether it is allowed."""
        now = time.time() if now is None else now
        start, used = self._windows.get(key, (now, 0))
        if now >= start + self.window:
            start, used = now, 0
        reset_at = start + self.window
        allowed = used < self.limit
        if allowed:
            used += 1
        self._windows[key] = (start, used)
        return Decision(
            allowed=allowed,
            limit=self.limit,
            remaining=max(self.limit - used, 0),
            reset_at=reset_at,
            retry_after=max(1, math.ceil(reset_at - now)),
        )

    def reset(self) -> None:
        """Forget every window."""
        self._windows.clear()


class SlidingWindowLimiter:
    """Several sliding windows at once (Printago: 60 per minute and 600 per hour)."""

    def __init__(self, *, windows: tuple[tuple[int, float], ...]) -> None:
        """Initialize with (limit, seconds) pairs."""
        self.windows = windows
        self._hits: dict[str, deque[float]] = {}

    def check(self, key: str, now: float | None = None) -> Decision:
        """Count one request for `key` and say whether it is allowed."""
        now = time.time() if now is None else now
        hits = self._hits.setdefault(key, deque())
        longest = max(seconds for _, seconds in self.windows)
        while hits and hits[0] <= now - longest:
            hits.popleft()
        tightest: Decision | None = None
        for limit, seconds in self.windows:
            inside = [t for t in hits if t > now - seconds]
            remaining = limit - len(inside)
            reset_at = (inside[0] + seconds) if inside else now + seconds
            decision = Decision(
                allowed=remaining > 0,
                limit=limit,
                remaining=max(remaining - 1, 0) if remaining > 0 else 0,
                reset_at=reset_at,
                retry_after=max(1, math.ceil(reset_at - now)),
            )
            if (
                tightest is None
                or (not decision.allowed and tightest.allowed)
                or (
                    decision.allowed == tightest.allowed and decision.remaining < tightest.remaining
                )
            ):
                tightest = decision
        assert tightest is not None  # noqa: S101
        if tightest.allowed:
            hits.append(now)
        return tightest

    def reset(self) -> None:
        """Forget every request."""
        self._hits.clear()
