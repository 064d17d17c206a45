"""LedgerView: counts and tabs from a real ledger, refreshing as new records arrive."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from formkit import FAST, PRO, ULTRA, attribute, text, until
from simclient import fast_settings

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
        # The open tab was redrawn (its jobs table lists both); the others when opened.
        jobs = ledger.jobs()["job_id"].tolist()
        assert len(jobs) == 2
        await until(lambda: all(job in text(view.pages["summary"].value) for job in jobs))
        view.tabs.selected_index = TABS.index("raw")
        assert sum(1 for _ in ledger.frame().itertuples()) == len(ledger)
        # Nothing new: the timer asks the ledger twice more, and nothing is redrawn.
        await until(lambda: not view._busy)
        refreshes, checks = view.refreshes, view.checks
        await until(lambda: view.checks >= checks + 2 and not view._busy)
        assert view.refreshes == refreshes
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


# -- a long history, a busy kernel, another kernel ----------------------------------------

# What reads or analyses the whole ledger: never to run on the kernel's loop.
_HEAVY = (
    "refresh",
    "summary",
    "frame",
    "jobs",
    "credits",
    "latency",
    "captcha",
    "captcha_attempts",
    "errors",
    "reconcile",
    "costs",
    "plot_captcha",
    "plot_costs",
    "plot_credits",
    "plot_errors",
    "plot_latency",
)


class _WatchedLedger(fu.Ledger):
    """A real ledger that notes each heavy read made on the loop's thread while watched."""

    loop_thread: int | None = None
    on_the_loop: list[str]


def _watched(name: str) -> Any:
    method = getattr(fu.Ledger, name)

    def run(self: _WatchedLedger, *args: Any, **kwargs: Any) -> Any:
        if self.loop_thread == threading.get_ident():
            self.on_the_loop.append(name)
        return method(self, *args, **kwargs)

    return run


for _name in _HEAVY:
    setattr(_WatchedLedger, _name, _watched(_name))


@pytest.mark.slow
def test_a_long_history_does_not_stall_the_kernel(tmp_path: Path) -> None:
    """100,000 earlier rows, the view open and refreshing, ten forms upscaling: no read or
    analysis of the ledger runs on the kernel's loop (by construction, whatever the
    machine's load: how late the loop then is, is bench/bench_ledger.py's figure), the
    view shows its count at once and catches up with every new row."""
    import flowup_nb.sim as simulator
    from bench.bench_ledger import synthesize

    path = tmp_path / "long.sqlite"
    synthesize(path, 100_000)
    ledger = _WatchedLedger(path)
    ledger.on_the_loop = []

    async def scenario() -> None:
        clients = [  # with the client's retries: a dropped connection is retried, as usual
            fu.AsyncFlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **fast_settings())
            for _ in range(10)
        ]
        forms = [fu.UpscaleForm(client, ledger=ledger) for client in clients]
        # From here on the loop is watched: the view's first read of the long history,
        # its refreshes, and the ten forms' upscales.
        ledger.loop_thread = threading.get_ident()
        view = LedgerView(ledger, refresh_interval=0.2)
        assert _counts(view)["exchanges"] == 100_000  # at once, before any analysis
        assert "analysing" in text(view.pages["summary"].value)

        async def upscale_three(form: Any) -> None:
            await form.settle()
            for _ in range(3):
                form.source.value = sim.new_video_id(ULTRA)
                form.upscale_button.click()
                await form.settle()
                assert form.result is not None, text(form.error.value)

        await asyncio.gather(*(upscale_three(form) for form in forms))
        total = len(ledger)
        assert total > 100_000 + 30
        await until(lambda: view.counts is not None and view.counts.exchanges == total)
        assert view.counts.completed >= 30
        assert "(all)" in text(view.pages["summary"].value)
        ledger.loop_thread = None
        view.close()
        for client in clients:
            await client.aclose()

    # Ten forms at once on one account: a concurrency the service's limit allows here.
    with simulator.start(
        seed=9, time_scale=0.001, fail_rate=0.0, concurrency={"ultra": 16}, captcha_acceptance=1.0
    ) as sim:
        asyncio.run(scenario())
    ledger.close()
    assert ledger.on_the_loop == []


def test_another_process_on_the_same_server_ledger_shows_up(
    pg_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second kernel (another process, as on another machine) writes to the team's
    ledger; this kernel's view shows its rows at its next check."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    writer = Path(__file__).resolve().parents[1] / "ledger" / "ledger_writer.py"
    repo = Path(__file__).resolve().parents[2]
    with pg_cluster.database() as name:
        url = pg_cluster.url(name)
        ledger = fu.Ledger(url)

        async def scenario() -> None:
            view = LedgerView(ledger, refresh_interval=0.05)
            await until(lambda: view.refreshes >= 1)  # the first drawing is in
            assert _counts(view)["exchanges"] == 0
            other = subprocess.run(
                [sys.executable, str(writer), url, "other-kernel", "25"],
                input="go\n",
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(repo)},
                timeout=120,
            )
            assert other.returncode == 0, other.stderr
            checks = view.checks  # the rows are committed: count the view's checks from here
            await until(lambda: _counts(view)["exchanges"] == 25)
            assert view.checks - checks <= 2  # the next check (or the one in progress)
            assert "job-other-kernel-2" in text(view.pages["summary"].value)  # its jobs
            view.tabs.selected_index = TABS.index("raw")
            await until(lambda: "job-other-kernel-2" in text(view.pages["raw"].value))
            view.close()

        asyncio.run(scenario())
        ledger.close()
