"""Async jobs: states over a scaled clock, monotonic timestamps, webhooks in order."""

from __future__ import annotations

from datetime import datetime

from simkit import WebhookReceiver, api, poll

import flowup_nb.sim as simulator

JO = "jo.ultra@example.com"
ORDER = ["created", "started", "completed"]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_async_lifecycle_moves_created_started_completed(calm_sim, client):
    created = client.post(
        "/videos/upscale",
        json={"mediaGenerationId": calm_sim.sample_ids(JO)[0], "resolution": "4K", "async": True},
    ).json()
    assert created["status"] == "created"
    records = poll(client, created["jobid"])
    statuses = [r["status"] for r in records]
    # Observed states only move forward, and end completed.
    assert statuses == sorted(statuses, key=ORDER.index) and statuses[-1] == "completed"
    # Timestamps: created is fixed, updated never goes back, and never precedes created.
    assert {r["created"] for r in records} == {created["created"]}
    updates = [_ts(r["updated"]) for r in records]
    assert updates == sorted(updates) and updates[0] >= _ts(created["created"])
    # The record completes with the 4K charge applied.
    assert records[-1]["response"]["remainingCredits"] == 18760 - 50


def test_states_follow_the_scaled_clock_and_advance():
    # A slow clock (10x the real service): a job sits 5-20 s in created, then runs 300-600 s;
    # only advance() moves it within a test.
    with (
        simulator.start(seed=3, time_scale=10.0, fail_rate=0, captcha_acceptance=1.0) as s,
        api(s) as client,
    ):
        job = client.post(
            "/videos/upscale",
            json={
                "mediaGenerationId": s.sample_ids(JO)[0],
                "async": True,
                "captchaToken": "t" * 24,
            },
        ).json()
        assert client.get(f"/jobs/{job['jobid']}").json()["status"] == "created"
        s.advance(20.5)  # past the queueing time
        assert client.get(f"/jobs/{job['jobid']}").json()["status"] == "started"
        s.advance(601)  # past the longest 1080p run
        done = client.get(f"/jobs/{job['jobid']}").json()
        assert done["status"] == "completed"
        # Timestamps follow the plan: queued, then ran 30-60 service seconds (x10).
        ran = (_ts(done["updated"]) - _ts(done["created"])).total_seconds()
        assert 300 + 5 <= ran <= 600 + 20


def test_webhooks_arrive_in_order_with_the_job_record(calm_sim, client, receiver: WebhookReceiver):
    response = client.post(
        "/videos/upscale",
        json={
            "mediaGenerationId": calm_sim.sample_ids(JO)[1],
            "async": True,
            "replyUrl": receiver.url,
            "replyRef": "batch-7/item-3",
        },
    )
    job_id = response.json()["jobid"]
    final = poll(client, job_id)[-1]
    assert calm_sim.wait_webhooks()
    bodies = receiver.bodies()
    assert [b["status"] for b in bodies] == ORDER
    assert all(b["jobid"] == job_id for b in bodies)
    assert all(b["request"]["replyRef"] == "batch-7/item-3" for b in bodies)
    assert all(b["request"]["replyUrl"] == receiver.url for b in bodies)
    # The last delivery is the record GET /jobs returns.
    assert bodies[-1] == final
    # Never the API token, in headers or body.
    for delivery in receiver.deliveries:
        assert calm_sim.token not in delivery["raw"].decode()
        assert calm_sim.token not in str(delivery["headers"])
        assert delivery["headers"]["Content-Type"] == "application/json"
    log = calm_sim.webhook_log()
    assert [e["status"] for e in log] == ORDER and all(e["delivered"] for e in log)
    assert calm_sim.stats()["webhooks_sent"] == 3


def test_failed_job_webhook_ends_with_failed(calm_sim, client, receiver):
    calm_sim.inject("upscale", "job_fail")
    job_id = client.post(
        "/videos/upscale",
        json={
            "mediaGenerationId": calm_sim.sample_ids(JO)[0],
            "async": True,
            "replyUrl": receiver.url,
        },
    ).json()["jobid"]
    poll(client, job_id)
    assert calm_sim.wait_webhooks()
    bodies = receiver.bodies()
    assert [b["status"] for b in bodies] == ["created", "started", "failed"]
    assert bodies[-1]["error"] and bodies[-1]["code"] == 500


def test_a_failed_delivery_is_retried(calm_sim, client):
    flaky = WebhookReceiver(fail_first=1)
    try:
        job_id = client.post(
            "/videos/upscale",
            json={
                "mediaGenerationId": calm_sim.sample_ids(JO)[0],
                "async": True,
                "replyUrl": flaky.url,
            },
        ).json()["jobid"]
        poll(client, job_id)
        assert calm_sim.wait_webhooks()
        assert [b["status"] for b in flaky.bodies()] == ORDER
        assert calm_sim.webhook_log()[0]["attempts"] == 2
    finally:
        flaky.close()


def test_unreachable_receiver_is_logged_not_fatal(calm_sim, client):
    job_id = client.post(
        "/videos/upscale",
        json={
            "mediaGenerationId": calm_sim.sample_ids(JO)[0],
            "async": True,
            "replyUrl": "http://127.0.0.1:9/unreachable",
        },
    ).json()["jobid"]
    assert poll(client, job_id)[-1]["status"] == "completed"
    assert calm_sim.wait_webhooks(timeout=10)
    log = calm_sim.webhook_log()
    assert len(log) == 3 and not any(e["delivered"] for e in log)
    assert all(e["attempts"] == 4 for e in log)
    assert calm_sim.stats()["webhooks_failed"] == 3


def test_sync_timeout_then_the_job_completes_and_asking_again_is_cached():
    with simulator.start(seed=5, time_scale=0.0001, fail_rate=0, captcha_acceptance=1.0) as s:
        s.inject("upscale", "slow_job")
        source = s.sample_ids(JO)[0]
        with api(s) as client:
            first = client.post(
                "/videos/upscale", json={"mediaGenerationId": source, "resolution": "4K"}
            )
            assert first.status_code == 408
            job_id = first.json()["jobId"]
            # The job goes on: polling it shows it completing, charged once.
            assert poll(client, job_id)[-1]["status"] == "completed"
            again = client.post(
                "/videos/upscale", json={"mediaGenerationId": source, "resolution": "4K"}
            )
            assert again.status_code == 200
            assert "rawBytes" in again.json()["operations"][0]
            assert again.json()["remainingCredits"] == 18760 - 50


def test_async_cached_repeat_completes_with_raw_bytes(calm_sim, client):
    source = calm_sim.sample_ids(JO)[0]
    client.post("/videos/upscale", json={"mediaGenerationId": source})
    created = client.post("/videos/upscale", json={"mediaGenerationId": source, "async": True})
    assert created.status_code == 201 and created.json()["status"] == "created"
    final = poll(client, created.json()["jobid"])[-1]
    assert final["status"] == "completed"
    assert "rawBytes" in final["response"]["operations"][0]
    assert "media" not in final["response"]


def test_jobs_listing_is_ground_truth(calm_sim, client):
    job_id = client.post(
        "/videos/upscale", json={"mediaGenerationId": calm_sim.sample_ids(JO)[0], "async": True}
    ).json()["jobid"]
    final = poll(client, job_id)[-1]
    assert [j for j in calm_sim.jobs() if j["jobid"] == job_id] == [final]
