"""Request bodies: JSON, multipart/form-data (both documented) or urlencoded, to a dict,
and the small field checks every route shares. Every problem is a 400 that names the fix."""

from __future__ import annotations

import email.parser
import email.policy
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flowup_nb.sim.errors import bad_request

__all__ = ["as_bool", "as_int", "optional_str", "parse_body", "reply_params"]

_FORMS_HINT = "send application/json or multipart/form-data"


def parse_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not raw.strip():
        return {}
    if media_type in ("", "application/json", "text/json") or media_type.endswith("+json"):
        return _parse_json(raw)
    if media_type == "multipart/form-data":
        return _parse_multipart(raw, content_type or "")
    if media_type == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise bad_request("Request body is not valid form data; " + _FORMS_HINT) from None
    raise bad_request(f"Unsupported Content-Type {media_type!r}; " + _FORMS_HINT)


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"Request body is not valid JSON ({exc}); {_FORMS_HINT}") from None
    if not isinstance(value, dict):
        raise bad_request(
            f'Request body must be a JSON object, e.g. {{"mediaGenerationId": "..."}} '
            f"(got a JSON {type(value).__name__})"
        )
    return value


def _reject_constant(name: str) -> None:
    # Python's json accepts NaN and Infinity; JSON does not, and they must not be echoed.
    raise ValueError(f"{name} is not valid JSON")


def _parse_multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    if "boundary=" not in content_type:
        raise bad_request(
            "multipart/form-data body without a boundary; let your HTTP library set it"
        )
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode(
        "latin-1", "replace"
    )
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
    if not message.is_multipart():
        raise bad_request("multipart/form-data body could not be parsed; " + _FORMS_HINT)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            raise bad_request("a multipart/form-data part has no name; name every field")
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):  # decode=True gives bytes, or None when empty
            payload = b""
        try:
            fields[str(name)] = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request(f"form field {name!r} is not UTF-8 text") from None
    return fields


def as_bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")  # form fields arrive as text
    raise bad_request(f"{name} must be true or false (got {value!r})")


def as_int(value: Any, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    if number is None or not low <= number <= high:
        raise bad_request(f"{name} must be an integer from {low} to {high} (got {value!r})")
    return number


def optional_str(body: dict[str, Any], name: str, max_len: int = 2048) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string (got {type(value).__name__})")
    if len(value) > max_len:
        raise bad_request(f"{name} is too long: at most {max_len} characters")
    return value


def reply_params(body: dict[str, Any]) -> tuple[str | None, str | None]:
    url = optional_str(body, "replyUrl")
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad_request(f"replyUrl must be an http:// or https:// URL (got {url!r})")
    return url, optional_str(body, "replyRef", max_len=1024)
