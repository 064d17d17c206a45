"""The one wait engine: the poll plan it learns, and both clients driving it alike."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from client_support import FAST, ULTRA

import flowup_nb as fu
import flowup_nb.sim as simulator
from bench.bench_wait import wait_on_sim_clock
from flowup_nb.api.policy import PollSchedule
from flowup_nb.api.waiting import PollPlan, job_duration

# A solved captcha token: the simulator then takes no time to "solve" one (at time_scale 1
# a provider's solve would really sleep 8-12 s).
TOKEN = "03AFcWeA-user-provided-token"

# -- the poll plan ------------------------------------------------------------------------


def test_before_any_job_finished_polls_follow_the_client_schedule() -> None:
    book = PollPlan(PollSchedule(first=1.0, factor=2.0, maximum=8.0))
    assert [book.next_poll("1080p", 0.0, n) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_learnt_durations_put_the_polls_across_the_usual_range() -> None:
    book = PollPlan(PollSchedule(), spread=5)
    for seconds in (30, 35, 40, 45, 50, 55, 60):
        book.observe("1080p", seconds)
    assert book.bounds("1080p") == (30, 60)
    elapsed, polls = 0.0, 0
    while elapsed < 60:
        elapsed += book.next_poll("1080p", elapsed, polls)
        polls += 1
    assert polls <= 6  # `spread` across the range, then one late
    # No poll before the short end of the usual range, and the gaps shrink as a job ages
    # (a job is ever likelier to be done), which saves polls for the same detection delay.
    planned = book.planned("1080p")
    assert planned is not None and len(planned) == 5
    assert 30 <= book.next_poll("1080p", 0.0, 0) == planned[0] <= 45
    gaps = [later - earlier for earlier, later in itertools.pairwise(planned)]
    assert gaps == sorted(gaps, reverse=True)
    late = book.next_poll("1080p", 90.0, 9)
    assert 6.0 <= late <= 15.0
    assert book.bounds("4K") is None  # learnt per resolution


def test_job_duration_reads_the_server_clock() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert job_duration(start, start + timedelta(seconds=42)) == 42
    assert job_duration(start, None) is None
    assert job_duration(start, start) is None


def test_a_learnt_plan_sees_jobs_end_within_a_tenth_of_their_time_in_four_polls_or_less() -> None:
    # The simulator at the real service's pace (1080p jobs take 30-62 s), its clock moved
    # by each Sleep step instead of slept: polls and delays are counted on that clock.
    with (
        simulator.start(seed=77, time_scale=1.0, fail_rate=0.0) as sim,
        fu.FlowClient(
            sim.token, base_url=sim.base_url, **{**FAST, "poll_interval": None}
        ) as client,
    ):

        def one_job() -> tuple[int, float, float]:
            return wait_on_sim_clock(sim, client, ULTRA, timeout=600)

        cold = [one_job() for _ in range(3)]  # nothing learnt yet: the client's schedule
        learnt = [one_job() for _ in range(100)]
    assert min(polls for polls, _, _ in cold) >= 6  # 1 s, growing to 12 s: many polls
    assert client.poll_plan.planned("1080p") is not None
    assert sum(polls for polls, _, _ in learnt) / len(learnt) <= 4.0
    assert all(lag >= 0 for _, _, lag in learnt)
    assert sum(lag for _, _, lag in learnt) / sum(took for _, took, _ in learnt) <= 0.10


# -- both clients, both kinds of callback -------------------------------------------------


def _advancing(sim: Any) -> Callable[[fu.Job], None]:
    """Move the simulator's clock past the job's next status: a job then changes status
    exactly once per callback, whatever the timing of the polls."""

    def advance(job: fu.Job) -> None:
        sim.advance({"created": 2.5, "started": 61.0}.get(job.status, 0.0))

    return advance


def test_both_clients_make_the_same_on_update_calls_for_sync_and_async_callbacks() -> None:
    seen: dict[tuple[str, str], list[tuple[str, str, bool]]] = {}
    with simulator.start(seed=5, time_scale=1.0, fail_rate=0.0) as sim:
        advance = _advancing(sim)
        for client_kind in ("sync", "async"):
            for callback_kind in ("sync", "async"):
                calls: list[tuple[str, str, bool]] = []
                loops: list[asyncio.AbstractEventLoop] = []

                def on_update(job: fu.Job, calls: list = calls) -> None:
                    calls.append((type(job).__name__, job.status, True))
                    advance(job)

                async def on_update_async(
                    job: fu.Job, calls: list = calls, loops: list = loops
                ) -> None:
                    await asyncio.sleep(0)
                    loops.append(asyncio.get_running_loop())
                    # One loop for the whole wait: state a callback keeps on it survives.
                    calls.append((type(job).__name__, job.status, loops[0] is loops[-1]))
                    advance(job)

                callback = on_update if callback_kind == "sync" else on_update_async
                source = sim.new_video_id(ULTRA)
                if client_kind == "sync":
                    with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
                        job = client.submit_upscale(source, captcha_token=TOKEN)
                        result = client.wait(job, timeout=60, on_update=callback)
                else:

                    async def go(source: str = source, callback: Any = callback) -> Any:
                        async with fu.AsyncFlowClient(
                            sim.token, base_url=sim.base_url, **FAST
                        ) as client:
                            job = await client.submit_upscale(source, captcha_token=TOKEN)
                            return await client.wait(job, timeout=60, on_update=callback)

                    result = asyncio.run(go())
                assert isinstance(result, fu.UpscaleResult)
                seen[(client_kind, callback_kind)] = calls
    expected = [("Job", "created", True), ("Job", "started", True), ("Job", "completed", True)]
    assert seen == {kinds: expected for kinds in seen} and len(seen) == 4


def test_drive_ends_the_wait_when_a_callback_raises(sim: Any, client: Any) -> None:
    job = client.submit_upscale(sim.new_video_id(ULTRA))

    async def on_update(job: fu.Job) -> None:
        raise RuntimeError(f"callback saw {job.status}")

    before = sim.stats()["requests"].get("jobs", 0)
    with pytest.raises(RuntimeError, match="callback saw created"):
        client.wait(job, timeout=60, on_update=on_update)
    assert sim.stats()["requests"].get("jobs", 0) == before  # no poll after it


def test_a_closed_receiver_turns_the_wait_to_polling(sim: Any, client: Any) -> None:
    receiver = fu.WebhookReceiver(grace=30.0)
    receiver.close()  # nothing will be delivered, and the listener answers at once
    job = client.submit_upscale(sim.new_video_id(ULTRA))
    result = client.wait(job, timeout=60, webhook=receiver)
    assert result.job_id == job.job_id
    assert sim.stats()["requests"]["jobs"] >= 1
