"""Parsing every documented body shape; arbitrary JSON raises only ResponseFormatError."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowup_nb as fu
from flowup_nb.api import parsing
from flowup_nb.api.errors import classify
from flowup_nb.api.policy import PollSchedule
from flowup_nb.api.waiting import PollPlan, Update, wait_steps

SOURCE = "user:12345-email:6a6f2e756c747261406578616d706c652e636f6d-video:CAMaJDMx"
RESULT_ID = SOURCE.replace("CAMaJDMx", "2fefd089_upsampled")
MP4 = b"\x00\x00\x00\x20ftypisom" + bytes(range(200))
VIDEO_URL = "https://flow-content.google/video/2fefd089_upsampled?Expires=1&Signature=a"
THUMB_URL = "https://flow-content.google/image/2fefd089_upsampled?Expires=1"

# The page's own 200 example, trimmed of its "..." placeholders.
DOC_200 = {
    "jobId": "j1737312345678v-u12345-email:jo***@gmail.com-bot:google-flow",
    "operations": [
        {
            "operation": {
                "name": "2fefd089_upsampled",
                "metadata": {
                    "@type": "type.googleapis.com/google.internal.labs.aisandbox.v1.Media",
                    "name": "2fefd089_upsampled",
                    "video": {
                        "seed": 0,
                        "model": "veo_3_1_upsampler_1080p",
                        "aspectRatio": "VIDEO_ASPECT_RATIO_LANDSCAPE",
                        "isLooped": False,
                        "upsampleResolution": "VIDEO_UPSAMPLE_RESOLUTION_1080P",
                        "fifeUrl": VIDEO_URL,
                        "servingBaseUri": THUMB_URL,
                        "mediaGenerationId": RESULT_ID,
                        "mediaVisibility": "PRIVATE",
                    },
                },
            },
            "sceneId": "",
            "status": "MEDIA_GENERATION_STATUS_SUCCESSFUL",
            "mediaGenerationId": RESULT_ID,
        }
    ],
    "media": [
        {
            "name": "2fefd089_upsampled",
            "projectId": "9f63078c",
            "workflowId": "66612805",
            "workflowStepId": "CAI",
            "mediaMetadata": {
                "createTime": "2026-05-20T23:31:41.145235Z",
                "mediaStatus": {"mediaGenerationStatus": "MEDIA_GENERATION_STATUS_SUCCESSFUL"},
                "visibility": "PRIVATE",
            },
            "video": {
                "generatedVideo": {
                    "seed": 0,
                    "model": "veo_3_1_upsampler_1080p",
                    "baseImageMediaGenerationId": "",
                    "isLooped": False,
                    "aspectRatio": "VIDEO_ASPECT_RATIO_LANDSCAPE",
                    "upsampleMetadata": {
                        "videoUpsampleResolution": "VIDEO_UPSAMPLE_RESOLUTION_1080P"
                    },
                },
                "dimensions": {"length": "0s"},
                "operation": {"name": "2fefd089_upsampled"},
            },
            "mediaGenerationId": RESULT_ID,
            "videoUrl": VIDEO_URL,
            "thumbnailUrl": THUMB_URL,
        }
    ],
    "remainingCredits": 18760,
    "captcha": {
        "service": "AntiCaptcha",
        "taskId": "abc123",
        "durationMs": 3500,
        "attempts": [
            {"service": "AntiCaptcha", "taskId": "abc123", "durationMs": 3500, "success": True}
        ],
    },
}

DOC_201 = {
    "jobid": "j1737312345678v-u12345-email:jo***@gmail.com-bot:google-flow",
    "type": "video",
    "status": "created",
    "created": "2026-01-19T12:34:56.789Z",
    "request": {"async": True, "mediaGenerationId": SOURCE, "resolution": "1080p"},
    "response": {
        "captcha": {
            "service": "AntiCaptcha",
            "taskId": "14af1dbb-885c-4e25-8121-7a79489dfd0e",
            "durationMs": 5357,
        }
    },
}


def test_the_documented_200_body() -> None:
    result = parsing.parse_upscale_result(DOC_200)
    assert result.job_id == DOC_200["jobId"]
    assert result.video_url == VIDEO_URL
    assert result.thumbnail_url == THUMB_URL
    assert result.media_generation_id == RESULT_ID
    assert result.resolution == "1080p"
    assert result.model == "veo_3_1_upsampler_1080p"
    assert result.remaining_credits == 18760
    assert result.cached is False and result.raw_bytes is None
    assert len(result.media) == 1  # operations[] and media[] describe the same video
    assert result.media[0].aspect_ratio == "VIDEO_ASPECT_RATIO_LANDSCAPE"
    assert result.captcha == fu.Captcha(
        "AntiCaptcha", "abc123", 3500, (fu.CaptchaAttempt("AntiCaptcha", "abc123", 3500, True),)
    )
    assert result.raw is DOC_200


def test_the_documented_201_body() -> None:
    job = parsing.parse_job(DOC_201, status_code=201)
    assert job.job_id == DOC_201["jobid"]
    assert job.status == "created" and job.pending
    assert job.created is not None and job.created.isoformat() == "2026-01-19T12:34:56.789000+00:00"
    assert job.captcha is not None and job.captcha.duration_ms == 5357
    assert job.captcha.attempts == ()
    assert job.result is None


def test_legacy_operations_only() -> None:
    body = {**DOC_200, "media": None}
    result = parsing.parse_upscale_result(body)
    assert result.video_url == VIDEO_URL  # from fifeUrl
    assert result.thumbnail_url == THUMB_URL  # from servingBaseUri
    assert result.resolution == "1080p"


def test_current_media_only_with_4k() -> None:
    body = json.loads(json.dumps(DOC_200).replace("1080P", "4K").replace("1080p", "4k"))
    del body["operations"]
    result = parsing.parse_upscale_result(body)
    assert result.resolution == "4K"
    assert result.model == "veo_3_1_upsampler_4k"


B64 = base64.b64encode(MP4).decode()
URLSAFE_B64 = base64.urlsafe_b64encode(MP4).decode().rstrip("=")


@pytest.mark.parametrize(
    "body",
    [
        # Google's shape: an operations item with the bytes, no media[]
        {"operations": [{"mediaGenerationId": RESULT_ID, "rawBytes": B64, "status": "OK"}]},
        {"media": [{"mediaGenerationId": RESULT_ID, "rawBytes": B64}]},
        {"rawBytes": B64, "jobId": "j1"},
        {"rawBytes": URLSAFE_B64},
        {"media": [{"mediaGenerationId": RESULT_ID, "video": {"rawBytes": B64}}]},
    ],
)
def test_raw_bytes_wherever_they_sit(body: dict[str, Any]) -> None:
    result = parsing.parse_upscale_result(body, requested_resolution="4K")
    assert result.cached is True
    assert result.raw_bytes == MP4
    assert result.video_url is None
    assert result.resolution == "4K"  # not in the body: the resolution asked for


def test_invalid_base64_is_a_format_error() -> None:
    with pytest.raises(fu.ResponseFormatError, match="base64"):
        parsing.parse_upscale_result({"rawBytes": "not base64 at all!"}, status_code=200)


def test_unknown_fields_are_kept_and_harmless() -> None:
    body = {**DOC_200, "newField": {"x": [1, 2]}, "remainingCredits": "18760"}
    body["media"] = [{**DOC_200["media"][0], "futureThing": True}]
    result = parsing.parse_upscale_result(body)
    assert result.raw["newField"] == {"x": [1, 2]}
    assert result.media[0].raw["futureThing"] is True
    assert result.remaining_credits == 18760


@pytest.mark.parametrize("body", [None, [], "text", 3, {}, {"media": []}, {"jobId": "j1"}])
def test_a_body_without_a_video_is_a_format_error_with_status_and_snippet(body: Any) -> None:
    with pytest.raises(fu.ResponseFormatError) as caught:
        parsing.parse_upscale_result(body, status_code=200)
    assert caught.value.status_code == 200
    assert "HTTP 200" in str(caught.value)
    assert caught.value.snippet == (body if isinstance(body, str) else json.dumps(body))[:200]


def test_a_failed_media_status_is_named() -> None:
    body = {
        "media": [
            {
                "mediaGenerationId": RESULT_ID,
                "mediaMetadata": {
                    "mediaStatus": {
                        "mediaGenerationStatus": "MEDIA_GENERATION_STATUS_FAILED",
                        "error": {"code": 500, "message": "Internal error"},
                    }
                },
            }
        ]
    }
    with pytest.raises(fu.ResponseFormatError, match="FAILED: Internal error"):
        parsing.parse_upscale_result(body)


def test_a_completed_job_carries_its_result() -> None:
    body = {
        **DOC_201,
        "status": "completed",
        "updated": "2026-01-19T12:35:40Z",
        "response": {k: DOC_200[k] for k in ("media", "remainingCredits", "captcha")},
    }
    job = parsing.parse_job(body)
    assert job.done
    assert isinstance(job.result, fu.UpscaleResult)
    assert job.result.job_id == DOC_201["jobid"]
    assert job.result.video_url == VIDEO_URL
    assert job.captcha is not None and len(job.captcha.attempts) == 1


def test_a_failed_job_carries_the_servers_error() -> None:
    body = {
        **DOC_201,
        "jobId": DOC_201["jobid"],
        "status": "failed",
        "error": "Video upscaling failed",
        "errorDetails": "Google returned MEDIA_GENERATION_STATUS_FAILED",
        "code": 500,
        "response": {"error": {"code": 500, "message": "Internal", "status": "INTERNAL"}},
    }
    job = parsing.parse_job(body)
    assert (job.status, job.error, job.code) == ("failed", "Video upscaling failed", 500)
    assert job.error_details == "Google returned MEDIA_GENERATION_STATUS_FAILED"
    err = fu.JobFailedError(job)
    assert "Video upscaling failed" in str(err) and "MEDIA_GENERATION_STATUS_FAILED" in str(err)


def test_a_completed_generation_job_is_a_generation_result() -> None:
    body = {
        "jobid": "j2",
        "status": "completed",
        "request": {"prompt": "a cat"},
        "response": {"media": [{"mediaGenerationId": SOURCE, "videoUrl": VIDEO_URL}]},
    }
    job = parsing.parse_job(body)
    assert isinstance(job.result, fu.GenerationResult)
    assert job.result.media_generation_id == SOURCE


def test_an_unknown_job_status_is_not_waited_on_forever() -> None:
    job = parsing.parse_job({"jobid": "j3", "status": "archived"})
    steps = wait_steps("j3", timeout=10.0, plan=PollPlan(PollSchedule()), initial=job)
    assert next(steps) == Update(job)
    with pytest.raises(fu.ResponseFormatError, match="archived"):
        next(steps)


@pytest.mark.parametrize(
    "body", [{"status": "created"}, {"jobid": "j1"}, {"jobid": 7, "status": "created"}]
)
def test_a_job_without_id_or_status_is_a_format_error(body: dict[str, Any]) -> None:
    with pytest.raises(fu.ResponseFormatError):
        parsing.parse_job(body, status_code=200)


# -- the property: arbitrary JSON, only ResponseFormatError escapes -----------------------

VOCABULARY = [
    "jobId", "jobid", "status", "media", "operations", "rawBytes", "remainingCredits",
    "captcha", "request", "response", "created", "updated", "error", "errorDetails", "code",
    "videoUrl", "thumbnailUrl", "mediaGenerationId", "operation", "metadata", "video",
    "fifeUrl", "servingBaseUri", "generatedVideo", "upsampleMetadata", "upsampleResolution",
    "videoUpsampleResolution", "model", "attempts", "durationMs", "service", "taskId",
    "success", "credits", "prompt", "resolution", "mediaMetadata", "mediaStatus",
    "mediaGenerationStatus", "details", "reason", "retryAfter", "message", "email",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["completed", "failed", "created", "1080p", "4K", B64, VIDEO_URL, ""])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(VOCABULARY) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)

PARSERS = [
    parsing.parse_upscale_result,
    parsing.parse_job,
    parsing.parse_generation_result,
    parsing.parse_submitted,
    parsing.parse_account,
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values)
def test_arbitrary_json_raises_only_response_format_error(body: Any) -> None:
    for parse in PARSERS:
        try:
            parsed = parse(body, status_code=200)
        except fu.ResponseFormatError as exc:
            assert exc.status_code == 200
        else:
            repr(parsed)  # what parsed must also display
            if hasattr(parsed, "_repr_html_"):
                parsed._repr_html_()
    err = classify(429, {"Retry-After": "x"}, body)
    assert isinstance(err, fu.APIStatusError)
    str(err)


@settings(max_examples=200, deadline=None)
@given(content=st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes_decode_or_raise_response_format_error(content: bytes) -> None:
    try:
        parsing.decode_json(content, status_code=502)
    except fu.ResponseFormatError as exc:
        assert exc.not_json and exc.status_code == 502


@settings(max_examples=200, deadline=None)
@given(
    status=st.integers(min_value=100, max_value=599),
    headers=st.dictionaries(st.sampled_from(["Retry-After", "retry-after", "X"]), st.text()),
    body=json_values,
)
def test_classify_never_raises(status: int, headers: dict[str, str], body: Any) -> None:
    err = classify(status, headers, body)
    assert err.status_code == status
    assert err.retry_after is None or err.retry_after >= 0
