"""Periods of the analyses (``freq=``): the aliases pandas users type, and real hours across
the end of daylight saving (one real hour per bucket, never two merged into a false spike)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from ledgerkit import T0, ExchangeFactory

from flowup_nb.ledger import Ledger

UTC = dt.UTC
# Calls finished at these UTC times (2026): a start of month, mid-quarter, a year end.
MOMENTS = [
    dt.datetime(2026, 1, 1, 0, 30, tzinfo=UTC),
    dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC),
    dt.datetime(2026, 3, 31, 23, 59, tzinfo=UTC),
    dt.datetime(2026, 5, 17, 1, 0, tzinfo=UTC),
    dt.datetime(2026, 12, 31, 23, 0, tzinfo=UTC),
]


def _record_at(ledger: Ledger, make_exchange: ExchangeFactory, moments: list[dt.datetime]) -> None:
    for moment in moments:
        ledger.record(
            make_exchange(at=moment.timestamp() - T0, took=0.0, outcome="error", error_type="X")
        )


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "buckets.sqlite")


def _utc(*day: int) -> pd.Timestamp:
    return pd.Timestamp(dt.datetime(*day, tzinfo=UTC))  # type: ignore[misc]


# The period each of MOMENTS falls in, by its first instant (whatever the alias's anchor).
PERIODS = {
    "MS": [(2026, 1, 1), (2026, 3, 1), (2026, 3, 1), (2026, 5, 1), (2026, 12, 1)],
    "QS": [(2026, 1, 1), (2026, 1, 1), (2026, 1, 1), (2026, 4, 1), (2026, 10, 1)],
    "YS": [(2026, 1, 1)] * 5,
    "W": [(2025, 12, 29), (2026, 3, 9), (2026, 3, 30), (2026, 5, 11), (2026, 12, 28)],
    "D": [(2026, 1, 1), (2026, 3, 10), (2026, 3, 31), (2026, 5, 17), (2026, 12, 31)],
}
SAME_PERIODS = {
    "ME": "MS",
    "M": "MS",
    "QE": "QS",
    "Q": "QS",
    "YE": "YS",
    "Y": "YS",
    "W-SUN": "W",
    "1D": "D",
}


@pytest.mark.parametrize("freq", [*PERIODS, *SAME_PERIODS])
def test_calendar_aliases_pandas_users_type_are_accepted(
    ledger: Ledger, make_exchange: ExchangeFactory, freq: str
) -> None:
    _record_at(ledger, make_exchange, MOMENTS)
    starts = [_utc(*day) for day in PERIODS[SAME_PERIODS.get(freq, freq)]]
    expected = pd.Series(starts).value_counts().sort_index()
    calls = ledger.credits(freq=freq)["calls"]
    assert {stamp: int(n) for stamp, n in calls.items()} == expected.to_dict()
    errors = ledger.errors(freq=freq)["X"]
    assert {stamp: int(n) for stamp, n in errors.items()} == expected.to_dict()


def test_quarters_and_years_can_start_in_another_month(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    _record_at(ledger, make_exchange, MOMENTS)
    fiscal = ledger.credits(freq="YS-APR")["calls"]
    assert {s: int(n) for s, n in fiscal.items()} == {_utc(2025, 4, 1): 3, _utc(2026, 4, 1): 2}
    quarters = ledger.credits(freq="QS-FEB")["calls"]
    assert {s: int(n) for s, n in quarters.items()} == {
        _utc(2025, 11, 1): 1,
        _utc(2026, 2, 1): 2,
        _utc(2026, 5, 1): 1,
        _utc(2026, 11, 1): 1,
    }


@pytest.mark.parametrize(
    ("freq", "words"),
    [("bogus", "not a pandas frequency"), ("3MS", "one period"), ("2QS", "one period")],
)
def test_unreadable_frequencies_are_refused_by_name(
    ledger: Ledger, make_exchange: ExchangeFactory, freq: str, words: str
) -> None:
    _record_at(ledger, make_exchange, MOMENTS)
    with pytest.raises(ValueError, match=words) as refused:
        ledger.credits(freq=freq)
    assert "'MS'" in str(refused.value)  # names what works


def _every_ten_minutes(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    moments, moment = [], start
    while moment < end:
        moments.append(moment)
        moment += dt.timedelta(minutes=10)
    return moments


@pytest.mark.parametrize(
    ("zone", "first"),
    [
        ("America/New_York", dt.datetime(2026, 11, 1, 4, 0, tzinfo=UTC)),  # 00:00 EDT
        ("Europe/Paris", dt.datetime(2026, 10, 24, 23, 0, tzinfo=UTC)),  # 01:00 CEST
        ("Australia/Lord_Howe", dt.datetime(2026, 4, 4, 13, 0, tzinfo=UTC)),  # a 30 min change
    ],
)
def test_hourly_buckets_hold_one_real_hour_across_the_end_of_daylight_saving(
    ledger: Ledger, make_exchange: ExchangeFactory, zone: str, first: dt.datetime
) -> None:
    """Calls at a steady six per real hour, for four real hours around the change: every
    bucket holds at most six, and the repeated wall-clock hour is two buckets."""
    moments = _every_ten_minutes(first, first + dt.timedelta(hours=4))
    _record_at(ledger, make_exchange, moments)

    calls = ledger.credits(freq="h", tz=zone)["calls"]

    assert int(calls.sum()) == len(moments)
    assert calls.max() <= 6, calls.to_dict()
    labels = list(calls.index)
    assert len(set(labels)) == len(labels) and labels == sorted(labels)
    # Every call lies in the hour its bucket names, in real time.
    # (compared as Timestamps: pandas compares a Timestamp in a repeated hour with a
    # datetime by its wall clock)
    instants = [pd.Timestamp(moment) for moment in moments]
    for instant in instants:
        label = max(stamp for stamp in labels if stamp <= instant)
        assert instant - label < pd.Timedelta(hours=1)
    # Where the clock goes back, a period starts: a repeated whole hour shows twice (once
    # per offset), a half hour the clock goes back over starts its own period.
    zone_info = ZoneInfo(zone)
    offsets = [m.astimezone(zone_info).utcoffset() for m in moments]
    # (the calls fall every 10 minutes from a whole hour: one falls on the change itself)
    change = next(m for m, o, p in zip(instants[1:], offsets[1:], offsets, strict=False) if o != p)
    assert change in labels
    assert all(str(stamp.tz) == zone for stamp in labels)
    assert {stamp.utcoffset() for stamp in labels} == {
        moment.astimezone(zone_info).utcoffset() for moment in moments
    }


def test_daily_buckets_across_the_end_of_daylight_saving_follow_local_midnight(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    zone = "America/New_York"
    first = dt.datetime(2026, 10, 31, 4, 0, tzinfo=UTC)  # midnight EDT
    moments = [first + dt.timedelta(hours=h) for h in range(0, 72, 3)]
    _record_at(ledger, make_exchange, moments)
    calls = ledger.credits(freq="D", tz=zone)["calls"]
    local_days = pd.Series([m.astimezone(ZoneInfo(zone)).date() for m in moments])
    assert [stamp.date() for stamp in calls.index] == sorted(local_days.unique())
    assert calls.tolist() == local_days.value_counts().sort_index().tolist()
    assert all(stamp.hour == 0 for stamp in calls.index)
