"""UpscaleForm, driven like a person would: set the inputs, click, await the form's task.

Each test runs a real simulator and a real event loop; the form's clicks become tasks on
that loop exactly as in a kernel, with either client.
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

import httpx
import pytest
from formkit import (
    FAST,
    PRO,
    ULTRA,
    attribute,
    close_client,
    fact,
    make_client,
    text,
    until,
)
from mp4probe import probe_mp4

import flowup_nb as fu
from flowup_nb.widgets.form import UpscaleForm
from flowup_nb.widgets.status import Phase


def _account(sim: Any, email: str) -> dict[str, Any]:
    return next(a for a in sim.accounts if a["email"] == email)


def test_sync_upscale_shows_every_field(
    sim: Any, runner: asyncio.Runner, kind: str, tmp_path: Any
) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        source = sim.sample_ids(ULTRA)[0]
        form = UpscaleForm(client, ledger=fu.Ledger(tmp_path / "ids.sqlite"))
        await form.settle()  # the account check behind the 4K option
        assert form.source.value == source  # the first sample is preselected
        form.upscale_button.click()
        assert form.upscale_button.disabled and not form.cancel_button.disabled
        await form.settle()

        result = form.result
        assert form.state.phase is Phase.COMPLETED
        assert result.resolution == "1080p" and not result.cached
        # The status line: state, mode, elapsed time, job id.
        status = text(form.status.value)
        assert "done" in status and "1080p sync" in status
        assert f"job {result.job_id}" in status
        assert form.state.elapsed(0) is not None and form.state.elapsed(0) > 0
        # The player: the escaped signed URL, the thumbnail as poster.
        view = form.result_view.value
        assert '<video class="flowup-video" controls muted playsinline' in view
        assert attribute(view, "flowup-video", "src") == result.video_url
        assert attribute(view, "flowup-video", "poster") == result.thumbnail_url
        assert html.escape(result.video_url, quote=True) in view
        # The facts beside it.
        balance = _account(sim, ULTRA)["credits"]
        assert fact(view, "credits") == f"{balance:,} left · 0 spent"
        captcha = result.captcha
        shown = fact(view, "captcha")
        assert shown.startswith(captcha.service)
        assert f"{len(captcha.attempts)} attempt" in shown
        assert fact(view, "upscaled id") == result.media_generation_id
        assert fact(view, "job") == result.job_id
        assert fact(view, "link") == "ok: the signed URL serves the video"
        assert fact(view, "cost") is None  # not a cached repeat
        # Download: a link in the page and the Save button.
        assert attribute(form.download_link.value, "flowup-download-link", "href") == (
            result.video_url
        )
        assert form.actions.layout.display is None
        assert form.refetch_button.layout.display == "none"
        assert form.error.value == ""
        assert sim.stats()["upscale_submissions"] == 1
        await close_client(client)

    runner.run(scenario())


def test_async_4k_moves_through_the_job_states(
    sim: Any, runner: asyncio.Runner, kind: str, tmp_path: Any
) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        form = UpscaleForm(client, ledger=fu.Ledger(tmp_path / "ids.sqlite"))
        await form.settle()
        assert form.resolution.four_k_allowed
        before = _account(sim, ULTRA)["credits"]
        phases: list[str] = []
        form.status.observe(
            lambda change: phases.append(
                attribute(change["new"], "flowup-status-line", "data-phase") or ""
            ),
            names="value",
        )
        form.resolution.value = "4K"
        form.mode.value = "async"
        form.upscale_button.click()
        await until(lambda: form.state.job_id is not None)
        # The job id is on the status line while the job still runs.
        assert form.state.busy and form.state.job_id in text(form.status.value)
        await form.settle()

        assert form.state.phase is Phase.COMPLETED
        seen = list(dict.fromkeys(phases))
        assert seen[0] == "submitting" and seen[-1] == "completed"
        assert {"created", "started"} & set(seen)
        assert seen.index("submitting") < seen.index("completed")
        result = form.result
        after = _account(sim, ULTRA)["credits"]
        assert before - after == 50 == before - result.remaining_credits
        assert fact(form.result_view.value, "credits") == f"{after:,} left · 50 spent"
        assert result.resolution == "4K"
        assert "4K async" in text(form.status.value)
        # The 4K option now shows the balance the answer reported.
        assert f"{after:,} credits" in form.resolution.reason_text
        await close_client(client)

    runner.run(scenario())


def test_double_click_sends_once(sim: Any, runner: asyncio.Runner, kind: str) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        form = UpscaleForm(client, ledger=fu.Ledger())
        await form.settle()
        form.upscale_button.click()
        form.upscale_button.click()
        await asyncio.sleep(0)
        form.upscale_button.click()
        await form.settle()
        assert form.state.phase is Phase.COMPLETED
        assert sim.stats()["upscale_submissions"] == 1
        assert sim.stats()["requests"]["upscale"] == 1
        await close_client(client)

    runner.run(scenario())


def test_cancel_keeps_the_job_resumable(sim: Any, runner: asyncio.Runner, kind: str) -> None:
    ledger = fu.Ledger()

    async def scenario() -> None:
        client = make_client(kind, sim, ledger=ledger)
        form = UpscaleForm(client, ledger=ledger)
        await form.settle()
        sim.inject("upscale", "slow_job")  # runs 20 simulated minutes: about a second here
        form.mode.value = "async"
        form.upscale_button.click()
        await until(lambda: form.state.job_id is not None)
        job_id = form.state.job_id
        form.cancel_button.click()

        assert form.state.phase is Phase.CANCELLED
        assert not form.upscale_button.disabled and form.cancel_button.disabled
        assert job_id in form.state.note and f"client.wait({job_id!r})" in form.state.note
        assert form.resume_button.layout.display is None
        assert job_id in text(form.status.value)
        await form.settle()
        assert form.state.phase is Phase.CANCELLED  # a late poll does not revive it
        # The job is in the ledger, and still running on the server.
        assert job_id in set(ledger.frame()["job_id"].dropna())
        record = next(j for j in sim.jobs() if j["jobid"] == job_id)
        assert record["status"] in ("created", "started")

        form.resume_button.click()
        assert form.state.busy
        await form.settle()
        assert form.state.phase is Phase.COMPLETED
        assert form.result.job_id == job_id
        assert sim.stats()["upscale_submissions"] == 1
        await close_client(client)

    runner.run(scenario())


def test_cancel_in_sync_mode_notes_what_happened_to_the_request(
    sim: Any, runner: asyncio.Runner, kind: str
) -> None:
    ledger = fu.Ledger()

    async def scenario() -> None:
        client = make_client(kind, sim, ledger=ledger)
        form = UpscaleForm(client, ledger=ledger)
        await form.settle()
        sim.inject("upscale", "slow_job")  # the sync answer becomes a 408 after 10 sim-minutes
        form.upscale_button.click()
        # The request has reached the server, which holds it: it is in flight.
        await until(lambda: sim.stats()["requests"].get("upscale", 0) == 1)
        assert form.state.phase is Phase.SUBMITTING
        form.cancel_button.click()
        assert form.state.phase is Phase.CANCELLED
        assert "asking again is free" in form.state.note
        await form.settle()  # the request itself was not cut: it ends in the background
        assert form.state.phase is Phase.CANCELLED
        assert "stopped after Cancel" in form.state.note and "408" in form.state.note
        rows = ledger.frame()
        assert (rows["http_status"] == 408).sum() == 1
        await close_client(client)

    runner.run(scenario())


# -- errors -----------------------------------------------------------------------------

ERROR_CASES = [
    # (injected fault, error class, words in the title, words in the retry advice)
    ("400", "BadRequestError", "Bad request (HTTP 400)", "fix the request"),
    ("401", "AuthenticationError", "Token refused (HTTP 401)", "token is fixed"),
    ("402", "PaymentRequiredError", "Payment required (HTTP 402)", "subscription or credits"),
    ("403_captcha", "CaptchaRejectedError", "Captcha rejected", "higher captcha retry"),
    ("404", "NotFoundError", "Not found (HTTP 404)", "fix the request"),
    ("408", "PollingTimeoutError", "stopped waiting (HTTP 408)", "free"),
    ("429_throttled", "RateLimitError", "Rate limited (HTTP 429)", "UTC (in"),
    ("429_model_quota", "RateLimitError", "Rate limited (HTTP 429)", "UTC (in"),
    ("429_no_eligible_account", "NoEligibleAccountError", "(HTTP 429)", "UTC (in"),
    ("503_unavailable", "ServiceUnavailableError", "Service unavailable", "5-10 s"),
    ("503_captcha_service", "CaptchaProviderError", "Captcha provider failed", "provider"),
    ("500", "ServerError", "Server error (HTTP 500)", "UTC"),
    ("drop", "APIConnectionError", "Could not reach the API", "idempotent"),
    ("malformed_json", "ResponseFormatError", "could not read", "now"),
]


@pytest.mark.parametrize(("fault", "kind_name", "title", "retry"), ERROR_CASES)
def test_each_error_class_is_shown_with_advice(
    sim: Any, runner: asyncio.Runner, fault: str, kind_name: str, title: str, retry: str
) -> None:
    async def scenario() -> None:
        client = make_client("async", sim)
        form = UpscaleForm(client, ledger=fu.Ledger())
        await form.settle()
        sim.inject("upscale", fault)
        form.upscale_button.click()
        await form.settle()

        assert form.state.phase is Phase.ERROR
        view = form.state.error
        assert view.kind == kind_name
        assert title in view.title
        assert retry in view.retry
        box = form.error.value
        assert attribute(box, "flowup-errorbox", "data-kind") == kind_name
        shown = text(box)
        assert view.message in shown and view.advice in shown and view.retry in shown
        assert view.advice.strip()
        assert "error" in text(form.status.value)
        assert not form.upscale_button.disabled  # ready for the next try
        assert sim.token not in box
        if kind_name in ("RateLimitError", "NoEligibleAccountError"):
            # The cooldown the server announced, as a clock time.
            assert view.retry_at is not None
            assert f"{view.retry_at:%H:%M:%S}" in shown
        await close_client(client)

    runner.run(scenario())


def test_a_failed_job_is_shown_as_failed(sim: Any, runner: asyncio.Runner, kind: str) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        form = UpscaleForm(client, ledger=fu.Ledger(), mode="async")
        await form.settle()
        sim.inject("upscale", "job_fail")
        form.upscale_button.click()
        await form.settle()
        assert form.state.phase is Phase.FAILED
        assert form.state.error.kind == "JobFailedError"
        assert form.state.error.job_id == form.state.job_id is not None
        assert "failed" in text(form.status.value)
        assert "costs nothing" in text(form.error.value)
        await close_client(client)

    runner.run(scenario())


def test_bad_input_is_refused_before_any_request(sim: Any, runner: asyncio.Runner) -> None:
    async def scenario() -> None:
        client = make_client("async", sim)
        form = UpscaleForm(client, ledger=fu.Ledger())
        await form.settle()
        for value, words in (
            ("https://example.com/video.mp4", "URL"),
            ("", "empty"),
            ("user:1-email:6a6f-image:abc", "image"),
        ):
            form.source.value = value
            form.upscale_button.click()
            await form.settle()
            assert form.state.phase is Phase.ERROR
            assert form.state.error.kind == "InputError"
            assert words in form.state.error.message
            assert "Nothing was sent" in text(form.error.value)
        form.source.value = sim.sample_ids(ULTRA)[0]
        form.captcha.kind.value = "token"
        form.captcha.token.value = "short"
        form.upscale_button.click()
        await form.settle()
        assert form.state.error.kind == "InputError"
        assert "captcha_token" in form.state.error.message
        assert sim.stats()["requests"].get("upscale", 0) == 0
        await close_client(client)

    runner.run(scenario())


def test_unexpected_exceptions_are_shown_not_swallowed(sim: Any, runner: asyncio.Runner) -> None:
    class BrokenClient(fu.AsyncFlowClient):
        async def upscale(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a bug in a callback")

    async def scenario() -> None:
        client = BrokenClient(sim.token, base_url=sim.base_url)
        form = UpscaleForm(client, ledger=fu.Ledger())
        form.source.value = sim.sample_ids(ULTRA)[0]
        form.upscale_button.click()
        await form.settle()
        assert form.state.phase is Phase.ERROR
        assert form.state.error.kind == "RuntimeError"
        box = text(form.error.value)
        assert "a bug in a callback" in box and "Traceback" in box
        assert not form.upscale_button.disabled
        await client.aclose()

    runner.run(scenario())


def test_clicking_outside_a_kernel_explains_instead_of_failing(sim: Any) -> None:
    client = make_client("sync", sim)
    form = UpscaleForm(client, ledger=fu.Ledger())
    form.source.value = sim.sample_ids(ULTRA)[0]
    form.upscale_button.click()
    assert form.state.phase is Phase.ERROR
    assert "running event loop" in form.state.error.message
    assert sim.stats()["requests"].get("upscale", 0) == 0
    client.close()


# -- 4K, captcha, sources ---------------------------------------------------------------


def test_4k_is_disabled_with_a_reason_on_a_pro_account(
    sim: Any, runner: asyncio.Runner, kind: str
) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        form = UpscaleForm(client, ledger=fu.Ledger())
        await form.settle()
        assert form.resolution.four_k_allowed
        assert "50 credits" in form.resolution.uhd.description
        form.source.value = sim.sample_ids(PRO)[0]
        await form.settle()
        assert not form.resolution.four_k_allowed
        assert form.resolution.uhd.disabled
        reason = form.resolution.reason_text
        assert "Ultra" in reason and PRO in reason and "Pro" in reason
        assert reason in text(form.resolution.reason.value)
        with pytest.raises(fu.InputError, match="4K is not available"):
            form.resolution.value = "4K"
        # Back on an Ultra account, with the balance the API reported.
        form.source.value = sim.sample_ids(ULTRA)[1]
        await form.settle()
        assert form.resolution.four_k_allowed
        assert f"{_account(sim, ULTRA)['credits']:,} credits" in form.resolution.reason_text
        await close_client(client)

    runner.run(scenario())


def test_4k_selection_falls_back_when_the_account_cannot(sim: Any, runner: asyncio.Runner) -> None:
    async def scenario() -> None:
        client = make_client("async", sim)
        form = UpscaleForm(client, ledger=fu.Ledger(), resolution="4K")
        await form.settle()
        assert form.resolution.value == "4K"
        form.source.value = sim.sample_ids(PRO)[0]
        await form.settle()
        assert form.resolution.value == "1080p"
        await close_client(client)

    runner.run(scenario())


@pytest.mark.parametrize(
    ("option", "sent"),
    [
        ({"kind": "retry", "retry": 7}, {"captchaRetry": 7}),
        (
            {"kind": "order", "order": ["2Captcha", "CapSolver"]},
            {"captchaOrder": "2Captcha,CapSolver"},
        ),
        ({"kind": "token", "token": "0123456789abcdefghijKLMN"}, {"captchaToken": "012345"}),
    ],
)
def test_captcha_options_are_exclusive_by_construction(
    sim: Any, runner: asyncio.Runner, option: dict[str, Any], sent: dict[str, Any]
) -> None:
    async def scenario() -> None:
        client = make_client("async", sim)
        form = UpscaleForm(client, ledger=fu.Ledger())
        await form.settle()
        picker = form.captcha
        # Fill every field; only the chosen kind's value may be sent.
        picker.retry.value = 9
        picker.order.value = ["AntiCaptcha"]
        picker.token.value = "zyxwvutsrqponmlkjihgfedcba"
        picker.kind.value = option["kind"]
        for name in ("retry", "order", "token"):
            if name in option:
                getattr(picker, name).value = option[name]
        shown = {n: getattr(picker, n).layout.display for n in ("retry", "order", "token")}
        assert [n for n, d in shown.items() if d is None] == [option["kind"]]
        form.upscale_button.click()
        await form.settle()
        assert form.state.phase is Phase.COMPLETED
        request = sim.jobs()[-1]["request"]
        captcha_keys = {k for k in request if k.startswith("captcha")}
        assert captcha_keys == set(sent)
        for key, value in sent.items():
            assert str(request[key]).startswith(str(value))
        service = form.result.captcha.service
        if option["kind"] == "token":
            assert service == "UserProvided"
        if option["kind"] == "order":
            assert form.result.captcha.attempts[0].service == "2Captcha"
        assert fact(form.result_view.value, "captcha").startswith(service)
        await close_client(client)

    runner.run(scenario())


def test_sources_offer_samples_and_ledger_ids(sim: Any, runner: asyncio.Runner) -> None:
    ledger = fu.Ledger()

    async def scenario() -> None:
        fresh = sim.new_video_id(ULTRA)
        client = make_client("async", sim, ledger=ledger)
        await client.upscale(fresh)  # now the ledger knows this video
        form = UpscaleForm(client, ledger=ledger)
        options = form.source.options
        assert fresh in options
        assert set(sim.sample_ids()) <= set(options)
        assert not any(o.endswith("_upsampled") for o in options)
        badge = form.header.value
        assert "SIMULATOR" in badge and sim.token not in badge
        await form.settle()
        await close_client(client)

    runner.run(scenario())


def test_sources_come_from_the_clients_own_ledger(sim: Any, tmp_path: Any) -> None:
    default_file = tmp_path / "ledger.sqlite"  # where FLOWUP_LEDGER points in the tests
    own = fu.Ledger(tmp_path / "own.sqlite")
    fresh = sim.new_video_id(ULTRA)
    with fu.FlowClient(sim.token, base_url=sim.base_url, ledger=own, **FAST) as client:
        client.upscale(fresh)
        form = UpscaleForm(client, check_links=False)  # no ledger=: the client's is read
        assert fresh in form.source.options
        form.close()
    assert not default_file.exists()  # the per-user default was neither read nor made


def test_live_badge_and_no_simulated_ids_for_a_remote_api(sim: Any) -> None:
    ledger = fu.Ledger()
    with fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **FAST) as simulated:
        simulated.upscale(sim.sample_ids(ULTRA)[0])
    client = fu.FlowClient("not-a-real-token", base_url="https://api.useapi.net/v1/google-flow")
    form = UpscaleForm(client, ledger=ledger, check_links=False)
    assert "LIVE API" in form.header.value and "SIMULATOR" not in form.header.value
    assert "not-a-real-token" not in form.header.value
    assert form.source.options == ()  # the simulator's videos do not exist there
    client.close()


# -- the video: expiry, re-fetch, save ----------------------------------------------------


def test_expired_link_offers_a_free_refetch(sim: Any, runner: asyncio.Runner, kind: str) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        form = UpscaleForm(client, ledger=fu.Ledger())
        await form.settle()
        form.upscale_button.click()
        await form.settle()
        assert form.link is not None and form.link.ok
        sim.advance(7 * 3600 * sim.time_scale)  # past the signed URL's (scaled) 6 hours
        form.check_button.click()
        await form.settle()
        assert not form.link.ok and form.link.expired
        assert form.refetch_button.layout.display is None
        assert "Fetch again (free)" in fact(form.result_view.value, "link")
        before = sim.stats()["cache_hits"]

        form.refetch_button.click()
        await form.settle()
        result = form.result
        assert form.state.phase is Phase.COMPLETED
        assert result.cached and result.raw_bytes
        assert sim.stats()["cache_hits"] == before + 1
        src = attribute(form.result_view.value, "flowup-video", "src")
        assert src.startswith("data:video/mp4;base64,")
        assert fact(form.result_view.value, "cost") == "free: cached repeat"
        assert fact(form.result_view.value, "credits").endswith("· 0 spent")
        assert form.refetch_button.layout.display == "none"
        assert fact(form.result_view.value, "link") is None
        await close_client(client)

    runner.run(scenario())


def test_save_writes_the_video(sim: Any, runner: asyncio.Runner, kind: str, tmp_path: Any) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        form = UpscaleForm(client, ledger=fu.Ledger(), download_dir=tmp_path)
        await form.settle()
        form.upscale_button.click()
        await form.settle()
        form.save_button.click()
        await form.settle()
        path = form.saved_path
        assert path is not None and path.parent == tmp_path
        assert path.name in text(form.actions_note.value)
        info = probe_mp4(path)
        assert (info.width, info.height) == (1920, 1080)
        await close_client(client)

    runner.run(scenario())


def test_the_form_makes_its_own_client_when_given_none() -> None:
    # connect() without USEAPI_TOKEN starts the embedded simulator; the form owns it.
    form = UpscaleForm(check_links=False)
    simulator = form.client.simulator
    try:
        assert simulator is not None
        assert "SIMULATOR" in form.header.value
        assert set(simulator.sample_ids()) <= set(form.source.options)
        assert httpx.get(simulator.base_url + "/accounts").status_code == 401
    finally:
        form.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(simulator.base_url + "/accounts")


def test_a_wait_past_its_deadline_stays_resumable(sim: Any, runner: asyncio.Runner) -> None:
    async def scenario() -> None:
        client = make_client("async", sim)
        form = UpscaleForm(client, ledger=fu.Ledger(), mode="async", wait_timeout=0.2)
        await form.settle()
        sim.inject("upscale", "slow_job")  # longer than the form's 0.2 s deadline
        form.upscale_button.click()
        await form.settle()
        assert form.state.error.kind == "JobTimeoutError"
        assert form.state.phase is Phase.CANCELLED  # not a failure: the job runs on
        assert form.resume_button.layout.display is None
        assert "Resume" in text(form.error.value)
        form.wait_timeout = 60.0
        form.resume_button.click()
        await form.settle()
        assert form.state.phase is Phase.COMPLETED
        await close_client(client)

    runner.run(scenario())


def test_saving_an_expired_video_offers_the_refetch(
    sim: Any, runner: asyncio.Runner, tmp_path: Any
) -> None:
    async def scenario() -> None:
        client = make_client("sync", sim)
        form = UpscaleForm(client, ledger=fu.Ledger(), download_dir=tmp_path)
        await form.settle()
        form.upscale_button.click()
        await form.settle()
        sim.advance(7 * 3600 * sim.time_scale)
        form.save_button.click()
        await form.settle()
        box = form.error.value
        assert attribute(box, "flowup-errorbox", "data-kind") == "MediaExpiredError"
        assert "repeat upscale is free" in text(box)
        assert form.refetch_button.layout.display is None
        assert form.saved_path is None and not list(tmp_path.glob("*.mp4"))
        await close_client(client)

    runner.run(scenario())


def test_without_a_widget_front_end_the_form_says_what_to_do(
    sim: Any, runner: asyncio.Runner, kind: str, tmp_path: Any
) -> None:
    async def scenario() -> None:
        client = make_client(kind, sim)
        form = UpscaleForm(client, ledger=fu.Ledger(tmp_path / "ids.sqlite"))
        await form.settle()
        # A terminal or nbconvert shows the text/plain part of the widget's display.
        shown = form._repr_mimebundle_()["text/plain"]
        assert shown.startswith("UpscaleForm(ready")
        assert "client.upscale(video_id)" in shown and "VBox" not in shown
        form.close()
        await close_client(client)

    runner.run(scenario())
