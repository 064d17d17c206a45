"""The embedded simulator of the Google Flow API: a real HTTP server on loopback.

    import flowup_nb.sim as sim
    with sim.start(seed=7, time_scale=0.001) as s:
        s.base_url, s.media_base, s.token

It imports nothing from `flowup_nb.api`: it is an independent oracle written from the spec.
See docs/simulator.md for the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowup_nb.sim.handle import DEFAULT_TIME_SCALE, SimHandle

__all__ = ["DEFAULT_TIME_SCALE", "SimHandle", "history", "start"]


def start(
    seed: int | str | None = None,
    time_scale: float = DEFAULT_TIME_SCALE,
    *,
    port: int = 0,
    media_port: int = 0,
    fail_rate: float = 0.02,
    concurrency: Mapping[str, int] | None = None,
    token: str | None = None,
    captcha_acceptance: float | Mapping[str, float] | None = None,
    bill_every_execution: bool = False,
    start_at: float | None = None,
) -> SimHandle:
    """Start a simulator on 127.0.0.1 (ephemeral ports unless given) and return its handle.

    `time_scale` multiplies every duration of the real service (0 makes everything
    instant); `fail_rate` is the share of jobs that fail; `concurrency` overrides the
    per-tier limits of executing jobs, e.g. ``{"ultra": 8}``; `captcha_acceptance` overrides
    the providers' acceptance rates (1.0: every first attempt passes);
    `bill_every_execution` charges every upscale that runs in full, not only the first per
    (video, resolution), to show what a duplicate would cost. `start_at` (epoch seconds)
    sets the simulated clock's reading at start (default: now); it then runs at real speed.
    """
    return SimHandle(
        seed=seed,
        time_scale=time_scale,
        port=port,
        media_port=media_port,
        fail_rate=fail_rate,
        concurrency=concurrency,
        token=token,
        captcha_acceptance=captcha_acceptance,
        bill_every_execution=bill_every_execution,
        start_at=start_at,
    )


def history(days: int = 30, **options: Any) -> Any:
    """A month (``days`` virtual days) of real upscales through the real client into a new
    ledger file, every row tagged ``simulated``; returns that ``Ledger``. The options and
    their defaults are :func:`flowup_nb.history.history`'s.
    """
    # The simulator's one import of the rest of the package, lazy, in this door only: the
    # history drives the client, so it lives above it (tests/test_layers.py allows this edge).
    from flowup_nb.history import history as make_history

    return make_history(days, **options)
