"""Simulated time for farmsim."""

from __future__ import annotations

import time


class SimClock:
    """A clock that runs `time_scale` times faster than the wall clock and can be advanced."""

    def __init__(self, *, time_scale: float = 1.0, start: float | None = None) -> None:
        """Initialize the clock at `start` (epoch seconds, default now)."""
        if time_scale <= 0:
            msg = "time_scale must be positive"
            raise ValueError(msg)
        self._scale = time_scale
        self._anchor_sim = time.time() if start is None else start
        self._anchor_mono = time.monotonic()

    @property
    def time_scale(self) -> float:
        """Return how many simulated seconds pass per real second."""
        return self._scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        """Change the speed without a jump in simulated time."""
        if value <= 0:
            msg = "time_scale must be positive"
            raise ValueError(msg)
        self._anchor_sim = self.now()
        self._anchor_mono = time.monotonic()
        self._scale = value

    def now(self) -> float:
        """Return the simulated time in epoch seconds."""
        return self._anchor_sim + (time.monotonic() - self._anchor_mono) * self._scale

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward."""
        if seconds < 0:
            msg = "cannot move time backwards"
            raise ValueError(msg)
        self._anchor_sim += seconds

    def real_seconds(self, sim_seconds: float) -> float:
        """Return how many real seconds a simulated duration takes."""
        return sim_seconds / self._scale
