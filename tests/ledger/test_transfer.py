"""Export to CSV/Parquet, and merging a colleague's export without duplicates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from ledgerkit import OTHER_ACCOUNT, ExchangeFactory, attempts

from flowup_nb.ledger import Ledger

SIGNED = "https://media.example/v/abc_upsampled.mp4?Expires=1790000000&Signature=s3cr3t"


def _fill(ledger: Ledger, make: ExchangeFactory) -> None:
    ledger.record(
        make(
            job_id="j1",
            remaining_credits=1000,
            video_url=SIGNED,
            tags=("a", "b"),
            captcha_service="CapSolver",
            captcha_ms=2500,
            captcha_attempts=attempts(("CapSolver", 1000, False), ("CapSolver", 1500, True)),
        )
    )
    ledger.record(
        make(
            job_id="j2",
            resolution="4K",
            remaining_credits=950,
            cached=False,
            retry_after_s=1.5,
            attempt=2,
        )
    )
    ledger.record(
        make(
            outcome="error",
            http_status=None,
            error_type="APITimeoutError",
            error_message="timed out",
            account=OTHER_ACCOUNT,
            will_retry=True,
        )
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_then_import_round_trips_and_merges_once(
    tmp_path: Path, ledger: Ledger, make_exchange: ExchangeFactory, suffix: str
) -> None:
    _fill(ledger, make_exchange)
    exported = ledger.export(tmp_path / f"mine{suffix}")
    assert exported.is_file()
    assert not list(tmp_path.glob("*.part"))

    with Ledger(tmp_path / "colleague.sqlite") as colleague:
        colleague.record(make_exchange(account=OTHER_ACCOUNT))  # their own work
        assert colleague.import_(exported) == 3
        assert colleague.import_(exported) == 0  # again: nothing new
        assert len(colleague) == 4
        theirs = colleague.frame().set_index("call_id")
        mine = ledger.frame().set_index("call_id")
        merged = theirs.loc[mine.index]
        for column in mine.columns:
            if column == "video_url":
                continue
            pd.testing.assert_series_equal(
                merged[column].astype("object"),
                mine[column].astype("object"),
                check_names=False,
            )
        # The signature is gone, the location is not.
        assert merged["video_url"].dropna().tolist() == [SIGNED.split("?")[0]]
        assert len(colleague.captcha_attempts()) == 2
        pd.testing.assert_frame_equal(
            colleague.captcha()[["attempts", "solved"]], ledger.captcha()[["attempts", "solved"]]
        )


def test_export_keeps_urls_only_when_asked(
    tmp_path: Path, ledger: Ledger, backend: str, make_exchange: ExchangeFactory
) -> None:
    _fill(ledger, make_exchange)
    assert "Signature" not in ledger.export(tmp_path / "a.csv").read_text()
    with_urls = ledger.export(tmp_path / "b.csv", include_urls=True).read_text()
    if backend == "sqlite":
        assert SIGNED in with_urls
    else:  # a team's database never stores the signature: there is none to export
        assert SIGNED.split("?")[0] in with_urls and "Signature" not in with_urls


def test_a_colleagues_ledger_file_merges_directly(
    tmp_path: Path, ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    _fill(ledger, make_exchange)
    with Ledger(tmp_path / "other.sqlite") as other:
        other.record(make_exchange())
        assert other.merge(ledger.path) == 3
        assert other.merge(ledger.path) == 0
        assert len(other.captcha_attempts()) == 2


def test_bad_files_are_refused_with_the_fix(tmp_path: Path, ledger: Ledger) -> None:
    with pytest.raises(ValueError, match=r"\.csv, \.parquet"):
        ledger.export(tmp_path / "out.xlsx")
    with pytest.raises(FileNotFoundError, match="no file to import"):
        ledger.import_(tmp_path / "missing.csv")
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("name,value\nx,1\n")
    with pytest.raises(ValueError, match="lacks the column"):
        ledger.import_(stranger)


def test_parquet_without_pyarrow_names_the_install(tmp_path: Path) -> None:
    # A fresh interpreter where pyarrow cannot be imported.
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "from flowup_nb.ledger import Ledger\n"
        f"ledger = Ledger({str(tmp_path / 'l.sqlite')!r})\n"
        "try:\n"
        f"    ledger.export({str(tmp_path / 'x.parquet')!r})\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    repo = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": repo},
        timeout=60,
        check=True,
    )
    assert "pip install pyarrow" in result.stdout
