"""Schema versions: an older file is brought up to date by adding, never by losing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ledgerkit import ACCOUNT, T0, ExchangeFactory

from flowup_nb.ledger import Ledger
from flowup_nb.ledger.schema import EXCHANGE_COLUMNS, SCHEMA_VERSION

# The version-1 layout as the first release wrote it (DESIGN.md's columns), by hand, so
# this test does not trust the migration code to describe the past.
V1_DDL = """
CREATE TABLE exchanges (
  call_id TEXT PRIMARY KEY NOT NULL, session_id TEXT, started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL, wall_ms REAL, endpoint TEXT, mode TEXT, attempt INTEGER,
  job_id TEXT, account TEXT, source_id TEXT, resolution TEXT, http_status INTEGER,
  outcome TEXT, error_type TEXT, error_reason TEXT, retry_after_s REAL,
  captcha_quality INTEGER, cached INTEGER, remaining_credits INTEGER, captcha_service TEXT,
  captcha_ms INTEGER, captcha_attempts INTEGER, captcha_failures INTEGER, result_id TEXT,
  video_url TEXT, tags TEXT
);
CREATE INDEX exchanges_started_at ON exchanges(started_at);
PRAGMA user_version = 1;
"""


def _make_v1(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(V1_DDL)
    start = round(T0 * 1000)
    conn.executemany(
        "INSERT INTO exchanges (call_id, session_id, started_at, finished_at, wall_ms, "
        "endpoint, mode, attempt, account, resolution, http_status, outcome, cached, "
        "remaining_credits) VALUES (?, 's-old', ?, ?, ?, '/videos/upscale', 'sync', 0, ?, ?, "
        "200, 'ok', 0, ?)",
        [
            ("old-1", start, start + 40_000, 40_000.0, ACCOUNT, "1080p", 18760),
            ("old-2", start + 60_000, start + 200_000, 140_000.0, ACCOUNT, "4K", 18710),
        ],
    )
    conn.commit()
    conn.close()


def _columns(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[1] for row in conn.execute("PRAGMA table_info(exchanges)")]
    finally:
        conn.close()


def test_a_version_1_file_is_migrated_keeping_its_rows(
    tmp_path: Path, make_exchange: ExchangeFactory
) -> None:
    path = tmp_path / "old.sqlite"
    _make_v1(path)
    assert "operation" not in _columns(path)

    with Ledger(path) as ledger:
        assert set(_columns(path)) == set(EXCHANGE_COLUMNS)
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert "captcha_attempts" in tables
        # v3: lookups by job and by source video use an index, not a scan
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM exchanges WHERE source_id = ?", ("x",)
        ).fetchall()
        assert any("exchanges_source_id" in str(row) for row in plan)
        assert {"exchanges_job_id", "exchanges_source_id"} <= tables
        conn.close()

        frame = ledger.frame()
        assert frame["call_id"].tolist() == ["old-1", "old-2"]
        assert frame["operation"].isna().all()  # new columns are empty on old rows
        # Derived columns work on old rows: the 4K's 50 credits show as spent.
        assert frame["credits_spent"].tolist()[1] == 50

        ledger.record(make_exchange(at=300.0, resolution="4K", remaining_credits=18660))
        assert len(ledger) == 3


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _make_v1(path)
    Ledger(path).close()
    before = _columns(path)
    Ledger(path).close()
    assert _columns(path) == before


def test_a_file_from_a_newer_version_still_records(
    tmp_path: Path, make_exchange: ExchangeFactory
) -> None:
    path = tmp_path / "newer.sqlite"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE exchanges ADD COLUMN added_by_the_future TEXT")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()

    with Ledger(path) as ledger:
        ledger.record(make_exchange())
        assert len(ledger.frame()) == 1
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 5  # no downgrade
    conn.close()
