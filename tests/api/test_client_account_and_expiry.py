"""Two answers no retry can fix: a 596 (the account must be reconnected by its owner) and a
410 on a job lookup (the job's record has expired; asking the upscale again is free)."""

from __future__ import annotations

from typing import Any

import pytest
from client_support import FAST, ULTRA

import flowup_nb as fu


def _sends(sim: Any, route: str) -> int:
    return int(sim.stats()["requests"].get(route, 0))


def _advice_says_reconnect(error: BaseException) -> None:
    text = str(error)
    assert "reconnect" in text.lower()
    assert "POST /accounts" in text
    assert "retry later" not in text.lower()


def test_a_596_upscale_is_sent_once_and_says_to_reconnect(sim: Any, client: Any) -> None:
    sim.inject("upscale", "596_reconnect", times=10)
    source = sim.sample_ids(ULTRA)[0]
    with pytest.raises(fu.AccountReconnectError) as caught:
        client.upscale(source)
    assert _sends(sim, "upscale") == 1
    error = caught.value
    assert error.status_code == 596
    assert isinstance(error, fu.APIStatusError)
    assert error.attempts == 1
    _advice_says_reconnect(error)
    assert ULTRA in str(error)  # which account to reconnect

    with pytest.raises(fu.AccountReconnectError):
        client.submit_upscale(source)
    assert _sends(sim, "upscale") == 2


def test_a_596_poll_ends_the_wait_at_once(sim: Any, client: Any) -> None:
    job = client.submit_upscale(sim.sample_ids(ULTRA)[0])
    sim.inject("jobs", "596_reconnect", times=10)
    polls = _sends(sim, "jobs")
    with pytest.raises(fu.AccountReconnectError) as caught:
        client.wait(job, timeout=30)
    assert _sends(sim, "jobs") == polls + 1
    _advice_says_reconnect(caught.value)


def test_an_account_whose_session_broke_is_never_retried(sim: Any, client: Any) -> None:
    """The same 596, from the simulator's account health rather than a scripted fault."""
    source = sim.sample_ids(ULTRA)[0]
    sim.set_health(ULTRA, "Session refresh failed")
    with pytest.raises(fu.AccountReconnectError) as caught:
        client.upscale(source)
    assert _sends(sim, "upscale") == 1
    _advice_says_reconnect(caught.value)


def test_a_batch_does_not_resubmit_after_a_596(sim: Any) -> None:
    sim.inject("upscale", "596_reconnect", times=50)
    source = sim.sample_ids(ULTRA)[0]
    with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
        frame = client.upscale_many([source], progress=False)
    assert _sends(sim, "upscale") == 1
    assert isinstance(frame["error"].iloc[0], fu.AccountReconnectError)


def test_a_batch_stops_the_accounts_items_after_a_596(sim: Any) -> None:
    sim.inject("upscale", "596_reconnect", times=50)
    sources = sim.sample_ids(ULTRA)[:3]
    with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
        frame = client.upscale_many(sources, concurrency=1, transient_retries=3, progress=False)
    assert _sends(sim, "upscale") == 1
    assert all(isinstance(error, fu.AccountReconnectError) for error in frame["error"])


def _expire(sim: Any) -> None:
    sim.advance(sim.job_retention_seconds + 1.0)


def test_an_expired_job_is_a_job_expired_error_and_asking_again_is_free(
    sim: Any, client: Any
) -> None:
    source = sim.sample_ids(ULTRA)[0]
    job = client.submit_upscale(source, "4K")
    first = client.wait(job, timeout=30)
    charged = sim.stats()["credits_charged"]
    _expire(sim)
    polls = _sends(sim, "jobs")

    with pytest.raises(fu.JobExpiredError) as caught:
        client.get_job(job)
    assert _sends(sim, "jobs") == polls + 1  # a 410 is never resent
    error = caught.value
    assert isinstance(error, fu.NotFoundError)
    assert error.status_code == 410
    text = str(error)
    assert "expired" in text and "free" in text and "again" in text

    with pytest.raises(fu.JobExpiredError):
        client.wait(job, timeout=30)
    assert _sends(sim, "jobs") == polls + 2

    again = client.upscale(source, "4K")  # what the advice says: free, cached
    assert again.media_generation_id == first.media_generation_id
    assert sim.stats()["credits_charged"] == charged


def test_a_never_issued_job_is_still_a_plain_not_found(sim: Any, client: Any) -> None:
    real = client.submit_upscale(sim.sample_ids(ULTRA)[0])
    unknown = "j0000000000001" + real.job_id[len("j0000000000001") :]  # same account, no job
    with pytest.raises(fu.NotFoundError) as caught:
        client.get_job(unknown)
    assert not isinstance(caught.value, fu.JobExpiredError)
