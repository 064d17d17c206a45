"""connect(): the real API with a token, else the embedded simulator, said in one line."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from client_support import ULTRA

import flowup_nb as fu


def test_without_a_token_it_starts_the_simulator_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows: list[Any] = []

    class Ledger:
        def record(self, exchange: Any) -> None:
            rows.append(exchange)

    client = fu.connect(ledger=Ledger())
    try:
        out = capsys.readouterr().out
        assert out.count("\n") == 1
        assert "simulator" in out and client.base_url in out
        assert "USEAPI_TOKEN" in out
        assert client.simulator.token not in out
        scale = client.simulator.time_scale
        # waits and backoffs follow the simulator's clock
        assert client.poll_schedule.first == pytest.approx(1.0 * scale)
        account = client.get_account(ULTRA)
        assert account.credits and rows and rows[0].operation == "get_account"
    finally:
        client.close()
    with pytest.raises(httpx.ConnectError):  # the simulator stopped with the client
        httpx.get(client.base_url + "/accounts/" + ULTRA, timeout=2)


def test_with_a_token_it_uses_the_configured_api_quietly(
    sim: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USEAPI_TOKEN", sim.token)
    monkeypatch.setenv("FLOWUP_BASE_URL", sim.base_url)
    with fu.connect(max_retries=0) as client:
        assert isinstance(client, fu.FlowClient)
        assert client.base_url == sim.base_url
        assert client.simulator is None
        assert client.get_account(ULTRA).email == ULTRA
    assert "simulator" not in capsys.readouterr().out


def test_the_real_api_is_the_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USEAPI_TOKEN", "t" * 24)
    with fu.connect(ledger=False) as client:
        assert client.base_url == "https://api.useapi.net/v1/google-flow"


def test_the_simulator_seed_and_clock_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWUP_SIM_SEED", "77")
    monkeypatch.setenv("FLOWUP_SIM_TIME_SCALE", "0.002")
    with fu.connect(ledger=False) as first, fu.connect(ledger=False) as second:
        assert first.simulator.seed == second.simulator.seed == 77
        assert first.simulator.time_scale == 0.002
        assert first.poll_schedule.first == pytest.approx(0.002)
        # same seed, same simulator: the same token and the same sample videos
        assert first.simulator.token == second.simulator.token
        assert first.simulator.sample_ids() == second.simulator.sample_ids()


def test_a_bad_simulator_clock_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWUP_SIM_TIME_SCALE", "fast")
    with pytest.raises(fu.InputError, match="FLOWUP_SIM_TIME_SCALE must be a number"):
        fu.connect(ledger=False)
