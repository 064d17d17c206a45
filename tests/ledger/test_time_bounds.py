"""``since``/``until`` as people type them: short durations, "today", and bad text refused
with a message naming what works (never a raw OverflowError)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from ledgerkit import T0, ExchangeFactory

from flowup_nb.ledger import Ledger

# Seconds before now of the recorded calls.
AGO = (5 * 60, 40 * 60, 2 * 3600, 5 * 3600, 20 * 3600, 3 * 86400)


@pytest.fixture
def recent(tmp_path: Path, make_exchange: ExchangeFactory) -> Iterator[Ledger]:
    """A ledger holding one call per entry of AGO, timed back from now."""
    with Ledger(tmp_path / "recent.sqlite") as ledger:
        now = time.time()
        for seconds in AGO:
            ledger.record(make_exchange(at=now - seconds - T0))
        yield ledger


@pytest.mark.parametrize(
    ("since", "within"),
    [
        ("10m", 10 * 60),
        ("1h", 3600),
        ("3 hours", 3 * 3600),
        ("12h", 12 * 3600),
        ("30min", 30 * 60),
        ("90 minutes", 90 * 60),
        ("1.5h", 5400),
        ("1 day", 86400),
        ("2d", 2 * 86400),
        ("7 days", 7 * 86400),
        ("1 week", 7 * 86400),
        ("1h30m", 5400),
        ("45s", 45),
        ("PT3H", 3 * 3600),
    ],
)
def test_a_duration_means_that_long_before_now(recent: Ledger, since: str, within: int) -> None:
    expected = sum(1 for seconds in AGO if seconds <= within)
    assert len(recent.frame(since=since)) == expected
    assert len(recent.frame(until=since)) == len(AGO) - expected


@pytest.mark.parametrize("text", ["3 months", "1y", "2 M", "10 lightyears", "1h and then"])
def test_an_unreadable_or_ambiguous_duration_is_refused_by_name(recent: Ledger, text: str) -> None:
    with pytest.raises(ValueError, match="since=") as refused:
        recent.frame(since=text)
    assert "days" in str(refused.value)  # names what works


@pytest.mark.parametrize(
    "bound",
    ["0001-01-01", dt.date(1, 1, 2), dt.timedelta(days=999_999), "9999-12-31T23:59Z"],
)
def test_a_bound_out_of_range_is_refused_not_an_overflow(recent: Ledger, bound: object) -> None:
    with pytest.raises(ValueError, match="since="):
        recent.frame(since=bound)  # type: ignore[arg-type]


@pytest.fixture
def machine_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set the machine's local time zone (TZ) for this test."""

    def use(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


def _midnight(zone: ZoneInfo | None) -> float:
    """Epoch seconds of today's local midnight in ``zone`` (None: the machine's)."""
    if zone is None:
        return dt.datetime.combine(dt.date.today(), dt.time()).timestamp()
    today = dt.datetime.now(zone).date()
    return dt.datetime.combine(today, dt.time(), tzinfo=zone).timestamp()


def _around_midnight(
    tmp_path: Path, make_exchange: ExchangeFactory, zone: ZoneInfo | None, name: str
) -> tuple[Ledger, str, str]:
    """A ledger with a call one second before and one after today's midnight in ``zone``."""
    midnight = _midnight(zone)
    ledger = Ledger(tmp_path / f"{name}.sqlite")
    before = make_exchange(at=midnight - 1 - T0)
    after = make_exchange(at=midnight + 1 - T0)
    ledger.record(before)
    ledger.record(after)
    return ledger, before.call_id, after.call_id


def _read_today(ledger: Ledger, zone: ZoneInfo | None, **kwargs: str) -> list[str] | None:
    """The call ids since "today", or None when the day turned during the read."""
    day = _midnight(zone)
    ids = ledger.frame(since="today", **kwargs)["call_id"].tolist()
    return ids if _midnight(zone) == day else None


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/Los_Angeles", "Asia/Kathmandu"])
def test_today_means_since_midnight_in_the_tz_given(
    tmp_path: Path, make_exchange: ExchangeFactory, machine_tz: Callable[[str], None], zone: str
) -> None:
    machine_tz("Pacific/Pago_Pago")  # UTC-11: the machine's midnight is not the one asked
    for _ in range(2):
        ledger, _, after = _around_midnight(tmp_path, make_exchange, ZoneInfo(zone), zone)
        with ledger:
            ids = _read_today(ledger, ZoneInfo(zone), tz=zone)
        if ids is not None:
            break
    assert ids == [after]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu"])
def test_today_without_tz_means_since_the_machines_midnight(
    tmp_path: Path, make_exchange: ExchangeFactory, machine_tz: Callable[[str], None], zone: str
) -> None:
    machine_tz(zone)
    for _ in range(2):
        ledger, before, after = _around_midnight(tmp_path, make_exchange, None, zone)
        with ledger:
            ids = _read_today(ledger, None)
            yesterday = ledger.frame(since="yesterday", until="today")["call_id"].tolist()
        if ids is not None:
            break
    assert ids == [after]
    assert yesterday == [before]


def test_now_is_now(recent: Ledger) -> None:
    assert len(recent.frame(since="now")) == 0
    assert len(recent.frame(until="now")) == len(AGO)
    assert recent.frame(until=pd.Timestamp.now(tz="UTC")).shape[0] == len(AGO)
