"""Helpers for the batch tests (a module with a unique name: test dirs have no __init__)."""

from __future__ import annotations

from collections import Counter
from typing import Any

# Settings for a simulator at time_scale 0.001: short polls and backoffs. max_retry_wait
# is below the simulator's scaled cooldowns (throttle 1.8 s), so a 429 reaches the batch
# instead of being waited out inside one call.
FAST = {
    "poll_interval": (0.005, 0.05),
    "retry_backoff": 0.001,
    "max_retry_wait": 0.05,
    "upscale_timeout": 30.0,
    "timeout": 30.0,
}
JO = "jo.ultra@example.com"
SAM = "sam.ultra@example.com"
PAT = "pat.pro@example.com"
LEE = "lee.free@example.com"


def requests(sim: Any, route: str) -> int:
    return int(sim.stats()["requests"].get(route, 0))


def jobs_by_source(sim: Any) -> Counter[tuple[str, str]]:
    """How many jobs the simulator created per (source id, resolution)."""
    return Counter(
        (job["request"]["mediaGenerationId"], job["request"]["resolution"]) for job in sim.jobs()
    )


def submits(exchanges: list[Any], account: str | None = None) -> list[Any]:
    return [
        e
        for e in exchanges
        if e.operation == "submit_upscale" and (account is None or e.account == account)
    ]
