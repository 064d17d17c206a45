"""Client settings for tests against a simulator at the tests' time scale (0.001)."""

from __future__ import annotations

from typing import Any

# The simulator's accounts (docs/simulator.md).
JO = "jo.ultra@example.com"
SAM = "sam.ultra@example.com"
PAT = "pat.pro@example.com"
LEE = "lee.free@example.com"


def fast_settings(**overrides: Any) -> dict[str, Any]:
    """Short polls and backoffs, and a generous read timeout since the shared 2-core machine
    may be busy. ``max_retry_wait`` is below the simulator's scaled cooldowns (a throttle is
    1.8 s), so a 429 reaches the caller at once; override it to have it waited out."""
    return {
        "poll_interval": (0.005, 0.05),
        "retry_backoff": 0.001,
        "max_retry_wait": 0.05,
        "upscale_timeout": 30.0,
        "timeout": 30.0,
        **overrides,
    }
