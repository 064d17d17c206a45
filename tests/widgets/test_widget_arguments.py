"""What the widgets accept: LedgerView opens a ledger given by path or URL (and refuses
anything else by name), and a widget refused at construction leaves no traceback when
Python collects it or exits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from formkit import FAST, ULTRA

import flowup_nb as fu
from flowup_nb.widgets.ledger_view import LedgerView

ROOT = Path(__file__).resolve().parents[2]


def _ledger_with_rows(sim: Any, target: str | Path) -> int:
    with (
        fu.Ledger(target) as ledger,
        fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **FAST) as client,
    ):
        client.upscale(sim.sample_ids(ULTRA)[0])
        return len(ledger)


@pytest.mark.parametrize("as_text", [True, False], ids=["str", "Path"])
def test_a_ledger_view_opens_the_ledger_at_a_path(sim: Any, tmp_path: Path, as_text: bool) -> None:
    path = tmp_path / "team.sqlite"
    rows = _ledger_with_rows(sim, path)
    view = LedgerView(str(path) if as_text else path, refresh_interval=0)
    try:
        assert isinstance(view.ledger, fu.Ledger)
        assert view.ledger.path == path
        assert view.counts is not None and view.counts.exchanges == rows
        assert "Could not" not in view.updated.value
    finally:
        view.close()
    assert view.ledger.closed  # opened by the view, closed with it


def test_a_ledger_view_opens_a_database_url(sim: Any, pg_cluster: Any) -> None:
    with pg_cluster.database() as name:
        url = pg_cluster.url(name)
        rows = _ledger_with_rows(sim, url)
        view = LedgerView(url, refresh_interval=0)
        try:
            assert view.counts is not None and view.counts.exchanges == rows
        finally:
            view.close()


def test_a_ledger_given_as_an_object_stays_open(tmp_path: Path) -> None:
    with fu.Ledger(tmp_path / "mine.sqlite") as ledger:
        LedgerView(ledger, refresh_interval=0).close()
        assert not ledger.closed  # the caller's, not the view's


def test_a_missing_ledger_file_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo.sqlite"
    with pytest.raises(fu.InputError, match="no ledger file") as refused:
        LedgerView(str(missing), refresh_interval=0)
    assert "fu.Ledger(path)" in str(refused.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("wrong", [42, b"ledger.sqlite", ["a.sqlite"], object()])
def test_what_is_not_a_ledger_is_refused_by_name(wrong: object) -> None:
    with pytest.raises(fu.InputError, match=r"LedgerView shows a fu\.Ledger"):
        LedgerView(wrong, refresh_interval=0)  # type: ignore[arg-type]


def test_widgets_refused_at_construction_leave_no_traceback() -> None:
    code = textwrap.dedent(
        """
        import asyncio, gc
        import flowup_nb as fu
        import flowup_nb.sim as simulator
        from flowup_nb.widgets.form import UpscaleForm
        from flowup_nb.widgets.ledger_view import LedgerView

        kept = []
        with simulator.start(seed=5, time_scale=0.001) as sim:
            client = fu.FlowClient(sim.token, base_url=sim.base_url)
            client.simulator = sim
            for make in (
                lambda: UpscaleForm(client, mode="bogus"),
                lambda: UpscaleForm(client, wait_timeout=-1),
                lambda: LedgerView(fu.Ledger(), refresh_interval=-1),
                lambda: LedgerView(42),
            ):
                try:
                    make()
                except ValueError as error:
                    print("refused:", type(error).__name__)
            gc.collect()  # the half-built widgets go now...

            async def kernel():  # ...and these at exit, with their loop gone
                form = UpscaleForm(client, ledger=fu.Ledger())
                form.upscale_button.click()
                kept.extend([form, LedgerView(fu.Ledger(), refresh_interval=0.01)])

            asyncio.run(kernel())
            kept.append(LedgerView(fu.Ledger(), refresh_interval=0))
            client.close()
        print("done")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["refused:", "InputError"] * 2 + [
        "refused:",
        "ValueError",
        "refused:",
        "InputError",
        "done",
    ]
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
