"""Turn an :class:`~flowup_nb.api.exchange.Exchange` into the plain rows the tables hold.

Reads the record by attribute name with defaults, so an Exchange from an older or newer
client still records; the token is never among the fields (the Exchange does not hold it).
"""

from __future__ import annotations

import math
from typing import Any

from flowup_nb.ledger.schema import ATTEMPT_COLUMNS, EXCHANGE_COLUMNS

__all__ = ["Row", "exchange_rows", "row_from_payload", "row_payload", "to_epoch_ms"]

# (exchange row in EXCHANGE_COLUMNS order, captcha attempt rows in ATTEMPT_COLUMNS order)
Row = tuple[tuple[Any, ...], list[tuple[Any, ...]]]

_EXCHANGE_INDEX = {name: i for i, name in enumerate(EXCHANGE_COLUMNS)}


def to_epoch_ms(seconds: float) -> int:
    """UTC epoch seconds (``time.time()``) -> integer epoch milliseconds."""
    return round(seconds * 1000.0)


def _flag(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def _int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def exchange_rows(exchange: Any, *, user: str | None = None, host: str | None = None) -> Row:
    """The ``exchanges`` row and the ``captcha_attempts`` rows of one exchange, stamped
    with who recorded it and where."""
    try:
        call_id = str(exchange.call_id)
        started = float(exchange.started_at)
        finished = float(exchange.finished_at)
    except AttributeError as exc:
        raise TypeError(
            f"Ledger.record() takes an Exchange (flowup_nb.api.exchange), "
            f"not {type(exchange).__name__}"
        ) from exc

    def get(name: str) -> Any:
        return getattr(exchange, name, None)

    attempts = tuple(get("captcha_attempts") or ())
    attempt_rows = [
        (
            call_id,
            idx,
            getattr(a, "service", None),
            getattr(a, "task_id", None),
            _int(getattr(a, "duration_ms", None)),
            _flag(getattr(a, "success", None)),
            getattr(a, "error", None),
        )
        for idx, a in enumerate(attempts)
    ]
    reported_captcha = bool(attempts) or get("captcha_service") is not None
    tags = get("tags") or ()
    values = {
        "call_id": call_id,
        "session_id": get("session_id"),
        "started_at": to_epoch_ms(started),
        "finished_at": to_epoch_ms(finished),
        "wall_ms": round((finished - started) * 1000.0, 3),
        "endpoint": get("endpoint"),
        "mode": get("mode"),
        "attempt": _int(get("attempt")),
        "job_id": get("job_id"),
        "account": get("account"),
        "source_id": get("source_id"),
        "resolution": get("resolution"),
        "http_status": _int(get("http_status")),
        "outcome": get("outcome"),
        "error_type": get("error_type"),
        "error_reason": get("error_reason"),
        "retry_after_s": _float(get("retry_after_s")),
        "captcha_quality": _flag(get("captcha_quality")),
        "cached": _flag(get("cached")),
        "remaining_credits": _int(get("remaining_credits")),
        "captcha_service": get("captcha_service"),
        "captcha_ms": _int(get("captcha_ms")),
        # None (not 0) when the answer said nothing about captcha.
        "captcha_attempts": len(attempts) if reported_captcha else None,
        "captcha_failures": (
            sum(1 for row in attempt_rows if row[5] == 0) if reported_captcha else None
        ),
        "result_id": get("result_id"),
        "video_url": get("video_url"),
        "tags": ",".join(str(tag) for tag in tags) if tags else None,
        "operation": get("operation"),
        "method": get("method"),
        "job_status": get("job_status"),
        "will_retry": _flag(get("will_retry")),
        "model": get("model"),
        "bytes_received": _int(get("bytes_received")),
        "reply_ref": get("reply_ref"),
        "error_message": get("error_message"),
        "user": user,
        "host": host,
    }
    return tuple(values[name] for name in EXCHANGE_COLUMNS), attempt_rows


def row_payload(row: Row) -> dict[str, Any]:
    """A JSON-able form of a row, for the fallback file (column names, not positions)."""
    values, attempts = row
    return {
        "v": 1,
        "exchange": dict(zip(EXCHANGE_COLUMNS, values, strict=True)),
        "captcha_attempts": [dict(zip(ATTEMPT_COLUMNS, a, strict=True)) for a in attempts],
    }


def row_from_payload(payload: dict[str, Any]) -> Row:
    """Inverse of :func:`row_payload`; columns unknown to this version are dropped."""
    exchange = payload["exchange"]
    if not isinstance(exchange, dict) or not exchange.get("call_id"):
        raise ValueError("fallback line without an exchange call_id")
    values = [None] * len(EXCHANGE_COLUMNS)
    for name, value in exchange.items():
        index = _EXCHANGE_INDEX.get(name)
        if index is not None:
            values[index] = value
    attempts = [
        tuple(a.get(name) for name in ATTEMPT_COLUMNS)
        for a in payload.get("captcha_attempts") or ()
        if isinstance(a, dict)
    ]
    return tuple(values), attempts
