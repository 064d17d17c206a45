"""Finished job records leave the registry after the retention: 410 then, 404 for an id never
issued. The retention is counted from each job's end and moves with advance()."""

from __future__ import annotations

import pytest
from simkit import api

import flowup_nb.sim as simulator

JO = "jo.ultra@example.com"
NEVER_ISSUED = "j1737312345678v-u12345-email:jo.ultra@example.com-bot:google-flow"


def _finished_job(sim, client) -> str:
    response = client.post("/videos/upscale", json={"mediaGenerationId": sim.new_video_id(JO)})
    assert response.status_code == 200, response.text
    return response.json()["jobId"]


def test_retention_is_seven_service_days_scaled(calm_sim):
    assert calm_sim.job_retention_seconds == pytest.approx(7 * 86400 * calm_sim.time_scale)
    with simulator.start(seed=1, time_scale=0) as unscaled:
        # At time_scale 0 a retention of zero would make every record vanish at once.
        assert unscaled.job_retention_seconds == 7 * 86400


def test_expired_record_answers_410_and_a_never_issued_id_404(calm_sim, client):
    job_id = _finished_job(calm_sim, client)
    retention = calm_sim.job_retention_seconds

    calm_sim.advance(retention * 0.9)
    assert client.get(f"/jobs/{job_id}").status_code == 200

    calm_sim.advance(retention * 0.2)
    expired = client.get(f"/jobs/{job_id}")
    assert expired.status_code == 410
    assert expired.headers["content-type"] == "application/json"
    body = expired.json()
    assert body["code"] == 410
    assert job_id in body["error"] and "expired" in body["error"]

    missing = client.get(f"/jobs/{NEVER_ISSUED}")
    assert missing.status_code == 404 and missing.json()["code"] == 404


def test_retention_counts_from_each_jobs_end(calm_sim, client):
    retention = calm_sim.job_retention_seconds
    first = _finished_job(calm_sim, client)
    calm_sim.advance(retention * 0.6)
    second = _finished_job(calm_sim, client)
    calm_sim.advance(retention * 0.6)
    assert client.get(f"/jobs/{first}").status_code == 410
    assert client.get(f"/jobs/{second}").status_code == 200


def test_ground_truth_keeps_expired_jobs_and_their_statistics_are_gone(calm_sim, client):
    job_id = _finished_job(calm_sim, client)
    calm_sim.advance(calm_sim.job_retention_seconds + 1)
    assert client.get(f"/jobs/{job_id}").status_code == 410
    assert [j["jobid"] for j in calm_sim.jobs()] == [job_id]
    history = client.get("/jobs?options=history").json()["videos"]["history"]
    assert history == {}


def test_asking_the_upscale_again_after_expiry_is_a_free_cached_hit(calm_sim, client):
    source = calm_sim.new_video_id(JO)
    first = client.post("/videos/upscale", json={"mediaGenerationId": source, "resolution": "4K"})
    assert first.status_code == 200
    calm_sim.advance(calm_sim.job_retention_seconds + 1)
    again = client.post("/videos/upscale", json={"mediaGenerationId": source, "resolution": "4K"})
    assert again.status_code == 200
    assert "rawBytes" in again.json()["operations"][0]
    assert calm_sim.stats()["credits_charged"] == {JO: 50}


def test_the_registry_expires_with_a_slower_clock_too():
    with (
        simulator.start(seed=2, time_scale=0.01, fail_rate=0, captcha_acceptance=1.0) as s,
        api(s) as client,
    ):
        job_id = _finished_job(s, client)
        s.advance(s.job_retention_seconds - 60)
        assert client.get(f"/jobs/{job_id}").status_code == 200
        s.advance(61)
        assert client.get(f"/jobs/{job_id}").status_code == 410
