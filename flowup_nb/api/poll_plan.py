"""When to poll a job: learnt from the jobs that finished. Pure, and thread-safe.

A client knows nothing at first of how long jobs take, so it polls on its
:class:`~flowup_nb.api.policy.PollSchedule` (near a second, backing off toward the
publisher's 10-15 s). Every job seen to finish then tells how long it ran (its record's
``created`` and ``updated``, the server's own clock), and later jobs are polled where jobs
usually end. docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from datetime import datetime

from flowup_nb.api.errors import InputError
from flowup_nb.api.policy import PollSchedule

__all__ = ["PollPlan", "job_duration"]

_MIN_SAMPLES = 3
# The polls cover the durations seen up to this quantile; later ones are "late" (below),
# so that one stuck job in the window does not push the last planned poll out to it.
_TOP_QUANTILE = 0.97


def job_duration(created: datetime | None, updated: datetime | None) -> float | None:
    """Seconds a job ran by the server's clock, or None when the record does not say."""
    if created is None or updated is None:
        return None
    seconds = (updated - created).total_seconds()
    return seconds if math.isfinite(seconds) and seconds > 0 else None


class PollPlan:
    """When to poll a job, learnt per resolution from the jobs that finished.

    With ``spread`` = n, the i-th poll of a job comes when the share
    ``i (2n + 1 - i) / (n (n + 1))`` of recent jobs had ended (of those up to the 97th
    percentile): the gaps shrink as the job ages, which for durations spread evenly
    over a range gives the least detection delay for a given number of polls. With the
    default n = 8 that is about 3.3 polls per job, each end seen about 6 % of the job's
    time late (docs/benchmarks.md). Thread-safe: one plan serves all waits of a client.
    """

    def __init__(self, fallback: PollSchedule, *, spread: int = 8, window: int = 100) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < _MIN_SAMPLES:
            raise InputError(f"window must be an integer >= {_MIN_SAMPLES}, got {window!r}")
        self.fallback = fallback
        self._window = window
        self._lock = threading.Lock()
        self._seen: dict[str | None, deque[float]] = {}
        self._plans: dict[str | None, tuple[float, tuple[float, ...]]] = {}
        self.spread = spread

    @property
    def spread(self) -> int:
        """Polls placed across the usual range: more polls, an end seen sooner."""
        return self._spread

    @spread.setter
    def spread(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"spread must be an integer >= 1, got {value!r}")
        with self._lock:
            self._spread = value
            self._plans.clear()

    def observe(self, resolution: str | None, seconds: float | None) -> None:
        """Learn that a job of ``resolution`` ran ``seconds`` (None: unknown, ignored)."""
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            return
        with self._lock:
            self._seen.setdefault(resolution, deque(maxlen=self._window)).append(seconds)
            self._plans.pop(resolution, None)

    def bounds(self, resolution: str | None) -> tuple[float, float] | None:
        """(short end, long end) of recent durations (5th and 95th percentiles)."""
        ordered = self._ordered(resolution)
        if ordered is None:
            return None
        last = len(ordered) - 1
        return ordered[int(0.05 * last)], ordered[math.ceil(0.95 * last)]

    def planned(self, resolution: str | None) -> tuple[float, ...] | None:
        """The learnt poll times (seconds after submission), or None before any."""
        plan = self._plan(resolution)
        return None if plan is None else plan[1]

    def next_poll(self, resolution: str | None, elapsed: float, polls_done: int) -> float:
        """Seconds from now to the next poll of a job submitted ``elapsed`` seconds ago."""
        plan = self._plan(resolution)
        if plan is None:
            return self.fallback.delay(polls_done)
        step, times = plan
        # A poll that comes back a hair early must not be followed by an instant one.
        for planned in times:
            if planned > elapsed + step * 0.01:
                return planned - elapsed
        # Later than usual: wait about half as long again as it is late (at least a
        # twentieth of a usual job), within the client's longest poll interval.
        gap = max(step, times[-1] / 20, (elapsed - times[-1]) / 2)
        return min(gap, max(step, self.fallback.maximum))

    def silence_allowed(self, resolution: str | None, grace: float) -> float:
        """How long a job may go unheard (webhook mode) before it is polled once."""
        bounds = self.bounds(resolution)
        return grace if bounds is None else max(grace, 2 * bounds[1])

    def _ordered(self, resolution: str | None) -> list[float] | None:
        with self._lock:
            seen = self._seen.get(resolution)
            if not seen or len(seen) < _MIN_SAMPLES:
                return None
            return sorted(seen)

    def _plan(self, resolution: str | None) -> tuple[float, tuple[float, ...]] | None:
        with self._lock:
            cached = self._plans.get(resolution)
        if cached is not None:
            return cached
        ordered = self._ordered(resolution)
        if ordered is None:
            return None
        n, seen = self.spread, len(ordered)
        # A few samples span less than the durations they come from: widen them about
        # their mean by the factor that makes a uniform sample's range unbiased.
        mean, widen = sum(ordered) / seen, (seen + 1) / (seen - 1)
        times = tuple(
            max(0.0, mean + widen * (_quantile(ordered, _share(i, n)) - mean))
            for i in range(1, n + 1)
        )
        step = max((times[-1] - times[0]) / n, 1e-3)
        with self._lock:
            self._plans[resolution] = (step, times)
        return step, times


def _share(i: int, n: int) -> float:
    """The share of jobs over by the i-th of n polls: gaps shrink linearly as a job ages,
    which minimises the mean detection delay per poll when durations spread evenly."""
    return _TOP_QUANTILE * i * (2 * n + 1 - i) / (n * (n + 1))


def _quantile(ordered: list[float], share: float) -> float:
    position = share * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
