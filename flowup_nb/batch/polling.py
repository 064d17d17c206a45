"""When to poll a batch's jobs: learnt from the jobs that already finished. Pure.

A single ``wait()`` knows nothing about how long a job takes, so it starts near a
second and backs off. A batch learns: every finished job tells how long it ran (its
record's ``created`` and ``updated``, the server's own clock), and later jobs are polled
first at the short end of what was seen, then ``spread`` times across the usual range.
That keeps polls per job low (about ``spread / 2 + 1.5``) and the delay between a job's
end and its detection near ``range / (2 * spread)``, a small share of its duration, on
the real service (30-60 s jobs) and on a simulator a thousand times faster alike.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime

from flowup_nb.api.policy import PollSchedule

__all__ = ["DurationBook", "job_duration"]

_MIN_SAMPLES = 3


def job_duration(created: datetime | None, updated: datetime | None) -> float | None:
    """Seconds a job ran by the server's clock, or None when the record does not say."""
    if created is None or updated is None:
        return None
    seconds = (updated - created).total_seconds()
    return seconds if math.isfinite(seconds) and seconds > 0 else None


class DurationBook:
    """Recent job durations per resolution, and the poll plan they imply."""

    def __init__(self, fallback: PollSchedule, *, spread: int = 7, window: int = 100) -> None:
        if spread < 1:
            raise ValueError("spread must be >= 1")
        self.fallback = fallback
        self.spread = spread
        self._seen: dict[str, deque[float]] = {}
        self._window = window

    def observe(self, resolution: str, seconds: float | None) -> None:
        if seconds is None:
            return
        self._seen.setdefault(resolution, deque(maxlen=self._window)).append(seconds)

    def bounds(self, resolution: str) -> tuple[float, float] | None:
        """(short end, long end) of recent durations (5th and 95th percentiles)."""
        seen = self._seen.get(resolution)
        if not seen or len(seen) < _MIN_SAMPLES:
            return None
        ordered = sorted(seen)
        last = len(ordered) - 1
        return ordered[int(0.05 * last)], ordered[math.ceil(0.95 * last)]

    def next_poll(self, resolution: str, elapsed: float, polls_done: int) -> float:
        """Seconds from now to the next poll of a job submitted ``elapsed`` seconds ago."""
        bounds = self.bounds(resolution)
        if bounds is None:
            return self.fallback.delay(polls_done)
        low, high = bounds
        step = max((high - low) / self.spread, low * 0.02, 1e-3)
        if elapsed < low:
            return low - elapsed
        if elapsed < high:
            steps = math.floor((elapsed - low) / step) + 1
            return max(low + steps * step - elapsed, 1e-3)
        # Later than usual: wait about half as long again as it is late, within bounds.
        return min(max(step, (elapsed - high) / 2), max(step, self.fallback.maximum))

    def silence_allowed(self, resolution: str, grace: float) -> float:
        """How long a job may go unheard (webhook mode) before it is polled once."""
        bounds = self.bounds(resolution)
        return grace if bounds is None else max(grace, 2 * bounds[1])
