"""Fixtures for the widget tests: a real event loop per test, clients of both kinds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """One event loop per test: the form's tasks run on it as on a kernel's loop."""
    with asyncio.Runner() as loop_runner:
        yield loop_runner


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Every form behaviour is checked with FlowClient and with AsyncFlowClient."""
    return request.param
