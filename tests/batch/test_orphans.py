"""A submission whose 201 never reached the ledger is found again, not sent again; and
nothing is sent to an account whose health is not OK.

An orphan is made the way a crash makes one: the batch's intent row is in the ledger,
the request reached the server (a client with no ledger sends it), and no row records
the 201. Submissions and executions are counted at the simulator.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from typing import Any

from batchkit import FAST, JO, SAM, jobs_by_source, requests, submits

import flowup_nb as fu
from flowup_nb.api.exchange import intent_exchange
from flowup_nb.ledger.job_history import open_intents


def _orphan(sim: Any, ledger: Any, source: str, resolution: str, *, sent: bool = True) -> str:
    """An intent in the ledger and, if ``sent``, its job on the server, 201 unrecorded."""
    reply_ref = f"flowup-{secrets.token_hex(12)}"
    ledger.record(
        intent_exchange(
            session_id="a-dead-kernel",
            tags=(),
            source_id=source,
            resolution=resolution,
            reply_ref=reply_ref,
        )
    )
    if sent:
        with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as no_ledger:
            no_ledger.submit_upscale(source, resolution, reply_ref=reply_ref)
    return reply_ref


def _submissions(sim: Any) -> int:
    return int(sim.stats()["upscale_submissions"])


def test_resume_adopts_a_job_whose_201_was_lost_and_resubmits_only_an_unsent_one(
    calm_sim: Any, ledger: Any, client: fu.FlowClient
) -> None:
    lost, unsent = calm_sim.new_video_id(JO), calm_sim.new_video_id(JO)
    _orphan(calm_sim, ledger, lost, "4K")
    _orphan(calm_sim, ledger, unsent, "4K", sent=False)
    assert _submissions(calm_sim) == 1

    resumed = client.resume(progress=False).set_index("id")

    assert resumed.loc[lost, "origin"] == "adopted" and resumed.loc[lost, "submissions"] == 0
    assert resumed.loc[lost, "job_id"] == calm_sim.jobs()[0]["jobid"]
    assert resumed.loc[unsent, "origin"] == "resubmitted"
    assert resumed.loc[unsent, "submissions"] == 1
    assert set(resumed["status"]) == {"done"}
    # Each video ran once: the one whose 201 was lost was not submitted again.
    assert _submissions(calm_sim) == 2
    assert set(jobs_by_source(calm_sim).values()) == {1}
    assert calm_sim.executions() == {(lost, "4K"): 1, (unsent, "4K"): 1}
    assert calm_sim.stats()["credits_charged"] == {JO: 100}
    # Both intents are settled now: nothing left to find, nothing to run again.
    assert open_intents(ledger, since=0) == []
    assert client.resume(progress=False).empty
    again = client.upscale_many([lost, unsent], "4K", progress=False)
    assert set(again["origin"]) == {"ledger"} and _submissions(calm_sim) == 2


def test_a_rerun_of_the_batch_adopts_instead_of_submitting_again(
    calm_sim: Any, ledger: Any, client: fu.FlowClient, exchanges: list
) -> None:
    lost, unsent, fresh = (calm_sim.new_video_id(SAM) for _ in range(3))
    _orphan(calm_sim, ledger, lost, "1080p")
    _orphan(calm_sim, ledger, unsent, "1080p", sent=False)

    frame = client.upscale_many([lost, unsent, fresh], progress=False).set_index("id")

    assert list(frame["origin"]) == ["adopted", "resubmitted", "new"]
    assert list(frame["submissions"]) == [0, 1, 1]
    assert set(frame["status"]) == {"done"}
    assert _submissions(calm_sim) == 3
    assert set(jobs_by_source(calm_sim).values()) == {1}
    assert {e.source_id for e in submits(exchanges)} == {unsent, fresh}


def test_past_the_statistics_window_the_video_is_submitted_again(
    calm_sim: Any, ledger: Any, client: fu.FlowClient
) -> None:
    lost = calm_sim.new_video_id(JO)
    _orphan(calm_sim, ledger, lost, "4K")
    (job,) = calm_sim.jobs()
    with fu.FlowClient(calm_sim.token, base_url=calm_sim.base_url, **FAST) as no_ledger:
        no_ledger.wait(job["jobid"], timeout=30)
    # The job finished and left the statistics: no request can find it any more.
    calm_sim.advance(calm_sim.stats_window_seconds + 1.0)
    with fu.FlowClient(calm_sim.token, base_url=calm_sim.base_url, **FAST) as look:
        listed = look.load_stats("history").job_ids + look.load_stats("executing").job_ids
    assert job["jobid"] not in listed

    resumed = client.resume(progress=False)

    (row,) = resumed.itertuples()
    assert (row.origin, row.status, row.submissions) == ("resubmitted", "done", 1)
    assert row.job_id != job["jobid"]
    # The documented fallback: a second job and captcha, but the result is the cached one.
    assert bool(row.cached) and row.credits == 0
    assert _submissions(calm_sim) == 2
    assert calm_sim.executions() == {(lost, "4K"): 1}
    assert calm_sim.stats()["credits_charged"] == {JO: 50}


def test_the_intent_is_in_the_ledger_before_the_request_reaches_the_server(
    calm_sim: Any, ledger: Any, run_async: Any
) -> None:
    sources = [calm_sim.new_video_id(JO) for _ in range(3)]
    calm_sim.inject("upscale", "delay", delay=0.3, times=3)  # held at the server's door

    async def go() -> tuple[Any, list[Any]]:
        async with fu.AsyncFlowClient(
            calm_sim.token, base_url=calm_sim.base_url, ledger=ledger, **FAST
        ) as made:
            batch = asyncio.ensure_future(made.upscale_many(sources, progress=False))
            while requests(calm_sim, "upscale") < 1:
                await asyncio.sleep(0.002)
            seen = open_intents(ledger, since=0)  # the request arrived; no answer yet
            return await batch, seen

    frame, seen_at_arrival = run_async(go())
    assert set(frame["status"]) == {"done"} and set(frame["origin"]) == {"new"}
    assert len(seen_at_arrival) >= 1
    assert {i.source_id for i in seen_at_arrival} <= set(sources)
    rows = ledger.frame()
    intents = rows[rows["operation"] == "intent"]
    sent = rows[rows["operation"] == "submit_upscale"]
    # One intent per submission, same replyRef, written first; the server echoes it.
    assert set(intents["reply_ref"]) == set(sent["reply_ref"]) and len(intents) == 3
    first_sent = sent.groupby("reply_ref")["started_at"].min()
    for ref, written in intents.set_index("reply_ref")["started_at"].items():
        assert written <= first_sent[ref]
    echoed = {job["request"]["replyRef"] for job in calm_sim.jobs()}
    assert echoed == set(intents["reply_ref"])
    assert set(intents["outcome"].astype(str)) == {"intent"}
    assert ledger.summary().loc["(all)", "calls"] == len(rows) - 3  # intents are no calls


def test_an_unhealthy_account_gets_nothing_sent_and_each_of_its_videos_says_why(
    calm_sim: Any, ledger: Any, client: fu.FlowClient, exchanges: list
) -> None:
    healthy = [calm_sim.new_video_id(JO) for _ in range(2)]
    broken = [calm_sim.new_video_id(SAM) for _ in range(3)]
    calm_sim.set_health(SAM, "Session refresh failed")

    frame = client.upscale_many(healthy + broken, per_account=2, progress=False)
    frame = frame.set_index("id")

    assert list(frame.loc[healthy, "status"]) == ["done", "done"]
    refused = frame.loc[broken]
    assert (refused["status"] == "failed").all() and (refused["submissions"] == 0).all()
    assert set(refused["error_type"]) == {"AccountReconnectError"}
    assert all(isinstance(e, fu.AccountReconnectError) for e in refused["error"])
    assert "Session refresh failed" in str(refused["error"].iloc[0])
    assert {e.account for e in submits(exchanges)} == {JO}
    assert requests(calm_sim, "accounts") == 2  # one look-up per account, not per video

    # A resubmission by resume() is checked alike.
    _orphan(calm_sim, ledger, broken[0], "1080p", sent=False)
    before = requests(calm_sim, "upscale")
    resumed = client.resume(progress=False)
    (row,) = resumed.itertuples()
    assert (row.origin, row.status, row.error_type) == (
        "resubmitted",
        "failed",
        "AccountReconnectError",
    )
    assert requests(calm_sim, "upscale") == before


def test_an_account_that_breaks_mid_batch_stops_its_videos(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    ids = [calm_sim.new_video_id(SAM) for _ in range(4)] + [calm_sim.new_video_id(JO)]
    calm_sim.inject("upscale", "596_reconnect")
    frame = client.upscale_many(ids, concurrency=1, transient_retries=3, progress=False)
    stopped = frame[frame["account"] == SAM]
    assert set(stopped["error_type"]) == {"AccountReconnectError"}
    assert int(stopped["submissions"].sum()) == 1  # the one the 596 answered; no resend
    assert frame.loc[frame["account"] == JO, "status"].tolist() == ["done"]


def test_an_intent_too_young_to_judge_is_looked_for_again(calm_sim: Any, ledger: Any) -> None:
    """Right after a crash a request may still be on its way to becoming a job (the
    server solves the captcha first): resume() looks again until the intent is older
    than the creation grace before it submits anything."""
    source = calm_sim.new_video_id(JO)
    reply_ref = _orphan(calm_sim, ledger, source, "1080p", sent=False)
    # The request is slow to become a job: long beside the few ms the loop below takes to
    # see it arrive, short beside the 1.2 s creation grace.
    calm_sim.inject("upscale", "delay", delay=0.6)

    def send_late() -> None:
        with fu.FlowClient(calm_sim.token, base_url=calm_sim.base_url, **FAST) as no_ledger:
            no_ledger.submit_upscale(source, "1080p", reply_ref=reply_ref)

    # The grace is 60 service seconds on the client's clock, read from its poll schedule:
    # a first poll of 0.02 s (1 s by default) makes it 1.2 s.
    settings = {**FAST, "poll_interval": (0.02, 0.2)}
    late = threading.Thread(target=send_late)
    with fu.FlowClient(calm_sim.token, base_url=calm_sim.base_url, ledger=ledger, **settings) as c:
        late.start()
        try:
            while requests(calm_sim, "upscale") < 1:
                time.sleep(0.002)  # the request is at the server; its job is not made yet
            assert calm_sim.jobs() == []
            resumed = c.resume(progress=False)
        finally:
            late.join()
    (row,) = resumed.itertuples()
    assert (row.origin, row.submissions, row.status) == ("adopted", 0, "done")
    assert _submissions(calm_sim) == 1
