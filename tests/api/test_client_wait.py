"""wait(): polling to completion, failure and the deadline, for both clients."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from client_support import FAST, ULTRA

import flowup_nb as fu


def test_submit_returns_a_created_job(sim: Any, client: Any) -> None:
    source = sim.new_video_id(ULTRA)
    job = client.submit_upscale(source, "4K", reply_ref="run-7")
    assert isinstance(job, fu.Job)
    assert job.status == "created"
    assert job.pending
    assert job.request["mediaGenerationId"] == source
    assert job.request["resolution"] == "4K"
    assert job.request["replyRef"] == "run-7"
    assert job.created is not None and job.created.tzinfo is not None
    assert job.captcha is not None and job.captcha.service


def test_wait_polls_to_completion_and_reports_each_status_once(
    sim: Any, client: Any, exchanges: list
) -> None:
    job = client.submit_upscale(sim.new_video_id(ULTRA), "4K")
    statuses: list[str] = []
    result = client.wait(job, timeout=60, on_update=lambda j: statuses.append(j.status))
    assert isinstance(result, fu.UpscaleResult)
    assert result.resolution == "4K"
    assert result.job_id == job.job_id
    assert result.video_url
    assert statuses[0] == "created"  # the job passed in is the first observation
    assert statuses[-1] == "completed"
    assert len(statuses) == len(set(statuses))  # one call per status, not per poll
    polls = [e for e in exchanges if e.operation == "get_job"]
    assert polls and polls[-1].job_status == "completed"
    assert sim.stats()["requests"]["jobs"] == len(polls)


def test_wait_accepts_an_async_on_update(sim: Any, client: Any) -> None:
    job = client.submit_upscale(sim.new_video_id(ULTRA))
    statuses: list[str] = []

    async def on_update(j: fu.Job) -> None:
        statuses.append(j.status)

    client.wait(job, timeout=60, on_update=on_update)
    assert statuses[-1] == "completed"


@pytest.mark.timeout(60)  # a wait that slept before its first poll would sleep 10 minutes
def test_wait_by_id_polls_at_once(sim: Any, make_client: Any) -> None:
    # Polls 10 minutes apart, and a job done before the wait: only a poll at once ends it.
    client = make_client(sim.token, base_url=sim.base_url, poll_interval=(600.0, 600.0))
    job = client.submit_upscale(sim.new_video_id(ULTRA))
    sim.advance(5.0)  # far past a 1080p job's end (tenths of a second), within retention
    assert [j["status"] for j in sim.jobs() if j["jobid"] == job.job_id] == ["completed"]
    seen: list[fu.Job] = []
    result = client.wait(job.job_id, timeout=1200, on_update=seen.append)
    assert result.video_url
    assert sim.stats()["requests"]["jobs"] == 1  # one poll, the first thing the wait did
    assert [j.status for j in seen] == ["completed"]  # the server's record, not a stale one


def test_a_failed_job_raises_with_the_servers_error(sim: Any, client: Any) -> None:
    sim.inject("upscale", "job_fail")
    job = client.submit_upscale(sim.new_video_id(ULTRA))
    with pytest.raises(fu.JobFailedError) as caught:
        client.wait(job, timeout=60)
    err = caught.value
    assert err.job.status == "failed"
    assert err.job.job_id == job.job_id
    assert err.job.error and err.job.error in str(err)
    assert err.job_id == job.job_id
    assert err.code == err.job.code


def test_the_deadline_raises_and_the_job_is_not_lost(sim: Any, client: Any) -> None:
    sim.inject("upscale", "slow_job")  # runs 20 simulated minutes: 1.2 s here
    job = client.submit_upscale(sim.new_video_id(ULTRA))
    with pytest.raises(fu.JobTimeoutError) as caught:
        client.wait(job, timeout=0.1)
    assert caught.value.job_id == job.job_id
    assert job.job_id in str(caught.value)
    assert caught.value.job is not None and caught.value.job.pending
    # waiting again picks the same job up and sees it through
    sim.advance(20 * 60 * sim.time_scale + 1)  # past the slow job's 20 service minutes
    result = client.wait(job.job_id, timeout=60)
    assert result.job_id == job.job_id


def test_wait_on_a_finished_job_returns_without_a_request(sim: Any, client: Any) -> None:
    job = client.submit_upscale(sim.new_video_id(ULTRA))
    client.wait(job, timeout=60)
    done = client.get_job(job.job_id)
    before = sim.stats()["requests"]["jobs"]
    assert client.wait(done).job_id == job.job_id
    assert sim.stats()["requests"]["jobs"] == before


def test_a_sync_408_can_be_asked_again_for_free(sim: Any, client: Any) -> None:
    source = sim.new_video_id(ULTRA)
    sim.inject("upscale", "slow_job")
    with pytest.raises(fu.PollingTimeoutError) as caught:
        client.upscale(source, "4K")
    # The job keeps running server-side; its record tells when it is done.
    sim.advance(20 * 60 * sim.time_scale + 1)  # past the slow job's 20 service minutes
    client.wait(caught.value.job_id, timeout=60)
    again = client.upscale(source, "4K")
    assert again.cached or again.video_url
    assert sim.stats()["credits_charged"].get(ULTRA) == 50  # charged once


def test_the_sync_client_settles_an_async_on_update_inside_a_running_loop(sim: Any) -> None:
    # A notebook cell: a loop runs in this thread while the blocking client waits.
    statuses: list[str] = []

    async def on_update(job: fu.Job) -> None:
        await asyncio.sleep(0)
        statuses.append(job.status)

    async def cell() -> None:
        with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
            job = client.submit_upscale(sim.new_video_id(ULTRA))
            client.wait(job, timeout=60, on_update=on_update)

    asyncio.run(cell())
    assert statuses[0] == "created" and statuses[-1] == "completed"
