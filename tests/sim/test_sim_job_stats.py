"""GET /jobs?options=summary|executing|history: the load statistics, field by field, their
15-minute window, the 10-item cap of the history, and what a bad `options` gets."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from simkit import api, poll

import flowup_nb.sim as simulator
from flowup_nb.sim.load_stats import elapsed_text, mask_email

JO = "jo.ultra@example.com"
PAT = "pat.pro@example.com"
EMAILS = ["jo.ultra@example.com", "pat.pro@example.com", "sam.ultra@example.com",
          "lee.free@example.com"]  # fmt: skip
MASKED = ["jo***@example.com", "pa***@example.com", "sa***@example.com", "le***@example.com"]
COUNTERS = {"executing", "completed", "failed", "rateLimited", "avgResponseTime", "score"}
GROUPS = ("videos", "images", "combined")
NO_CAPTCHA_WAIT = {"captchaToken": "t" * 24}  # one UserProvided attempt, no solve time


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _stats(client, options: str | None = None) -> dict:
    response = client.get("/jobs", params={"options": options} if options else None)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def _upscale(client, source: str, **extra) -> dict:
    response = client.post("/videos/upscale", json={"mediaGenerationId": source, **extra})
    assert response.status_code in (200, 201), response.text
    return response.json()


def _record(client, job_id: str) -> dict:
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_summary_shape_field_by_field(calm_sim, client):
    done = _upscale(client, calm_sim.new_video_id(JO))
    calm_sim.inject("upscale", "job_fail")
    failed = client.post("/videos/upscale", json={"mediaGenerationId": calm_sim.new_video_id(JO)})
    assert failed.status_code == 500

    body = _stats(client)

    assert list(body) == ["emails", "videos", "images", "combined"]
    assert body["emails"] == MASKED
    for group in GROUPS:
        assert set(body[group]) == {"summary"}, group
        summary = body[group]["summary"]
        assert list(summary) == MASKED
        for email, row in summary.items():
            assert set(row) == COUNTERS, (group, email)
            for name, value in row.items():
                assert isinstance(value, int) and not isinstance(value, bool), (name, value)
    jo = body["videos"]["summary"]["jo***@example.com"]
    assert (jo["executing"], jo["completed"], jo["failed"], jo["rateLimited"]) == (0, 1, 1, 0)
    assert jo["score"] == 10  # executing + failed*10 + rateLimited*20
    records = [_record(client, done["jobId"]), _record(client, failed.json()["jobId"])]
    times = [_ms(r["updated"]) - _ms(r["created"]) for r in records]
    assert abs(jo["avgResponseTime"] - sum(times) / 2) <= 1
    idle = body["videos"]["summary"]["pa***@example.com"]
    assert idle == dict.fromkeys(COUNTERS, 0)
    # The simulator makes only videos: images stay empty, combined is their union.
    assert all(row == dict.fromkeys(COUNTERS, 0) for row in body["images"]["summary"].values())
    assert body["combined"] == body["videos"]


def test_emails_are_masked_everywhere_in_the_bodies(calm_sim, client):
    _upscale(client, calm_sim.new_video_id(JO))
    calm_sim.inject("upscale", "slow_job")
    _upscale(client, calm_sim.new_video_id(PAT), **{"async": True})
    for options in ("summary", "executing", "history"):
        body = _stats(client, options)
        entries = [
            entry
            for group in GROUPS
            for name in ("executing", "history")
            for entry in body[group].get(name, {}).values()
        ]
        assert {e["email"] for e in entries} <= set(MASKED)
        # Only the job ids (the map keys, opaque) carry an address, as live ids do.
        values_only = repr(body["emails"]) + repr(
            [(g, n, list(body[g][n].values())) for g in GROUPS for n in body[g]]
        )
        assert not any(email in values_only for email in EMAILS), options
    assert [mask_email(e) for e in EMAILS] == MASKED


def test_executing_lists_running_jobs_with_start_and_elapsed(calm_sim, client):
    calm_sim.inject("upscale", "slow_job")
    created = _upscale(client, calm_sim.new_video_id(JO), **{"async": True})

    body = _stats(client, "executing")

    for group in ("videos", "combined"):
        assert set(body[group]) == {"summary", "executing"}
        assert list(body[group]["executing"]) == [created["jobid"]]
        entry = body[group]["executing"][created["jobid"]]
        assert set(entry) == {"email", "timestamp", "elapsed"}
        assert entry["email"] == "jo***@example.com"
        assert isinstance(entry["timestamp"], int)
        assert entry["timestamp"] == _ms(created["created"])
        assert re.fullmatch(r"\d{2,}:[0-5]\d", entry["elapsed"]), entry["elapsed"]
    assert body["images"]["executing"] == {}
    assert body["videos"]["summary"]["jo***@example.com"]["executing"] == 1
    assert body["videos"]["summary"]["jo***@example.com"]["score"] == 1

    calm_sim.advance(30 * 60 * calm_sim.time_scale)  # past the slow job's 20 minutes
    assert poll(client, created["jobid"])[-1]["status"] == "completed"
    after = _stats(client, "executing")
    assert after["videos"]["executing"] == {}
    assert after["videos"]["summary"]["jo***@example.com"]["executing"] == 0


def test_elapsed_grows_with_advance_in_minutes_and_seconds():
    # time_scale 1: the slow job runs 20 real minutes unless the clock is advanced.
    with (
        simulator.start(seed=3, time_scale=1.0, fail_rate=0, captcha_acceptance=1.0) as s,
        api(s) as client,
    ):
        s.inject("upscale", "slow_job")
        job = _upscale(client, s.new_video_id(JO), **{"async": True, **NO_CAPTCHA_WAIT})

        def elapsed() -> int:
            text = _stats(client, "executing")["videos"]["executing"][job["jobid"]]["elapsed"]
            minutes, seconds = text.split(":")
            assert len(seconds) == 2 and len(minutes) >= 2, text
            return int(minutes) * 60 + int(seconds)

        before = elapsed()
        s.advance(75)
        assert elapsed() - before >= 75
        s.advance(600)
        assert elapsed() - before >= 675


def test_elapsed_text_format():
    assert elapsed_text(0) == "00:00"
    assert elapsed_text(59.99) == "00:59"
    assert elapsed_text(75.4) == "01:15"
    assert elapsed_text(7200) == "120:00"


def test_history_shape_field_by_field(calm_sim, client):
    done = _upscale(client, calm_sim.new_video_id(JO))
    calm_sim.inject("upscale", "job_fail")
    failed = client.post("/videos/upscale", json={"mediaGenerationId": calm_sim.new_video_id(PAT)})
    assert failed.status_code == 500
    calm_sim.inject("upscale", "slow_job")
    running = _upscale(client, calm_sim.new_video_id(JO), **{"async": True})

    body = _stats(client, "history")

    for group in ("videos", "combined"):
        assert set(body[group]) == {"summary", "history"}
        history = body[group]["history"]
        # Most recent first; a failed job is a finished one too, with its status.
        assert list(history) == [failed.json()["jobId"], done["jobId"]]
        assert running["jobid"] not in history
        for job_id, entry in history.items():
            assert set(entry) == {"email", "timestamp", "httpStatus", "responseTime"}
            record = _record(client, job_id)
            assert entry["timestamp"] == _ms(record["created"])
            assert isinstance(entry["responseTime"], int)
            measured = _ms(record["updated"]) - _ms(record["created"])
            assert abs(entry["responseTime"] - measured) <= 1
        assert history[done["jobId"]]["httpStatus"] == 200
        assert history[done["jobId"]]["email"] == "jo***@example.com"
        assert history[failed.json()["jobId"]]["httpStatus"] == 500
        assert history[failed.json()["jobId"]]["email"] == "pa***@example.com"
    assert body["images"]["history"] == {}


def test_history_holds_at_most_the_ten_most_recent(calm_sim, client):
    ids = [_upscale(client, calm_sim.new_video_id(JO))["jobId"] for _ in range(12)]

    body = _stats(client, "history")

    assert list(body["videos"]["history"]) == ids[::-1][:10]
    # The counters are not capped.
    assert body["videos"]["summary"]["jo***@example.com"]["completed"] == 12


def test_window_is_fifteen_service_minutes_and_advance_moves_it(calm_sim, client):
    window = calm_sim.stats_window_seconds
    assert window == pytest.approx(15 * 60 * calm_sim.time_scale)
    old = [_upscale(client, calm_sim.new_video_id(JO))["jobId"] for _ in range(3)]
    calm_sim.advance(window * 0.6)
    recent = [_upscale(client, calm_sim.new_video_id(JO))["jobId"] for _ in range(2)]

    body = _stats(client, "history")
    assert list(body["videos"]["history"]) == (old + recent)[::-1]
    assert body["videos"]["summary"]["jo***@example.com"]["completed"] == 5

    calm_sim.advance(window * 0.6)  # the first three are now older than the window
    body = _stats(client, "history")
    assert list(body["videos"]["history"]) == recent[::-1]
    assert body["videos"]["summary"]["jo***@example.com"]["completed"] == 2

    calm_sim.advance(window)
    body = _stats(client, "history")
    assert body["videos"]["history"] == {}
    assert body["videos"]["summary"]["jo***@example.com"] == dict.fromkeys(COUNTERS, 0)
    # Out of the statistics is not out of the registry: the records still answer.
    assert _record(client, old[0])["status"] == "completed"


def test_rate_limits_count_in_the_window_and_in_the_score():
    with (
        simulator.start(
            seed=5, time_scale=1.0, fail_rate=0, captcha_acceptance=1.0, concurrency={"pro": 1}
        ) as s,
        api(s) as client,
    ):
        first = _upscale(client, s.new_video_id(PAT), **{"async": True, **NO_CAPTCHA_WAIT})
        throttled = client.post(
            "/videos/upscale",
            json={"mediaGenerationId": s.new_video_id(PAT), "async": True, **NO_CAPTCHA_WAIT},
        )
        assert throttled.status_code == 429
        pat = _stats(client)["videos"]["summary"]["pa***@example.com"]
        assert (pat["executing"], pat["rateLimited"], pat["score"]) == (1, 1, 21)
        s.advance(s.stats_window_seconds + 1)  # the job ends, the 429 leaves the window
        assert poll(client, first["jobid"])[-1]["status"] == "completed"
        pat = _stats(client)["videos"]["summary"]["pa***@example.com"]
        assert (pat["executing"], pat["rateLimited"], pat["score"]) == (0, 0, 0)


def test_window_keeps_its_real_length_at_time_scale_zero():
    with simulator.start(seed=1, time_scale=0, fail_rate=0, captcha_acceptance=1.0) as s:
        assert s.stats_window_seconds == 15 * 60


@pytest.mark.parametrize("options", [None, "summary"])
def test_summary_is_the_default(calm_sim, client, options):
    _upscale(client, calm_sim.new_video_id(JO))
    body = _stats(client, options)
    assert all(set(body[group]) == {"summary"} for group in GROUPS)


@pytest.mark.parametrize(
    "query",
    ["options=bogus", "options=", "options=Summary", "options=summary,history",
     "options=summary&options=history", "options=HISTORY"],
)  # fmt: skip
def test_any_other_options_is_a_400_naming_the_valid_values(calm_sim, client, query):
    response = client.get(f"/jobs?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    for value in ("summary", "executing", "history"):
        assert value in body["error"]


def test_other_query_parameters_are_ignored(calm_sim, client):
    response = client.get("/jobs?options=history&email=jo.ultra@example.com&page=2")
    assert response.status_code == 200 and "history" in response.json()["videos"]


def test_route_needs_auth_and_only_answers_get(calm_sim, client):
    anonymous = client.get("/jobs", headers={"Authorization": "Bearer nope"})
    assert anonymous.status_code == 401
    response = client.post("/jobs", json={})
    assert response.status_code == 405 and response.headers["Allow"] == "GET"


def test_faults_script_the_route_on_its_own(calm_sim, client):
    calm_sim.inject("job_stats", "503_unavailable")
    calm_sim.inject("jobs", "500")
    assert client.get("/jobs?options=history").status_code == 503
    assert client.get("/jobs").status_code == 200  # a "jobs" fault waits for a job lookup
    assert calm_sim.stats()["requests"]["job_stats"] == 2
