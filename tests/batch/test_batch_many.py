"""upscale_many against the simulator: limits, pauses, stops, typed errors, modes."""

from __future__ import annotations

from typing import Any

import pytest
from batchkit import FAST, JO, LEE, PAT, SAM, jobs_by_source, requests, submits

import flowup_nb as fu
from flowup_nb.batch import COLUMNS


def test_a_batch_upscales_each_distinct_video_once(calm_sim: Any, client: fu.FlowClient) -> None:
    ids = [calm_sim.new_video_id(JO) for _ in range(6)] + [
        calm_sim.new_video_id(PAT) for _ in range(4)
    ]
    frame = client.upscale_many(ids + ids[:4] + [(ids[0], "1080p")], progress=False)

    assert list(frame.columns) == list(COLUMNS)
    assert list(frame["id"]) == ids  # one row per distinct id, in input order
    assert set(frame["status"]) == {"done"} and set(frame["origin"]) == {"new"}
    assert list(frame["result_id"]) == [source + "_upsampled" for source in ids]
    assert frame["video_url"].str.startswith(calm_sim.media_base).all()
    assert list(frame["account"]) == [JO] * 6 + [PAT] * 4
    assert (frame["submissions"] == 1).all() and (frame["credits"] == 0).all()
    assert all(isinstance(r, fu.UpscaleResult) for r in frame["result"])
    assert calm_sim.stats()["upscale_submissions"] == 10
    assert set(jobs_by_source(calm_sim).values()) == {1}
    assert int(frame["polls"].sum()) == requests(calm_sim, "jobs")


def test_4k_on_a_non_ultra_account_is_refused_without_a_request(
    calm_sim: Any, client: fu.FlowClient, exchanges: list
) -> None:
    ultra = [calm_sim.new_video_id(JO), calm_sim.new_video_id(SAM)]
    pro = [calm_sim.new_video_id(PAT) for _ in range(3)]
    frame = client.upscale_many(ultra + pro, "4K", progress=False).set_index("id")

    assert list(frame.loc[ultra, "status"]) == ["done", "done"]
    assert list(frame.loc[ultra, "credits"]) == [50, 50]
    refused = frame.loc[pro]
    assert (refused["status"] == "failed").all() and (refused["submissions"] == 0).all()
    assert (refused["error_type"] == "InputError").all()
    assert "Ultra" in str(refused["error"].iloc[0]) and "1080p" in str(refused["error"].iloc[0])
    assert {e.account for e in submits(exchanges)} == {JO, SAM}
    assert calm_sim.stats()["credits_charged"] == {JO: 50, SAM: 50}
    # The tiers came from one GET /accounts/{email} per account, not one per video.
    assert requests(calm_sim, "accounts") == 3


def test_a_throttled_account_pauses_until_retry_after_while_others_go_on(
    calm_sim: Any, client: fu.FlowClient, exchanges: list
) -> None:
    ids = [calm_sim.new_video_id(email) for _ in range(6) for email in (JO, SAM)]
    # Long beside a job here (tens of ms), so the other account's next submission comes
    # inside the pause by construction, however busy the machine.
    pause = 2.0
    calm_sim.inject("upscale", "429_throttled", retry_after=pause)
    # One job per account at a time: nothing else of the throttled account is in flight.
    frame = client.upscale_many(ids, concurrency=2, per_account=1, progress=False)

    assert set(frame["status"]) == {"done"}
    refused = next(e for e in submits(exchanges) if e.http_status == 429)
    assert refused.error_reason == "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"
    paused, other = refused.account, ({JO, SAM} - {refused.account}).pop()
    later = [e for e in submits(exchanges, paused) if e.started_at > refused.finished_at]
    assert later and min(e.started_at for e in later) >= refused.finished_at + pause - 0.01
    resumed_at = min(e.started_at for e in later)
    meanwhile = [
        e for e in submits(exchanges, other) if refused.finished_at < e.started_at < resumed_at
    ]
    assert meanwhile  # the other account went on while the throttled one waited
    assert calm_sim.stats()["upscale_submissions"] == len(ids)  # the 429 ran nothing


def test_a_quota_longer_than_max_pause_stops_only_that_account(
    calm_sim: Any, client: fu.FlowClient, exchanges: list
) -> None:
    ids = [calm_sim.new_video_id(email) for _ in range(6) for email in (JO, PAT)]
    calm_sim.inject("upscale", "429_quota", retry_after=7200)
    frame = client.upscale_many(ids, concurrency=1, max_pause=600, progress=False)

    stopped = frame[frame["status"] == "failed"]
    assert len(stopped) == 6 and set(stopped["account"]) == {JO}  # the first id is JO's
    assert set(stopped["error_type"]) == {"RateLimitError"}
    assert all(err.reason == "PUBLIC_ERROR_USER_QUOTA_REACHED" for err in stopped["error"])
    assert set(frame.loc[frame["status"] == "done", "account"]) == {PAT}
    assert len(submits(exchanges, JO)) == 1  # nothing sent to JO after the quota


def test_model_quota_and_unusual_activity_are_waited_out(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    ids = [calm_sim.new_video_id(JO) for _ in range(4)]
    calm_sim.inject("upscale", "429_model_quota", retry_after=0.1)
    calm_sim.inject("upscale", "429_unusual_activity", retry_after=0.1)
    frame = client.upscale_many(ids, "4K", concurrency=1, progress=False)

    assert set(frame["status"]) == {"done"}
    assert int(frame["submissions"].sum()) == 6
    assert calm_sim.stats()["credits_charged"] == {JO: 200}


@pytest.mark.parametrize("policy", ["wait", "stop"])
def test_no_eligible_account_waits_or_stops(
    calm_sim: Any, client: fu.FlowClient, policy: str
) -> None:
    ids = [calm_sim.new_video_id(SAM) for _ in range(3)]
    calm_sim.inject("upscale", "429_no_eligible_account", retry_after=0.1)
    frame = client.upscale_many(ids, concurrency=1, no_eligible=policy, progress=False)

    if policy == "wait":
        assert set(frame["status"]) == {"done"}
        assert calm_sim.stats()["upscale_submissions"] == 3
    else:
        assert set(frame["status"]) == {"failed"}
        assert set(frame["error_type"]) == {"NoEligibleAccountError"}
        assert calm_sim.stats()["upscale_submissions"] == 0


def test_errors_that_outlast_the_retries_end_typed(calm_sim: Any, client: fu.FlowClient) -> None:
    flaky, free, good = (
        calm_sim.new_video_id(JO),
        calm_sim.sample_ids(LEE)[0],
        calm_sim.new_video_id(SAM),
    )
    # The client tries each submission 3 times; a transient error is sent again by the
    # batch only when asked: with transient_retries=1 it sends it twice.
    calm_sim.inject("upscale", "503_unavailable", times=6)
    frame = client.upscale_many([flaky], transient_retries=1, progress=False)
    assert frame.loc[0, "error_type"] == "ServiceUnavailableError"
    assert frame.loc[0, "submissions"] == 2

    frame = client.upscale_many([free, good], retries=1, concurrency=1, progress=False)
    by_id = frame.set_index("id")
    assert by_id.loc[free, "error_type"] == "PaymentRequiredError"  # no subscription: final
    assert by_id.loc[free, "submissions"] == 1
    assert by_id.loc[good, "status"] == "done"
    for value in frame["error"]:
        assert value is None or isinstance(value, fu.FlowError)


def test_a_failed_job_is_submitted_again(calm_sim: Any, client: fu.FlowClient) -> None:
    source = calm_sim.new_video_id(JO)
    calm_sim.inject("upscale", "job_fail")
    frame = client.upscale_many([source], progress=False)
    assert frame.loc[0, "status"] == "done" and frame.loc[0, "submissions"] == 2
    assert [j["status"] for j in calm_sim.jobs()] == ["failed", "completed"]


def test_sync_mode_needs_no_polls(calm_sim: Any, client: fu.FlowClient) -> None:
    ids = [calm_sim.new_video_id(JO) for _ in range(5)]
    frame = client.upscale_many(ids, mode="sync", progress=False)
    assert set(frame["status"]) == {"done"} and (frame["polls"] == 0).all()
    assert requests(calm_sim, "jobs") == 0
    assert requests(calm_sim, "upscale") == 5


def test_the_async_client_gives_the_same_answer(calm_sim: Any, ledger: Any, run_async: Any) -> None:
    ids = [calm_sim.new_video_id(SAM) for _ in range(4)]

    async def go() -> Any:
        async with fu.AsyncFlowClient(
            calm_sim.token, base_url=calm_sim.base_url, ledger=ledger, **FAST
        ) as client:
            return await client.upscale_many(ids + ids, "4K", progress=False)

    frame = run_async(go())
    assert list(frame["id"]) == ids and set(frame["status"]) == {"done"}
    assert calm_sim.stats()["credits_charged"] == {SAM: 200}


def test_progress_shows_done_failed_running_and_waiting(
    calm_sim: Any, client: fu.FlowClient, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [calm_sim.new_video_id(JO) for _ in range(3)] + [calm_sim.new_video_id(PAT)]
    client.upscale_many(ids, "4K", progress=True)
    text = capsys.readouterr().err
    assert "4/4" in text
    assert "done=3" in text and "failed=1" in text and "waiting=" in text and "running=" in text


def test_bad_settings_are_refused_before_any_request(calm_sim: Any, client: fu.FlowClient) -> None:
    ids = [calm_sim.new_video_id(JO)]
    cases = [
        ({"concurrency": 0}, "concurrency"),
        ({"mode": "fast"}, "mode"),
        ({"mode": "sync", "webhook": True}, "webhooks need mode='async'"),
        ({"no_eligible": "retry"}, "no_eligible"),
        ({"per_account": {JO: 0}}, "per_account"),
        ({"captcha_retry": 3, "captcha_token": "x" * 30}, "mutually exclusive"),
        ({"webhook": "http://example.com"}, "WebhookReceiver"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(fu.InputError, match=fragment):
            client.upscale_many(ids, progress=False, **kwargs)
    with pytest.raises(fu.InputError, match="not a mediaGenerationId"):
        client.upscale_many([*ids, "not-an-id"], progress=False)
    assert sum(calm_sim.stats()["requests"].values()) == 0
