"""One HTTP call, recorded as its shape: the status, the headers that matter, the body's
shape, and a few redacted hints (the `situation`) the simulator's twin run needs to put
itself in the same state.

Plain httpx, not the toolkit's client: calibration is about the raw answers, before any
parsing of ours. The token travels only in the Authorization header.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from flowup_nb._version import __version__
from flowup_nb.api.errors import FlowError
from flowup_nb.calibration.redact import Redactor
from flowup_nb.calibration.shapes import Shape, shape_of

__all__ = [
    "ACCOUNT",
    "ACCOUNTS",
    "JOB",
    "STATS",
    "UPSCALE",
    "Answer",
    "CalibrationError",
    "Call",
    "Prober",
    "stats_template",
]

# The calls, named by template: the name never holds a value.
ACCOUNTS = "GET /accounts"
ACCOUNT = "GET /accounts/{email}"
UPSCALE = "POST /videos/upscale"
JOB = "GET /jobs/{jobId}"
STATS = "GET /jobs?options="

READ_TIMEOUT = 60.0
# A sync upscale may wait for the service's own 10-minute polling timeout.
UPSCALE_READ_TIMEOUT = 11 * 60.0
_REASON = re.compile(r"\bPUBLIC_ERROR_[A-Z_]+\b")


def stats_template(option: str) -> str:
    return STATS + option


class CalibrationError(FlowError):
    """The calibration could not finish (service unreachable, token refused, ...)."""


@dataclass(frozen=True)
class Call:
    """A request to send; `path` may hold an email or a job id, so it is never recorded."""

    template: str
    method: str
    path: str
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None

    @property
    def read_timeout(self) -> float:
        return UPSCALE_READ_TIMEOUT if self.template == UPSCALE else READ_TIMEOUT


@dataclass
class Answer:
    """What is recorded of one answer. `raw` (the parsed body) stays in memory only: the
    run reads ids from it to decide the next calls."""

    call: str
    status: int
    headers: dict[str, str]
    shape: Shape
    situation: dict[str, Any] = field(default_factory=dict)
    raw: Any = field(default=None, repr=False, compare=False)

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "call": self.call,
            "status": self.status,
            "headers": self.headers,
            "shape": self.shape,
        }
        if self.situation:
            out["situation"] = self.situation
        return out


class Prober:
    """Sends calls to one base URL with one token and records their answers' shapes."""

    def __init__(self, base_url: str, token: str, redactor: Redactor) -> None:
        self.redactor = redactor
        self._client = httpx.Client(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"flowup-nb-calibrate/{__version__}",
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(30.0, read=READ_TIMEOUT),
            follow_redirects=False,
        )

    def __enter__(self) -> Prober:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def raw(self, call: Call) -> httpx.Response:
        """Send a call; a transport failure is a CalibrationError naming the call only."""
        try:
            return self._client.request(
                call.method,
                call.path,
                params=call.params,
                json=call.body,
                timeout=httpx.Timeout(30.0, read=call.read_timeout),
            )
        except httpx.HTTPError as exc:
            # Neither the URL (it may hold an email or an id) nor the headers are shown.
            raise CalibrationError(
                f"{call.template}: no answer ({type(exc).__name__}); check the network "
                "and FLOWUP_BASE_URL, then run the calibration again"
            ) from None

    def send(self, call: Call) -> Answer:
        response = self.raw(call)
        body = _json_body(response)
        cookies = response.headers.get_list("set-cookie")
        self.redactor.learn_answer(body, cookies)
        if body is _NOT_JSON:
            shape: Shape = {"types": ["not-json"], "count": 1}
            raw: Any = None
        else:
            shape = shape_of(body, self.redactor)
            raw = body
        return Answer(
            call=call.template,
            status=response.status_code,
            headers=self._headers(response),
            shape=shape,
            situation=situation(call.template, response.status_code, raw, self.redactor),
            raw=raw,
        )

    def _headers(self, response: httpx.Response) -> dict[str, str]:
        """The headers that matter to a client, by kind of value, never a cookie's value."""
        out: dict[str, str] = {}
        content_type = response.headers.get("content-type")
        if content_type is not None:
            media_type = content_type.split(";", 1)[0].strip().lower()
            out["content-type"] = self.redactor.enum_value(media_type)
        retry_after = response.headers.get("retry-after")
        if retry_after is not None:
            out["retry-after"] = "seconds" if retry_after.strip().isdigit() else "http-date"
        for name in ("set-cookie", "location", "www-authenticate"):
            if name in response.headers:
                out[name] = "present"
        return out


class _NotJson:
    pass


_NOT_JSON: Any = _NotJson()


def _json_body(response: httpx.Response) -> Any:
    if not response.content:
        return _NOT_JSON
    try:
        return json.loads(response.content)
    except ValueError:
        return _NOT_JSON


def situation(template: str, status: int, body: Any, redactor: Redactor) -> dict[str, Any]:
    """What the simulator must reproduce to answer this call the same way: statuses, kinds
    and key names only, never a value that identifies anything."""
    out: dict[str, Any] = {}
    if not 200 <= status < 300:
        out["error_kind"] = _error_kind(status, body)
        return out
    if not isinstance(body, dict):
        return out
    if template == ACCOUNT:
        health = body.get("health")
        out["healthy"] = health == "OK"
        if isinstance(health, str) and health != "OK":
            out["health"] = redactor.enum_value(health)
    elif template == UPSCALE:
        out["cached"] = "media" not in body
    elif template == JOB:
        request = _object(body.get("request"))
        response = _object(body.get("response"))
        record = body.get("status")
        out["record"] = record if isinstance(record, str) and record.isalpha() else "unknown"
        out["kind"] = "generate" if "prompt" in request else "upscale"
        out["cached"] = record == "completed" and "media" not in response
        resolution = request.get("resolution")
        out["resolution"] = resolution if resolution in ("1080p", "4K") else "1080p"
        out["request"] = sorted(str(k) for k in request if str(k).isidentifier())
    return out


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _error_kind(status: int, body: Any) -> str | None:
    """Which documented error this is (a 429's reason, a 503's kind), for the twin."""
    text = json.dumps(body) if body is not _NOT_JSON else ""
    if status == 429:
        if "no_eligible_account" in text:
            return "no_eligible_account"
        reason = _REASON.search(text)
        return reason[0] if reason else None
    if status == 503:
        return "captcha_service" if "Captcha service failed" in text else "unavailable"
    if status == 403:
        return "captcha_quality" if "captcha_quality" in text else None
    return None
