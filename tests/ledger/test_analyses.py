"""The analyses, on ledgers whose right answers the test knows by construction."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from ledgerkit import ACCOUNT, OTHER_ACCOUNT, T0, ExchangeFactory, attempts

from flowup_nb.ledger import Ledger
from flowup_nb.ledger import analyses as an

POLL = {"operation": "get_job", "method": "GET", "endpoint": "/jobs/{jobId}", "mode": None}


def _async_job(ledger: Ledger, make: ExchangeFactory, job: str, at: float, **extra) -> None:
    """submit, one pending poll, a completed poll and its webhook (same captcha report)."""
    report = extra.pop("captcha", ())
    ledger.record(
        make(
            at=at,
            operation="submit_upscale",
            mode="async",
            job_id=job,
            job_status="created",
            http_status=201,
            **extra,
        )
    )
    ledger.record(
        make(
            at=at + 2,
            took=0.05,
            outcome="pending",
            job_id=job,
            job_status="started",
            **POLL,
            **extra,
        )
    )
    ledger.record(
        make(
            at=at + 4,
            took=0.05,
            job_id=job,
            job_status="completed",
            captcha_attempts=report,
            **POLL,
            **extra,
        )
    )
    ledger.record(
        make(
            at=at + 4.1,
            took=0.0,
            operation="webhook",
            endpoint="{replyUrl}",
            mode=None,
            job_id=job,
            job_status="completed",
            captcha_attempts=report,
            **extra,
        )
    )


def test_summary_counts_calls_jobs_money_and_balance(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    make = make_exchange
    ledger.record(make(at=0, took=40, job_id="a", remaining_credits=1000))
    ledger.record(make(at=50, took=100, job_id="b", resolution="4K", remaining_credits=950))
    ledger.record(
        make(at=200, took=1, job_id="c", resolution="4K", cached=True, remaining_credits=950)
    )
    ledger.record(
        make(at=300, outcome="error", http_status=429, will_retry=True, error_type="RateLimitError")
    )
    ledger.record(
        make(at=400, took=20, job_id="d", resolution="4K", remaining_credits=900, attempt=1)
    )
    ledger.record(make(at=500, took=30, job_id="e", account=OTHER_ACCOUNT, remaining_credits=2500))
    _async_job(ledger, make, "f", at=600.0, account=OTHER_ACCOUNT, resolution="1080p")
    ledger.record(
        make(
            at=700, outcome="failed", job_id="g", job_status="failed", account=OTHER_ACCOUNT, **POLL
        )
    )

    table = ledger.summary()
    jo, sam, total = table.loc[ACCOUNT], table.loc[OTHER_ACCOUNT], table.loc[an.ALL]
    assert (jo["calls"], jo["errors"], jo["jobs"], jo["jobs_completed"], jo["cached"]) == (
        5,
        1,
        4,
        4,
        1,
    )
    assert (sam["calls"], sam["jobs"], sam["jobs_completed"], sam["jobs_failed"]) == (6, 3, 2, 1)
    assert total["calls"] == 11
    assert total["success_rate"] == pytest.approx(1 - 2 / 11)
    assert (jo["credits_spent"], jo["expected_cost"], jo["balance"]) == (100, 100, 900)
    assert sam["balance"] == 2500
    assert total["balance"] == 900 + 2500
    durations_s = [40, 100, 1, 20]  # jo's jobs, end to end
    assert jo["p50_s"] == pytest.approx(np.percentile(durations_s, 50))
    assert jo["p95_s"] == pytest.approx(np.percentile(durations_s, 95))
    # Async job f: submitted at 600, its completing poll answered at 604.05.
    job_f = ledger.jobs().set_index("job_id").loc["f"]
    assert (job_f["duration_ms"], job_f["polls"], job_f["status"]) == (4050.0, 2, "completed")


def test_latency_percentiles_with_their_sample_size(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    rng = random.Random(7)
    took = {
        "1080p": [rng.uniform(30, 60) for _ in range(40)],
        "4K": [rng.uniform(120, 300) for _ in range(15)],
    }
    at = 0.0
    for resolution, seconds in took.items():
        for s in seconds:
            ledger.record(make_exchange(at=at, took=s, resolution=resolution))
            at += 400
    ledger.record(make_exchange(at=at, took=999, outcome="error", http_status=503))

    table = ledger.latency(by="resolution")
    assert list(table.columns) == ["n", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms"]
    for resolution, seconds in took.items():
        row = table.loc[resolution]
        ms = np.array(seconds) * 1000
        assert row["n"] == len(seconds)
        for q in (50, 90, 95, 99):
            assert row[f"p{q}_ms"] == pytest.approx(np.percentile(ms, q), abs=1.0)
    assert ledger.latency(by=None, outcome=None)["n"].tolist() == [56]
    jobs = ledger.latency(by="resolution", level="job")  # no job ids: no jobs
    assert jobs.empty


def test_latency_of_calls_without_a_resolution_has_its_percentiles(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    # get_account and polls of unknown jobs carry no resolution: their group key is missing,
    # and their percentiles must still be computed (not left NaN beside a real n).
    for i, took in enumerate([0.01, 0.02, 0.03]):
        ledger.record(
            make_exchange(at=i * 10.0, took=took, operation="get_account", resolution=None)
        )
    ledger.record(make_exchange(at=50.0, took=0.5, operation="upscale", resolution="1080p"))
    table = ledger.latency()
    account = table.loc[table.index.get_level_values("operation") == "get_account"]
    assert account["n"].tolist() == [3]
    assert account["p50_ms"].tolist() == [pytest.approx(20.0, abs=0.5)]
    assert account["max_ms"].tolist() == [pytest.approx(30.0, abs=0.5)]


def test_latency_counts_every_answered_exchange_by_default(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    # An async submit answers "pending" after solving its captcha: its time is real latency.
    ledger.record(make_exchange(at=0.0, took=9.0, operation="submit_upscale", outcome="pending"))
    ledger.record(make_exchange(at=20.0, took=1.0, operation="upscale", outcome="ok"))
    ledger.record(make_exchange(at=40.0, took=5.0, operation="upscale", outcome="error"))
    assert ledger.latency(by=None)["n"].tolist() == [2]
    assert ledger.latency(by=None, outcome="ok")["n"].tolist() == [1]
    assert ledger.latency(by=None, outcome=None)["n"].tolist() == [3]
    assert ledger.latency(by="operation").loc["submit_upscale", "p50_ms"] == pytest.approx(9000)
    with pytest.raises(ValueError, match="choose among"):
        ledger.latency(by="colour")


def test_captcha_per_provider_counts_each_attempt_once(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    ledger.record(
        make_exchange(
            at=0,
            took=10,
            job_id="s1",
            captcha_attempts=attempts(("CapSolver", 2000, False), ("CapSolver", 3000, True)),
        )
    )
    ledger.record(
        make_exchange(
            at=20,
            took=10,
            job_id="s2",
            captcha_attempts=attempts(
                ("2Captcha", 4000, False), ("2Captcha", 5000, False), ("CapSolver", 1000, True)
            ),
        )
    )
    # Reported by the completed poll and again by the webhook: counted once.
    _async_job(
        ledger,
        make_exchange,
        "a1",
        at=100.0,
        resolution="4K",
        captcha=attempts(("AntiCaptcha", 1500, True)),
    )

    table = ledger.captcha()
    assert table.loc["CapSolver", ["attempts", "solved"]].tolist() == [3, 2]
    assert table.loc["2Captcha", ["attempts", "solved"]].tolist() == [2, 0]
    assert table.loc["AntiCaptcha", ["attempts", "solved"]].tolist() == [1, 1]
    assert table.loc["CapSolver", "solve_rate"] == pytest.approx(2 / 3)
    assert table.loc["CapSolver", "p50_ms"] == pytest.approx(2000)
    # CapSolver: 6 s of attempts within the 20 s its two calls took.
    assert table.loc["CapSolver", "share_of_latency"] == pytest.approx(6 / 20)
    # AntiCaptcha: 1.5 s of the async job's 4.05 s end to end.
    assert table.loc["AntiCaptcha", "share_of_latency"] == pytest.approx(1.5 / 4.05)


def test_errors_by_type_and_over_time(ledger: Ledger, make_exchange: ExchangeFactory) -> None:
    def error(at: float, kind: str, **more) -> None:
        ledger.record(make_exchange(at=at, outcome="error", error_type=kind, **more))

    error(
        0,
        "RateLimitError",
        http_status=429,
        retry_after_s=60.0,
        will_retry=True,
        error_reason="PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC",
        captcha_quality=True,
    )
    error(10, "RateLimitError", http_status=429, retry_after_s=30.0)
    error(86_400, "ServiceUnavailableError", http_status=503, will_retry=True)
    error(86_410, "CaptchaProviderError", http_status=503)
    ledger.record(make_exchange(at=86_420))

    table = ledger.errors()
    assert table.index[0] == "RateLimitError"
    rate = table.loc["RateLimitError"]
    assert (rate["count"], rate["retried"], rate["captcha_quality"]) == (2, 1, 1)
    assert rate["share"] == pytest.approx(0.5)
    assert rate["share_of_calls"] == pytest.approx(2 / 5)
    assert rate["median_retry_after_s"] == pytest.approx(45.0)
    by_status = ledger.errors(by=["http_status", "error_reason"])
    assert by_status["count"].sum() == 4

    daily = ledger.errors(freq="D")
    assert daily.sum().sum() == 4
    assert daily.loc["2026-03-10", "RateLimitError"] == 2
    assert daily.loc["2026-03-11", "ServiceUnavailableError"] == 1


def test_reconcile_shows_spending_the_price_list_does_not_explain(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    ledger.record(make_exchange(at=0, resolution="4K", job_id="first", remaining_credits=950))
    ledger.record(make_exchange(at=100, resolution="4K", job_id="k1", remaining_credits=900))
    ledger.record(make_exchange(at=200, resolution="1080p", job_id="h1", remaining_credits=900))
    ledger.record(make_exchange(at=300, account=OTHER_ACCOUNT, job_id="o1", remaining_credits=2500))
    # Someone spent 20 credits on this account elsewhere; the 1080p reveals it.
    ledger.record(make_exchange(at=400, account=OTHER_ACCOUNT, job_id="o2", remaining_credits=2480))

    table = ledger.reconcile()
    jo, sam = table.loc[ACCOUNT], table.loc[OTHER_ACCOUNT]
    # The first 4K was charged before any balance was seen: unobserved, not a mismatch.
    assert (jo["reported"], jo["expected"], jo["unobserved"], jo["agrees"]) == (50, 50, 50, True)
    assert (sam["reported"], sam["expected"], sam["difference"], sam["agrees"]) == (
        20,
        0,
        20,
        False,
    )
    total = ledger.reconcile(by=None)
    assert total.loc[an.ALL, "difference"] == 20
    with pytest.raises(ValueError, match="'account' or None"):
        ledger.reconcile(by="resolution")


def test_credits_over_time_with_the_balance(ledger: Ledger, make_exchange: ExchangeFactory) -> None:
    day = 86_400.0
    ledger.record(make_exchange(at=0, remaining_credits=1000))
    ledger.record(make_exchange(at=60, resolution="4K", job_id="x", remaining_credits=950))
    ledger.record(make_exchange(at=120, account=OTHER_ACCOUNT, remaining_credits=2500))
    ledger.record(make_exchange(at=2 * day, resolution="4K", job_id="y", remaining_credits=900))

    table = ledger.credits(freq="D")
    days = [pd.Timestamp("2026-03-10", tz="UTC"), pd.Timestamp("2026-03-12", tz="UTC")]
    assert table.index.tolist() == days
    assert table["credits_spent"].tolist() == [50, 50]
    assert table["expected_cost"].tolist() == [50, 50]
    assert table["cumulative_spent"].tolist() == [50, 100]
    # The other account's balance is carried into the second day.
    assert table["balance"].tolist() == [950 + 2500, 900 + 2500]
    per_account = ledger.credits(by="account", freq="D")
    assert per_account.loc[(days[1], ACCOUNT), "balance"] == 900
    by_resolution = ledger.credits(by="resolution", freq="D")
    assert "balance" not in by_resolution
    assert by_resolution.loc[(days[0], "4K"), "expected_cost"] == 50


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Asia/Kolkata", "UTC"])
def test_day_buckets_follow_the_local_calendar(
    ledger: Ledger, make_exchange: ExchangeFactory, tz: str
) -> None:
    """Calls around midnight UTC, and across the US change to summer time (2026-03-08)."""
    moments = [
        dt.datetime(2026, 1, 15, 7, 59, tzinfo=dt.UTC),  # 23:59 PST on the 14th
        dt.datetime(2026, 1, 15, 8, 0, tzinfo=dt.UTC),  # 00:00 PST on the 15th
        dt.datetime(2026, 1, 15, 23, 50, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 16, 0, 10, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.UTC),  # 23:30 PST on the 7th
        dt.datetime(2026, 3, 9, 6, 30, tzinfo=dt.UTC),  # 23:30 PDT on the 8th (a 23 h day)
        dt.datetime(2026, 3, 9, 7, 30, tzinfo=dt.UTC),  # 00:30 PDT on the 9th
    ]
    for i, moment in enumerate(moments):
        ledger.record(
            make_exchange(
                at=moment.timestamp() - T0,
                took=0.0,
                resolution="4K",
                job_id=f"job-{i}",
                outcome="error",
                error_type="X",
            )
        )
    zone = ZoneInfo(tz)
    expected: dict[pd.Timestamp, int] = {}
    for moment in moments:
        local_day = moment.astimezone(zone).date()
        label = pd.Timestamp(dt.datetime.combine(local_day, dt.time(), tzinfo=zone))
        expected[label] = expected.get(label, 0) + 1

    daily = ledger.errors(freq="D", tz=tz)["X"]
    assert {stamp: int(count) for stamp, count in daily.items()} == expected
    assert all(str(stamp.tz) == tz for stamp in daily.index)
    credits = ledger.credits(freq="D", tz=tz)
    assert credits["calls"].to_dict() == expected


def test_analyses_do_not_modify_the_frame(ledger: Ledger, make_exchange: ExchangeFactory) -> None:
    _async_job(ledger, make_exchange, "j", at=0.0, resolution="4K", remaining_credits=900)
    frame = ledger.frame()
    before = frame.copy()
    an.summary(frame)
    an.credits(frame, by="account", freq="h")
    an.latency(frame, level="job", by="resolution")
    an.errors(frame, freq="D")
    an.reconcile(frame, freq="D")
    pd.testing.assert_frame_equal(frame, before)


def test_analyses_of_an_empty_ledger_are_empty_not_errors(ledger: Ledger) -> None:
    assert ledger.summary().loc[an.ALL, "calls"] == 0
    for table in (
        ledger.credits(),
        ledger.latency(),
        ledger.captcha(),
        ledger.errors(),
        ledger.errors(freq="D"),
        ledger.reconcile(),
        ledger.jobs(),
    ):
        assert table.empty
