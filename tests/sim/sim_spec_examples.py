# ruff: noqa: E501 - the spec's examples stay verbatim, one line each
"""The response examples of spec/upscale-videos.txt, verbatim, as Python values.

The simulator's answers are compared with these field by field (tests/sim/test_sim_shapes.py).
"""

from __future__ import annotations

import json

SYNC_200 = json.loads(
    """
{ "jobId": "j1737312345678v-u12345-email:jo***@gmail.com-bot:google-flow", "operations": [ { "operation": { "name": "2fefd089-...redacted..._upsampled", "metadata": { "@type": "type.googleapis.com/google.internal.labs.aisandbox.v1.Media", "name": "2fefd089-...redacted..._upsampled", "video": { "seed": 0, "model": "veo_3_1_upsampler_1080p", "aspectRatio": "VIDEO_ASPECT_RATIO_LANDSCAPE", "isLooped": false, "upsampleResolution": "VIDEO_UPSAMPLE_RESOLUTION_1080P", "fifeUrl": "https://flow-content.google/video/2fefd089-..._upsampled?Expires=...", "servingBaseUri": "https://flow-content.google/image/2fefd089-..._upsampled?Expires=...", "mediaGenerationId": "user:12345-email:6a6f...-video:2fefd089-..._upsampled", "mediaVisibility": "PRIVATE" } } }, "sceneId": "", "status": "MEDIA_GENERATION_STATUS_SUCCESSFUL", "mediaGenerationId": "user:12345-email:6a6f...-video:2fefd089-..._upsampled" } ], "media": [ { "name": "2fefd089-...redacted..._upsampled", "projectId": "9f63078c-...redacted...", "workflowId": "66612805-...redacted...", "workflowStepId": "CAI", "mediaMetadata": { "createTime": "2026-05-20T23:31:41.145235Z", "requestData": { "videoGenerationRequestData": { "...": "..." }, "clientPlatform": "CLIENT_PLATFORM_WEB" }, "mediaStatus": { "mediaGenerationStatus": "MEDIA_GENERATION_STATUS_SUCCESSFUL" }, "visibility": "PRIVATE" }, "video": { "generatedVideo": { "seed": 0, "model": "veo_3_1_upsampler_1080p", "baseImageMediaGenerationId": "", "isLooped": false, "aspectRatio": "VIDEO_ASPECT_RATIO_LANDSCAPE", "upsampleMetadata": { "videoUpsampleResolution": "VIDEO_UPSAMPLE_RESOLUTION_1080P" } }, "dimensions": { "length": "0s" }, "operation": { "name": "2fefd089-..._upsampled" } }, "mediaGenerationId": "user:12345-email:6a6f...-video:2fefd089-..._upsampled", "videoUrl": "https://flow-content.google/video/2fefd089-..._upsampled?Expires=...", "thumbnailUrl": "https://flow-content.google/image/2fefd089-..._upsampled?Expires=..." } ], "remainingCredits": 18760, "captcha": { "service": "AntiCaptcha", "taskId": "abc123...", "durationMs": 3500, "attempts": [ { "service": "AntiCaptcha", "taskId": "abc123...", "durationMs": 3500, "success": true } ] } }
"""
)

ASYNC_201 = json.loads(
    """
{ "jobid": "j1737312345678v-u12345-email:jo***@gmail.com-bot:google-flow", "type": "video", "status": "created", "created": "2026-01-19T12:34:56.789Z", "request": { "async": true, "mediaGenerationId": "user:12345-email:6a6f...-video:CAMaJDMx...", "resolution": "1080p" }, "response": { "captcha": { "service": "AntiCaptcha", "taskId": "14af1dbb-885c-4e25-8121-7a79489dfd0e", "durationMs": 5357 } } }
"""
)

BAD_REQUEST_400 = {"error": "Error message"}
UNAUTHORIZED_401 = {"error": "Unauthorized"}
NOT_FOUND_404 = {"error": "Google Flow account [email protected] not found"}
POLLING_TIMEOUT_408 = {"error": "Polling timeout"}
UNAVAILABLE_503 = {
    "error": {"code": 503, "message": "Service temporarily unavailable.", "status": "UNAVAILABLE"}
}
CAPTCHA_SERVICE_503 = {"error": "Captcha service failed: ERROR_ZERO_BALANCE", "code": 503}

# The Model section's error envelope, with every optional field present.
ERROR_ENVELOPE = {
    "jobId": "j...",
    "error": "Error summary message",
    "code": 500,
    "response": {
        "error": {
            "code": 500,
            "message": "...",
            "status": "...",
            "details": [{"@type": "...", "reason": "..."}],
        }
    },
}

# The 429 body: envelope plus `retryAfter` (API_NOTES; the doc's table of reasons).
RATE_LIMITED_429 = {
    "error": "PUBLIC_ERROR_USER_REQUESTS_THROTTLED",
    "code": 429,
    "retryAfter": "2026-01-19T13:04:56.789Z",
    "response": {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "PUBLIC_ERROR_USER_REQUESTS_THROTTLED",
                }
            ],
        }
    },
}

NO_ELIGIBLE_ACCOUNT_429 = {
    "error": "no_eligible_account",
    "message": "...",
    "retryAfter": "2026-01-19T13:04:56.789Z",
    "skipReasons": [{"email": "...", "reason": "...", "model": "..."}],
}

# Job record keys (API_NOTES, "Async jobs"): a failed record adds error, errorDetails, code.
JOB_RECORD_KEYS = {"jobid", "type", "status", "created", "updated", "request", "response"}
FAILED_JOB_EXTRA = {"error": "...", "errorDetails": "...", "code": 500}
