"""One retry budget: whatever layer retries, an upscale is sent at most 1 + max_retries
times for one cause, unless the caller asks for more. Sends are counted at the simulator.

Each cause is met three ways: ``client.upscale()`` (sync mode), ``submit_upscale()`` then
``wait()``, and a one-video batch (``retries=2``, the default). The client has the default
``max_retries=2``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from batchkit import FAST, JO, requests

import flowup_nb as fu
import flowup_nb.sim as simulator

MAX_RETRIES = 2
ALLOWED = 1 + MAX_RETRIES  # sends of one upscale for one cause
LASTING = 50  # faults enough to outlast any retry


@pytest.fixture
def rejecting_sim() -> Iterator[simulator.SimHandle]:
    """A simulator whose captcha providers reject every token."""
    with simulator.start(
        seed=99, time_scale=0.001, fail_rate=0.0, captcha_acceptance=0.0
    ) as handle:
        yield handle


def _client(sim: Any, ledger: Any, **settings: Any) -> fu.FlowClient:
    return fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **{**FAST, **settings})


def _upscales(sim: Any) -> int:
    return requests(sim, "upscale")


# -- a lasting 503 ---------------------------------------------------------------------------


def test_a_lasting_503_is_sent_1_plus_max_retries_times_by_upscale(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    calm_sim.inject("upscale", "503_unavailable", times=LASTING)
    with pytest.raises(fu.ServiceUnavailableError) as caught:
        client.upscale(calm_sim.new_video_id(JO))
    assert caught.value.attempts == ALLOWED
    assert _upscales(calm_sim) == ALLOWED


def test_a_lasting_503_is_sent_1_plus_max_retries_times_by_submit(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    calm_sim.inject("upscale", "503_unavailable", times=LASTING)
    with pytest.raises(fu.ServiceUnavailableError) as caught:
        client.submit_upscale(calm_sim.new_video_id(JO))
    assert caught.value.attempts == ALLOWED
    assert _upscales(calm_sim) == ALLOWED and calm_sim.stats()["jobs_created"] == 0


def test_polls_that_keep_failing_end_the_wait_and_the_job_is_not_lost(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    job = client.submit_upscale(calm_sim.new_video_id(JO))
    calm_sim.inject("jobs", "503_unavailable", times=LASTING)
    with pytest.raises(fu.ServiceUnavailableError) as caught:
        client.wait(job, timeout=60)
    assert caught.value.attempts == ALLOWED
    assert requests(calm_sim, "jobs") == ALLOWED  # one poll, with the client's own retries
    calm_sim.clear_faults()
    assert client.wait(job, timeout=60).job_id == job.job_id
    assert _upscales(calm_sim) == 1


def test_a_lasting_503_is_sent_1_plus_max_retries_times_by_a_batch(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    calm_sim.inject("upscale", "503_unavailable", times=LASTING)
    frame = client.upscale_many([calm_sim.new_video_id(JO)], progress=False)
    assert frame.loc[0, "error_type"] == "ServiceUnavailableError"
    assert frame.loc[0, "submissions"] == 1
    assert _upscales(calm_sim) == ALLOWED


def test_transient_retries_buys_more_rounds_of_the_clients_retries(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    calm_sim.inject("upscale", "503_unavailable", times=LASTING)
    frame = client.upscale_many([calm_sim.new_video_id(JO)], transient_retries=2, progress=False)
    assert frame.loc[0, "error_type"] == "ServiceUnavailableError"
    assert frame.loc[0, "submissions"] == 3
    assert _upscales(calm_sim) == 3 * ALLOWED


def test_a_batch_whose_polls_keep_failing_ends_the_video_without_resubmitting(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    calm_sim.inject("jobs", "503_unavailable", times=LASTING)
    frame = client.upscale_many([calm_sim.new_video_id(JO)], progress=False)
    assert frame.loc[0, "error_type"] == "ServiceUnavailableError"
    assert frame.loc[0, "submissions"] == 1 and frame.loc[0, "polls"] == 1
    assert _upscales(calm_sim) == 1 and requests(calm_sim, "jobs") == ALLOWED
    assert frame.loc[0, "job_id"]  # the job runs on: client.resume() picks it up


# -- a lasting 429 with a short Retry-After ------------------------------------------------
# The client waits out a Retry-After up to its max_retry_wait itself. The simulator's
# header is in whole seconds, rounded up: "0" is the short one a client waits out.


def _throttle(sim: Any) -> None:
    sim.inject("upscale", "429_throttled", times=LASTING, retry_after=0.0)


def test_a_lasting_short_429_is_sent_1_plus_max_retries_times_by_upscale(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    _throttle(calm_sim)
    with pytest.raises(fu.RateLimitError) as caught:
        client.upscale(calm_sim.new_video_id(JO))
    assert caught.value.attempts == ALLOWED
    assert _upscales(calm_sim) == ALLOWED


def test_a_lasting_short_429_is_sent_1_plus_max_retries_times_by_submit(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    _throttle(calm_sim)
    with pytest.raises(fu.RateLimitError):
        client.submit_upscale(calm_sim.new_video_id(JO))
    assert _upscales(calm_sim) == ALLOWED


def test_a_lasting_short_429_is_sent_1_plus_max_retries_times_by_a_batch(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    _throttle(calm_sim)
    frame = client.upscale_many([calm_sim.new_video_id(JO)], progress=False)
    assert frame.loc[0, "error_type"] == "RateLimitError"
    assert frame.loc[0, "submissions"] == 1
    assert _upscales(calm_sim) == ALLOWED


def test_a_429_the_client_does_not_wait_out_pauses_and_requeues_within_retries(
    calm_sim: Any, ledger: Any
) -> None:
    # Retry-After ("1" s) beyond the client's max_retry_wait (50 ms): each send is one
    # attempt, and each pause-and-requeue uses one of the batch's retries.
    calm_sim.inject("upscale", "429_throttled", times=LASTING, retry_after=0.1)
    with _client(calm_sim, ledger) as client:
        frame = client.upscale_many([calm_sim.new_video_id(JO)], retries=2, progress=False)
    assert frame.loc[0, "error_type"] == "RateLimitError"
    assert frame.loc[0, "submissions"] == 3
    assert _upscales(calm_sim) == 3


# -- a job that fails every time -------------------------------------------------------------


def _failing_jobs(sim: Any) -> None:
    sim.inject("upscale", "job_fail", times=LASTING)


def test_a_job_failing_every_time_is_sent_1_plus_max_retries_times_by_upscale(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    _failing_jobs(calm_sim)
    with pytest.raises(fu.ServerError) as caught:  # sync mode: the failed job is a 500
        client.upscale(calm_sim.new_video_id(JO))
    assert caught.value.attempts == ALLOWED
    assert _upscales(calm_sim) == ALLOWED
    assert calm_sim.stats()["jobs_created"] == ALLOWED


def test_a_job_failing_every_time_is_sent_once_by_submit_and_wait(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    _failing_jobs(calm_sim)
    job = client.submit_upscale(calm_sim.new_video_id(JO))
    with pytest.raises(fu.JobFailedError):
        client.wait(job, timeout=60)
    assert _upscales(calm_sim) == 1 and calm_sim.stats()["jobs_created"] == 1


def test_a_job_failing_every_time_is_resubmitted_within_the_batch_retries(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    _failing_jobs(calm_sim)
    frame = client.upscale_many([calm_sim.new_video_id(JO)], retries=2, progress=False)
    assert frame.loc[0, "error_type"] == "JobFailedError"
    assert frame.loc[0, "submissions"] == 3
    assert _upscales(calm_sim) == 3 and calm_sim.stats()["jobs_created"] == 3


def test_a_sync_batch_of_failing_jobs_spends_only_the_clients_retries(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    _failing_jobs(calm_sim)
    frame = client.upscale_many([calm_sim.new_video_id(JO)], mode="sync", progress=False)
    assert frame.loc[0, "error_type"] == "ServerError"
    assert frame.loc[0, "submissions"] == 1
    assert _upscales(calm_sim) == ALLOWED


# -- a captcha rejected every time -----------------------------------------------------------


def test_a_rejected_captcha_is_sent_once_by_upscale(rejecting_sim: Any, ledger: Any) -> None:
    with _client(rejecting_sim, ledger) as client, pytest.raises(fu.CaptchaRejectedError):
        client.upscale(rejecting_sim.new_video_id(JO))
    assert _upscales(rejecting_sim) == 1
    assert rejecting_sim.stats()["upscale_submissions"] == 1


def test_a_rejected_captcha_is_sent_once_by_submit(rejecting_sim: Any, ledger: Any) -> None:
    with _client(rejecting_sim, ledger) as client, pytest.raises(fu.CaptchaRejectedError):
        client.submit_upscale(rejecting_sim.new_video_id(JO))
    assert _upscales(rejecting_sim) == 1 and rejecting_sim.stats()["jobs_created"] == 0


def test_a_rejected_captcha_is_resubmitted_within_the_batch_retries(
    rejecting_sim: Any, ledger: Any
) -> None:
    with _client(rejecting_sim, ledger) as client:
        frame = client.upscale_many([rejecting_sim.new_video_id(JO)], retries=2, progress=False)
    assert frame.loc[0, "error_type"] == "CaptchaRejectedError"
    assert frame.loc[0, "submissions"] == 3
    assert _upscales(rejecting_sim) == 3


def test_no_retries_means_one_send(rejecting_sim: Any, ledger: Any) -> None:
    with _client(rejecting_sim, ledger, max_retries=0) as client:
        frame = client.upscale_many([rejecting_sim.new_video_id(JO)], retries=0, progress=False)
    assert frame.loc[0, "submissions"] == 1 and _upscales(rejecting_sim) == 1
