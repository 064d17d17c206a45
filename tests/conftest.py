"""Shared fixtures: every test talks to a real simulator over real sockets."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import flowup_nb.sim as simulator

# Tests run the simulated service 1000x faster than the real one: a 1080p upscale
# takes 30-60 ms, a 4K one a few tenths of a second.
TEST_TIME_SCALE = 0.001


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No test may reach a real account or the user's own ledger."""
    monkeypatch.delenv("USEAPI_TOKEN", raising=False)
    monkeypatch.delenv("FLOWUP_BASE_URL", raising=False)
    monkeypatch.delenv("FLOWUP_SIM_SEED", raising=False)
    monkeypatch.delenv("FLOWUP_SIM_TIME_SCALE", raising=False)
    monkeypatch.setenv("FLOWUP_LEDGER", os.fspath(tmp_path / "ledger.sqlite"))


@pytest.fixture
def sim() -> Iterator[simulator.SimHandle]:
    """A fresh simulator (seeded, fast clock) for one test."""
    with simulator.start(seed=1234, time_scale=TEST_TIME_SCALE) as handle:
        yield handle


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """A real PostgreSQL server for the whole session (tests/pgcluster.py), started on
    first use and stopped at the end. A server that cannot start fails the tests that
    need it, here as in CI: `make test` installs Debian's postgresql, so a missing one is
    a broken set-up, never a reason to skip the team ledger's tests."""
    from pgcluster import ClusterUnavailable, start_cluster

    try:
        cluster = start_cluster()
    except ClusterUnavailable as exc:
        pytest.fail(f"the PostgreSQL tests need a server (make postgresql): {exc}")
    yield cluster
    cluster.destroy()
