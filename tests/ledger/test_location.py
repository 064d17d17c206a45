"""Where a ledger lives: a URL is never taken for a file name, a bad one says what to fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import flowup_nb as fu
from flowup_nb.api.errors import InputError
from flowup_nb.ledger import Ledger, default_ledger

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever goes wrong, nothing may appear in the current folder.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://jo@db.example.com:port/flowup", "port 'port' is not a number"),
        ("postgresql://jo@db.example.com:99999/flowup", "port '99999'"),
        ("postgresql:/db.example.com/flowup", "write '://'"),
        ("postgres:db.example.com", "write '://'"),
        ("mysql://jo@db.example.com/flowup", "mysql:// is not a ledger"),
        ("https://example.com/ledger.sqlite", "give a file path"),
        ("sqlite://server/ledger.sqlite", "three slashes"),
        ("postgresql://jo@db.example.com/flowup?nonsense_option=1", "nonsense_option"),
    ],
)
def test_a_malformed_or_foreign_url_is_an_input_error_naming_the_fix(
    url: str, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputError, match=words):
        Ledger(url)
    monkeypatch.setenv("FLOWUP_LEDGER", url)
    with pytest.raises(InputError, match=r"\$FLOWUP_LEDGER"):
        fu.Ledger()
    with pytest.raises(InputError):
        default_ledger()
    assert os.listdir(tmp_path) == []  # no folder named like the URL


def test_without_the_drivers_a_server_url_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None; sys.modules['adbc_driver_postgresql'] = None\n"
        "import flowup_nb as fu\n"
        "try:\n"
        "    fu.Ledger('postgresql://jo@db.example.com:5432/flowup')\n"
        "except fu.InputError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    assert "pip install 'flowup-nb[team]'" in result.stdout
    assert "psycopg" in result.stdout and "adbc-driver-postgresql" in result.stdout
    assert os.listdir(tmp_path) == []


def test_a_sqlite_url_and_odd_file_names_are_files(tmp_path: Path) -> None:
    with Ledger(f"sqlite://{tmp_path}/by-url.sqlite") as by_url:  # sqlite:///tmp/...
        assert by_url.path == tmp_path / "by-url.sqlite"
        assert by_url.url == f"sqlite://{tmp_path}/by-url.sqlite"
    with Ledger("notes:v2.sqlite") as odd:  # a colon, but no URL
        assert odd.path == Path("notes:v2.sqlite")
    assert (tmp_path / "notes:v2.sqlite").is_file()


def test_flowup_ledger_may_name_a_server(
    pg_cluster, monkeypatch: pytest.MonkeyPatch, make_exchange
) -> None:
    with pg_cluster.database() as name:
        url = pg_cluster.url(name)
        monkeypatch.setenv("FLOWUP_LEDGER", url)
        ledger = default_ledger()
        try:
            assert ledger is default_ledger()
            assert ledger.path == url  # no password in this one: shown as given
            ledger.record(make_exchange())
            with fu.Ledger() as again:
                assert len(again) == 1
        finally:
            ledger.close()
