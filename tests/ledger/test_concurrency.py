"""Kernels at once, a kernel killed mid-write, a server restarted under writers: nothing
committed is lost, nothing is stored twice, no error reaches a caller. On both backends;
the team-sized cases (8 writers) on PostgreSQL."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ledgerkit import stored

from flowup_nb.ledger import Ledger

WRITER = Path(__file__).with_name("ledger_writer.py")
REPO = Path(__file__).resolve().parents[2]


def _writer(target: object, prefix: str, count: int, *options: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    args = [sys.executable, str(WRITER), str(target), prefix, str(count), *options]
    process = subprocess.Popen(
        args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout.readline().strip() == "ready", process.stderr.read()
    return process


def _tell(writers: list[subprocess.Popen], line: str = "go") -> None:
    for writer in writers:
        writer.stdin.write(line + "\n")
        writer.stdin.flush()


def _expect(writers: list[subprocess.Popen], line: str) -> None:
    for writer in writers:
        got = writer.stdout.readline().strip()
        assert got == line, (got, writer.stderr.read() if not got else "")


def _finish(writers: list[subprocess.Popen]) -> list[str]:
    errors = []
    for writer in writers:
        out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err  # no error reached the caller
        assert out.split()[-1:] == ["done"], out[-200:]
        errors.append(err)
    return errors


def _ids(target: object) -> list[str]:
    return [call_id for (call_id,) in stored(target, "SELECT call_id FROM exchanges")]


def _insertion_order(target: object) -> list[str]:
    order = "seq" if str(target).startswith("postgresql://") else "rowid"
    return [s for (s,) in stored(target, f"SELECT session_id FROM exchanges ORDER BY {order}")]


@pytest.mark.slow
def test_two_processes_writing_1000_records_each_lose_nothing(ledger_target: object) -> None:
    Ledger(ledger_target).close()  # the tables exist before the race
    names = ("kernel-a", "kernel-b")
    # Two barriers make the overlap happen whatever the scheduler does: each writer
    # stops after its first row and after its 500th, until both have got there.
    writers = [
        _writer(ledger_target, name, 1000, "--pause-at=1", "--pause-at=500") for name in names
    ]
    _tell(writers)
    _expect(writers, "paused 1")
    _tell(writers)
    _expect(writers, "paused 500")
    _tell(writers)
    for err in _finish(writers):
        assert "locked" not in err.lower()
        assert "warning" not in err.lower()  # no record had to go to the fallback file

    expected = {f"{name}-{i}" for name in names for i in range(1000)}
    assert set(_ids(ledger_target)) == expected
    order = _insertion_order(ledger_target)
    # Both wrote between the same two barriers: the rows came in three rounds.
    assert sorted(order[:2]) == list(names)
    assert sorted(set(order[2:1000])) == list(names)
    assert order[2:1000].count(names[0]) == order[2:1000].count(names[1]) == 499
    switches = sum(a != b for a, b in itertools.pairwise(order))
    assert switches >= 3
    with Ledger(ledger_target) as ledger:
        assert not ledger.fallback_path.exists()
        assert len(ledger) == 2000
        assert len(ledger.captcha_attempts()) == 2000


@pytest.mark.slow
def test_a_writer_killed_mid_stream_leaves_every_commit(
    ledger_target: object, backend: str
) -> None:
    writer = _writer(ledger_target, "doomed", 10_000_000, "--echo")
    _tell([writer])
    committed = []
    while len(committed) < 300:
        line = writer.stdout.readline()
        assert line, writer.stderr.read()
        committed.append(line.strip())
    os.kill(writer.pid, signal.SIGKILL)
    # Read on through the same buffered stream (communicate() would skip its buffer).
    committed += writer.stdout.read().split()  # printed before the kill: committed too
    assert writer.wait(timeout=30) == -signal.SIGKILL
    writer.stdin.close()
    writer.stdout.close()
    writer.stderr.close()

    if backend == "sqlite":
        assert stored(ledger_target, "PRAGMA integrity_check") == [("ok",)]
    ids = _ids(ledger_target)
    assert len(ids) == len(set(ids))
    assert set(committed) <= set(ids)
    # At most the one record in flight when the signal landed is beyond the printed ones.
    assert len(ids) - len(committed) <= 1
    with Ledger(ledger_target) as ledger:  # and the next kernel opens it as usual
        assert len(ledger) == len(ids)
        # The dead writer's session left nothing in the way: the next one records.
        ledger.record(_one("after-the-crash"))
        assert len(ledger) == len(ids) + 1


def _one(call_id: str) -> object:
    import time

    from flowup_nb.api.exchange import Exchange

    now = time.time()
    return Exchange(
        call_id=call_id,
        session_id="s",
        operation="get_account",
        method="GET",
        endpoint="/accounts/{email}",
        started_at=now,
        finished_at=now,
        outcome="ok",
    )


WRITERS, EACH = 8, 2000


@pytest.fixture
def team_url(pg_cluster: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # One machine's per-user data dir, where a server ledger's fallback file lives.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    with pg_cluster.database() as name:  # type: ignore[attr-defined]
        url = pg_cluster.url(name)  # type: ignore[attr-defined]
        Ledger(url).close()  # the tables exist before the race
        yield url


def _every_row_once(url: str) -> None:
    expected = {f"w{k}-{i}" for k in range(WRITERS) for i in range(EACH)}
    ids = _ids(url)
    assert len(ids) == len(expected) == WRITERS * EACH  # none twice
    assert set(ids) == expected  # none missing
    ((attempts,),) = stored(url, "SELECT count(*) FROM captcha_attempts")
    assert attempts == WRITERS * EACH


@pytest.mark.slow
def test_eight_writers_into_one_server_ledger(team_url: str) -> None:
    # A barrier after each writer's first row: all eight are writing at once by
    # construction, not by the scheduler's grace.
    writers = [_writer(team_url, f"w{k}", EACH, "--pause-at=1") for k in range(WRITERS)]
    _tell(writers)
    _expect(writers, "paused 1")
    _tell(writers)
    for err in _finish(writers):
        assert "warning" not in err.lower(), err  # every record went straight in
    _every_row_once(team_url)
    order = _insertion_order(team_url)
    assert len(set(order[:WRITERS])) == WRITERS  # each one's first row before any second
    switches = sum(a != b for a, b in itertools.pairwise(order))
    assert switches >= 2 * (WRITERS - 1)


@pytest.mark.slow
def test_eight_writers_through_a_server_restart(team_url: str, pg_cluster: object) -> None:
    """The server goes away a third of the way in and comes back at two thirds: the
    records of the outage wait in the fallback file and arrive once it is back."""
    first, second = EACH // 3, 2 * EACH // 3
    writers = [
        _writer(
            team_url,
            f"w{k}",
            EACH,
            f"--pause-at={first}",
            f"--pause-at={second}",
            "--retry-after=0.05",
        )
        for k in range(WRITERS)
    ]
    _tell(writers)
    _expect(writers, f"paused {first}")
    pg_cluster.stop()  # type: ignore[attr-defined]
    _tell(writers)
    _expect(writers, f"paused {second}")
    during = stored_in_fallback(team_url)
    assert during > 0  # the outage's records are waiting on this machine
    pg_cluster.restart_server()  # type: ignore[attr-defined]
    _tell(writers)
    errors = _finish(writers)
    assert all("fallback" in err for err in errors)  # each writer met the outage
    _every_row_once(team_url)
    with Ledger(team_url) as ledger:
        assert not ledger.fallback_path.exists()  # everything was replayed


def stored_in_fallback(url: str) -> int:
    """Lines waiting in the fallback file(s) of ``url`` on this machine."""
    from flowup_nb.ledger.location import resolve_location

    path = resolve_location(url).fallback_path
    files = [path, *path.parent.glob(f"{path.name}.*.replaying")]
    return sum(len(f.read_text().splitlines()) for f in files if f.exists())
