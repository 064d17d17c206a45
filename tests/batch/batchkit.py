"""Helpers for the batch tests (a module with a unique name: test dirs have no __init__)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from simclient import JO as JO  # re-exported: the batch tests take the accounts from here
from simclient import LEE as LEE
from simclient import PAT as PAT
from simclient import SAM as SAM
from simclient import fast_settings

# A 429 reaches the batch instead of being waited out inside one call.
FAST = fast_settings()


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
