"""Helpers for the client tests (a module with a unique name: test dirs have no __init__)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import flowup_nb as fu

# Fast settings for a simulator at time_scale 0.001: short polls and backoffs; a
# generous sync read timeout, since the shared 2-core machine may be busy.
FAST = {
    "poll_interval": (0.005, 0.05),
    "retry_backoff": 0.001,
    "max_retry_wait": 5.0,
    "upscale_timeout": 30.0,
    "timeout": 30.0,
}
ULTRA = "jo.ultra@example.com"


class Blocking:
    """An AsyncFlowClient whose coroutine methods are run to completion on a runner."""

    def __init__(self, client: fu.AsyncFlowClient, runner: asyncio.Runner) -> None:
        self._client = client
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if inspect.iscoroutinefunction(value):
            return lambda *args, **kwargs: self._runner.run(value(*args, **kwargs))
        return value

    def close(self) -> None:
        self._runner.run(self._client.aclose())

    def __repr__(self) -> str:
        return repr(self._client)


def total_requests(sim: Any) -> int:
    return sum(sim.stats()["requests"].values())
