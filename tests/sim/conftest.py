"""Fixtures for the simulator's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from simkit import WebhookReceiver, api

import flowup_nb.sim as simulator

FAST = 0.001


@pytest.fixture
def calm_sim() -> Iterator[simulator.SimHandle]:
    """A simulator where nothing random goes wrong: no failed jobs, every captcha passes.
    For tests about something else than failures and captchas."""
    with simulator.start(seed=99, time_scale=FAST, fail_rate=0.0, captcha_acceptance=1.0) as s:
        yield s


@pytest.fixture
def client(calm_sim: simulator.SimHandle) -> Iterator[httpx.Client]:
    with api(calm_sim) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()
