"""Every job record's `request` echoes what was sent, in the 201, on GET /jobs/{jobId}, in
the sync job's record, and in every webhook, which carries the same record as GET."""

from __future__ import annotations

import httpx
import pytest
from simkit import poll

JO = "jo.ultra@example.com"


def _echo_everywhere(sim, client, receiver, body: dict, expected: dict) -> None:
    created = client.post("/videos/upscale", json={**body, "replyUrl": receiver.url})
    assert created.status_code == 201, created.text
    expected = {**expected, "replyUrl": receiver.url}
    assert created.json()["request"] == expected
    final = poll(client, created.json()["jobid"])[-1]
    assert final["request"] == expected
    assert sim.wait_webhooks()
    hooks = receiver.bodies()
    assert [h["status"] for h in hooks] == ["created", "started", "completed"]
    assert all(h["request"] == expected for h in hooks)
    assert hooks[-1] == final  # the webhook is the record, whole


@pytest.mark.parametrize(
    ("extra", "echoed"),
    [
        ({}, {"resolution": "1080p"}),
        ({"resolution": "4K", "captchaRetry": 7}, {"resolution": "4K", "captchaRetry": 7}),
        (
            {"captchaOrder": "CapSolver,AntiCaptcha", "email": JO},
            {"resolution": "1080p", "captchaOrder": "CapSolver,AntiCaptcha", "email": JO},
        ),
        # A pre-solved token is a secret: the echo keeps only its first 6 characters.
        (
            {"captchaToken": "tok123" + "x" * 30},
            {"resolution": "1080p", "captchaToken": "tok123..."},
        ),
    ],
    ids=["defaults", "4K-retry", "order-email", "token"],
)
def test_async_upscale_echo_in_201_record_and_webhooks(calm_sim, client, receiver, extra, echoed):
    source = calm_sim.new_video_id(JO)
    body = {"mediaGenerationId": source, "async": True, "replyRef": "batch-9/item-4", **extra}
    expected = {"async": True, "mediaGenerationId": source, "replyRef": "batch-9/item-4", **echoed}
    _echo_everywhere(calm_sim, client, receiver, body, expected)


def test_sync_upscale_record_echoes_the_request_with_async_false(calm_sim, client):
    source = calm_sim.new_video_id(JO)
    answer = client.post(
        "/videos/upscale",
        json={"mediaGenerationId": source, "resolution": "4K", "replyRef": "ref-sync"},
    )
    assert answer.status_code == 200
    record = client.get(f"/jobs/{answer.json()['jobId']}").json()
    assert record["request"] == {
        "async": False,
        "mediaGenerationId": source,
        "resolution": "4K",
        "replyRef": "ref-sync",
    }


def test_multipart_values_are_echoed_as_sent(calm_sim):
    source = calm_sim.new_video_id(JO)
    with httpx.Client(
        base_url=calm_sim.base_url, headers={"Authorization": f"Bearer {calm_sim.token}"}
    ) as client:
        created = client.post(
            "/videos/upscale",
            files={"_": (None, "")},  # forces multipart/form-data
            data={"mediaGenerationId": source, "async": "true", "captchaRetry": "4",
                  "replyRef": "form-ref"},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        record = poll(client, created.json()["jobid"])[-1]
    assert record["request"] == {
        "async": True,
        "mediaGenerationId": source,
        "resolution": "1080p",
        "captchaRetry": "4",
        "replyRef": "form-ref",
    }


def test_failed_and_cached_jobs_echo_too(calm_sim, client, receiver):
    source = calm_sim.new_video_id(JO)
    calm_sim.inject("upscale", "job_fail")
    body = {"mediaGenerationId": source, "async": True, "replyRef": "r1", "replyUrl": receiver.url}
    failed = poll(client, client.post("/videos/upscale", json=body).json()["jobid"])[-1]
    assert failed["status"] == "failed"
    done = poll(client, client.post("/videos/upscale", json=body).json()["jobid"])[-1]
    cached = poll(client, client.post("/videos/upscale", json=body).json()["jobid"])[-1]
    assert "rawBytes" in cached["response"]["operations"][0]
    expected = {
        "async": True,
        "mediaGenerationId": source,
        "resolution": "1080p",
        "replyRef": "r1",
        "replyUrl": receiver.url,
    }
    assert failed["request"] == done["request"] == cached["request"] == expected
    assert calm_sim.wait_webhooks()
    finals = [h for h in receiver.bodies() if h["status"] in ("completed", "failed")]
    assert finals == [failed, done, cached]


def test_generation_echo(calm_sim, client, receiver):
    created = client.post(
        "/videos",
        json={"prompt": "a fox", "aspectRatio": "portrait", "count": 2, "seed": 11,
              "async": True, "replyUrl": receiver.url, "replyRef": "gen-1"},
    )  # fmt: skip
    assert created.status_code == 201
    expected = {
        "async": True,
        "prompt": "a fox",
        "model": "veo-3.1-fast",
        "aspectRatio": "portrait",
        "count": 2,
        "seed": 11,
        "replyUrl": receiver.url,
        "replyRef": "gen-1",
    }
    assert created.json()["request"] == expected
    final = poll(client, created.json()["jobid"])[-1]
    assert final["request"] == expected
    assert calm_sim.wait_webhooks()
    assert receiver.bodies()[-1] == final
