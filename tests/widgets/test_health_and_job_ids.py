"""The form and its controller check an account's health before sending anything to it,
and take a job id (``j...``) in the id box: the job is looked up and its videos offered.

Against a real simulator and a real event loop, with either client; requests are
counted at the simulator.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from formkit import ULTRA, close_client, make_client, text

import flowup_nb as fu
import flowup_nb.sim as simulator
from flowup_nb.widgets.controller import UpscaleController
from flowup_nb.widgets.form import UpscaleForm
from flowup_nb.widgets.status import Phase

BROKEN = "Session refresh failed: cookies expired"


@pytest.fixture
def calm() -> Iterator[simulator.SimHandle]:
    """Jobs that never fail on their own: a job id always leads to a result."""
    with simulator.start(
        seed=77, time_scale=0.001, fail_rate=0.0, captcha_acceptance=1.0
    ) as handle:
        yield handle


def _sent(sim: Any, route: str) -> int:
    return int(sim.stats()["requests"].get(route, 0))


async def _upscaled(client: Any, source: str) -> tuple[fu.Job, fu.UpscaleResult]:
    """A finished 1080p upscale of ``source``, with either client."""
    job = client.submit_upscale(source, "1080p")
    job = await job if asyncio.iscoroutine(job) else job
    done = client.wait(job, timeout=30)
    result = await done if asyncio.iscoroutine(done) else done
    return job, result


# -- health --------------------------------------------------------------------------------


def test_an_account_to_reconnect_gets_nothing_sent(
    calm: Any, runner: asyncio.Runner, kind: str
) -> None:
    async def scenario() -> None:
        client = make_client(kind, calm)
        source = calm.sample_ids(ULTRA)[0]
        calm.set_health(ULTRA, BROKEN)

        controller = UpscaleController(client)
        controller.select_source(source)
        assert controller.upscale_verdict.allowed and "checking" in controller.account_text
        await controller.settle()
        verdict = controller.upscale_verdict
        assert not verdict.allowed
        assert ULTRA in verdict.reason and BROKEN in verdict.reason
        assert "reconnected" in verdict.reason
        assert BROKEN in controller.account_text and "reconnected" in controller.account_text
        controller.upscale(source, "1080p", "async")
        assert controller.state.phase is Phase.ERROR
        assert controller.state.error.kind == "InputError"
        assert "not sent" in controller.state.error.message

        # Pressed before the look-up could answer: the answer still decides.
        hasty = UpscaleController(client)
        hasty.upscale(source, "1080p", "sync")
        await hasty.settle()
        assert hasty.state.phase is Phase.ERROR
        assert hasty.state.error.kind == "AccountReconnectError"
        assert _sent(calm, "upscale") == 0

        # Reconnected: a new look-up says so, and the upscale goes through.
        calm.set_health(ULTRA, "OK")
        healed = UpscaleController(client)
        healed.select_source(source)
        await healed.settle()
        assert healed.upscale_verdict.allowed
        assert "health OK" in healed.account_text and "Ultra" in healed.account_text
        healed.upscale(source, "1080p", "sync")
        await healed.settle()
        assert healed.state.phase is Phase.COMPLETED
        assert _sent(calm, "upscale") == 1
        await close_client(client)

    runner.run(scenario())


def test_the_form_shows_the_health_and_disables_upscale_with_the_reason(
    calm: Any, runner: asyncio.Runner, kind: str
) -> None:
    async def scenario() -> None:
        client = make_client(kind, calm)
        form = UpscaleForm(client, ledger=fu.Ledger())
        await form.settle()
        assert not form.upscale_button.disabled
        assert "health OK" in text(form.account_note.value)
        assert ULTRA in text(form.account_note.value)

        calm.set_health(ULTRA, BROKEN)
        other = UpscaleForm(client, ledger=fu.Ledger())
        await other.settle()
        assert other.upscale_button.disabled
        assert BROKEN in other.upscale_button.tooltip
        note = text(other.account_note.value)
        assert BROKEN in note and "reconnected" in note
        other.upscale_button.click()  # disabled in the page; a script's click is refused too
        await other.settle()
        assert _sent(calm, "upscale") == 0
        form.close()
        other.close()
        await close_client(client)

    runner.run(scenario())


# -- job ids in the id box ------------------------------------------------------------------


def test_a_job_id_offers_its_source_and_shows_its_result(
    calm: Any, runner: asyncio.Runner, kind: str
) -> None:
    async def scenario() -> None:
        client = make_client(kind, calm)
        source = calm.new_video_id(ULTRA)
        job, result = await _upscaled(client, source)
        lookups = _sent(calm, "jobs")

        controller = UpscaleController(client)
        controller.select_source(f"  {job.job_id} ")
        assert controller.job_note is not None and "looking" in controller.job_note
        assert controller.upscale_verdict.allowed  # no account to judge yet
        await controller.settle()
        offer = controller.job_offer
        assert offer is not None and offer.job.job_id == job.job_id
        assert offer.videos == (source,)
        assert offer.result is not None
        assert offer.result.media_generation_id == result.media_generation_id
        assert "source video" in controller.job_note and "upscaled video" in controller.job_note
        assert _sent(calm, "jobs") == lookups + 1

        # Choosing the offered video keeps the offer; upscaling it is a free cached repeat.
        controller.select_source(source)
        assert controller.job_offer is offer
        controller.upscale(source, "1080p", "sync")
        await controller.settle()
        assert controller.state.phase is Phase.COMPLETED and controller.result.cached
        await close_client(client)

    runner.run(scenario())


def test_a_running_generation_or_unknown_job_id(calm: Any, runner: asyncio.Runner) -> None:
    async def scenario() -> None:
        client = make_client("async", calm)
        controller = UpscaleController(client)

        calm.inject("upscale", "slow_job")
        source = calm.new_video_id(ULTRA)
        running = await client.submit_upscale(source, "4K")
        controller.select_source(running.job_id)
        await controller.settle()
        assert controller.job_offer is not None
        assert controller.job_offer.videos == (source,) and controller.job_offer.result is None

        # A generation job names the videos it made: each can be upscaled.
        made = httpx.post(
            calm.base_url + "/videos",
            json={"prompt": "a lighthouse at dusk", "async": True, "count": 2, "email": ULTRA},
            headers={"Authorization": f"Bearer {calm.token}"},
        ).json()
        generated = await client.wait(made["jobid"], timeout=30)
        controller.select_source(made["jobid"])
        await controller.settle()
        videos = controller.job_offer.videos
        assert videos == tuple(m.media_generation_id for m in generated.media) and len(videos) == 2
        assert "2 video(s) it generated" in controller.job_note

        # An id the service never issued: said so, nothing offered.
        controller.select_source("j1700000000000v-u1-email:nobody@example.com-bot:google-flow")
        await controller.settle()
        assert controller.job_offer is None
        assert controller.job_note is not None and "could not read job" in controller.job_note

        # A job id replaced by a video id before its answer came: the late answer is dropped.
        controller.select_source(running.job_id)
        controller.select_source(source)
        await controller.settle()
        assert controller.job_offer is None and controller.job_note is None
        await close_client(client)

    runner.run(scenario())


def test_the_form_puts_a_jobs_videos_in_the_id_box(
    calm: Any, runner: asyncio.Runner, kind: str
) -> None:
    async def scenario() -> None:
        client = make_client(kind, calm)
        source = calm.new_video_id(ULTRA)
        job, result = await _upscaled(client, source)
        form = UpscaleForm(client, ledger=fu.Ledger())
        await form.settle()

        form.source.value = job.job_id
        await form.settle()
        assert form.source.value == source
        assert form.source.options[0] == source
        samples = set(calm.sample_ids())
        assert samples and samples <= set(form.source.options)  # still offered
        view = form.job_view.value
        assert job.job_id in text(view) and "<video" in view
        assert html.escape(result.video_url, quote=True) in view
        assert not form.upscale_button.disabled
        form.upscale_button.click()
        await form.settle()
        assert form.state.phase is Phase.COMPLETED and form.result.cached
        form.close()
        await close_client(client)

    runner.run(scenario())
