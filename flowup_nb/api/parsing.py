"""Read the API's JSON bodies into the typed records of ``models``.

Parsing is tolerant by design: unknown fields are ignored (and kept in ``.raw``),
fields of an unexpected type count as absent, both the legacy ``operations[]`` and
the current ``media[]`` shapes are read, ``jobId`` and ``jobid`` alike. Only a body
that lacks what the caller needs (a video for an upscale, an id and a status for a
job) raises :class:`ResponseFormatError`, with the status and a snippet of the body.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from flowup_nb.api.accounts import tier_of_paygate
from flowup_nb.api.errors import ResponseFormatError
from flowup_nb.api.models import (
    Account,
    AccountLoad,
    Captcha,
    CaptchaAttempt,
    GenerationResult,
    Job,
    JobStats,
    Media,
    RecentJob,
    RunningJob,
    UpscaleResult,
)
from flowup_nb.api.times import parse_iso_datetime

__all__ = [
    "decode_json",
    "job_id_of",
    "parse_account",
    "parse_captcha",
    "parse_generation_result",
    "parse_job",
    "parse_job_stats",
    "parse_submitted",
    "parse_upscale_result",
]

_SNIPPET_LENGTH = 200

P = ParamSpec("P")
R = TypeVar("R")


# -- entry points ---------------------------------------------------------------------


def _only_format_errors(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Safety net: whatever a malformed body trips, the caller sees ResponseFormatError."""

    def decorate(parse: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(parse)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return parse(*args, **kwargs)
            except ResponseFormatError:
                raise
            except (
                KeyError,
                TypeError,
                ValueError,
                AttributeError,
                IndexError,
                OverflowError,
                RecursionError,
            ) as exc:
                body = args[0] if args else kwargs.get("body")
                status = kwargs.get("status_code")
                raise ResponseFormatError(
                    f"could not read {what} ({type(exc).__name__})",
                    status_code=status if isinstance(status, int) else None,
                    snippet=_snippet(body),
                ) from exc

        return wrapper

    return decorate


def decode_json(content: bytes, *, status_code: int | None = None) -> Any:
    """The JSON in a body, or ResponseFormatError (``not_json``) with a snippet."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError) as exc:
        text = content[:_SNIPPET_LENGTH].decode("utf-8", errors="replace")
        message = "the body is empty" if not content.strip() else "the body is not JSON"
        raise ResponseFormatError(
            message, status_code=status_code, snippet=text, not_json=True
        ) from exc


@_only_format_errors("the upscale result")
def parse_upscale_result(
    body: Any,
    *,
    status_code: int | None = 200,
    job_id: str | None = None,
    requested_resolution: str | None = None,
) -> UpscaleResult:
    obj = _require_object(body, status_code, "an upscale result")
    media = _media_list(obj, status_code)
    raw_bytes = _raw_bytes(obj.get("rawBytes"), status_code) or next(
        (m.raw_bytes for m in media if m.raw_bytes), None
    )
    video_url = next((m.video_url for m in media if m.video_url), None)
    if video_url is None and raw_bytes is None:
        failure = _media_failure(media, obj)
        raise ResponseFormatError(
            failure or "the answer has no videoUrl, fifeUrl or rawBytes",
            status_code=status_code,
            snippet=_snippet(body),
        )
    first = next((m for m in media if m.video_url or m.raw_bytes), media[0] if media else None)
    return UpscaleResult(
        job_id=job_id_of(obj) or job_id,
        media=tuple(media),
        video_url=video_url,
        thumbnail_url=next((m.thumbnail_url for m in media if m.thumbnail_url), None),
        media_generation_id=first.media_generation_id if first else None,
        resolution=(first.resolution if first else None) or _resolution(requested_resolution),
        model=first.model if first else None,
        remaining_credits=_int(obj.get("remainingCredits")),
        cached=raw_bytes is not None,
        raw_bytes=raw_bytes,
        captcha=parse_captcha(obj.get("captcha")),
        raw=obj,
    )


@_only_format_errors("the generation result")
def parse_generation_result(
    body: Any, *, status_code: int | None = 200, job_id: str | None = None
) -> GenerationResult:
    obj = _require_object(body, status_code, "a generation result")
    media = [m for m in _media_list(obj, status_code) if m.media_generation_id]
    if not media:
        raise ResponseFormatError(
            _media_failure(_media_list(obj, status_code), obj)
            or "the answer has no media with an id",
            status_code=status_code,
            snippet=_snippet(body),
        )
    return GenerationResult(
        job_id=job_id_of(obj) or job_id,
        media=tuple(media),
        media_generation_id=media[0].media_generation_id,
        remaining_credits=_int(obj.get("remainingCredits")),
        captcha=parse_captcha(obj.get("captcha")),
        raw=obj,
    )


@_only_format_errors("the job record")
def parse_job(body: Any, *, status_code: int | None = 200) -> Job:
    obj = _require_object(body, status_code, "a job record")
    job_id = job_id_of(obj)
    status = _str(obj.get("status"))
    if not job_id or not status:
        missing = "jobid" if not job_id else "status"
        raise ResponseFormatError(
            f"the job record has no {missing}", status_code=status_code, snippet=_snippet(body)
        )
    status = status.strip().lower()
    request = _dict(obj.get("request"))
    response = _dict(obj.get("response"))
    result: UpscaleResult | GenerationResult | None = None
    if status == "completed":
        # The result lives under `response`; read the top level too, in case it is flat.
        source = response if ("media" in response or "operations" in response) else obj
        source = {**source, "jobid": job_id}
        if _is_generation(request):
            result = parse_generation_result(source, status_code=status_code, job_id=job_id)
        else:
            result = parse_upscale_result(
                source,
                status_code=status_code,
                job_id=job_id,
                requested_resolution=_str(request.get("resolution")),
            )
    nested_error = _dict(response.get("error"))
    return Job(
        job_id=job_id,
        status=status,
        created=_time(obj.get("created")),
        updated=_time(obj.get("updated")),
        request=request,
        result=result,
        error=_str(obj.get("error")) or _str(nested_error.get("message")),
        captcha=parse_captcha(response.get("captcha")) or parse_captcha(obj.get("captcha")),
        type=_str(obj.get("type")),
        code=_int(obj.get("code")),
        error_details=_str(obj.get("errorDetails")),
        raw=obj,
    )


@_only_format_errors("the job or result")
def parse_submitted(
    body: Any, *, status_code: int | None = 201, requested_resolution: str | None = None
) -> Job:
    """The answer to an async submit: a job record, or (tolerated) a finished result."""
    obj = _require_object(body, status_code, "a job record")
    if "status" in obj or "jobid" in obj:
        return parse_job(obj, status_code=status_code)
    result = parse_upscale_result(
        obj, status_code=status_code, requested_resolution=requested_resolution
    )
    if result.job_id is None:
        raise ResponseFormatError(
            "the answer has neither a job record nor a job id",
            status_code=status_code,
            snippet=_snippet(body),
        )
    return Job(
        job_id=result.job_id,
        status="completed",
        created=None,
        updated=None,
        request={},
        result=result,
        error=None,
        captcha=result.captcha,
        raw=obj,
    )


@_only_format_errors("the account")
def parse_account(body: Any, *, status_code: int | None = 200, email: str | None = None) -> Account:
    obj = _require_object(body, status_code, "an account")
    credits = obj.get("credits")
    tier = None
    if isinstance(credits, dict):
        tier = tier_of_paygate(credits.get("userPaygateTier"))
        credits = credits.get("credits")
    return Account(
        email=_str(obj.get("email")) or email,
        credits=_int(credits),
        tier=tier,
        health=_str(obj.get("health")),
        raw=obj,
    )


@_only_format_errors("the load statistics")
def parse_job_stats(
    body: Any, *, status_code: int | None = 200, option: str = "summary"
) -> JobStats:
    """``GET /jobs?options=``: counters per group and account, and the jobs when asked.

    Every group the body holds is read (``videos``, ``images``, ``combined``, or others the
    service adds); a job listed in several groups is kept once, in its first group with
    ``combined`` read last. Maps keyed by job id are expected; a list of objects carrying
    ``jobId`` is read too.
    """
    obj = _require_object(body, status_code, "load statistics")
    groups = [
        (name, value)
        for name, value in obj.items()
        if isinstance(value, dict) and any(k in value for k in ("summary", "executing", "history"))
    ]
    groups.sort(key=lambda pair: pair[0] == "combined")  # stable: the union comes last
    counters: list[AccountLoad] = []
    running: dict[str, RunningJob] = {}
    recent: dict[str, RecentJob] = {}
    for group, value in groups:
        for email, counts in _keyed(value.get("summary"), "email"):
            counters.append(
                AccountLoad(
                    group=group,
                    email=email,
                    executing=_int(counts.get("executing")),
                    completed=_int(counts.get("completed")),
                    failed=_int(counts.get("failed")),
                    rate_limited=_int(counts.get("rateLimited")),
                    avg_response_ms=_int(counts.get("avgResponseTime")),
                    score=_float(counts.get("score")),
                )
            )
        for job_id, item in _keyed(value.get("executing"), "jobId", "jobid"):
            running.setdefault(
                job_id,
                RunningJob(
                    job_id=job_id,
                    email=_str(item.get("email")),
                    started=_stamp(item.get("timestamp")),
                    elapsed_s=_elapsed_seconds(item.get("elapsed")),
                    group=group,
                ),
            )
        for job_id, item in _keyed(value.get("history"), "jobId", "jobid"):
            recent.setdefault(
                job_id,
                RecentJob(
                    job_id=job_id,
                    email=_str(item.get("email")),
                    timestamp=_stamp(item.get("timestamp")),
                    http_status=_int(item.get("httpStatus")),
                    response_ms=_int(item.get("responseTime")),
                    group=group,
                ),
            )
    emails = [e for e in _list(obj.get("emails")) if isinstance(e, str) and e]
    return JobStats(
        option=option,
        emails=tuple(emails or dict.fromkeys(c.email for c in counters)),
        counters=tuple(counters),
        executing=tuple(running.values()),
        history=tuple(recent.values()),
        raw=obj,
    )


def parse_captcha(value: Any) -> Captcha | None:
    if not isinstance(value, dict) or not value:
        return None
    attempts = tuple(
        CaptchaAttempt(
            service=_str(item.get("service")),
            task_id=_str(item.get("taskId")),
            duration_ms=_int(item.get("durationMs")),
            success=item.get("success") is True,
            error=_str(item.get("error")),
        )
        for item in _list(value.get("attempts"))
        if isinstance(item, dict)
    )
    return Captcha(
        service=_str(value.get("service")),
        task_id=_str(value.get("taskId")),
        duration_ms=_int(value.get("durationMs")),
        attempts=attempts,
    )


# -- shapes ---------------------------------------------------------------------------


def _media_list(obj: dict[str, Any], status_code: int | None) -> list[Media]:
    """``media[]`` items first (current shape), then legacy ``operations[]`` items."""
    items = [
        _from_media_item(item, status_code)
        for item in _list(obj.get("media"))
        if isinstance(item, dict)
    ]
    known = {m.media_generation_id for m in items if m.media_generation_id}
    for item in _list(obj.get("operations")):
        if not isinstance(item, dict):
            continue
        legacy = _from_operation_item(item, status_code)
        # Both shapes describe the same videos; a legacy item adds only what media[] lacks
        # (e.g. rawBytes in Google's shape, or a fifeUrl when media[] has no URL).
        if legacy.media_generation_id in known and legacy.media_generation_id is not None:
            items = [
                _merge(m, legacy) if m.media_generation_id == legacy.media_generation_id else m
                for m in items
            ]
        else:
            items.append(legacy)
    return items


def _from_media_item(item: dict[str, Any], status_code: int | None) -> Media:
    video = _dict(item.get("video"))
    generated = _dict(video.get("generatedVideo"))
    upsample = _dict(generated.get("upsampleMetadata"))
    status = _dict(_dict(item.get("mediaMetadata")).get("mediaStatus"))
    model = _str(generated.get("model"))
    return Media(
        name=_str(item.get("name")),
        media_generation_id=_str(item.get("mediaGenerationId")),
        video_url=_url(item.get("videoUrl")),
        thumbnail_url=_url(item.get("thumbnailUrl")),
        model=model,
        aspect_ratio=_str(generated.get("aspectRatio")),
        resolution=_resolution(upsample.get("videoUpsampleResolution")) or _resolution(model),
        status=_str(status.get("mediaGenerationStatus")),
        raw_bytes=_raw_bytes(item.get("rawBytes") or video.get("rawBytes"), status_code),
        raw=item,
    )


def _from_operation_item(item: dict[str, Any], status_code: int | None) -> Media:
    operation = _dict(item.get("operation"))
    metadata = _dict(operation.get("metadata"))
    video = _dict(metadata.get("video"))
    model = _str(video.get("model"))
    return Media(
        name=_str(metadata.get("name")) or _str(operation.get("name")),
        media_generation_id=_str(item.get("mediaGenerationId"))
        or _str(video.get("mediaGenerationId")),
        video_url=_url(video.get("fifeUrl")),
        thumbnail_url=_url(video.get("servingBaseUri")),
        model=model,
        aspect_ratio=_str(video.get("aspectRatio")),
        resolution=_resolution(video.get("upsampleResolution")) or _resolution(model),
        status=_str(item.get("status")),
        raw_bytes=_raw_bytes(item.get("rawBytes") or video.get("rawBytes"), status_code),
        raw=item,
    )


def _merge(current: Media, legacy: Media) -> Media:
    return Media(
        name=current.name or legacy.name,
        media_generation_id=current.media_generation_id,
        video_url=current.video_url or legacy.video_url,
        thumbnail_url=current.thumbnail_url or legacy.thumbnail_url,
        model=current.model or legacy.model,
        aspect_ratio=current.aspect_ratio or legacy.aspect_ratio,
        resolution=current.resolution or legacy.resolution,
        status=current.status or legacy.status,
        raw_bytes=current.raw_bytes or legacy.raw_bytes,
        raw=current.raw,
    )


def _media_failure(media: list[Media], obj: dict[str, Any]) -> str | None:
    """A readable reason when the server says the media generation failed."""
    for m in media:
        if m.status and "FAIL" in m.status.upper():
            error = _dict(_dict(_dict(m.raw.get("mediaMetadata")).get("mediaStatus")).get("error"))
            detail = _str(error.get("message")) or _str(obj.get("error"))
            return f"the server reports the video {m.status}" + (f": {detail}" if detail else "")
    return None


def _is_generation(request: dict[str, Any]) -> bool:
    return "prompt" in request and "mediaGenerationId" not in request


def _resolution(value: Any) -> str | None:
    """'1080p' or '4K' from a resolution, an upsample enum or an upsampler model name."""
    text = _str(value)
    if not text:
        return None
    lowered = text.lower()
    if lowered.endswith("1080p") or lowered == "1080p":
        return "1080p"
    if lowered.endswith("4k"):
        return "4K"
    return None


def _raw_bytes(value: Any, status_code: int | None) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    text = "".join(value.split())
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:  # Google's JSON for bytes may use the URL-safe alphabet.
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ResponseFormatError(
            "rawBytes is not valid base64", status_code=status_code, snippet=value[:80]
        ) from exc


# -- small readers: a value of the wrong type counts as absent -------------------------


def _require_object(body: Any, status_code: int | None, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ResponseFormatError(
            f"expected {what} (a JSON object), got {type(body).__name__}",
            status_code=status_code,
            snippet=_snippet(body),
        )
    return body


def job_id_of(obj: dict[str, Any]) -> str | None:
    """A record's job id, whichever casing it uses (``jobId`` wins when both are there)."""
    return _str(obj.get("jobId")) or _str(obj.get("jobid"))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _url(value: Any) -> str | None:
    text = _str(value)
    return text if text and text.startswith(("http://", "https://")) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return round(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return round(number) if math.isfinite(number) else None
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _keyed(value: Any, *id_keys: str) -> list[tuple[str, dict[str, Any]]]:
    """(key, object) pairs of a map keyed by id, or of a list of objects naming their id."""
    if isinstance(value, dict):
        return [
            (k, v) for k, v in value.items() if isinstance(k, str) and k and isinstance(v, dict)
        ]
    pairs = []
    for item in _list(value):
        if isinstance(item, dict):
            key = next((_str(item.get(name)) for name in id_keys if _str(item.get(name))), None)
            if key is not None:
                pairs.append((key, item))
    return pairs


def _elapsed_seconds(value: Any) -> int | None:
    """``"mm:ss"`` (minutes unbounded) or ``"h:mm:ss"`` -> seconds; a bare number is seconds."""
    if isinstance(value, str) and ":" in value:
        parts = value.strip().split(":")
        if len(parts) > 3 or not all(part.strip().isdigit() for part in parts):
            return None
        seconds = 0
        for part in parts:
            seconds = seconds * 60 + int(part)
        return seconds
    return _int(value)


def _stamp(value: Any) -> datetime | None:
    """Epoch milliseconds (a number, or digits in a string) or an ISO time."""
    if isinstance(value, str) and value.strip().isdigit():
        return _time(int(value.strip()))
    return _time(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        # Epoch milliseconds, should a record ever carry numbers instead of ISO strings.
        try:
            return datetime.fromtimestamp(value / 1000.0, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_iso_datetime(value)


def _snippet(body: Any) -> str:
    try:
        text = body if isinstance(body, str) else json.dumps(body, default=repr)
    except (TypeError, ValueError, RecursionError):
        text = repr(type(body))
    return text[:_SNIPPET_LENGTH]
