"""The embedded simulator of the Google Flow API: a real HTTP server on loopback.

    import flowup_nb.sim as sim
    with sim.start(seed=7, time_scale=0.001) as s:
        s.base_url, s.media_base, s.token

It imports nothing from `flowup_nb.api`: it is an independent oracle written from the spec.
See docs/simulator.md for the contract.
"""

from __future__ import annotations

from collections.abc import Mapping

from flowup_nb.sim.handle import DEFAULT_TIME_SCALE, SimHandle

__all__ = ["DEFAULT_TIME_SCALE", "SimHandle", "start"]


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
) -> SimHandle:
    """Start a simulator on 127.0.0.1 (ephemeral ports unless given) and return its handle.

    `time_scale` multiplies every duration of the real service (0 makes everything
    instant); `fail_rate` is the share of jobs that fail; `concurrency` overrides the
    per-tier limits of executing jobs, e.g. ``{"ultra": 8}``; `captcha_acceptance` overrides
    the providers' acceptance rates (1.0: every first attempt passes).
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
    )
