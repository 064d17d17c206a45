"""UpscaleController, the form's behaviour without a single widget, against a real simulator.

Each test drives the controller as the form's buttons do (plain calls that start tasks on
the running loop), with either client, and reads its state and the simulator's counters.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from formkit import PRO, ULTRA, close_client, make_client
from mp4probe import probe_mp4

import flowup_nb as fu
from flowup_nb.widgets.controller import UpscaleController
from flowup_nb.widgets.status import Phase

# A slow job runs 20 service minutes; past that (and its short queue) it has ended.
_SLOW_JOB_DONE = 2 * 20 * 60


def _polls(sim: Any) -> int:
    """GET /jobs/{id} requests the simulator has answered."""
    return sim.stats()["requests"].get("jobs", 0)


def _recording(client: Any, tmp_path: Path) -> UpscaleController:
    """A controller that records the ids it sees to a ledger of its own in ``tmp_path``."""
    return UpscaleController(client, ledger=fu.Ledger(tmp_path / "ids.sqlite"))


def _phases(controller: UpscaleController) -> list[str]:
    seen: list[str] = []
    controller.subscribe(lambda c: seen.append(c.state.phase.value))
    return seen


def test_a_sync_upscale_completes_without_polling(
    sim: Any, runner: asyncio.Runner, kind: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        controller = _recording(client, tmp_path)
        phases = _phases(controller)
        source = sim.sample_ids(ULTRA)[0]
        controller.upscale(source, "1080p", "sync")
        assert controller.busy  # before the task even ran
        controller.upscale(source, "1080p", "sync")  # a second press while busy: ignored
        await controller.settle()

        assert controller.state.phase is Phase.COMPLETED
        result = controller.result
        assert result is not None and result.resolution == "1080p"
        assert controller.state.job_id == result.job_id
        assert list(dict.fromkeys(phases)) == ["submitting", "completed"]
        assert sim.stats()["upscale_submissions"] == 1
        assert _polls(sim) == 0  # one request that waited for the video: nothing to poll
        assert controller.link is not None and controller.link.ok
        credits = controller.credits_for(result)
        assert (credits.remaining, credits.spent) == (result.remaining_credits, 0)
        await close_client(client)

    runner.run(scenario())


def test_an_async_upscale_is_followed_to_completion(
    sim: Any, runner: asyncio.Runner, kind: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        controller = _recording(client, tmp_path)
        phases = _phases(controller)
        controller.upscale(sim.sample_ids(ULTRA)[0], "4K", "async")
        await controller.settle()

        assert controller.state.phase is Phase.COMPLETED
        result = controller.result
        assert result is not None and result.resolution == "4K"
        seen = list(dict.fromkeys(phases))
        assert seen[0] == "submitting" and seen[-1] == "completed"
        assert {"created", "started"} & set(seen)
        assert controller.state.job_id == result.job_id
        record = next(j for j in sim.jobs() if j["jobid"] == result.job_id)
        assert record["status"] == "completed"
        assert _polls(sim) >= 1
        assert sim.stats()["upscale_submissions"] == 1
        await close_client(client)

    runner.run(scenario())


def test_cancel_stops_polling_at_once_and_resume_picks_the_job_up(
    sim: Any, runner: asyncio.Runner, kind: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        controller = _recording(client, tmp_path)
        polls_at_cancel: list[int] = []

        def cancel_after_a_poll(c: UpscaleController) -> None:
            # Called right after a poll's answer was taken in: no poll is in flight now.
            if not polls_at_cancel and c.busy and c.state.job_id and _polls(sim) >= 1:
                polls_at_cancel.append(_polls(sim))
                c.cancel()

        controller.subscribe(cancel_after_a_poll)
        sim.inject("upscale", "slow_job")
        controller.upscale(sim.sample_ids(ULTRA)[0], "1080p", "async")
        await controller.settle()  # every task of the controller has ended

        # Nothing is left that could poll: no task on the loop but this test's own.
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert controller.state.phase is Phase.CANCELLED
        job_id = controller.state.job_id
        assert job_id is not None and f"client.wait({job_id!r})" in (controller.state.note or "")
        assert controller.resumable
        assert _polls(sim) == polls_at_cancel[0]
        # The job runs on at the server and ends there, with nobody asking about it.
        record = next(j for j in sim.jobs() if j["jobid"] == job_id)
        assert record["status"] in ("created", "started")
        sim.advance(_SLOW_JOB_DONE * sim.time_scale)
        assert next(j for j in sim.jobs() if j["jobid"] == job_id)["status"] == "completed"
        assert _polls(sim) == polls_at_cancel[0]

        controller.resume()
        assert controller.busy
        await controller.settle()
        assert controller.state.phase is Phase.COMPLETED
        assert controller.result is not None and controller.result.job_id == job_id
        assert _polls(sim) == polls_at_cancel[0] + 1  # one look, and it was done
        assert sim.stats()["upscale_submissions"] == 1
        await close_client(client)

    runner.run(scenario())


def test_save_writes_the_shown_video(
    sim: Any, runner: asyncio.Runner, kind: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        controller = UpscaleController(
            client, ledger=fu.Ledger(tmp_path / "ids.sqlite"), download_dir=tmp_path
        )
        controller.save()  # nothing shown yet: nothing to save
        await controller.settle()
        assert controller.saved_path is None
        controller.upscale(sim.sample_ids(ULTRA)[0])
        await controller.settle()
        controller.save()
        assert controller.saving
        await controller.settle()
        assert not controller.saving
        path = controller.saved_path
        assert path is not None and path.parent == tmp_path
        assert controller.saved_size == path.stat().st_size
        info = probe_mp4(path)
        assert (info.width, info.height) == (1920, 1080)
        await close_client(client)

    runner.run(scenario())


def test_4k_is_refused_on_a_pro_account_before_anything_is_sent(
    sim: Any, runner: asyncio.Runner, kind: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        controller = _recording(client, tmp_path)
        video = sim.sample_ids(PRO)[0]
        controller.select_source(video)
        assert controller.verdict.allowed and "checking" in controller.verdict.reason
        await controller.settle()

        verdict = controller.verdict
        assert not verdict.allowed
        assert "Ultra" in verdict.reason and PRO in verdict.reason and "Pro" in verdict.reason
        controller.upscale(video, "4K", "async")
        assert controller.state.phase is Phase.ERROR
        assert controller.state.error.kind == "InputError"
        assert "4K is not available" in controller.state.error.message
        # Chosen again: the account is known, not asked for twice.
        controller.select_source(sim.sample_ids(PRO)[1])
        await controller.settle()
        stats = sim.stats()["requests"]
        assert stats.get("upscale", 0) == 0 and stats["accounts"] == 1
        # 1080p stays open to it.
        controller.upscale(video, "1080p", "sync")
        await controller.settle()
        assert controller.state.phase is Phase.COMPLETED
        await close_client(client)

    runner.run(scenario())


def test_4k_follows_the_balance_and_the_health_of_an_ultra_account(
    sim: Any, runner: asyncio.Runner, tmp_path: Path
) -> None:
    async def scenario() -> None:
        client = make_client("async", sim)
        controller = _recording(client, tmp_path)
        controller.select_source(sim.sample_ids(ULTRA)[0])
        await controller.settle()
        balance = next(a for a in sim.accounts if a["email"] == ULTRA)["credits"]
        assert controller.verdict.allowed and f"{balance:,} credits" in controller.verdict.reason
        controller.upscale(sim.sample_ids(ULTRA)[0], "4K", "async")
        await controller.settle()
        after = controller.result.remaining_credits
        assert after == balance - 50
        assert f"{after:,} credits" in controller.verdict.reason  # learnt from the answer
        credits = controller.credits_for(controller.result)
        assert (credits.spent, credits.basis) == (50, "balance")

        # Another controller meets the account once its session broke.
        sim.set_health(ULTRA, "refresh token revoked")
        other = _recording(client, tmp_path)
        other.select_source(sim.sample_ids(ULTRA)[0])
        await other.settle()
        assert not other.verdict.allowed
        assert "reconnected" in other.verdict.reason and "revoked" in other.verdict.reason
        await close_client(client)

    runner.run(scenario())


def test_bad_input_is_shown_and_nothing_is_sent(sim: Any, runner: asyncio.Runner) -> None:
    async def scenario() -> None:
        client = make_client("async", sim)
        controller = UpscaleController(client)
        for source, resolution, mode, words in (
            ("https://example.com/video.mp4", "1080p", "sync", "URL"),
            (sim.sample_ids(ULTRA)[0], "4k", "sync", "'4K'"),
            (sim.sample_ids(ULTRA)[0], "1080p", "later", "mode"),
        ):
            controller.upscale(source, resolution, mode)
            assert controller.state.phase is Phase.ERROR
            assert controller.state.error.kind == "InputError"
            assert words in controller.state.error.message
        controller.upscale(sim.sample_ids(ULTRA)[0], captcha={"captcha_token": "short"})
        assert "captcha_token" in controller.state.error.message
        assert sim.stats()["requests"].get("upscale", 0) == 0
        await close_client(client)

    runner.run(scenario())


def test_video_ids_come_from_the_clients_own_ledger_without_creating_another(
    sim: Any, runner: asyncio.Runner, tmp_path: Path
) -> None:
    default_file = tmp_path / "ledger.sqlite"  # where FLOWUP_LEDGER points in the tests

    async def scenario() -> None:
        own = fu.Ledger(tmp_path / "own.sqlite")
        client = make_client("async", sim, ledger=own)
        first, second = sim.new_video_id(ULTRA), sim.new_video_id(ULTRA)
        for video in (first, second, first):
            await client.upscale(video)
        ids = UpscaleController(client).known_ids()
        samples = set(sim.sample_ids())
        assert samples and samples <= set(ids)
        assert [i for i in ids if i in (first, second)] == [first, second]  # newest first
        assert own.recent_video_ids(limit=1) == [first]
        assert own.recent_video_ids(days=0) == []
        await close_client(client)

        bare = make_client("async", sim)  # records to no ledger: offers only the samples
        assert UpscaleController(bare).known_ids() == tuple(sim.sample_ids())
        await close_client(bare)

    runner.run(scenario())
    assert not default_file.exists()
