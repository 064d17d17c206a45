"""Fixtures for the calibration tests: a simulator playing the real service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import flowup_nb.sim as simulator

# The calibration's own simulator runs at 0.01; the "service" runs as fast, so a job it
# keeps running (a 20-minute slow job: 12 s here) outlives the calibration's calls.
SERVICE_TIME_SCALE = 0.01


@pytest.fixture
def service() -> Iterator[simulator.SimHandle]:
    """A simulator standing in for the service: no random failures, every captcha passes,
    so its answers differ from the calibration's own simulator only where a test says."""
    with simulator.start(
        seed=1, time_scale=SERVICE_TIME_SCALE, fail_rate=0.0, captcha_acceptance=1.0
    ) as handle:
        yield handle
