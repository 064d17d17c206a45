"""Recording: every field stored, idempotent, where it is, and never lost on a failed write."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from ledgerkit import ACCOUNT, T0, ExchangeFactory, attempts, stored, stored_columns

import flowup_nb as fu
from flowup_nb.ledger import Ledger, LedgerError, default_ledger, default_ledger_path
from flowup_nb.ledger.schema import SCHEMA_VERSION


def _rows(path: Path, query: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def test_a_record_keeps_every_field_in_utc_epoch_ms(
    ledger: Ledger, ledger_target: object, make_exchange: ExchangeFactory
) -> None:
    exchange = make_exchange(
        at=0.0,
        took=2.5,
        resolution="4K",
        job_id="j1",
        job_status="completed",
        remaining_credits=18710,
        cached=False,
        model="veo_3_1_upsampler_4k",
        result_id="user:1-email:6a6f-video:abc_upsampled",
        video_url="https://media.example/v.mp4?Expires=1&Signature=s",
        captcha_service="CapSolver",
        captcha_ms=2100,
        captcha_attempts=attempts(("CapSolver", 900, False), ("CapSolver", 1200, True)),
        tags=("exp-3", "batch"),
        reply_ref="ref-1",
    )
    ledger.record(exchange)

    (row,) = stored(
        ledger_target,
        "SELECT call_id, started_at, finished_at, wall_ms, resolution, remaining_credits, "
        "cached, captcha_attempts, captcha_failures, tags, reply_ref, operation FROM exchanges",
    )
    assert row == (
        exchange.call_id,
        round(T0 * 1000),
        round((T0 + 2.5) * 1000),
        2500.0,
        "4K",
        18710,
        0,
        2,
        1,
        "exp-3,batch",
        "ref-1",
        "upscale",
    )
    kept = stored(
        ledger_target,
        "SELECT idx, service, task_id, duration_ms, success, error FROM captcha_attempts "
        "ORDER BY idx",
    )
    assert kept == [
        (0, "CapSolver", "task-0", 900, 0, "ERROR_CAPTCHA"),
        (1, "CapSolver", "task-1", 1200, 1, None),
    ]


def test_recording_the_same_exchange_twice_keeps_one_row(
    ledger: Ledger, ledger_target: object, make_exchange: ExchangeFactory
) -> None:
    exchange = make_exchange(captcha_attempts=attempts(("CapSolver", 900, True)))
    ledger.record(exchange)
    ledger.record(exchange)
    assert len(ledger) == 1
    assert stored(ledger_target, "SELECT count(*) FROM captcha_attempts") == [(1,)]


def test_the_ledger_is_an_observer_and_rejects_what_is_not_an_exchange(
    ledger: Ledger, make_exchange: ExchangeFactory
) -> None:
    ledger(make_exchange())
    assert len(ledger) == 1
    with pytest.raises(TypeError, match="takes an Exchange"):
        ledger.record({"call_id": "x"})


def test_file_settings_wal_and_schema_version(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert _rows(ledger.path, "PRAGMA journal_mode") == [("wal",)]
    assert _rows(ledger.path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_repr_shows_the_path_and_row_count(ledger: Ledger, make_exchange: ExchangeFactory) -> None:
    ledger.record(make_exchange())
    ledger.record(make_exchange())
    assert repr(ledger) == f"Ledger({str(ledger.path)!r}, 2 rows)"
    ledger.close()
    assert "closed" in repr(ledger)
    with pytest.raises(LedgerError, match="closed"):
        len(ledger)


def test_default_location_follows_flowup_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "elsewhere" / "team.sqlite"
    monkeypatch.setenv("FLOWUP_LEDGER", str(target))
    assert default_ledger_path() == target
    with fu.Ledger() as opened:
        assert opened.path == target
    assert target.is_file()
    shared = default_ledger()
    assert shared is default_ledger()  # every client of the process shares it
    assert shared.path == target


def test_default_location_is_the_per_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv("FLOWUP_LEDGER")
    expected = Path(platformdirs.user_data_dir("flowup-nb", appauthor=False)) / "ledger.sqlite"
    assert default_ledger_path() == expected


def test_a_directory_path_gets_the_default_file_name(tmp_path: Path) -> None:
    with Ledger(tmp_path) as opened:
        assert opened.path == tmp_path / "ledger.sqlite"


def test_a_file_that_is_not_a_ledger_is_refused_with_the_fix(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.sqlite"
    bogus.write_text("this is not a database, it is a long enough text file " * 20)
    with pytest.raises(LedgerError, match="FLOWUP_LEDGER"):
        Ledger(bogus)


def test_a_failed_write_goes_to_the_fallback_and_is_replayed_on_open(
    tmp_path: Path, make_exchange: ExchangeFactory
) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path, busy_timeout=0.05)
    kept = make_exchange()
    ledger.record(kept)

    # Another process holds the write lock for longer than the busy timeout.
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        late = [
            make_exchange(captcha_attempts=attempts(("AntiCaptcha", 700, True))) for _ in range(3)
        ]
        with pytest.warns(RuntimeWarning, match="fallback"):
            for exchange in late:
                ledger.record(exchange)  # does not raise: the user's call goes on
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    lines = ledger.fallback_path.read_text().splitlines()
    assert [json.loads(line)["exchange"]["call_id"] for line in lines] == [e.call_id for e in late]
    assert oct(ledger.fallback_path.stat().st_mode & 0o777) == "0o600"
    ledger.close()

    with Ledger(path) as reopened:
        assert len(reopened) == 4
        assert not reopened.fallback_path.exists()
        assert _rows(path, "SELECT count(*) FROM captcha_attempts") == [(3,)]


def test_replay_is_idempotent_and_skips_a_line_cut_short(
    tmp_path: Path, make_exchange: ExchangeFactory
) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        stored = make_exchange()
        ledger.record(stored)
        fallback = ledger.fallback_path
    from flowup_nb.ledger.rows import exchange_rows, row_payload

    pending = make_exchange()
    lines = [json.dumps(row_payload(exchange_rows(e))) for e in (stored, pending, pending)]
    lines.append(lines[1][: len(lines[1]) // 2])  # a writer killed mid-line
    fallback.write_text("\n".join(lines))

    with Ledger(path) as reopened:
        ids = {row[0] for row in _rows(path, "SELECT call_id FROM exchanges")}
        assert ids == {stored.call_id, pending.call_id}
        assert len(reopened) == 2
        assert not fallback.exists()


def test_a_forked_child_opens_its_own_connection(
    ledger: Ledger, backend: str, make_exchange: ExchangeFactory
) -> None:
    ledger.record(make_exchange())
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            ledger.record(make_exchange())
        finally:
            os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    ledger.record(make_exchange())
    assert len(ledger) == 3
    if backend == "sqlite":
        assert _rows(ledger.path, "PRAGMA integrity_check") == [("ok",)]


def test_account_is_the_only_identity_stored_never_a_token(
    ledger: Ledger, ledger_target: object, make_exchange: ExchangeFactory
) -> None:
    ledger.record(make_exchange(account=ACCOUNT))
    assert stored(ledger_target, "SELECT account FROM exchanges") == [(ACCOUNT,)]
    columns = set(stored_columns(ledger_target))
    assert not {c for c in columns if "token" in c or "auth" in c}
