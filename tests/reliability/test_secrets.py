"""The API token leaks nowhere, whatever the session does; signed URLs leave only on request.

Already proven elsewhere (not repeated here): a server that echoes the token back in an
error body is redacted, an observer that raises does not break a call, the client's repr
hides the token (tests/api/test_client_secrets.py); a CSV export drops URL signatures
unless ``include_urls=True`` (tests/ledger/test_transfer.py). This suite widens the net:
one distinctive token through sync, async, every error kind, downloads, batch, resume and
webhooks, with every logger at DEBUG, and then every byte the session left behind.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from reliakit_secrets import (
    FAST,
    JO,
    SAM,
    RecordingServer,
    debug_log_capture,
    file_bytes,
    texts_of,
)

import flowup_nb as fu
import flowup_nb.sim as simulator
from flowup_nb.sim.faults import STATUS_FAULTS

ROOT = Path(__file__).resolve().parents[2]

# Every fault the simulator can script on a request: each must surface (or be survived)
# without the token in what the user sees.
FAULTS = (*STATUS_FAULTS, "drop", "truncate", "malformed_json")


@pytest.fixture
def token() -> str:
    # Distinctive and long: a substring match cannot happen by chance.
    return f"useapi-SECRET-{uuid.uuid4().hex}"


@pytest.fixture
def hosted(token: str) -> Iterator[simulator.SimHandle]:
    """A simulator that accepts ``token``, with no random failures: every error is one
    the test asked for."""
    with simulator.start(
        seed=77, time_scale=0.001, fail_rate=0.0, captcha_acceptance=1.0, token=token
    ) as handle:
        yield handle


def _every_error_kind(client: fu.FlowClient, sim: Any) -> list[BaseException]:
    raised: list[BaseException] = []
    source = sim.sample_ids(JO)[0]
    for fault in FAULTS:
        # Twice: a retried kind (max_retries=1) fails on the retry too.
        sim.inject("upscale", fault, times=2, retry_after=600 if fault[:3] == "429" else None)
        with pytest.raises(fu.FlowError) as caught:
            client.upscale(source)
        raised.append(caught.value)
        sim.clear_faults()
    sim.inject("upscale", "job_fail")
    with pytest.raises(fu.JobFailedError) as failed:
        client.wait(client.submit_upscale(sim.new_video_id(JO)), timeout=30)
    sim.inject("upscale", "slow_job")
    with pytest.raises(fu.JobTimeoutError) as late:
        client.wait(client.submit_upscale(sim.new_video_id(JO)), timeout=0.05)
    raised += [failed.value, late.value]
    for bad in (
        lambda: client.upscale("not-a-video-id"),
        lambda: client.upscale(source, "4k"),
        lambda: fu.FlowClient(sim.token, base_url="ftp://example.com/v1/google-flow"),
        lambda: fu.FlowClient(
            sim.token, base_url="http://127.0.0.1:9/v1/google-flow", max_retries=0
        ).upscale(source),
    ):
        with pytest.raises(fu.FlowError) as caught:
            bad()
        raised.append(caught.value)
    return raised


async def _async_session(
    sim: Any, ledger: fu.Ledger, receiver: fu.WebhookReceiver, tmp_path: Path
) -> list[Any]:
    produced: list[Any] = []
    async with fu.AsyncFlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **FAST) as aio:
        produced.append(aio)
        result = await aio.upscale(sim.new_video_id(SAM))
        produced += [result, await aio.download(result, tmp_path / "async.mp4")]
        source = sim.new_video_id(SAM)
        job = await aio.submit_upscale(source, "4K", **receiver.reply_for(source))
        produced += [job, await aio.wait(job, webhook=receiver)]
        sim.inject("upscale", "401")
        with pytest.raises(fu.AuthenticationError) as caught:
            await aio.upscale(source)
        produced.append(caught.value)
    return produced


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_target(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str | Path]:
    """The session's ledger: a file, or a database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        yield tmp_path / "ledger.sqlite"
        return
    cluster = request.getfixturevalue("pg_cluster")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    with cluster.database() as name:
        yield cluster.url(name)


def _server_bytes(url: str) -> dict[str, bytes]:
    """Every row of every table of a server ledger, as text, by table name."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            t
            for (t,) in conn.execute(b"SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        return {
            table: "\n".join(
                str(row[0]) for row in conn.execute(f"SELECT t::text FROM {table} AS t".encode())
            ).encode()
            for table in tables
        }


def test_the_token_is_nowhere_in_anything_a_whole_session_leaves(
    hosted: Any, token: str, tmp_path: Path, record_property: Any, ledger_target: str | Path
) -> None:
    sim = hosted
    hook = RecordingServer()
    on_server = isinstance(ledger_target, str)
    ledger = fu.Ledger(ledger_target)
    exchanges: list[Any] = []
    with debug_log_capture() as logs, fu.WebhookReceiver(ledger=ledger) as receiver:
        client = fu.FlowClient(token, base_url=sim.base_url, ledger=ledger, max_retries=1, **FAST)
        client.subscribe(exchanges.append)
        produced: list[Any] = [client, ledger, receiver]

        source = sim.new_video_id(JO)
        result = client.upscale(source)
        cached = client.upscale(source)  # the cached answer: the video inline
        assert cached.cached and not result.cached
        produced += [result, result.captcha, *result.media, cached]
        produced += [client.download(result, tmp_path / "a.mp4")]
        produced += [client.download(cached, tmp_path / "b.mp4")]
        job = client.submit_upscale(sim.new_video_id(JO), reply_url=hook.url, reply_ref="mine")
        produced += [job, client.wait(job, timeout=30), client.get_job(job.job_id)]
        produced.append(client.generate_video("a lighthouse at dawn"))
        produced += _every_error_kind(client, sim)
        produced += asyncio.run(_async_session(sim, ledger, receiver, tmp_path))
        ids = [sim.new_video_id(email) for email in (JO, SAM, JO, SAM)]
        frame = client.upscale_many(ids, webhook=receiver, progress=False)
        assert set(frame["status"]) == {"done"}
        # A job left unfinished for resume() to pick up.
        client.submit_upscale(sim.new_video_id(SAM))
        resumed = client.resume(progress=False)
        assert len(resumed) >= 1
        produced += [frame.to_csv(), resumed.to_csv(), ledger.frame().to_csv()]
        assert sim.wait_webhooks(5.0)
        client.close()
    hook.close()

    texts = [text for value in produced for text in texts_of(value)]
    texts += [repr(exchange) for exchange in exchanges]
    texts += [repr(sim), str(sim)]  # its .token attribute is the point of it
    log_text = logs.getvalue()
    # The net was cast: the HTTP stack did log at DEBUG, headers included, and we did too.
    assert "httpcore" in log_text and "send_request_headers" in log_text
    assert "flowup_nb" in log_text
    assert sum(isinstance(value, fu.FlowError) for value in produced) == len(FAULTS) + 7
    assert [text[:200] for text in texts if token in text] == []
    assert token not in log_text

    # Every byte left on disk (the database and its WAL, or every row on the server),
    # and both export formats.
    if on_server:
        stored = file_bytes(ledger.fallback_path) | _server_bytes(str(ledger_target))
    else:
        stored = file_bytes(
            ledger.path,
            Path(f"{ledger.path}-wal"),
            Path(f"{ledger.path}-shm"),
            ledger.fallback_path,
        )
    exports = {
        name: ledger.export(tmp_path / name, include_urls=name.startswith("with"))
        for name in ("plain.csv", "plain.parquet", "with-urls.csv", "with-urls.parquet")
    }
    ledger.close()
    if on_server:
        stored |= file_bytes(*exports.values())
        assert {"exchanges", "captcha_attempts", "plain.csv", "plain.parquet"} <= set(stored)
        assert stored["exchanges"].count(b"\n") + 1 >= 60
    else:
        stored |= file_bytes(ledger.path, *exports.values())
        assert {"ledger.sqlite", "plain.csv", "plain.parquet"} <= set(stored)
        rows = sqlite3.connect(ledger.path).execute("SELECT * FROM exchanges").fetchall()
        assert len(rows) >= 60
    assert [name for name, data in stored.items() if token.encode() in data] == []

    # Not to a media host, not to a webhook URL.
    stats = sim.stats()
    assert stats["media_requests"] >= 2 and stats["media_requests_with_authorization"] == 0
    assert hook.seen and stats["webhooks_sent"] > len(hook.seen)
    assert not [s for s in hook.seen if "authorization" in {h.lower() for h in s.headers}]
    assert not [s for s in hook.seen if token in repr(s)]
    assert token not in repr(sim.webhook_log())

    # Signed URLs (the simulator's, live) leave the ledger only when asked for; a team's
    # server never stores them at all.
    signed = result.video_url
    assert "Signature=" in signed
    plain = pd.concat(
        [pd.read_csv(exports["plain.csv"]), pd.read_parquet(exports["plain.parquet"])]
    )
    urls = plain["video_url"].dropna()
    assert len(urls) > 0 and not urls.str.contains(r"\?|Signature|Expires").any()
    for name in ("with-urls.csv", "with-urls.parquet"):
        read = pd.read_csv if name.endswith(".csv") else pd.read_parquet
        if on_server:
            assert signed.split("?")[0] in set(read(exports[name])["video_url"]), name
        else:
            assert signed in set(read(exports[name])["video_url"]), name
    if on_server:
        assert [name for name, data in stored.items() if b"Signature=" in data] == []

    # The size of the net, for docs/reliability.md (pytest --junitxml shows them).
    record_property("objects_scanned", len(produced))
    record_property("errors_raised", sum(isinstance(v, BaseException) for v in produced))
    record_property("exchanges_scanned", len(exchanges))
    record_property("log_lines_scanned", log_text.count("\n"))
    record_property("files_scanned", len(stored))
    record_property("bytes_scanned", sum(len(data) for data in stored.values()))
    record_property("media_requests", stats["media_requests"])
    record_property("webhooks_sent", stats["webhooks_sent"])


def test_a_record_kept_in_the_fallback_file_holds_no_token(
    hosted: Any, token: str, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = fu.Ledger(path, busy_timeout=0.05)
    client = fu.FlowClient(token, base_url=hosted.base_url, ledger=ledger, **FAST)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        with pytest.warns(RuntimeWarning, match="fallback"):
            client.upscale(hosted.sample_ids(JO)[0])
            hosted.inject("upscale", "401")
            with pytest.raises(fu.AuthenticationError):
                client.upscale(hosted.sample_ids(JO)[0])
        kept = ledger.fallback_path.read_bytes()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        client.close()
        ledger.close()
    assert kept.count(b"\n") >= 2 and b"AuthenticationError" in kept
    assert token.encode() not in kept


@pytest.mark.slow
def test_an_executed_quickstart_notebook_holds_no_token(token: str, tmp_path: Path) -> None:
    book = nbformat.read(ROOT / "notebooks" / "01_quickstart.ipynb", as_version=4)
    # First, what a user debugging a problem would do: every relevant logger at DEBUG,
    # printed into the notebook itself.
    book.cells.insert(
        0,
        nbformat.v4.new_code_cell(
            "import logging, sys\n"
            "handler = logging.StreamHandler(sys.stderr)\n"
            "logging.getLogger().addHandler(handler)\n"
            "for name in ('flowup_nb', 'httpx', 'httpcore'):\n"
            "    logging.getLogger(name).setLevel(logging.DEBUG)"
        ),
    )
    with simulator.start(
        seed=515, time_scale=0.01, fail_rate=0.0, captcha_acceptance=1.0, token=token
    ) as api:
        env = {k: v for k, v in os.environ.items() if k != "FLOWUP_SIM_SEED"}
        env |= {
            "USEAPI_TOKEN": token,
            "FLOWUP_BASE_URL": api.base_url,
            "FLOWUP_LEDGER": str(tmp_path / "ledger.sqlite"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        }
        runner = NotebookClient(
            book,
            timeout=120,
            kernel_name="python3",
            resources={"metadata": {"path": str(tmp_path)}},
        )
        runner.execute(env=env)
        stats = api.stats()
    executed = nbformat.writes(book)
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert "send_request_headers" in executed  # the HTTP stack's DEBUG lines are in it
    assert stats["upscale_submissions"] >= 2 and stats["media_requests_with_authorization"] == 0
    assert token not in executed
    left = file_bytes(*sorted(tmp_path.glob("ledger.sqlite*")))
    assert "ledger.sqlite" in left
    assert [name for name, data in left.items() if token.encode() in data] == []
