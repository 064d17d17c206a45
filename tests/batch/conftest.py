"""Fixtures for the batch tests: a simulator without random failures, clients with a ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from batchkit import FAST

import flowup_nb as fu
import flowup_nb.sim as simulator
from flowup_nb.api.exchange import Exchange

TEST_TIME_SCALE = 0.001


@pytest.fixture
def calm_sim() -> Iterator[simulator.SimHandle]:
    """A simulator whose jobs never fail on their own and whose captchas always pass, so
    every extra job or submission in a test comes from the batch, not from chance."""
    with simulator.start(
        seed=4321, time_scale=TEST_TIME_SCALE, fail_rate=0.0, captcha_acceptance=1.0
    ) as handle:
        yield handle


@pytest.fixture
def ledger() -> Iterator[fu.Ledger]:
    with fu.Ledger() as opened:  # FLOWUP_LEDGER points into the test's tmp_path
        yield opened


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


@pytest.fixture
def client(calm_sim: Any, ledger: Any, exchanges: list[Exchange]) -> Iterator[fu.FlowClient]:
    with fu.FlowClient(calm_sim.token, base_url=calm_sim.base_url, ledger=ledger, **FAST) as made:
        made.subscribe(exchanges.append)
        yield made


@pytest.fixture
def run_async() -> Iterator[Callable[..., Any]]:
    """Run a coroutine on a loop of this test (AsyncFlowClient tests)."""
    with asyncio.Runner() as runner:
        yield runner.run
