"""The period (``freq=``) each time of an analysis falls in, labelled by its first instant.

``freq`` is a pandas alias: a fixed length (``"h"``, ``"15min"``, ``"D"``), a calendar
period by its start or its end (``"MS"``/``"ME"``/``"M"``, ``"QS"``/``"QE"``/``"Q"``,
``"YS"``/``"YE"``/``"Y"``, ``"W"``; anchors such as ``"QS-FEB"`` or ``"YS-APR"``). Periods
follow the wall clock of the zone: a day runs from local midnight to midnight, and at the
end of daylight saving the repeated hour is two periods (one per offset), each one real
hour, rather than one holding two hours of calls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import (
    BaseOffset,
    BusinessMonthBegin,
    BusinessMonthEnd,
    Day,
    MonthBegin,
    MonthEnd,
    QuarterBegin,
    QuarterEnd,
    SemiMonthBegin,
    SemiMonthEnd,
    Tick,
    Week,
    YearBegin,
    YearEnd,
)

__all__ = ["time_buckets"]

_EXAMPLES = "e.g. 'h', '15min', 'D', 'W', 'MS' (or 'ME', 'M'), 'QS', 'YS'"
# Calendar periods named by their first day, and those named by their last (pandas'
# "W" is the week ending on Sunday).
_STARTS = (MonthBegin, BusinessMonthBegin, QuarterBegin, YearBegin, SemiMonthBegin)
_ENDS = (MonthEnd, BusinessMonthEnd, QuarterEnd, YearEnd, SemiMonthEnd, Week)
# Period aliases to_offset() no longer reads (pandas >= 2.2), as the offsets that mean the same.
_PERIOD_ALIASES = {"M": "ME", "Q": "QE", "Y": "YE", "A": "YE", "H": "h", "T": "min", "S": "s"}


def time_buckets(stamps: pd.Series, freq: str, tz: str | None = None) -> pd.Series:
    """The start of the ``freq`` period of each time, in ``tz`` (default: the zone the
    times are in, UTC for a ledger frame)."""
    if tz is not None:
        stamps = stamps.dt.tz_convert(tz)
    offset = _offset(freq)
    wall = stamps.dt.tz_localize(None)
    if isinstance(offset, Tick | Day):
        start = wall.dt.floor(offset)
    else:
        start = _calendar_starts(wall.dt.normalize(), offset)
    placed = _placed(start, stamps)
    if _shorter_than_a_day(offset):
        # Hours (and minutes) are real ones: one the clock goes back into starts anew.
        placed = _split_at_offset_changes(placed, stamps)
    labels: pd.Series = placed.dt.as_unit("ns")
    return labels


def _shorter_than_a_day(offset: BaseOffset) -> bool:
    return (
        isinstance(offset, Tick)
        and not isinstance(offset, Day)
        and pd.Timedelta(offset) < pd.Timedelta(days=1)
    )


def _offset(freq: object) -> BaseOffset:
    if not isinstance(freq, str) or not freq.strip():
        raise ValueError(f"freq must be a pandas frequency string ({_EXAMPLES}), got {freq!r}")
    text = freq.strip()
    try:
        offset = to_offset(_PERIOD_ALIASES.get(text.upper() if len(text) == 1 else text, text))
    except ValueError:
        raise ValueError(f"freq={freq!r} is not a pandas frequency: use {_EXAMPLES}") from None
    if isinstance(offset, Tick | Day):
        return offset
    if not isinstance(offset, _STARTS + _ENDS):
        raise ValueError(
            f"freq={freq!r} is not supported for periods (business days and the like): "
            f"use {_EXAMPLES}"
        )
    if offset.n != 1:
        # Where would three-month periods start? pandas' resample starts at the data.
        raise ValueError(
            f"freq={freq!r}: calendar periods count one period at a time: use {_EXAMPLES} "
            "and group the result further if needed"
        )
    return offset


def _calendar_starts(days: pd.Series, offset: BaseOffset) -> pd.Series:
    """Each day's period start; computed once per distinct day (few), not per row."""
    distinct = pd.DatetimeIndex(days.dropna().unique())
    if isinstance(offset, _ENDS):
        # A period named by its end runs from the day after the previous end.
        one_day = pd.Timedelta(days=1)
        firsts = [offset.rollback(day - one_day) + one_day for day in distinct]
    else:
        firsts = [offset.rollback(day) for day in distinct]
    return days.map(pd.Series(firsts, index=distinct, dtype=days.dtype))


def _placed(start: pd.Series, stamps: pd.Series) -> pd.Series:
    """Wall-clock period starts -> instants in the times' zone, each the latest that is
    not after its time: in a repeated hour (the end of daylight saving) a time of the
    second pass starts the second 01:00, not the first."""
    zone = stamps.dt.tz
    every = np.ones(len(start), dtype=bool)
    first = start.dt.tz_localize(zone, ambiguous=every, nonexistent="shift_forward")
    second = start.dt.tz_localize(zone, ambiguous=~every, nonexistent="shift_forward")
    latest: pd.Series = second.where(second <= stamps, first)
    return latest


def _split_at_offset_changes(placed: pd.Series, stamps: pd.Series) -> pd.Series:
    """A period whose clock changed offset before the time (a half-hour change, or an
    hour the clock went back into) starts at the change instead: no period then holds
    more real time than ``freq``. Only times just after a change are affected (few)."""
    changed = (_utc_offsets(placed) != _utc_offsets(stamps)) & stamps.notna()
    if not changed.any():
        return placed
    out = placed.copy()
    for row in np.flatnonzero(changed.to_numpy()):
        out.iloc[int(row)] = _change_instant(placed.iloc[row], stamps.iloc[row])
    return out


def _utc_offsets(stamps: pd.Series) -> pd.Series:
    offsets: pd.Series = stamps.dt.tz_localize(None) - stamps.dt.tz_convert("UTC").dt.tz_localize(
        None
    )
    return offsets


def _change_instant(before: pd.Timestamp, after: pd.Timestamp) -> pd.Timestamp:
    """The first second at ``after``'s UTC offset, between two times of different offsets
    (zones change offset on whole seconds)."""
    zone, target = after.tz, after.utcoffset()
    low, high = int(before.timestamp()), int(np.ceil(after.timestamp()))
    while high - low > 1:  # offset(low) differs, offset(high) is the target's
        middle = (low + high) // 2
        if pd.Timestamp(middle, unit="s", tz=zone).utcoffset() == target:
            high = middle
        else:
            low = middle
    return pd.Timestamp(high, unit="s", tz=zone)
