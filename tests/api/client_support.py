"""Helpers for the client tests (a module with a unique name: test dirs have no __init__)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from simclient import JO, fast_settings

import flowup_nb as fu

# 429s whose cooldown fits in 5 s are waited out, as a user's client would.
FAST = fast_settings(max_retry_wait=5.0)
ULTRA = JO


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
