"""Plots: drawn from the analyses, with titles and labelled axes (units included)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from ledgerkit import ExchangeFactory, attempts

from flowup_nb.ledger import Ledger


@pytest.fixture
def filled(ledger: Ledger, make_exchange: ExchangeFactory) -> Ledger:
    day = 86_400.0
    for i, (resolution, took, credits) in enumerate(
        [("1080p", 40, 1000), ("4K", 150, 950), ("4K", 170, 900), ("1080p", 35, 900)]
    ):
        ledger.record(
            make_exchange(
                at=i * day,
                took=took,
                resolution=resolution,
                job_id=f"j{i}",
                remaining_credits=credits,
                captcha_attempts=attempts(
                    ("CapSolver", 900, i % 2 == 0), ("AntiCaptcha", 1200, True)
                ),
            )
        )
    ledger.record(make_exchange(at=day, outcome="error", error_type="RateLimitError"))
    ledger.record(make_exchange(at=2 * day, outcome="error", error_type="ServerError"))
    return ledger


def teardown_function() -> None:
    plt.close("all")


def test_plot_credits_bars_and_balance_line(filled: Ledger) -> None:
    ax = filled.plot_credits(tz="Europe/Paris")
    assert ax.get_title()
    assert "credits" in ax.get_ylabel()
    assert "Europe/Paris" in ax.get_xlabel()
    assert len(ax.patches) == 2 * len(filled.credits(tz="Europe/Paris"))
    (twin,) = [other for other in ax.figure.axes if other is not ax]
    assert twin.get_ylabel() == "balance (credits)"
    assert twin.lines[0].get_ydata().tolist() == [1000, 950, 900, 900]


def test_plot_latency_one_box_per_resolution_with_n(filled: Ledger) -> None:
    ax = filled.plot_latency()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["1080p\n(n=2)", "4K\n(n=2)"]
    assert ax.get_ylabel() == "duration (s)"
    assert "resolution" in ax.get_title()


def test_plot_captcha_providers_side_by_side(filled: Ledger) -> None:
    figure = filled.plot_captcha()
    rate_ax, time_ax = figure.axes
    assert [t.get_text().split("\n")[0] for t in rate_ax.get_xticklabels()] == [
        "AntiCaptcha",
        "CapSolver",
    ]
    heights = [patch.get_height() for patch in rate_ax.patches]
    assert heights == pytest.approx([100.0, 50.0])
    assert "%" in rate_ax.get_ylabel()
    assert "(s)" in time_ax.get_ylabel()


def test_plot_errors_stacked_by_type(filled: Ledger) -> None:
    ax = filled.plot_errors()
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == [
        "RateLimitError",
        "ServerError",
    ]
    assert sum(patch.get_height() for patch in ax.patches) == 2
    assert ax.get_ylabel() == "errors (count)"


def test_plots_of_an_empty_ledger_say_so(ledger: Ledger) -> None:
    for ax in (
        ledger.plot_credits(),
        ledger.plot_latency(),
        ledger.plot_errors(),
        *ledger.plot_captcha().axes,
    ):
        assert any(text.get_text() == "no data yet" for text in ax.texts)
