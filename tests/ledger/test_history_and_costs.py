"""A month of simulated history, the client on the simulator's clock, costs in money, and
plot time labels that tell their periods apart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import matplotlib.pyplot
import pandas as pd
import pytest

import flowup_nb as fu
from flowup_nb.ledger.plots import plot_costs, plot_credits, plot_errors
from flowup_nb.sim.handle import SimHandle

matplotlib.use("Agg")

DAY = 86_400.0


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[fu.Ledger, SimHandle]]:
    """Thirty days of history, with the simulator's faults, on a simulator the test keeps
    to count what it was asked."""
    sim = SimHandle(seed=11, time_scale=0.002, start_at=time.time() - 31 * DAY)
    ledger = fu.sim.history(
        days=30, simulator=sim, path=tmp_path_factory.mktemp("history") / "h.sqlite"
    )
    yield ledger, sim
    ledger.close()
    sim.stop()


def test_a_month_of_history_comes_from_real_exchanges_only(
    month: tuple[fu.Ledger, SimHandle],
) -> None:
    ledger, sim = month
    frame = ledger.frame()
    stats = sim.stats()
    assert len(frame) == sum(stats["requests"].values())  # one row per request, no more
    assert frame["finished_at"].dt.date.nunique() >= 28
    assert set(frame["tags"].astype(str)) == {"simulated"}
    assert frame["account"].nunique() >= 3
    assert set(frame["mode"].dropna()) >= {"sync", "async"}
    assert set(frame["resolution"].dropna()) == {"1080p", "4K"}
    assert sum(stats["faults_injected"].values()) > 0  # the real failures came too
    assert frame["error_type"].notna().any()


def test_a_history_is_never_mixed_into_an_existing_ledger(tmp_path: Path) -> None:
    target = tmp_path / "mine.sqlite"
    fu.Ledger(target).close()
    with pytest.raises(fu.InputError, match="replace=True"):
        fu.sim.history(days=1, path=target)
    with pytest.raises(fu.InputError, match="days"):
        fu.sim.history(days=0)


def test_the_client_reads_the_simulators_clock(tmp_path: Path) -> None:
    with fu.sim.start(seed=2, time_scale=0.001) as sim:
        ledger = fu.Ledger(tmp_path / "clock.sqlite")
        with fu.connect(simulator=sim, ledger=ledger) as client:
            assert client.simulator is sim
            client.get_account("jo.ultra@example.com")
            sim.advance(10 * DAY)
            client.get_account("jo.ultra@example.com")
        stamps = ledger.frame()["started_at"]
        assert (stamps.iloc[1] - stamps.iloc[0]) >= pd.Timedelta(days=10)
        assert abs(stamps.iloc[1].timestamp() - sim.now()) < 60
        ledger.close()


def test_costs_count_every_paid_attempt_and_credit_the_simulator_counted(
    tmp_path: Path,
) -> None:
    sim = SimHandle(seed=3, time_scale=0.002, start_at=time.time() - 6 * DAY)
    try:
        # No faults: an answer lost in transit would hide the attempts it reported.
        ledger = fu.sim.history(days=5, simulator=sim, fault_rate=0, path=tmp_path / "c.sqlite")
        truth = sim.stats()
    finally:
        sim.stop()
    prices = fu.Prices(credit=0.02, captcha_per_1000={"CapSolver": 1.0}, currency="EUR")
    table = ledger.costs(prices, by="account", freq=None)
    charged = {email: n for email, n in truth["credits_charged"].items() if n}
    assert {a: c for a, c in table["credits"].items() if c} == charged
    attempts = truth["captcha_attempts"]
    assert table["captcha_attempts"].sum() == sum(p["attempts"] for p in attempts.values())
    failed = sum(p["attempts"] - p["successes"] for p in attempts.values())
    assert failed > 0 and table["captcha_failures"].sum() == failed
    capsolver = attempts.get("CapSolver", {"attempts": 0})["attempts"]
    others = sum(p["attempts"] for name, p in attempts.items() if name != "CapSolver")
    expected = capsolver * 1.0 / 1000 + others * prices.other_captcha_per_1000 / 1000
    assert table["captcha_cost"].sum() == pytest.approx(expected)
    assert table["credit_cost"].sum() == pytest.approx(sum(charged.values()) * 0.02)
    assert table.attrs["currency"] == "EUR"
    daily = ledger.costs(prices, freq="D")
    assert daily["total_cost"].sum() == pytest.approx(table["total_cost"].sum())
    assert len(daily) >= 4
    ax = ledger.plot_costs(prices, by="account")
    assert "EUR" in ax.get_ylabel()
    ledger.close()


def test_prices_refuse_what_is_not_a_price() -> None:
    with pytest.raises(fu.InputError, match="credit"):
        fu.Prices(credit=-1)
    with pytest.raises(fu.InputError, match="CapSolver"):
        fu.Prices(captcha_per_1000={"CapSolver": "cheap"})  # type: ignore[dict-item]
    with pytest.raises(fu.InputError, match="currency"):
        fu.Prices(currency=" ")
    assert fu.Prices().per_attempt("UserProvided") == 0.0


def _tick_labels(ax: matplotlib.axes.Axes) -> list[str]:
    ax.figure.canvas.draw()
    return [label.get_text() for label in ax.get_xticklabels() if label.get_text()]


@pytest.mark.parametrize(
    ("start", "freq", "periods"),
    [
        ("2026-12-01 19:01", "min", 5),  # minutes of one day: the bug was 5 x "19:01"
        ("2026-12-01 19:01:05", "s", 7),
        ("2026-11-01", "D", 30),
        ("2026-01-01", "MS", 11),
        ("2026-11-30 20:00", "h", 9),  # hours across midnight
    ],
)
def test_period_labels_are_distinct_at_every_span(start: str, freq: str, periods: int) -> None:
    index = pd.date_range(start, periods=periods, freq=freq, tz="UTC", name="period")
    credits = pd.DataFrame(
        {"credits_spent": 1, "expected_cost": 1, "calls": 1, "cumulative_spent": 1},
        index=index,
    )
    errors = pd.DataFrame({"RateLimitError": range(periods)}, index=index)
    costs = pd.DataFrame(
        {"credit_cost": 1.0, "captcha_cost": 0.5, "captcha_attempts": 1, "captcha_failures": 1},
        index=index,
    )
    costs.attrs["currency"] = "USD"
    for ax in (plot_credits(credits), plot_errors(errors), plot_costs(costs)):
        labels = _tick_labels(ax)
        assert len(labels) == len(set(labels)) >= min(periods, 5), labels
        assert "(" in ax.get_ylabel() and ax.get_xlabel()
        matplotlib.pyplot.close(ax.figure)
    assert f"{periods} captcha attempts paid" in plot_costs(costs).get_title()
    assert "1 captcha attempt paid, 1 failed one" in plot_costs(costs.iloc[:1]).get_title()
