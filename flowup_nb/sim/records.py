"""The simulator's records: videos and jobs, and the JSON shapes they answer with."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from flowup_nb.sim.captcha import CaptchaOutcome
from flowup_nb.sim.clock import iso

__all__ = ["Job", "Video", "media_item", "operation_item"]

_MEDIA_TYPE = "type.googleapis.com/google.internal.labs.aisandbox.v1.Media"
_SUCCESSFUL = "MEDIA_GENERATION_STATUS_SUCCESSFUL"
_UPSAMPLER = {"1080p": "veo_3_1_upsampler_1080p", "4K": "veo_3_1_upsampler_4k"}
_UPSAMPLE_RESOLUTION = {
    "1080p": "VIDEO_UPSAMPLE_RESOLUTION_1080P",
    "4K": "VIDEO_UPSAMPLE_RESOLUTION_4K",
}
_ASPECT = {"landscape": "VIDEO_ASPECT_RATIO_LANDSCAPE", "portrait": "VIDEO_ASPECT_RATIO_PORTRAIT"}


@dataclass
class Video:
    """One video the account owns: a generated source, or an upscale of one."""

    media_generation_id: str
    name: str  # the raw media name (UUID, plus "_upsampled" for an upscale)
    email: str
    variant: str  # "source" | "1080p" | "4K"
    model: str  # Google's model key
    aspect: str  # "landscape" | "portrait"
    created: float
    project_id: str
    workflow_id: str
    seed: int = 0
    prompt: str | None = None
    source_id: str | None = None
    video_url: str = ""
    thumbnail_url: str = ""

    @property
    def upscaled(self) -> bool:
        return self.variant != "source"

    @property
    def aspect_ratio(self) -> str:
        return _ASPECT[self.aspect]

    @staticmethod
    def upsampler_model(resolution: str) -> str:
        return _UPSAMPLER[resolution]


def operation_item(v: Video) -> dict[str, Any]:
    """An `operations[]` item: the legacy shape, with fifeUrl."""
    video: dict[str, Any] = {
        "seed": v.seed,
        "model": v.model,
        "aspectRatio": v.aspect_ratio,
        "isLooped": False,
    }
    if v.upscaled:
        video["upsampleResolution"] = _UPSAMPLE_RESOLUTION[v.variant]
    elif v.prompt is not None:
        video["prompt"] = v.prompt
    video.update(
        fifeUrl=v.video_url,
        servingBaseUri=v.thumbnail_url,
        mediaGenerationId=v.media_generation_id,
        mediaVisibility="PRIVATE",
    )
    return {
        "operation": {
            "name": v.name,
            "metadata": {"@type": _MEDIA_TYPE, "name": v.name, "video": video},
        },
        "sceneId": "",
        "status": _SUCCESSFUL,
        "mediaGenerationId": v.media_generation_id,
    }


def media_item(v: Video) -> dict[str, Any]:
    """A `media[]` item: the current shape, with videoUrl and thumbnailUrl."""
    generated: dict[str, Any] = {
        "seed": v.seed,
        "model": v.model,
        "baseImageMediaGenerationId": "",
        "isLooped": False,
        "aspectRatio": v.aspect_ratio,
    }
    if v.upscaled:
        generated["upsampleMetadata"] = {"videoUpsampleResolution": _UPSAMPLE_RESOLUTION[v.variant]}
        request_data: dict[str, Any] = {
            "videoModelKey": v.model,
            "videoInput": {"mediaGenerationId": v.source_id},
        }
    else:
        generated["prompt"] = v.prompt or ""
        request_data = {"videoModelKey": v.model, "textInput": {"prompt": v.prompt or ""}}
    return {
        "name": v.name,
        "projectId": v.project_id,
        "workflowId": v.workflow_id,
        "workflowStepId": "CAI" if v.upscaled else "CAE",
        "mediaMetadata": {
            "createTime": iso(v.created)[:-1] + "000Z",
            "requestData": {
                "videoGenerationRequestData": request_data,
                "clientPlatform": "CLIENT_PLATFORM_WEB",
            },
            "mediaStatus": {"mediaGenerationStatus": _SUCCESSFUL},
            "visibility": "PRIVATE",
        },
        "video": {
            "generatedVideo": generated,
            "dimensions": {"length": "0s" if v.upscaled else "8s"},
            "operation": {"name": v.name},
        },
        "mediaGenerationId": v.media_generation_id,
        "videoUrl": v.video_url,
        "thumbnailUrl": v.thumbnail_url,
    }


@dataclass
class Job:
    """One job: an upscale or a generation, moving created -> started -> completed|failed.

    Its future is planned at creation (start and finish times in simulated seconds, and
    whether it fails); the state's clock applies the plan as time passes.
    """

    job_id: str
    kind: str  # "upscale" | "generate"
    email: str
    request: dict[str, Any]
    created: float
    start_at: float
    finish_at: float
    service_seconds: float  # unscaled time from creation to finish, for the sync timeout
    captcha: CaptchaOutcome
    seq: int
    will_fail: bool = False
    cached: bool = False
    reply_url: str | None = None
    hold: int = 0  # credits held until completion
    cost: int = 0  # credits charged at completion
    # upscale
    source_id: str | None = None
    resolution: str | None = None
    # generation
    model: str | None = None
    count: int = 1
    aspect: str = "landscape"
    prompt: str | None = None
    seed: int = 0
    # moving parts
    status: str = "created"
    updated: float = 0.0
    response: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_details: str | None = None
    code: int | None = None
    charged: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed")

    @property
    def executing(self) -> bool:
        """Counts toward the account's concurrency (cached repeats do not)."""
        return not self.terminal and not self.cached

    def record(self) -> dict[str, Any]:
        """The job as GET /jobs/{jobId} returns it (a deep copy)."""
        out: dict[str, Any] = {
            "jobid": self.job_id,
            "type": "video",
            "status": self.status,
            "created": iso(self.created),
            "updated": iso(self.updated or self.created),
            "request": copy.deepcopy(self.request),
            "response": copy.deepcopy(self.response),
        }
        if self.status == "failed":
            out["error"] = self.error
            out["errorDetails"] = self.error_details
            out["code"] = self.code
        return out
