"""The simulator's clock: real UTC wall time plus an offset that `advance()` moves.

The clock itself runs at real speed; what `time_scale` shrinks is every *duration* of the
real service (job run times, captcha solves, cooldowns, URL lifetimes). So timestamps look
like real ones, and a test can still jump ahead with `advance()`.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta

__all__ = ["SimClock", "iso", "next_utc_midnight"]


class SimClock:
    """Wall time plus an offset, and the scale applied to the service's durations."""

    def __init__(self, time_scale: float, *, start_at: float | None = None) -> None:
        if isinstance(time_scale, bool) or not isinstance(time_scale, int | float):
            raise TypeError(f"time_scale must be a number, e.g. 0.1 (got {time_scale!r})")
        if not math.isfinite(time_scale) or time_scale < 0:
            raise ValueError(
                f"time_scale must be a finite number >= 0, e.g. 0.1 or 0.001 (got {time_scale!r})"
            )
        self.time_scale = float(time_scale)
        if start_at is not None and not math.isfinite(start_at):
            raise ValueError(f"start_at is epoch seconds, a finite number (got {start_at!r})")
        # A clock started in the past lets a month of history end about now.
        self._offset = 0.0 if start_at is None else start_at - time.time()
        self._lock = threading.Lock()

    def now(self) -> float:
        """Simulated UTC epoch seconds."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"advance() takes a number of seconds >= 0 (got {seconds!r})")
        with self._lock:
            self._offset += seconds

    def scaled(self, service_seconds: float) -> float:
        """How long `service_seconds` of the real service lasts here (simulated seconds)."""
        return service_seconds * self.time_scale

    def kept_for(self, service_seconds: float) -> float:
        """How long something the service keeps for `service_seconds` lasts here: scaled,
        except at time_scale 0, where a lifetime or window of zero would make it useless,
        so it keeps its real length."""
        scaled = self.scaled(service_seconds)
        return scaled if scaled > 0 else service_seconds


def iso(t: float) -> str:
    """ISO 8601 UTC with milliseconds, as the API writes it: 2026-01-19T12:34:56.789Z."""
    ms = round(t * 1000)
    dt = datetime.fromtimestamp(ms // 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def next_utc_midnight(t: float) -> float:
    """Epoch seconds of the first UTC midnight after `t`."""
    day = datetime.fromtimestamp(t, UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
