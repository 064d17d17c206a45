"""Duplicate executions (issue 14): measured at the simulator, avoided by the client.

The simulator charges a video and resolution once by default, so a 4K upscale that ran
twice costs nothing extra there and a "double charges: 0" figure cannot see it.
``sim.executions()`` counts the runs, and ``bill_every_execution=True`` charges each one,
as a service that bills every execution would: these tests show what a duplicate costs,
and that a lost 4K answer no longer makes one (the client finds the running job by its
replyRef, or by its video for a sync upscale, and waits on it instead of resending).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simclient import JO, fast_settings

import flowup_nb as fu
import flowup_nb.sim as simulator

FOUR_K = 50
SETTINGS = fast_settings(poll_interval=(0.02, 0.1))


@pytest.fixture
def billing_sim() -> Iterator[simulator.SimHandle]:
    """Every execution billed; 4K jobs run 1.2-3 s (time_scale 0.01)."""
    with simulator.start(
        seed=77, time_scale=0.01, fail_rate=0.0, bill_every_execution=True
    ) as handle:
        yield handle


def _charged(sim: Any) -> int:
    return int(sum(sim.stats()["credits_charged"].values()))


def test_a_duplicate_4k_run_costs_a_second_price_when_every_execution_is_billed(
    tmp_path: Path,
) -> None:
    """Two submits of one 4K video at once (two jobs, each with its own replyRef) run
    twice: 100 credits where each execution is billed, 50 under the default rule."""
    charged = {}
    for billed in (True, False):
        with (
            simulator.start(
                seed=77, time_scale=0.01, fail_rate=0.0, bill_every_execution=billed
            ) as sim,
            fu.FlowClient(sim.token, base_url=sim.base_url, **SETTINGS) as client,
        ):
            source = sim.new_video_id(JO)
            first = client.submit_upscale(source, "4K")
            second = client.submit_upscale(source, "4K")
            assert first.job_id != second.job_id
            client.wait(first)
            client.wait(second)
            assert sim.executions() == {(source, "4K"): 2}
            charged[billed] = _charged(sim)
    assert charged == {True: 2 * FOUR_K, False: FOUR_K}


@pytest.mark.parametrize("fault", ["truncate", "malformed_json"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_lost_201_of_a_4k_submit_is_found_not_run_twice(
    billing_sim: Any, tmp_path: Path, fault: str, kind: str
) -> None:
    """The 201 is spoiled after the server created (and will charge) the job: the client
    finds that job by the replyRef it sent and returns it, instead of submitting again."""
    source = billing_sim.new_video_id(JO)
    billing_sim.inject("upscale", fault)
    with fu.Ledger(tmp_path / "l.sqlite") as ledger:
        if kind == "sync":
            with fu.FlowClient(
                billing_sim.token, base_url=billing_sim.base_url, ledger=ledger, **SETTINGS
            ) as client:
                job = client.submit_upscale(source, "4K")
                result = client.wait(job)
        else:
            job, result = asyncio.run(_submit_and_wait(billing_sim, ledger, source))
        rows = ledger.frame()
    [record] = [j for j in billing_sim.jobs() if j["request"]["mediaGenerationId"] == source]
    assert job.job_id == record["jobid"] and result.resolution == "4K"
    assert job.request["replyRef"] == record["request"]["replyRef"]
    stats = billing_sim.stats()
    assert stats["requests"]["upscale"] == 1  # found, never sent again
    assert stats["requests"]["job_stats"] >= 1
    assert billing_sim.executions() == {(source, "4K"): 1}
    assert _charged(billing_sim) == FOUR_K
    # The ledger has the spoiled submit, the search, and the job's rows: all requests.
    assert len(rows) == sum(stats["requests"].values())


async def _submit_and_wait(sim: Any, ledger: fu.Ledger, source: str) -> tuple[Any, Any]:
    async with fu.AsyncFlowClient(
        sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS
    ) as client:
        job = await client.submit_upscale(source, "4K")
        return job, await client.wait(job)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_sync_4k_upscale_whose_answer_timed_out_waits_on_its_running_job(
    billing_sim: Any, tmp_path: Path, kind: str
) -> None:
    """The connection of a sync 4K upscale times out while the server runs the job: the
    client finds the job by its video and waits on it, where a resend would run a twin."""
    source = billing_sim.new_video_id(JO)
    # The read times out long before a 4K job (1.2-3 s here) ends.
    settings = {**SETTINGS, "upscale_timeout": 0.5, "timeout": 0.5}
    with fu.Ledger(tmp_path / "l.sqlite") as ledger:
        if kind == "sync":
            with fu.FlowClient(
                billing_sim.token, base_url=billing_sim.base_url, ledger=ledger, **settings
            ) as client:
                result = client.upscale(source, "4K")
        else:

            async def upscale() -> Any:
                async with fu.AsyncFlowClient(
                    billing_sim.token, base_url=billing_sim.base_url, ledger=ledger, **settings
                ) as client:
                    return await client.upscale(source, "4K")

            result = asyncio.run(upscale())
        rows = ledger.frame()
        money = ledger.reconcile(by=None).iloc[0]
    assert result.resolution == "4K" and result.media_generation_id == source + "_upsampled"
    stats = billing_sim.stats()
    assert stats["requests"]["upscale"] == 1
    assert billing_sim.executions() == {(source, "4K"): 1}
    assert _charged(billing_sim) == FOUR_K
    timed_out = rows[(rows["operation"] == "upscale").to_numpy()]
    assert timed_out["error_type"].tolist() == ["APITimeoutError"]
    assert bool(timed_out["will_retry"].iloc[0])  # it would have been resent
    # The job's result came by polls, and the ledger counts its price once (unobserved:
    # no balance was seen before it).
    assert money["expected"] + money["unobserved"] == FOUR_K and money["unknown"] == 0
