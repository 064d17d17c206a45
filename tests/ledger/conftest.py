"""Fixtures of the ledger tests: ledgers on both backends, Exchanges built by hand.

Every test that takes ``ledger`` (or ``ledger_target``) runs twice: on a SQLite file and
on a fresh database of the session's real PostgreSQL server (tests/pgcluster.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pytest
from ledgerkit import ExchangeFactory

from flowup_nb.ledger import Ledger

matplotlib.use("Agg")  # no display in tests; the plots draw the same


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ledger_target(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str | Path]:
    """Where a test's ledger lives: a file path, or the URL of an empty database."""
    if backend == "sqlite":
        yield tmp_path / "ledger.sqlite"
        return
    cluster = request.getfixturevalue("pg_cluster")
    # A server ledger's fallback file lives in the per-user data dir: keep it in the test's.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    with cluster.database() as name:
        yield cluster.url(name)


@pytest.fixture
def ledger(ledger_target: str | Path) -> Iterator[Ledger]:
    with Ledger(ledger_target) as opened:
        yield opened


@pytest.fixture
def make_exchange() -> ExchangeFactory:
    return ExchangeFactory()
