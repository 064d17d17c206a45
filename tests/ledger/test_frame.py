"""The frame: typed columns, time windows, and the derived money columns."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from ledgerkit import ACCOUNT, OTHER_ACCOUNT, T0, ExchangeFactory, attempts

from flowup_nb.ledger import Ledger
from flowup_nb.ledger.frame import CATEGORY_COLUMNS, FRAME_COLUMNS

EXPECTED_KINDS = {
    "started_at": "datetime64[ns, UTC]",
    "finished_at": "datetime64[ns, UTC]",
    "wall_ms": "float64",
    "attempt": "Int64",
    "http_status": "Int64",
    "remaining_credits": "Int64",
    "credits_spent": "Int64",
    "expected_cost": "Int64",
    "captcha_ms": "Int64",
    "cached": "boolean",
    "will_retry": "boolean",
    "captcha_quality": "boolean",
    "call_id": "str",
    "job_id": "str",
    **{name: "category" for name in CATEGORY_COLUMNS},
}


def _kinds(frame: pd.DataFrame) -> dict[str, str]:
    return {name: str(frame[name].dtype) for name in EXPECTED_KINDS}


def test_frame_columns_are_typed(ledger: Ledger, make_exchange: ExchangeFactory) -> None:
    ledger.record(
        make_exchange(
            remaining_credits=100,
            cached=True,
            attempt=1,
            captcha_attempts=attempts(("CapSolver", 10, True)),
        )
    )
    ledger.record(make_exchange(outcome="error", http_status=None, error_type="APITimeoutError"))
    frame = ledger.frame()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert _kinds(frame) == EXPECTED_KINDS
    assert frame["http_status"].tolist() == [200, pd.NA]
    assert frame["cached"].tolist() == [True, pd.NA]
    assert frame["started_at"].iloc[0] == pd.Timestamp(T0, unit="s", tz="UTC")


def test_an_empty_ledger_gives_an_empty_frame_with_the_same_types(ledger: Ledger) -> None:
    frame = ledger.frame()
    assert frame.empty
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert _kinds(frame) == EXPECTED_KINDS


def test_frame_is_ordered_by_start_whatever_the_order_of_recording(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    late, early = make_exchange(at=100.0), make_exchange(at=5.0, took=200.0)
    ledger.record(late)
    ledger.record(early)  # a long call that started first, finished last
    assert ledger.frame()["call_id"].tolist() == [early.call_id, late.call_id]


def test_since_until_and_tz(ledger: Ledger, make_exchange: ExchangeFactory) -> None:
    for hours in (0, 1, 2, 3):
        ledger.record(make_exchange(at=hours * 3600.0))
    base = pd.Timestamp(T0, unit="s", tz="UTC")
    window = ledger.frame(since=base + pd.Timedelta(hours=1), until=base + pd.Timedelta(hours=3))
    assert window["started_at"].tolist() == [base + pd.Timedelta(hours=h) for h in (1, 2)]
    # Naive bounds are read in tz; times are shown in tz.
    local = ledger.frame(since=dt.datetime(2026, 3, 10, 6, 0), tz="America/Los_Angeles")
    assert len(local) == 3  # 06:00 PDT is 13:00 UTC: the calls at 13, 14 and 15 UTC
    assert str(local["started_at"].dt.tz) == "America/Los_Angeles"
    assert len(ledger.frame(since="2026-03-10T14:00Z")) == 2
    assert len(ledger.frame(since=dt.date(2026, 3, 11))) == 0
    assert len(ledger.frame(since="7 days")) == 0  # T0 is long before the test runs
    with pytest.raises(ValueError, match="neither a time nor a duration"):
        ledger.frame(since="last tuesday-ish")
    with pytest.raises(ValueError, match="IANA"):
        ledger.frame(tz="Mars/Olympus")


def test_credits_spent_is_the_balance_fall_per_account(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    ledger.record(make_exchange(at=0, remaining_credits=1000))
    ledger.record(make_exchange(at=10, remaining_credits=2500, account=OTHER_ACCOUNT))
    ledger.record(make_exchange(at=20, remaining_credits=950, resolution="4K"))
    ledger.record(make_exchange(at=30, outcome="error", http_status=503))  # no balance
    ledger.record(
        make_exchange(at=40, remaining_credits=2450, account=OTHER_ACCOUNT, resolution="4K")
    )
    ledger.record(make_exchange(at=50, remaining_credits=1950))  # a top-up of 1000
    frame = ledger.frame()
    assert frame["credits_spent"].tolist() == [pd.NA, pd.NA, 50, pd.NA, 50, 0]
    assert frame["credits_added"].tolist() == [pd.NA, pd.NA, 0, pd.NA, 0, 1000]
    assert frame["balance_order"].tolist() == [0, 0, 1, pd.NA, 1, 2]


def test_overlapping_calls_are_ordered_by_the_servers_answer(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    """Two 4K upscales overlap; the one the server answered second (lower balance)
    arrived here first. Ordering by start or by arrival would show a fake top-up."""
    ledger.record(make_exchange(at=0, took=1, remaining_credits=1000))
    ledger.record(make_exchange(at=10, took=60.2, resolution="4K", remaining_credits=950))
    ledger.record(make_exchange(at=11, took=59.0, resolution="4K", remaining_credits=900))
    frame = ledger.frame()
    assert frame["credits_spent"].tolist() == [pd.NA, 50, 50]
    assert frame["credits_added"].fillna(0).sum() == 0
    assert frame["credits_spent"].sum() == 100  # = 1000 - 900


def test_a_window_starts_from_the_balance_before_it(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    ledger.record(make_exchange(at=0, remaining_credits=1000))
    ledger.record(make_exchange(at=7200, remaining_credits=950, resolution="4K"))
    since = pd.Timestamp(T0 + 3600, unit="s", tz="UTC")
    assert ledger.frame(since=since)["credits_spent"].tolist() == [50]


def test_expected_cost_counts_a_job_once_on_its_completion(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    polls = {
        "operation": "get_job",
        "method": "GET",
        "endpoint": "/jobs/{jobId}",
        "mode": None,
        "resolution": None,
        "account": None,
    }
    ledger.record(
        make_exchange(
            at=0,
            operation="submit_upscale",
            mode="async",
            job_id="j4k",
            job_status="created",
            resolution="4K",
            http_status=201,
        )
    )
    ledger.record(
        make_exchange(at=5, outcome="pending", job_id="j4k", job_status="started", **polls)
    )
    ledger.record(
        make_exchange(at=9, job_id="j4k", job_status="completed", remaining_credits=950, **polls)
    )
    ledger.record(
        make_exchange(
            at=9.5,
            operation="webhook",
            method="POST",
            endpoint="{replyUrl}",
            mode=None,
            job_id="j4k",
            job_status="completed",
            resolution="4K",
            remaining_credits=950,
        )
    )
    ledger.record(make_exchange(at=20, resolution="4K", job_id="again", cached=True))
    ledger.record(make_exchange(at=30, resolution="1080p", job_id="hd"))
    ledger.record(
        make_exchange(at=40, resolution="4K", job_id="refused", outcome="error", http_status=402)
    )
    frame = ledger.frame()
    assert frame["expected_cost"].tolist() == [0, 0, 50, 0, 0, 0, 0]
    # The poll's account and resolution come from the job's submit.
    assert frame.loc[2, "account"] == ACCOUNT
    assert frame.loc[2, "resolution"] == "4K"


def test_generation_prices_follow_the_model_and_the_tier(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    generate = {"operation": "generate_video", "endpoint": "/videos", "resolution": None}
    ledger.record(make_exchange(model="veo-3.1-quality", account=OTHER_ACCOUNT, **generate))
    ledger.record(make_exchange(model=None, account="pat.pro@example.com", **generate))
    ledger.record(
        make_exchange(model="veo_3_1_t2v_lite", account="pat.pro@example.com", **generate)
    )
    # An account that completed a 4K upscale is on Ultra, where fast costs 10.
    ledger.record(make_exchange(resolution="4K", account=ACCOUNT, job_id="u1"))
    ledger.record(make_exchange(model="veo-3.1-fast", account=ACCOUNT, **generate))
    assert ledger.frame()["expected_cost"].tolist() == [100, 20, 10, 50, 10]


def test_the_cached_frame_follows_writes_from_any_kernel_and_survives_edits(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    ledger.record(make_exchange(remaining_credits=1000))
    first = ledger.frame()
    first.loc[0, "remaining_credits"] = 1  # the caller's copy
    first["extra"] = 1
    again = ledger.frame()
    assert again["remaining_credits"].tolist() == [1000]
    assert "extra" not in again
    with Ledger(ledger.path) as other_kernel:  # its own connection, as another process has
        other_kernel.record(make_exchange(remaining_credits=950, resolution="4K"))
    assert ledger.frame()["credits_spent"].tolist() == [pd.NA, 50]
    ledger.record(make_exchange(remaining_credits=900, resolution="4K"))
    assert len(ledger.frame()) == 3
    assert ledger.summary().loc[ACCOUNT, "calls"] == 3  # analyses see it too
