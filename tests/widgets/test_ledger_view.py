"""LedgerView: counts and tabs from a real ledger, refreshing as new records arrive."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from formkit import FAST, PRO, ULTRA, attribute, text, until

import flowup_nb as fu
from flowup_nb.widgets.ledger_pages import pick_freq
from flowup_nb.widgets.ledger_view import LedgerView

TABS = ["summary", "credits", "latency", "captcha", "errors", "raw"]


def _history(sim: Any, ledger: fu.Ledger) -> None:
    """A small real history: 1080p, a cached repeat, a 4K, an async job, an error."""
    with fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **FAST) as client:
        ids = sim.sample_ids(ULTRA)
        client.upscale(ids[0])
        client.upscale(ids[0])
        client.upscale(ids[1], "4K")
        client.wait(client.submit_upscale(ids[2]))
        sim.inject("upscale", "503_captcha_service")
        with pytest.raises(fu.CaptchaProviderError):
            client.upscale(sim.sample_ids(PRO)[0])


def _counts(view: LedgerView) -> dict[str, int]:
    markup = view.counts_line.value
    names = ("exchanges", "jobs", "completed", "failed", "errors", "spent", "expected")
    return {
        n: int(attribute(markup, "flowup-counts flowup-ledger-counts-line", f"data-{n}"))
        for n in names
    }


def test_an_empty_ledger_says_so() -> None:
    view = LedgerView(fu.Ledger(), refresh_interval=0)
    assert _counts(view) == dict.fromkeys(
        ("exchanges", "jobs", "completed", "failed", "errors", "spent", "expected"), 0
    )
    assert "No exchanges yet" in text(view.pages["summary"].value)
    assert list(view.tabs.titles) == TABS


def test_every_tab_shows_the_analyses(sim: Any) -> None:
    ledger = fu.Ledger()
    _history(sim, ledger)
    view = LedgerView(ledger, refresh_interval=0)
    summary = ledger.summary().loc["(all)"]
    assert _counts(view) == {
        "exchanges": len(ledger),
        "jobs": int(summary["jobs"]),
        "completed": int(summary["jobs_completed"]),
        "failed": int(summary["jobs_failed"]),
        "errors": int(summary["errors"]),
        "spent": int(summary["credits_spent"]),
        "expected": int(summary["expected_cost"]),
    }
    assert _counts(view)["spent"] == 50 and _counts(view)["errors"] >= 1
    for index, name in enumerate(TABS):
        view.tabs.selected_index = index
        page = view.pages[name].value
        assert "Could not draw" not in page, text(page)
        assert '<table class="dataframe flowup-table"' in page
    assert "CaptchaProviderError" in text(view.pages["errors"].value)
    assert "UpscaleResult" not in view.pages["raw"].value
    jobs = ledger.jobs()
    assert jobs["job_id"].iloc[-1] in text(view.pages["raw"].value)
    for name in ("credits", "latency", "captcha", "errors"):
        assert 'src="data:image/png;base64,' in view.pages[name].value
    assert sim.token not in "".join(p.value for p in view.pages.values())


def test_it_refreshes_as_new_records_arrive(sim: Any) -> None:
    ledger = fu.Ledger()

    async def scenario() -> None:
        view = LedgerView(ledger, refresh_interval=0.02)
        assert _counts(view)["exchanges"] == 0
        client = fu.AsyncFlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **FAST)
        await client.upscale(sim.sample_ids(ULTRA)[0], "4K")
        await until(lambda: _counts(view)["exchanges"] == len(ledger))
        assert _counts(view)["expected"] == 50 and _counts(view)["completed"] == 1
        # Rows written by another writer (another kernel, a batch) count as well.
        other = fu.Ledger(ledger.path)
        with fu.FlowClient(sim.token, base_url=sim.base_url, ledger=other, **FAST) as second:
            second.upscale(sim.sample_ids(ULTRA)[1])
        await until(lambda: _counts(view)["jobs"] == 2)
        # The open tab was redrawn; the others are drawn when opened.
        assert "2" in text(view.pages["summary"].value)
        view.tabs.selected_index = TABS.index("raw")
        assert sum(1 for _ in ledger.frame().itertuples()) == len(ledger)
        refreshes = view.refreshes
        await asyncio.sleep(0.1)
        assert view.refreshes == refreshes  # nothing new: no redraw
        view.close()
        await client.aclose()

    asyncio.run(scenario())


def test_the_refresh_button_and_an_unreadable_ledger(sim: Any) -> None:
    ledger = fu.Ledger()
    view = LedgerView(ledger, refresh_interval=0)
    _history(sim, ledger)
    assert _counts(view)["exchanges"] == 0  # no timer: nothing moved yet
    view.refresh_button.click()
    assert _counts(view)["exchanges"] == len(ledger) > 0
    ledger.close()  # an unreadable ledger: the view says what went wrong instead of raising
    view.refresh_button.click()
    assert "Could not read the ledger" in view.updated.value
    assert "LedgerError" in view.updated.value


@pytest.mark.parametrize(
    ("seconds", "freq"), [(30, "min"), (3600, "10min"), (86400, "h"), (30 * 86400, "D")]
)
def test_the_period_fits_the_history(seconds: int, freq: str) -> None:
    import pandas as pd

    start = pd.Timestamp("2026-06-01", tz="UTC")
    frame = pd.DataFrame({"started_at": [start, start + pd.Timedelta(seconds=seconds)]})
    assert pick_freq(frame) == freq
