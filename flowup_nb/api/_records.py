"""Exchange fields from what an exchange produced: a result, a job, an account, an error.

The ledger sees the client only through :class:`Exchange`; this module decides which
plain values of our models and errors land in it.
"""

from __future__ import annotations

from typing import Any

from flowup_nb.api import policy
from flowup_nb.api.errors import (
    APIConnectionError,
    APIStatusError,
    FlowError,
    JobFailedError,
    ResponseFormatError,
)
from flowup_nb.api.exchange import CaptchaAttemptRecord
from flowup_nb.api.models import Account, Captcha, GenerationResult, Job, UpscaleResult

__all__ = ["fields_of_error", "fields_of_value"]


def _captcha_fields(captcha: Captcha | None) -> dict[str, Any]:
    if captcha is None:
        return {}
    return {
        "captcha_service": captcha.service,
        "captcha_ms": captcha.duration_ms,
        "captcha_attempts": tuple(
            CaptchaAttemptRecord(
                service=attempt.service or "",
                task_id=attempt.task_id,
                duration_ms=attempt.duration_ms,
                success=attempt.success,
                error=attempt.error,
            )
            for attempt in captcha.attempts
        ),
    }


def _result_fields(result: UpscaleResult | GenerationResult) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "job_id": result.job_id,
        "remaining_credits": result.remaining_credits,
        "result_id": result.media_generation_id,
        "video_url": result.video_url,
        **_captcha_fields(result.captcha),
    }
    if isinstance(result, UpscaleResult):
        fields.update(cached=result.cached, model=result.model)
        fields["resolution"] = result.resolution
    elif result.media:
        fields["model"] = result.media[0].model
    return fields


def fields_of_value(value: Any) -> dict[str, Any]:
    if isinstance(value, UpscaleResult | GenerationResult):
        return {k: v for k, v in _result_fields(value).items() if v is not None}
    if isinstance(value, Job):
        fields: dict[str, Any] = {"job_id": value.job_id, "job_status": value.status}
        source = value.request.get("mediaGenerationId")
        if isinstance(source, str):
            fields["source_id"] = source
            fields["account"] = policy.decode_account(source)
        resolution = value.request.get("resolution")
        if isinstance(resolution, str):
            fields["resolution"] = resolution
        reply_ref = value.request.get("replyRef")
        if isinstance(reply_ref, str):
            fields["reply_ref"] = reply_ref
        fields.update(_captcha_fields(value.captcha))
        if value.result is not None:
            fields.update(_result_fields(value.result))
        if value.status == "failed":
            fields.update(
                outcome="failed",
                error_type=JobFailedError.__name__,
                error_message=value.error,
                captcha_quality=bool(value.error)
                and value.error.lower().startswith("captcha_quality:"),
            )
        else:
            fields["outcome"] = "pending" if value.pending else "ok"
        return {k: v for k, v in fields.items() if v is not None}
    if isinstance(value, Account):
        return {"account": value.email, "remaining_credits": value.credits}
    return {}


def fields_of_error(error: FlowError) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "error_type": type(error).__name__,
        "error_message": getattr(error, "message", None) or str(error),
    }
    if isinstance(error, APIStatusError):
        fields.update(
            error_reason=error.reason,
            retry_after_s=error.retry_after,
            captcha_quality=error.captcha_quality,
        )
        if error.job_id:
            fields["job_id"] = error.job_id
    elif isinstance(error, APIConnectionError):
        fields["error_reason"] = "request not sent" if not error.request_sent else "no answer"
    elif isinstance(error, ResponseFormatError):
        fields["error_reason"] = "not JSON" if error.not_json else "unexpected shape"
    return fields
