"""A team's ledger on PostgreSQL: schema and migration, the least-privileged role, the
server going away and coming back, who recorded what, pushing between ledgers, reads
that follow other kernels' commits."""

from __future__ import annotations

import getpass
import re
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from ledgerkit import ACCOUNT, OTHER_ACCOUNT, T0, ExchangeFactory, stored
from pgcluster import SECRET_PASSWORD, SECRET_ROLE

import flowup_nb as fu
from flowup_nb.ledger import Ledger, LedgerError
from flowup_nb.ledger.schema import SCHEMA_VERSION

TEAM_DOC = Path(__file__).resolve().parents[2] / "docs" / "team.md"
WRITER = Path(__file__).with_name("ledger_writer.py")


@pytest.fixture
def database(pg_cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    with pg_cluster.database() as name:
        yield name


@pytest.fixture
def url(pg_cluster, database: str) -> str:
    return pg_cluster.url(database)


# -- schema ----------------------------------------------------------------------------


def test_the_schema_is_made_once_with_its_version(url: str) -> None:
    Ledger(url).close()
    Ledger(url).close()
    assert stored(url, "SELECT version FROM flowup_schema_version") == [(SCHEMA_VERSION,)]
    tables = {t for (t,) in stored(url, "SELECT tablename FROM pg_tables")}
    assert {"exchanges", "captcha_attempts", "flowup_schema_version"} <= tables
    indexes = {i for (i,) in stored(url, "SELECT indexname FROM pg_indexes")}
    assert {"exchanges_started_at", "exchanges_job_id", "exchanges_source_id"} <= indexes


def test_many_kernels_opening_a_new_database_at_once_migrate_it_once(url: str) -> None:
    openers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), url, "x", "0", "--open-only"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    for opener in openers:
        assert opener.stdout.readline().strip() == "ready", opener.stderr.read()
    for opener in openers:  # all at once: they race for the empty database
        opener.stdin.write("go\n")
        opener.stdin.flush()
    for opener in openers:
        out, err = opener.communicate(timeout=120)
        assert opener.returncode == 0 and out.strip() == "opened", err
        assert "warning" not in err.lower(), err
    assert stored(url, "SELECT version FROM flowup_schema_version") == [(SCHEMA_VERSION,)]


# -- least privilege ---------------------------------------------------------------------


def _role_sql(role: str, database: str) -> list[str]:
    """The SQL block of docs/team.md, as a reader would run it (names made unique)."""
    block = re.search(
        r"```sql\n-- flowup-nb: the team's role.*?\n(.*?)```", TEAM_DOC.read_text(), re.S
    )
    assert block, "docs/team.md lost its role SQL"
    text = (
        block.group(1)
        .replace("flowup_writer", role)
        .replace("DATABASE flowup", f"DATABASE {database}")
    )
    return [s.strip() for s in text.split(";") if s.strip()]


def test_the_documented_role_may_insert_and_select_but_not_change_history(
    pg_cluster, database: str, url: str, make_exchange: ExchangeFactory
) -> None:
    Ledger(url).close()  # the owner makes the tables, as docs/team.md says
    role = f"writer_{database[-8:]}"
    pg_cluster.admin(*_role_sql(role, database), database=database)
    writer_url = pg_cluster.url(database, user=role)
    with Ledger(writer_url) as ledger:
        ledger.record(make_exchange(at=0, remaining_credits=1000))
        ledger.record(make_exchange(at=10, resolution="4K", remaining_credits=950))
        assert not ledger.fallback_path.exists()  # both were stored, not set aside
        assert len(ledger) == 2
        assert ledger.frame()["credits_spent"].tolist() == [pd.NA, 50]
        assert ledger.summary().loc[ACCOUNT, "credits_spent"] == 50
        with Ledger(pg_cluster.url(database)) as owners:
            assert ledger.push(owners) == 0  # pushing only inserts: nothing new there
    with psycopg.connect(writer_url, autocommit=True) as conn:
        for statement in (
            "UPDATE exchanges SET remaining_credits = 0",
            "DELETE FROM exchanges",
            "TRUNCATE captcha_attempts",
            "DROP TABLE exchanges",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement.encode())
    assert len(stored(url, "SELECT * FROM exchanges")) == 2


# -- the server goes away and comes back -------------------------------------------------


def test_records_wait_in_the_fallback_while_the_server_is_down(
    pg_cluster, url: str, make_exchange: ExchangeFactory
) -> None:
    ledger = Ledger(url, retry_after=0)  # try the server again at every record
    ledger.record(make_exchange(at=0))
    pg_cluster.stop()
    try:
        with pytest.warns(RuntimeWarning, match="fallback"):
            ledger.record(make_exchange(at=10))  # no exception: the user's call goes on
        ledger.record(make_exchange(at=20))
        assert len(ledger.fallback_path.read_text().splitlines()) == 2
        with pytest.raises(LedgerError, match="cannot read"):
            ledger.frame()  # reads need the server, and say so
    finally:
        pg_cluster.restart_server()
    # The next record reaches the server, and the two that waited follow it.
    ledger.record(make_exchange(at=30))
    assert not ledger.fallback_path.exists()
    assert len(ledger) == 4
    assert len(ledger.frame()) == 4
    ledger.close()


def test_after_a_failure_records_skip_the_server_for_a_while(
    pg_cluster, url: str, make_exchange: ExchangeFactory
) -> None:
    ledger = Ledger(url, retry_after=3600)
    pg_cluster.stop()
    try:
        with pytest.warns(RuntimeWarning):
            ledger.record(make_exchange(at=0))
    finally:
        pg_cluster.restart_server()
    # The server is back, but the pause is not over: the record is not sent (no notebook
    # waits on a server that just failed), it waits in the file with the first one.
    ledger.record(make_exchange(at=10))
    assert len(ledger.fallback_path.read_text().splitlines()) == 2
    assert stored(url, "SELECT count(*) FROM exchanges") == [(0,)]
    ledger.close()  # closing tries once more, pause or not
    assert stored(url, "SELECT count(*) FROM exchanges") == [(2,)]


def test_a_server_that_is_not_there_does_not_stop_a_ledger_from_opening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_exchange: ExchangeFactory
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.warns(RuntimeWarning, match="cannot be reached"):
        ledger = Ledger(f"postgresql://nobody@127.0.0.1:{port}/flowup", retry_after=3600)
    with pytest.warns(RuntimeWarning, match="next try"):  # not tried again so soon
        ledger.record(make_exchange())
    assert len(ledger.fallback_path.read_text().splitlines()) == 1
    assert str(tmp_path / "user-data") in str(ledger.fallback_path)
    assert not list(Path.cwd().glob("postgresql*"))  # and never a file named like the URL


# -- who and where -----------------------------------------------------------------------


def test_every_row_says_who_and_where_and_the_analyses_split_by_it(
    url: str, monkeypatch: pytest.MonkeyPatch, make_exchange: ExchangeFactory
) -> None:
    monkeypatch.delenv("FLOWUP_USER", raising=False)
    with Ledger(url) as mine:
        mine.record(make_exchange(at=0, remaining_credits=1000))
    monkeypatch.setenv("FLOWUP_USER", "sam")
    with Ledger(url) as sams:
        sams.record(make_exchange(at=10, resolution="4K", remaining_credits=950))
        sams.record(make_exchange(at=20, resolution="4K", remaining_credits=900))
    monkeypatch.setenv("FLOWUP_USER", "jo")
    with Ledger(url) as jos:
        jos.record(make_exchange(at=30, resolution="4K", remaining_credits=850))
        frame = jos.frame()
        assert frame["user"].tolist() == [getpass.getuser(), "sam", "sam", "jo"]
        assert set(frame["host"]) == {socket.gethostname()}
        assert str(frame["user"].dtype) == "category"
        by_user = jos.summary(by="user")
        assert by_user.loc["sam", "credits_spent"] == 100
        assert by_user.loc["jo", "credits_spent"] == 50
        assert by_user.loc["(all)", "credits_spent"] == 150
        assert by_user.loc["(all)", "balance"] == 850
        assert pd.isna(by_user.loc["sam", "balance"])  # a balance is an account's
        credits = jos.credits(by="user")
        assert credits.groupby(level="user")["credits_spent"].sum().to_dict() == {
            getpass.getuser(): 0,
            "jo": 50,
            "sam": 100,
        }
        assert jos.jobs()["user"].notna().all()


def test_filters_run_in_the_database_and_keep_the_money_right(
    ledger: Ledger,
    ledger_target: object,
    monkeypatch: pytest.MonkeyPatch,
    make_exchange: ExchangeFactory,
) -> None:
    """The same questions, filtered by the database and filtered afterwards, agree; and
    a user's spend counts from the balance a colleague's call reported before it."""

    def record_as(user: str, **fields: object) -> None:
        monkeypatch.setenv("FLOWUP_USER", user)  # as if recorded by that person's kernel
        with Ledger(ledger_target) as theirs:  # type: ignore[arg-type]
            theirs.record(make_exchange(**fields))

    for i, (user, account, credits) in enumerate(
        [("jo", ACCOUNT, 1000), ("sam", ACCOUNT, 950), ("jo", ACCOUNT, 900),
         ("sam", OTHER_ACCOUNT, 500), ("jo", OTHER_ACCOUNT, 450), ("sam", ACCOUNT, 850)]
    ):  # fmt: skip
        record_as(user, at=i * 3600.0, account=account, resolution="4K", remaining_credits=credits)
    poll = {"operation": "get_job", "account": None, "resolution": None, "outcome": "pending"}
    record_as("sam", at=7 * 3600.0, job_id="j-sam", **poll)
    record_as("sam", at=6.5 * 3600.0, job_id="j-sam", account=OTHER_ACCOUNT)
    whole = ledger.frame()
    jo = ledger.frame(users="jo")
    assert jo["user"].unique().tolist() == ["jo"]
    # jo's second call fell from sam's 950 to 900: 50, not 100 from jo's own 1000.
    assert jo["credits_spent"].tolist() == [pd.NA, 50, 50]
    assert ledger.summary(by="user").loc["jo", "credits_spent"] == 100
    other = ledger.frame(accounts=[OTHER_ACCOUNT])
    assert set(other["job_id"].dropna()) == {"j-sam"}  # the poll came with its job
    assert len(other) == 4
    since = pd.Timestamp(T0 + 2 * 3600, unit="s", tz="UTC")
    windowed = ledger.frame(since=since, accounts=ACCOUNT)
    expected = whole.loc[(whole["started_at"] >= since) & (whole["account"] == ACCOUNT)]
    assert windowed["call_id"].tolist() == expected["call_id"].tolist()
    assert windowed["credits_spent"].tolist() == expected["credits_spent"].tolist()
    assert ledger.frame(users=[]).empty
    errors = ledger.errors(users="sam")
    assert errors.empty
    assert ledger.latency(by=None, users="jo")["n"].iloc[0] == 3
    with pytest.raises(fu.InputError, match="users="):
        ledger.frame(users=[1, 2])


# -- moving rows between ledgers ---------------------------------------------------------


def test_push_copies_a_personal_file_into_the_team_ledger_and_back(
    url: str, tmp_path: Path, make_exchange: ExchangeFactory
) -> None:
    signed = "https://media.example/v/abc_upsampled.mp4?Expires=1&Signature=s3cr3t"
    with Ledger(tmp_path / "mine.sqlite") as mine, Ledger(url) as team:
        team.record(make_exchange(at=0, account=OTHER_ACCOUNT))
        for at in (10, 20, 30):
            mine.record(make_exchange(at=at, video_url=signed, remaining_credits=1000 - at))
        assert mine.push(team) == 3
        assert mine.push(team) == 0  # no duplicates however often
        assert len(team) == 4
        # A team's database keeps no media signature.
        assert set(team.frame()["video_url"].dropna()) == {signed.split("?")[0]}
        with Ledger(tmp_path / "copy.sqlite") as copy:
            assert team.push(copy) == 4
            assert copy.import_(url) == 0
            pd.testing.assert_frame_equal(
                copy.frame().drop(columns="video_url"), team.frame().drop(columns="video_url")
            )
        assert team.import_(tmp_path / "mine.sqlite") == 0


# -- reads that follow other kernels ------------------------------------------------------


def test_a_row_committed_late_with_an_earlier_seq_is_not_missed(
    url: str, make_exchange: ExchangeFactory
) -> None:
    """Two kernels: A's insert takes seq 2 but commits after B's seq 3. A reader that
    went on from the largest seq it saw would never see A's row."""
    from flowup_nb.ledger.rows import exchange_rows

    with Ledger(url) as reader:
        reader.record(make_exchange(at=0))
        assert len(reader.frame()) == 1
        late = make_exchange(at=5)
        values, _ = exchange_rows(late)
        columns = ", ".join(f'"{c}"' for c in ("call_id", "started_at", "finished_at"))
        with psycopg.connect(url) as slow_kernel:  # a transaction left open
            slow_kernel.execute(
                f"INSERT INTO exchanges ({columns}) VALUES (%s, %s, %s)".encode(),
                (late.call_id, values[2], values[3]),
            )
            reader.record(make_exchange(at=10))  # commits first, with a later seq
            assert len(reader.frame()) == 2
        # slow_kernel's transaction commits on leaving the block.
        frame = reader.frame()
        assert len(frame) == 3 and late.call_id in set(frame["call_id"])
        assert stored(url, "SELECT count(*) FROM exchanges") == [(3,)]


# -- the URL and its password ------------------------------------------------------------


def test_a_password_in_the_url_is_never_shown(pg_cluster, database: str) -> None:
    url = pg_cluster.url(database, user=SECRET_ROLE, password=SECRET_PASSWORD)
    with Ledger(url) as ledger:
        shown = [repr(ledger), str(ledger.path), ledger.url, repr(ledger._location)]
        assert all(SECRET_PASSWORD not in text for text in shown)
        assert (
            str(ledger.path) == f"postgresql://{SECRET_ROLE}@127.0.0.1:{pg_cluster.port}/{database}"
        )
        assert len(ledger) == 0
    wrong = pg_cluster.url(database, user=SECRET_ROLE, password="not-" + SECRET_PASSWORD)
    with pytest.warns(RuntimeWarning) as caught:
        bad = Ledger(wrong, retry_after=3600)
    assert "password authentication failed" in str(caught[0].message)
    assert SECRET_PASSWORD not in str(caught[0].message)
    with pytest.raises(LedgerError) as error:
        bad.frame()
    assert SECRET_PASSWORD not in str(error.value)
    bad.close()
