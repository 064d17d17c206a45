"""Fixtures of the ledger tests: ledgers in temp files and Exchanges built by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pytest
from ledgerkit import ExchangeFactory

from flowup_nb.ledger import Ledger

matplotlib.use("Agg")  # no display in tests; the plots draw the same


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


@pytest.fixture
def make_exchange() -> ExchangeFactory:
    return ExchangeFactory()
