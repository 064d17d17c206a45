"""Every documented response shape, compared field by field with the spec's examples."""

from __future__ import annotations

import re

import pytest
from sim_spec_examples import (
    ASYNC_201,
    BAD_REQUEST_400,
    CAPTCHA_SERVICE_503,
    ERROR_ENVELOPE,
    FAILED_JOB_EXTRA,
    JOB_RECORD_KEYS,
    NO_ELIGIBLE_ACCOUNT_429,
    NOT_FOUND_404,
    POLLING_TIMEOUT_408,
    RATE_LIMITED_429,
    SYNC_200,
    UNAUTHORIZED_401,
    UNAVAILABLE_503,
)
from simkit import api, assert_shape, poll

import flowup_nb.sim as simulator

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
JOB_ID = re.compile(r"^j\d{13}v-u\d+-email:[^/]+-bot:google-flow$")
JO = "jo.ultra@example.com"


def _upscale(client, source_id, **extra):
    return client.post("/videos/upscale", json={"mediaGenerationId": source_id, **extra})


def test_sync_200_matches_the_spec_example_field_by_field(calm_sim, client):
    source = calm_sim.sample_ids(JO)[0]
    response = _upscale(client, source, resolution="1080p")
    assert response.status_code == 200
    body = response.json()
    assert_shape(body, SYNC_200)
    # Values that are fixed by the API, not by the example's data.
    op, media = body["operations"][0], body["media"][0]
    example_op, example_media = SYNC_200["operations"][0], SYNC_200["media"][0]
    assert op["operation"]["metadata"]["@type"] == example_op["operation"]["metadata"]["@type"]
    for key in (
        "seed",
        "model",
        "aspectRatio",
        "isLooped",
        "upsampleResolution",
        "mediaVisibility",
    ):
        assert (
            op["operation"]["metadata"]["video"][key]
            == example_op["operation"]["metadata"]["video"][key]
        )
    assert op["status"] == example_op["status"] and op["sceneId"] == ""
    assert media["workflowStepId"] == example_media["workflowStepId"]
    assert media["mediaMetadata"]["mediaStatus"] == example_media["mediaMetadata"]["mediaStatus"]
    assert media["mediaMetadata"]["visibility"] == "PRIVATE"
    assert media["mediaMetadata"]["requestData"]["clientPlatform"] == "CLIENT_PLATFORM_WEB"
    generated = media["video"]["generatedVideo"]
    assert generated == {**example_media["video"]["generatedVideo"]}
    assert media["video"]["dimensions"] == {"length": "0s"}
    # The ids: the upscaled video is the source id plus _upsampled, everywhere.
    upscaled_id = source + "_upsampled"
    assert op["mediaGenerationId"] == upscaled_id
    assert op["operation"]["metadata"]["video"]["mediaGenerationId"] == upscaled_id
    assert media["mediaGenerationId"] == upscaled_id
    assert media["name"] == op["operation"]["name"] == media["video"]["operation"]["name"]
    assert media["name"].endswith("_upsampled")
    # Both shapes point at the same signed URLs.
    assert media["videoUrl"] == op["operation"]["metadata"]["video"]["fifeUrl"]
    assert media["thumbnailUrl"] == op["operation"]["metadata"]["video"]["servingBaseUri"]
    assert media["videoUrl"].startswith(calm_sim.media_base + "/video/")
    assert media["thumbnailUrl"].startswith(calm_sim.media_base + "/image/")
    assert re.search(r"\?Expires=\d+&KeyName=flow-sim&Signature=[\w-]+$", media["videoUrl"])
    assert re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", media["mediaMetadata"]["createTime"]
    )
    assert JOB_ID.match(body["jobId"]) and "jo.ultra@example.com" in body["jobId"]
    assert body["remainingCredits"] == 18760  # 1080p is free
    captcha = body["captcha"]
    assert captcha["attempts"][-1]["success"] is True
    assert {k: captcha[k] for k in ("service", "taskId", "durationMs")} == {
        k: captcha["attempts"][-1][k] for k in ("service", "taskId", "durationMs")
    }


def test_4k_shape_names_the_4k_upsampler(calm_sim, client):
    body = _upscale(client, calm_sim.sample_ids(JO)[0], resolution="4K").json()
    assert_shape(body, SYNC_200)
    video = body["operations"][0]["operation"]["metadata"]["video"]
    assert video["model"] == "veo_3_1_upsampler_4k"
    assert video["upsampleResolution"] == "VIDEO_UPSAMPLE_RESOLUTION_4K"
    generated = body["media"][0]["video"]["generatedVideo"]
    assert generated["upsampleMetadata"] == {
        "videoUpsampleResolution": "VIDEO_UPSAMPLE_RESOLUTION_4K"
    }


def test_async_201_matches_the_spec_example(calm_sim, client):
    source = calm_sim.sample_ids(JO)[1]
    response = _upscale(client, source, resolution="1080p", **{"async": True})
    assert response.status_code == 201
    body = response.json()
    assert_shape(body, ASYNC_201)
    assert body["type"] == "video" and body["status"] == "created"
    assert body["request"] == {"async": True, "mediaGenerationId": source, "resolution": "1080p"}
    assert ISO.match(body["created"])
    assert JOB_ID.match(body["jobid"]) and "jobId" not in body
    assert set(body["response"]) == {"captcha"}
    assert "attempts" not in body["response"]["captcha"]


def test_completed_job_record_carries_the_sync_body(calm_sim, client):
    source = calm_sim.sample_ids(JO)[2]
    job_id = _upscale(client, source, **{"async": True}).json()["jobid"]
    record = poll(client, job_id)[-1]
    assert set(record) == JOB_RECORD_KEYS
    assert record["status"] == "completed"
    assert_shape(record["response"], SYNC_200)
    assert record["response"]["jobId"] == job_id
    assert record["response"]["captcha"]["attempts"]


def test_failed_job_record_has_error_details_and_code(calm_sim, client):
    calm_sim.inject("upscale", "job_fail")
    job_id = _upscale(client, calm_sim.sample_ids(JO)[0], **{"async": True}).json()["jobid"]
    record = poll(client, job_id)[-1]
    assert record["status"] == "failed"
    assert set(record) == JOB_RECORD_KEYS | set(FAILED_JOB_EXTRA)
    assert_shape(record, FAILED_JOB_EXTRA)
    assert record["code"] == 500
    google = record["response"]["error"]
    assert set(google) == {"code", "message", "status"} and google["code"] == 500


def test_sync_failure_is_the_error_envelope(calm_sim, client):
    calm_sim.inject("upscale", "job_fail")
    response = _upscale(client, calm_sim.sample_ids(JO)[0])
    assert response.status_code == 500
    body = response.json()
    example = {k: v for k, v in ERROR_ENVELOPE.items()}
    example["response"] = {
        "error": {k: v for k, v in ERROR_ENVELOPE["response"]["error"].items() if k != "details"}
    }
    assert_shape(body, example)
    assert JOB_ID.match(body["jobId"]) and body["code"] == 500


def test_error_bodies_match_the_spec_examples(calm_sim, client):
    # 400
    bad = _upscale(client, calm_sim.sample_ids(JO)[0], resolution="8K")
    assert bad.status_code == 400
    assert_shape(bad.json(), BAD_REQUEST_400)
    # 401: the documented body, exactly
    unauthorized = client.get("/accounts/" + JO, headers={"Authorization": "Bearer nope"})
    assert unauthorized.status_code == 401 and unauthorized.json() == UNAUTHORIZED_401
    # 404
    missing = client.get("/accounts/ghost@example.com")
    assert missing.status_code == 404
    assert_shape(missing.json(), NOT_FOUND_404)
    assert missing.json()["error"] == "Google Flow account ghost@example.com not found"
    # 503, both kinds, exactly
    calm_sim.inject("upscale", "503_unavailable")
    assert _upscale(client, "x").json() == UNAVAILABLE_503
    calm_sim.inject("upscale", "503_captcha_service")
    assert _upscale(client, "x").json() == CAPTCHA_SERVICE_503


def test_408_shape():
    # A tinier scale than usual: the sync wait gives up after 600 service seconds.
    with simulator.start(seed=5, time_scale=0.0001, fail_rate=0, captcha_acceptance=1) as s:
        s.inject("upscale", "slow_job")
        with api(s) as client:
            response = _upscale(client, s.sample_ids(JO)[0])
    assert response.status_code == 408
    assert_shape(response.json(), POLLING_TIMEOUT_408)
    assert response.json()["error"] == "Polling timeout"
    assert JOB_ID.match(response.json()["jobId"])


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("429_throttled", "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"),
        ("429_quota", "PUBLIC_ERROR_USER_QUOTA_REACHED"),
        ("429_model_quota", "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED"),
        ("429_unusual_activity", "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC"),
    ],
)
def test_429_shape_per_reason(calm_sim, client, kind, reason):
    calm_sim.inject("upscale", kind)
    response = _upscale(client, "x")
    assert response.status_code == 429
    body = response.json()
    assert_shape(body, RATE_LIMITED_429)
    google = body["response"]["error"]
    assert {k: google[k] for k in ("code", "message", "status")} == {
        k: RATE_LIMITED_429["response"]["error"][k] for k in ("code", "message", "status")
    }
    assert google["details"] == [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}
    ]
    if reason.startswith("PUBLIC_ERROR_UNUSUAL"):
        # 5: the mid-2026 default captchaRetry
        assert body["error"] == f"captcha_quality: {reason} after 5 attempts"
    else:
        assert body["error"] == reason
    assert ISO.match(body["retryAfter"])
    assert int(response.headers["Retry-After"]) >= 0


def test_no_eligible_account_shape(calm_sim, client):
    calm_sim.inject("videos", "429_no_eligible_account")
    response = client.post("/videos", json={"prompt": "a cat"})
    assert response.status_code == 429
    assert_shape(response.json(), NO_ELIGIBLE_ACCOUNT_429)
    assert "Retry-After" in response.headers


def test_account_shape_has_credits(calm_sim, client):
    body = client.get("/accounts/" + JO).json()
    assert body["credits"] == {"credits": 18760, "userPaygateTier": "PAYGATE_TIER_TWO"}
    assert body["health"] == "OK"
    assert body["models"]["videoModels"]
    listing = client.get("/accounts").json()
    assert set(listing) == {a["email"] for a in calm_sim.accounts}
    assert all("credits" not in v for v in listing.values())


def test_generation_shape_gives_a_source_id(calm_sim, client):
    response = client.post("/videos", json={"prompt": "A serene mountain landscape at sunset"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"jobId", "operations", "media", "remainingCredits", "captcha"}
    media = body["media"][0]
    assert media["mediaGenerationId"].startswith("user:")
    assert "_upsampled" not in media["mediaGenerationId"]
    assert media["video"]["generatedVideo"]["model"] == "veo_3_1_t2v_fast"


def test_a_fresh_default_sim_answers_the_same_shapes(sim: simulator.SimHandle):
    """The conftest's default simulator (captcha and failures live) serves the same shapes."""
    with api(sim) as client:
        body = _upscale(client, sim.sample_ids(JO)[0]).json()
    assert_shape(body, SYNC_200)


def test_multipart_form_data_bodies_work_like_json(calm_sim, client):
    source = calm_sim.sample_ids(JO)[0]
    sync = client.post(
        "/videos/upscale",
        files={
            "mediaGenerationId": (None, source),
            "resolution": (None, "4K"),
            "captchaRetry": (None, "5"),
        },
    )
    assert sync.status_code == 200, sync.text
    assert_shape(sync.json(), SYNC_200)
    assert sync.json()["remainingCredits"] == 18760 - 50
    created = client.post(
        "/videos/upscale",
        files={"mediaGenerationId": (None, calm_sim.sample_ids(JO)[1]), "async": (None, "true")},
    )
    assert created.status_code == 201
    assert created.json()["request"]["async"] is True
    bad = client.post(
        "/videos/upscale",
        files={"mediaGenerationId": (None, source), "captchaRetry": (None, "ten")},
    )
    assert bad.status_code == 400 and "captchaRetry" in bad.json()["error"]
