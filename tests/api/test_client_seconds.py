"""Every setting in seconds is a finite number, checked before any request: an infinite
or absurd timeout is refused with a message naming the fix, never accepted and then
turned into an OverflowError by the socket layer after the upscale was sent (and paid)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from client_support import ULTRA, total_requests

import flowup_nb as fu
from flowup_nb.api.policy import MAX_SECONDS

NOT_FINITE = [math.inf, -math.inf, math.nan, 1e300, MAX_SECONDS * 2]
SECONDS_SETTINGS = ["timeout", "upscale_timeout", "retry_backoff", "max_retry_wait"]


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
@pytest.mark.parametrize("name", SECONDS_SETTINGS)
def test_client_seconds_must_be_finite(sim: Any, make_client: Any, name: str, value: float) -> None:
    with pytest.raises(fu.InputError, match=name) as refused:
        make_client(sim.token, base_url=sim.base_url, **{name: value})
    assert "seconds" in str(refused.value)
    if not math.isnan(value) and value > 0:
        assert "e.g." in str(refused.value)  # names a value that works
    assert total_requests(sim) == 0


def test_the_refusal_names_upscale_timeout(sim: Any, make_client: Any) -> None:
    with pytest.raises(fu.InputError, match="upscale_timeout"):
        make_client(sim.token, base_url=sim.base_url, upscale_timeout=math.inf)


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
def test_poll_interval_must_be_finite(sim: Any, make_client: Any, value: float) -> None:
    for pair in ((0.01, value), (value, value)):
        with pytest.raises(fu.InputError, match="poll"):
            make_client(sim.token, base_url=sim.base_url, poll_interval=pair)
    assert total_requests(sim) == 0


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
def test_wait_timeout_must_be_finite(sim: Any, client: Any, value: float) -> None:
    job = client.submit_upscale(sim.sample_ids(ULTRA)[0])
    sent = total_requests(sim)
    with pytest.raises(fu.InputError, match="timeout"):
        client.wait(job, timeout=value)
    assert total_requests(sim) == sent


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
@pytest.mark.parametrize("name", ["timeout", "max_pause"])
def test_batch_seconds_must_be_finite(sim: Any, client: Any, name: str, value: float) -> None:
    with pytest.raises(fu.InputError, match=name):
        client.upscale_many([sim.sample_ids(ULTRA)[0]], progress=False, **{name: value})
    assert total_requests(sim) == 0


def test_the_longest_accepted_settings_work(sim: Any, make_client: Any) -> None:
    client = make_client(
        sim.token,
        base_url=sim.base_url,
        timeout=MAX_SECONDS,
        upscale_timeout=MAX_SECONDS,
        max_retry_wait=MAX_SECONDS,
    )
    source = sim.sample_ids(ULTRA)[0]
    assert client.upscale(source).video_url
    job = client.submit_upscale(source, "4K")
    assert client.wait(job, timeout=MAX_SECONDS).video_url
