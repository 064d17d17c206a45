"""Times the API sends: ISO 8601 and HTTP dates, and how long a ``Retry-After`` asks to wait.

The bottom of the package: it imports nothing from flowup_nb, so the errors, the models and
the policy can all read times without importing each other.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["parse_http_date", "parse_iso_datetime", "retry_after_seconds"]


def parse_iso_datetime(value: object) -> datetime | None:
    """An ISO 8601 time as a tz-aware datetime (naive means UTC); None if unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def retry_after_seconds(
    header: str | None, body_retry_after: str | None, *, now: datetime
) -> float | None:
    """Seconds to wait, from ``Retry-After`` (seconds or HTTP date) or ``retryAfter`` (ISO).

    The header wins: it is relative, so it does not depend on our clock agreeing with the
    server's. A time in the past means 0. Unreadable values are ignored (None).
    """
    if header is not None and header.strip():
        text = header.strip()
        try:
            seconds = float(text)
        except ValueError:
            when = parse_http_date(text)
            if when is not None:
                return max(0.0, (when - now).total_seconds())
        else:
            if math.isfinite(seconds):
                return max(0.0, seconds)
    when = parse_iso_datetime(body_retry_after)
    if when is not None:
        return max(0.0, (when - now).total_seconds())
    return None
