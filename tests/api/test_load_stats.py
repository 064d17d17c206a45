"""``client.load_stats()``: the service's load statistics, typed, against the simulator;
and finding a job by its replyRef through them (``api/job_search.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from client_support import ULTRA

import flowup_nb as fu
from flowup_nb.api.job_search import email_could_be, find_by_reply_ref_sync, preferred
from flowup_nb.api.parsing import parse_job_stats

PAT = "pat.pro@example.com"


def _stats_requests(sim: Any) -> int:
    return int(sim.stats()["requests"].get("job_stats", 0))


def test_the_counters_the_running_jobs_and_the_recent_ones(
    sim: Any, client: Any, exchanges: list
) -> None:
    jobs = [client.submit_upscale(sim.new_video_id(ULTRA), "4K") for _ in range(2)]
    ids = {job.job_id for job in jobs}

    running = client.load_stats("executing")
    assert isinstance(running, fu.JobStats) and running.option == "executing"
    assert ids <= {job.job_id for job in running.executing}
    assert running.history == ()
    for job in running.executing:
        assert email_could_be(job.email, ULTRA) and job.email != ULTRA  # masked
        assert job.started is not None and job.elapsed_s is not None and job.elapsed_s >= 0
        assert job.group == "videos"  # listed again under "combined", kept once
    mine = [c for c in running.counters if c.group == "videos" and email_could_be(c.email, ULTRA)]
    assert len(mine) == 1 and mine[0].executing == 2
    assert {c.group for c in running.counters} == {"videos", "images", "combined"}
    assert len(running.emails) == len(sim.accounts)

    outcomes = {}
    for job in jobs:
        try:
            client.wait(job, timeout=30)
            outcomes[job.job_id] = 200
        except fu.JobFailedError:
            outcomes[job.job_id] = 500
    recent = client.load_stats("history")
    assert recent.executing == ()
    listed = {job.job_id: job for job in recent.history}
    assert ids <= set(listed)
    for job_id, status in outcomes.items():
        assert listed[job_id].http_status == status
        assert listed[job_id].response_ms is not None and listed[job_id].response_ms > 0
    assert recent.job_ids == tuple(listed)

    counters = recent.frame()
    assert list(counters.columns) == [
        "group",
        "email",
        "executing",
        "completed",
        "failed",
        "rate_limited",
        "avg_response_ms",
        "score",
    ]
    assert len(counters) == 3 * len(sim.accounts)
    videos = counters[(counters["group"] == "videos") & counters["email"].str.startswith("jo")]
    assert int(videos["completed"].iloc[0]) + int(videos["failed"].iloc[0]) == 2
    listed_jobs = recent.jobs_frame()
    assert set(listed_jobs["state"]) == {"finished"} and set(ids) <= set(listed_jobs["job_id"])
    assert str(listed_jobs["started"].dtype).startswith("datetime64")

    summary = client.load_stats()
    assert summary.option == "summary" and summary.executing == summary.history == ()
    rows = [e for e in exchanges if e.operation == "load_stats"]
    assert len(rows) == _stats_requests(sim) == 3
    assert {(e.method, e.endpoint, e.outcome, e.http_status) for e in rows} == {
        ("GET", "/jobs", "ok", 200)
    }


@pytest.mark.parametrize("options", ["Summary", "all", "", "executing,history", None, 3])
def test_an_unknown_option_is_refused_before_any_request(
    sim: Any, client: Any, options: object
) -> None:
    with pytest.raises(fu.InputError) as caught:
        client.load_stats(options)
    assert all(name in str(caught.value) for name in ("summary", "executing", "history"))
    assert _stats_requests(sim) == 0


def test_each_exchange_is_a_typed_ledger_row(sim: Any, make_client: Any, tmp_path: Path) -> None:
    with fu.Ledger(tmp_path / "stats.sqlite") as ledger:
        client = make_client(sim.token, base_url=sim.base_url, ledger=ledger)
        client.load_stats("history")
        sim.inject("job_stats", "401")
        with pytest.raises(fu.AuthenticationError):
            client.load_stats("executing")
        rows = ledger.frame()
    assert list(rows["operation"].astype(str)) == ["load_stats", "load_stats"]
    assert list(rows["outcome"].astype(str)) == ["ok", "error"]
    assert list(rows["error_type"].astype(object).fillna("-")) == ["-", "AuthenticationError"]


def test_a_job_is_found_by_its_reply_ref(sim: Any, make_client: Any) -> None:
    client = make_client(sim.token, base_url=sim.base_url)
    ours = client.submit_upscale(sim.new_video_id(ULTRA), "1080p", reply_ref="ref-ours")
    client.submit_upscale(sim.new_video_id(ULTRA), "1080p", reply_ref="ref-other")
    client.submit_upscale(sim.new_video_id(PAT), "1080p", reply_ref="ref-pat")
    before = int(sim.stats()["requests"].get("jobs", 0))

    search = find_by_reply_ref_sync(client, {"ref-ours": ULTRA, "ref-gone": ULTRA})
    assert set(search.found) == {"ref-ours"}
    assert search.found["ref-ours"].job_id == ours.job_id
    # Only jobs that could be the account's were read: the masked email rules out PAT's.
    assert len(search.read) == 2
    assert int(sim.stats()["requests"]["jobs"]) == before + 2
    # What the caller already knows is not read again.
    again = find_by_reply_ref_sync(client, {"ref-ours": ULTRA}, skip=lambda ids: set(ids))
    assert again.found == {} and again.read == frozenset()


def test_masked_emails_are_matched_by_what_they_show() -> None:
    assert email_could_be("jo***@example.com", "jo.ultra@example.com")
    assert not email_could_be("jo***@example.com", "pat.pro@example.com")
    assert not email_could_be("jo***@gmail.com", "jo.ultra@example.com")
    assert email_could_be("JO.ultra@example.com", "jo.ultra@example.com")
    assert not email_could_be("jo***o@x.com", "jo@x.com")  # too short for what it shows
    assert email_could_be(None, "jo.ultra@example.com") and email_could_be("x***@y.z", None)


def test_the_parser_takes_loose_types_and_other_shapes() -> None:
    body = {
        "videos": {
            "summary": {"jo***@gmail.com": {"executing": "2", "completed": 1.0, "score": "2.5"}},
            # A list of objects naming their ids instead of a map; h:mm:ss; ms as text.
            "executing": [
                {"jobId": "j1-a", "email": "jo***@gmail.com", "timestamp": "1700000000000"},
                {"jobid": "j1-b", "elapsed": "1:02:03", "timestamp": "2026-05-01T10:00:00Z"},
                {"email": "no id: skipped"},
            ],
            "history": {"j1-c": {"httpStatus": "200", "responseTime": 1234.4, "elapsed": None}},
        },
        "audio": {"summary": {"pa***@gmail.com": {"executing": True, "failed": [1]}}},
        "combined": {"executing": {"j1-a": {"elapsed": "00:07"}}},
        "emails": "not a list",
    }
    stats = parse_job_stats(body, option="executing")
    assert [(c.group, c.email) for c in stats.counters] == [
        ("videos", "jo***@gmail.com"),
        ("audio", "pa***@gmail.com"),
    ]
    first = stats.counters[0]
    assert (first.executing, first.completed, first.failed, first.score) == (2, 1, None, 2.5)
    assert (stats.counters[1].executing, stats.counters[1].failed) == (None, None)
    assert stats.emails == ("jo***@gmail.com", "pa***@gmail.com")  # from the counters
    running = {job.job_id: job for job in stats.executing}
    assert set(running) == {"j1-a", "j1-b"}
    assert running["j1-a"].group == "videos" and running["j1-a"].elapsed_s is None
    assert running["j1-a"].started is not None and running["j1-a"].started.year == 2023
    assert running["j1-b"].elapsed_s == 3723 and running["j1-b"].started.month == 5
    (recent,) = stats.history
    assert (recent.http_status, recent.response_ms, recent.email) == (200, 1234, None)
    assert parse_job_stats({}).counters == () and parse_job_stats({}).option == "summary"
    with pytest.raises(fu.ResponseFormatError):
        parse_job_stats(["not", "an", "object"])


def test_of_twin_jobs_the_completed_one_is_preferred() -> None:
    def job(job_id: str, status: str, minute: int) -> fu.Job:
        created = datetime(2026, 5, 1, 10, minute, tzinfo=UTC)
        return fu.Job(job_id, status, created, created, {"replyRef": "twin"}, None, None, None)

    done, running, failed = (
        job("j1-done", "completed", 1),
        job("j1-run", "started", 2),
        job("j1-failed", "failed", 3),
    )
    assert preferred([failed, running, done]) is done
    assert preferred([failed, running]) is running
    assert preferred([failed, job("j1-later", "failed", 4)]).job_id == "j1-later"
    assert preferred([]) is None
