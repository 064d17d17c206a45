"""``since``/``until`` bounds as people give them -> UTC epoch milliseconds.

A datetime, a date, an ISO string, a duration back from now (a timedelta, or text such
as ``"10m"``, ``"3 hours"``, ``"1h30m"``, ``"7 days"``), or a day word: ``"today"`` and
``"yesterday"`` (local midnight in ``tz``, else the machine's zone), ``"now"``.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

__all__ = ["TimeBound", "to_bound_ms"]

TimeBound = dt.datetime | dt.date | pd.Timestamp | dt.timedelta | pd.Timedelta | str | None

_EXAMPLES = "'2026-05-01', '2026-05-01T12:00Z', '10m', '3 hours', '7 days', 'today' or a datetime"
# A duration is one or more <number><unit> parts: "10m", "3 hours", "1h30m", "1 day 2h".
_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]+)\s*,?")
_UNIT_SECONDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 7 * 86400),
}
# Units of no fixed length, or that mean months to pandas users: refused, not guessed.
# ("M" alone: pandas' month; "m" stays minutes, as people type it.)
_AMBIGUOUS = frozenset(
    ("mo", "mon", "mos", "month", "months", "y", "yr", "yrs", "year", "years", "q", "quarter")
)
_DAYS_BACK = {"today": 0, "yesterday": 1}


def to_bound_ms(value: TimeBound, *, tz: str | None, name: str) -> int | None:
    """A ``since``/``until`` bound -> UTC epoch ms (None: no bound).

    Naive datetimes and ISO strings without an offset are read in ``tz``, else UTC; a date
    means its midnight. Raises ValueError naming what works for text it cannot read or a
    time pandas cannot hold (before 1677 or after 2262).
    """
    if value is None:
        return None
    try:
        stamp = _to_stamp(value, tz=tz, name=name)
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize(tz or "UTC")
        return int(stamp.tz_convert("UTC").value // 1_000_000)
    except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta):
        raise ValueError(
            f"{name}={value!r} is out of the range of times the ledger can hold "
            f"(years 1678-2261): pass e.g. {_EXAMPLES}"
        ) from None


def _to_stamp(value: TimeBound, *, tz: str | None, name: str) -> pd.Timestamp:
    if isinstance(value, str):
        return _from_text(value, tz=tz, name=name)
    if isinstance(value, dt.timedelta):  # pd.Timedelta included
        return pd.Timestamp.now(tz="UTC") - pd.Timedelta(value)
    if isinstance(value, dt.datetime | dt.date):
        return pd.Timestamp(value)
    raise TypeError(
        f"{name} must be a datetime, date, ISO string or timedelta, not {type(value).__name__}"
    )


def _from_text(text: str, *, tz: str | None, name: str) -> pd.Timestamp:
    word = text.strip().lower()
    if word == "now":
        return pd.Timestamp.now(tz="UTC")
    if word in _DAYS_BACK:
        return _local_midnight(tz, days_back=_DAYS_BACK[word])
    # Durations first: pandas reads "1h" or "3 hours" as a time of day in year 1.
    seconds = _duration_seconds(text, name=name)
    if seconds is not None:
        return pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=seconds)
    try:
        return pd.Timestamp(text)
    except ValueError:
        pass
    try:  # what pandas reads as a duration that the parts above do not, e.g. ISO "PT3H"
        return pd.Timestamp.now(tz="UTC") - pd.Timedelta(text)
    except ValueError:
        raise ValueError(
            f"{name}={text!r} is neither a time nor a duration: pass e.g. {_EXAMPLES}"
        ) from None


def _duration_seconds(text: str, *, name: str) -> float | None:
    """Seconds of a ``<number><unit>...`` text, or None when it does not look like one."""
    stripped = text.strip()
    parts = list(_PART.finditer(stripped))
    if not parts or parts[0].start() != 0:
        return None
    if "".join(part.group(0) for part in parts).strip() != stripped:
        # Numbers and words but not only durations ("1h and then"): say so rather than
        # let the date parser guess.
        raise ValueError(f"{name}={text!r} is neither a time nor a duration: pass e.g. {_EXAMPLES}")
    total = 0.0
    for part in parts:
        number, unit = float(part.group(1)), part.group(2)
        if unit == "M" or unit.lower() in _AMBIGUOUS:
            raise ValueError(
                f"{name}={text!r}: {unit!r} has no fixed length (months? minutes?); pass "
                f"days or weeks ('90 days'), minutes as 'min' ('10min'), or a date "
                f"('2026-05-01')"
            )
        seconds = _UNIT_SECONDS.get(unit.lower())
        if seconds is None:
            raise ValueError(
                f"{name}={text!r}: unknown unit {unit!r}; use s, min, h, days or weeks, "
                f"e.g. {_EXAMPLES}"
            )
        total += number * seconds
    return total


def _local_midnight(tz: str | None, *, days_back: int) -> pd.Timestamp:
    """Midnight starting today (or ``days_back`` days ago) in ``tz``, else the machine's zone."""
    if tz is None:
        date = dt.date.today() - dt.timedelta(days=days_back)
        # A naive local datetime's astimezone() applies the machine's rules for that date.
        return pd.Timestamp(dt.datetime.combine(date, dt.time()).astimezone())
    date = pd.Timestamp.now(tz=tz).date() - dt.timedelta(days=days_back)
    # Localised on its own date, so a daylight-saving change since then does not move it.
    return pd.Timestamp(dt.datetime.combine(date, dt.time())).tz_localize(
        tz, ambiguous=True, nonexistent="shift_forward"
    )
