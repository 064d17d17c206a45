"""connect() records into the default ledger, and says where."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import flowup_nb as fu
from flowup_nb.ledger import default_ledger

JO = "jo.ultra@example.com"


def test_connect_attaches_the_default_ledger_and_shows_its_path(
    sim, capsys: pytest.CaptureFixture[str]
) -> None:
    target = Path(os.environ["FLOWUP_LEDGER"])
    with fu.connect(token=sim.token, base_url=sim.base_url) as client:
        assert str(target) in capsys.readouterr().out
        account = client.get_account(JO)
    ledger = default_ledger()
    assert ledger.path == target
    frame = ledger.frame()
    assert frame["operation"].astype(str).tolist() == ["get_account"]
    assert frame["remaining_credits"].tolist() == [account.credits]


def test_connect_without_a_ledger_records_nothing(sim) -> None:
    with fu.connect(token=sim.token, base_url=sim.base_url, ledger=False) as client:
        client.get_account(JO)
    assert not Path(os.environ["FLOWUP_LEDGER"]).exists()
