"""Every documented error the service produces on its own, with body and headers."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime

import pytest
from simkit import api

import flowup_nb.sim as simulator

JO, PAT, SAM, LEE = (
    "jo.ultra@example.com",
    "pat.pro@example.com",
    "sam.ultra@example.com",
    "lee.free@example.com",
)
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _up(client, body):
    return client.post("/videos/upscale", json=body)


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ({"resolution": "4k"}, 'resolution must be "1080p" or "4K"'),
        ({"resolution": 1080}, "resolution must be"),
        ({"async": "maybe"}, "async must be true or false"),
        ({"captchaRetry": 3, "captchaOrder": "CapSolver"}, "mutually exclusive"),
        ({"captchaToken": "t" * 30, "captchaRetry": 3}, "mutually exclusive"),
        ({"captchaRetry": 0}, "captchaRetry must be an integer from 1 to 10"),
        ({"captchaRetry": 11}, "captchaRetry must be an integer from 1 to 10"),
        ({"captchaRetry": 2.5}, "captchaRetry must be an integer"),
        ({"captchaRetry": True}, "captchaRetry must be an integer"),
        ({"captchaOrder": ",".join(["CapSolver"] * 11)}, "at most 10"),
        ({"captchaOrder": "CapSolver,NoSuchSolver"}, "unknown provider"),
        ({"captchaOrder": "YesCaptcha"}, "not configured for account jo.ultra@example.com"),
        ({"captchaToken": "short"}, "at least 20 characters"),
        ({"replyUrl": "ftp://example.com/hook"}, "replyUrl must be an http"),
        ({"replyUrl": 7}, "replyUrl must be a string"),
        (
            {"email": PAT},
            "Email mismatch: body has 'pat.pro@example.com', "
            "references have 'jo.ultra@example.com'",
        ),
    ],
)
def test_400_bad_parameters(calm_sim, client, extra, fragment):
    response = _up(client, {"mediaGenerationId": calm_sim.sample_ids(JO)[0], **extra})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert fragment in response.json()["error"]
    assert response.json()["code"] == 400


@pytest.mark.parametrize(
    "source, fragment",
    [
        (None, "mediaGenerationId is required"),
        ("", "mediaGenerationId is required"),
        (42, "mediaGenerationId must be a string"),
        ("CAMaJDMx", "is not valid"),
        ("user:12345-email:zz-video:abc", "is not valid"),
        ("user:12345-email:6a6f2e756c747261406578616d706c652e636f6d-image:abc", "only videos"),
    ],
)
def test_400_bad_media_generation_id(client, source, fragment):
    body = {} if source is None else {"mediaGenerationId": source}
    response = _up(client, body)
    assert response.status_code == 400 and fragment in response.json()["error"]


def test_400_upscaled_id_cannot_be_upscaled_again(calm_sim, client):
    source = calm_sim.sample_ids(JO)[0]
    assert _up(client, {"mediaGenerationId": source + "_upsampled"}).status_code == 400


def test_400_bad_job_ids(calm_sim, client):
    job_id = _up(client, {"mediaGenerationId": calm_sim.sample_ids(JO)[0], "async": True}).json()[
        "jobid"
    ]
    assert client.get(f"/jobs/{job_id}").status_code == 200
    encoded = job_id.replace("@", "%40").replace(":", "%3A")
    response = client.get(f"/jobs/{encoded}")
    assert response.status_code == 400 and response.json()["error"].startswith(
        "Invalid job ID format"
    )
    assert client.get("/jobs/not-a-job").status_code == 400


def test_401_without_or_with_a_wrong_token(calm_sim):
    with api(calm_sim) as client:
        for headers in (
            {"Authorization": ""},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic x"},
        ):
            response = client.get(f"/accounts/{JO}", headers=headers)
            assert response.status_code == 401 and response.json() == {"error": "Unauthorized"}


def test_403_captcha_after_n_attempts_lists_the_attempts():
    with simulator.start(seed=2, time_scale=0.001, captcha_acceptance=0.0) as s, api(s) as client:
        response = _up(client, {"mediaGenerationId": s.sample_ids(JO)[0], "captchaRetry": 4})
        assert response.status_code == 403
        body = response.json()
        assert body["error"].startswith("captcha_quality:")
        assert body["error"].endswith("after 4 attempts")
        attempts = body["captcha"]["attempts"]
        # The attempts cycle through the account's providers, each with its own task.
        assert [a["service"] for a in attempts] == [
            "CapSolver",
            "AntiCaptcha",
            "2Captcha",
            "CapSolver",
        ]
        assert all(a["success"] is False and a["error"] for a in attempts)
        assert len({a["taskId"] for a in attempts}) == 4
        assert s.stats()["captcha_attempts"]["CapSolver"] == {"attempts": 2, "successes": 0}
        assert s.jobs() == []  # no job exists without a solved captcha


def test_captcha_order_is_followed(calm_sim, client):
    body = _up(
        client,
        {"mediaGenerationId": calm_sim.sample_ids(JO)[0], "captchaOrder": "2Captcha,CapSolver"},
    ).json()
    assert body["captcha"]["attempts"][0]["service"] == "2Captcha"


def test_captcha_token_is_one_user_provided_attempt(calm_sim, client):
    body = _up(
        client, {"mediaGenerationId": calm_sim.sample_ids(JO)[0], "captchaToken": "x" * 40}
    ).json()
    assert body["captcha"]["service"] == "UserProvided" and "taskId" not in body["captcha"]
    assert [a["service"] for a in body["captcha"]["attempts"]] == ["UserProvided"]


def test_providers_differ_in_acceptance():
    with simulator.start(seed=11, time_scale=0, fail_rate=0) as s, api(s) as client:
        for email, order in ((JO, "CapSolver"), (JO, "2Captcha")):
            for _ in range(40):
                _up(client, {"mediaGenerationId": s.new_video_id(email), "captchaOrder": order})
        table = s.stats()["captcha_attempts"]
    rate = {p: table[p]["successes"] / table[p]["attempts"] for p in ("CapSolver", "2Captcha")}
    assert rate["CapSolver"] > 0.5 > 0.25 > rate["2Captcha"]


def test_404_unknown_account_and_video(calm_sim, client):
    ghost = "user:1-email:" + b"ghost@example.com".hex() + "-video:abc"
    response = _up(client, {"mediaGenerationId": ghost})
    assert response.status_code == 404
    assert response.json()["error"] == "Google Flow account ghost@example.com not found"
    unknown_video = calm_sim.sample_ids(JO)[0].rsplit(":", 1)[0] + ":0000-missing"
    response = _up(client, {"mediaGenerationId": unknown_video})
    assert response.status_code == 404 and "not found" in response.json()["error"]
    missing_job = "j1737312345678v-u12345-email:jo.ultra@example.com-bot:google-flow"
    assert client.get(f"/jobs/{missing_job}").status_code == 404
    assert client.get("/accounts/ghost%40example.com").status_code == 404
    assert client.get("/accounts/jo.ultra%40example.com").status_code == 200


def test_429_throttled_quarantines_the_account_until_advance():
    with (
        simulator.start(
            seed=6, time_scale=1.0, fail_rate=0, captcha_acceptance=1.0, concurrency={"pro": 2}
        ) as s,
        api(s) as client,
    ):
        token = {"captchaToken": "t" * 24, "async": True}
        for _ in range(2):
            assert (
                _up(client, {"mediaGenerationId": s.new_video_id(PAT), **token}).status_code == 201
            )
        third = _up(client, {"mediaGenerationId": s.new_video_id(PAT), **token})
        assert third.status_code == 429
        assert third.json()["error"] == "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"
        # 30 minutes at time_scale 1: both forms of the cooldown agree.
        assert third.headers["Retry-After"] == "1800"
        retry_at = datetime.fromisoformat(third.json()["retryAfter"].replace("Z", "+00:00"))
        # retryAfter is written to the millisecond, so it may round up by half of one.
        assert 1790 < (retry_at - datetime.now(UTC)).total_seconds() <= 1800.0005
        # Pinned requests get the same 429 with what is left of the cooldown.
        s.advance(600)
        pinned = _up(client, {"mediaGenerationId": s.sample_ids(PAT)[0], **token})
        assert pinned.status_code == 429 and int(pinned.headers["Retry-After"]) <= 1200
        pinned_gen = client.post("/videos", json={"prompt": "x", "email": PAT})
        assert pinned_gen.status_code == 429
        # Other accounts are not affected.
        assert _up(client, {"mediaGenerationId": s.sample_ids(JO)[0], **token}).status_code == 201
        s.advance(1201)  # the quarantine is over and the two jobs are done
        assert _up(client, {"mediaGenerationId": s.sample_ids(PAT)[0], **token}).status_code == 201


def test_generations_route_around_quarantine_then_no_eligible_account():
    with (
        simulator.start(
            seed=6,
            time_scale=1.0,
            fail_rate=0,
            captcha_acceptance=1.0,
            concurrency={"ultra": 1, "pro": 1},
        ) as s,
        api(s) as client,
    ):
        body = {"prompt": "x", "async": True, "captchaToken": "t" * 24}
        picked = []
        for _ in range(3):  # one job per paid account fills each one's single slot
            response = client.post("/videos", json=body)
            assert response.status_code == 201
            picked.append(response.json()["jobid"].split("-email:")[1].split("-bot")[0])
        assert sorted(picked) == sorted([JO, PAT, SAM])
        # Every account is busy: the balancer picks one, which throttles and is quarantined.
        for _ in range(3):
            assert client.post("/videos", json=body).status_code == 429
        response = client.post("/videos", json=body)
        assert response.status_code == 429
        data = response.json()
        assert data["error"] == "no_eligible_account"
        assert data["message"] and ISO.match(data["retryAfter"])
        assert {r["email"] for r in data["skipReasons"]} == {JO, PAT, SAM}
        assert all(
            r["reason"] == "PUBLIC_ERROR_USER_REQUESTS_THROTTLED" for r in data["skipReasons"]
        )
        assert int(response.headers["Retry-After"]) > 0


def test_405_404_413_are_json(calm_sim, client):
    wrong_method = client.get("/videos/upscale")
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"
    assert "POST" in wrong_method.json()["error"]
    assert client.delete(f"/accounts/{JO}").status_code == 405
    unknown = client.get("/nope")
    assert unknown.status_code == 404 and unknown.json()["code"] == 404
    outside = httpx_get(calm_sim.base_url.rsplit("/v1", 1)[0] + "/")
    assert outside.status_code == 404 and outside.headers["content-type"] == "application/json"
    huge = client.post("/videos/upscale", content=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert huge.status_code == 413 and "limit" in huge.json()["error"]


def httpx_get(url):
    import httpx

    return httpx.get(url)


def test_malformed_http_gets_a_json_400(calm_sim):
    port = int(calm_sim.base_url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/") and b" 400 " in head.split(b"\r\n")[0]
    assert b"application/json" in head and body.startswith(b'{"error"')
