"""Interrupted calls (issue 14): whatever ends a call, the ledger knows what was sent.

A Kernel > Interrupt (a real SIGINT, delivered to the main thread once the simulator holds
the request), an ``asyncio.wait_for`` timeout, the form's loop going away, an interrupted
download and an interrupted batch each leave a row saying what was sent, written before
the exception propagates. ``reconcile()`` says ``unknown`` until ``resume()`` finds the
job; then the ledger's credits equal what the simulator charged.

The simulator runs at time_scale 0.01 here: a 4K job runs 1.2-3 s, long enough for the
interrupt to land while the server holds the answer, and the statistics' 15-minute
window is 9 s, long enough for ``resume()`` to find the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from simclient import JO, fast_settings

import flowup_nb as fu
import flowup_nb.sim as simulator
from flowup_nb.widgets.controller import UpscaleController
from flowup_nb.widgets.status import Phase

TIME_SCALE = 0.01
FOUR_K = 50
# Polls start at 0.05 s: resume() looks for a request that is still becoming a job for
# 60 service seconds on that clock (3 s), the creation grace of batch/orphans.py.
SETTINGS = fast_settings(poll_interval=(0.05, 0.2))


@pytest.fixture
def sim() -> Iterator[simulator.SimHandle]:
    with simulator.start(seed=1414, time_scale=TIME_SCALE, fail_rate=0.0) as handle:
        yield handle


def _jobs_of(sim: Any, source: str) -> list[dict[str, Any]]:
    return [j for j in sim.jobs() if j["request"]["mediaGenerationId"] == source]


def _upscales_received(sim: Any) -> int:
    return int(sim.stats()["requests"].get("upscale", 0))


@contextlib.contextmanager
def sigint_when(condition: Callable[[], bool]) -> Iterator[threading.Event]:
    """Deliver a real SIGINT to the main thread (Kernel > Interrupt) as soon as
    ``condition()`` holds, checked by a watcher thread; the event says it was sent."""
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()
    stop, sent = threading.Event(), threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 60.0
        while not stop.is_set() and time.monotonic() < deadline:
            if condition():
                signal.pthread_kill(main, signal.SIGINT)
                sent.set()
                return
            stop.wait(0.002)

    watcher = threading.Thread(target=watch, name="sigint-when", daemon=True)
    watcher.start()
    try:
        yield sent
    finally:
        stop.set()
        watcher.join()


def _last(ledger: fu.Ledger, operation: str) -> Any:
    rows = ledger.frame()
    return rows[(rows["operation"] == operation).to_numpy()].iloc[-1]


def _assert_unknown_then_settled(ledger: fu.Ledger, sim: Any, settle: Callable[[], Any]) -> Any:
    """reconcile() says unknown (never agrees) until ``settle()`` (resume) has run; then
    the ledger's credits equal the simulator's charge, in reconcile() and summary()."""
    before = ledger.reconcile().loc[JO]
    assert before["status"] == "unknown" and before["unknown"] >= 1
    assert before["agrees"] is pd.NA
    assert "client.resume()" in before["settle"]
    outcome = settle()
    charged = sim.stats()["credits_charged"][JO]
    assert charged >= FOUR_K
    after = ledger.reconcile().loc[JO]
    assert (after["status"], after["unknown"], after["settle"]) == ("agrees", 0, "")
    assert after["reported"] == after["expected"] == charged
    assert ledger.summary().loc[JO, "credits_spent"] == charged
    return outcome


# -- the sync client: Kernel > Interrupt during client.upscale(id, "4K") ------------------


def test_ctrl_c_during_a_4k_upscale_leaves_its_row_and_resume_adopts_the_job(
    sim: Any, tmp_path: Path
) -> None:
    source = sim.new_video_id(JO)
    with (
        fu.Ledger(tmp_path / "l.sqlite") as ledger,
        fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS) as client,
    ):
        client.get_account(JO)  # a balance before: the ledger can measure the spend
        with (
            sigint_when(lambda: bool(_jobs_of(sim, source))) as sent,
            pytest.raises(KeyboardInterrupt),
        ):
            client.upscale(source, "4K")
        assert sent.is_set()
        row = _last(ledger, "upscale")
        assert (row["outcome"], row["error_type"], row["error_reason"]) == (
            "interrupted",
            "KeyboardInterrupt",
            "answer not read",
        )
        assert (row["source_id"], row["resolution"], row["mode"], row["attempt"]) == (
            source,
            "4K",
            "sync",
            0,
        )
        assert "client.resume()" in row["error_message"]
        [job] = _jobs_of(sim, source)

        frame = _assert_unknown_then_settled(ledger, sim, lambda: client.resume(progress=False))
    [resumed] = frame.itertuples()
    assert (resumed.id, resumed.status, resumed.origin, resumed.job_id) == (
        source,
        "done",
        "adopted",
        job["jobid"],
    )
    assert _upscales_received(sim) == 1  # found, not sent again
    assert sim.executions() == {(source, "4K"): 1}
    assert sim.stats()["credits_charged"] == {JO: FOUR_K}


def test_asking_the_interrupted_upscale_again_settles_it_from_the_cache(
    sim: Any, tmp_path: Path
) -> None:
    """The other way to settle it: once the job has run, the same upscale again is a
    free cached answer, which proves the interrupted call's job ran and was charged."""
    source = sim.new_video_id(JO)
    with (
        fu.Ledger(tmp_path / "l.sqlite") as ledger,
        fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS) as client,
    ):
        client.get_account(JO)
        with (
            sigint_when(lambda: bool(_jobs_of(sim, source))),
            pytest.raises(KeyboardInterrupt),
        ):
            client.upscale(source, "4K")

        def ask_again_once_it_ran() -> Any:
            while _jobs_of(sim, source)[0]["status"] != "completed":
                threading.Event().wait(0.01)
            return client.upscale(source, "4K")

        again = _assert_unknown_then_settled(ledger, sim, ask_again_once_it_ran)
        assert again.cached
        # The cached answer carries the price the interrupted call's job was charged.
        assert ledger.reconcile().loc[JO, "expected"] == FOUR_K
    assert sim.executions() == {(source, "4K"): 1}
    assert sim.stats()["credits_charged"] == {JO: FOUR_K}


class _Boom(Exception):
    """A bug in a hook or a parser: any exception ends the call like an interrupt."""


def test_any_other_exception_in_the_send_loop_leaves_the_row_and_propagates_unchanged(
    sim: Any, tmp_path: Path
) -> None:
    boom = _Boom("a response hook failed")

    def explode(response: httpx.Response) -> None:
        if response.request.method == "POST":
            raise boom

    source = sim.new_video_id(JO)
    http = httpx.Client(event_hooks={"response": [explode]})
    with (
        fu.Ledger(tmp_path / "l.sqlite") as ledger,
        fu.FlowClient(
            sim.token, base_url=sim.base_url, ledger=ledger, http_client=http, **SETTINGS
        ) as client,
    ):
        with pytest.raises(_Boom) as raised:
            client.submit_upscale(source, "4K")
        assert raised.value is boom
        row = _last(ledger, "submit_upscale")
    http.close()
    assert (row["outcome"], row["error_type"], row["mode"]) == ("interrupted", "_Boom", "async")
    # A 4K submit always carries a replyRef, so resume() can find its job by it.
    assert row["reply_ref"].startswith("flowup-")
    [job] = _jobs_of(sim, source)
    assert job["request"]["replyRef"] == row["reply_ref"]


def test_ctrl_c_during_a_4k_submit_is_found_again_by_its_reply_ref(
    sim: Any, tmp_path: Path
) -> None:
    source = sim.new_video_id(JO)
    sim.inject("upscale", "delay", delay=0.5)  # the server holds the request, then runs it
    with (
        fu.Ledger(tmp_path / "l.sqlite") as ledger,
        fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS) as client,
    ):
        client.get_account(JO)
        with sigint_when(lambda: _upscales_received(sim) >= 1), pytest.raises(KeyboardInterrupt):
            client.submit_upscale(source, "4K")
        row = _last(ledger, "submit_upscale")
        assert (row["outcome"], row["resolution"], row["attempt"]) == ("interrupted", "4K", 0)
        assert isinstance(row["reply_ref"], str)

        frame = _assert_unknown_then_settled(ledger, sim, lambda: client.resume(progress=False))
    [resumed] = frame.itertuples()
    assert (resumed.status, resumed.origin) == ("done", "adopted")
    [job] = _jobs_of(sim, source)
    assert job["request"]["replyRef"] == row["reply_ref"] and resumed.job_id == job["jobid"]
    assert _upscales_received(sim) == 1


# -- the async client: asyncio.wait_for timeout around AsyncFlowClient.upscale -----------


def test_a_wait_for_timeout_around_an_async_4k_upscale_leaves_a_cancelled_row(
    sim: Any, tmp_path: Path
) -> None:
    source = sim.new_video_id(JO)
    sim.inject("upscale", "delay", delay=1.0)  # the answer is held past the timeout

    async def interrupted(ledger: fu.Ledger) -> None:
        async with fu.AsyncFlowClient(
            sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS
        ) as client:
            await client.get_account(JO)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.upscale(source, "4K"), timeout=0.3)

    async def resume(ledger: fu.Ledger) -> Any:
        async with fu.AsyncFlowClient(
            sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS
        ) as client:
            return await client.resume(progress=False)

    with fu.Ledger(tmp_path / "l.sqlite") as ledger:
        asyncio.run(interrupted(ledger))
        row = _last(ledger, "upscale")
        assert (row["outcome"], row["error_type"]) == ("cancelled", "CancelledError")
        assert (row["source_id"], row["resolution"], row["mode"]) == (source, "4K", "sync")
        frame = _assert_unknown_then_settled(ledger, sim, lambda: asyncio.run(resume(ledger)))
    [resumed] = frame.itertuples()
    assert (resumed.status, resumed.origin) == ("done", "adopted")
    assert _upscales_received(sim) == 1
    assert sim.stats()["credits_charged"] == {JO: FOUR_K}


# -- downloads: the .part stays, the row says how far it got -----------------------------


class _HoldingMediaHost:
    """A media host that sends the headers and the first half of a video, then holds the
    rest until released: a transfer that is surely mid-stream when interrupted."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.release = threading.Event()
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(host.body)))
                self.end_headers()
                self.wfile.write(host.body[: len(host.body) // 2])
                self.wfile.flush()
                host.release.wait(30)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/video.mp4"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _part_holds(part: Path, size: int) -> bool:
    return part.exists() and part.stat().st_size >= size


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_interrupted_download_keeps_its_part_and_says_so(
    sim: Any, tmp_path: Path, kind: str
) -> None:
    source = sim.new_video_id(JO)
    with (
        fu.Ledger(tmp_path / "l.sqlite") as ledger,
        fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS) as client,
    ):
        client.get_account(JO)
        result = client.upscale(source, "4K")
        whole = client.download(result, tmp_path / "first.mp4").read_bytes()
        # Served padded to 4 MB: half of it is far more than any write buffer holds.
        body = whole + bytes(4 * 1024 * 1024)
        half = len(body) // 2
        host = _HoldingMediaHost(body)
        target = tmp_path / "video.mp4"
        part = target.with_name("video.mp4.part")
        # The page cache may hold the last few KB back from the file's size: near half.
        nearly_half = half - 64 * 1024
        try:
            if kind == "sync":
                with (
                    sigint_when(lambda: _part_holds(part, nearly_half)),
                    pytest.raises(KeyboardInterrupt),
                ):
                    client.download(host.url, target)
                outcome = "interrupted"
            else:
                asyncio.run(_cancel_download(sim, ledger, host.url, target, part, nearly_half))
                outcome = "cancelled"
        finally:
            host.close()
        assert part.stat().st_size == half and not target.exists()
        row = _last(ledger, "download")
        assert (row["outcome"], row["bytes_received"], row["http_status"]) == (outcome, half, 200)
        assert str(part) in row["error_message"]

        # Downloading again gets the whole video, and the .part is gone.
        saved = client.download(result, target)
        assert saved.read_bytes() == whole and not part.exists()
        table = ledger.reconcile().loc[JO]
        assert (table["status"], table["reported"], table["expected"]) == (
            "agrees",
            FOUR_K,
            FOUR_K,
        )
    assert sim.stats()["credits_charged"] == {JO: FOUR_K}


async def _cancel_download(
    sim: Any, ledger: fu.Ledger, url: str, target: Path, part: Path, size: int
) -> None:
    async with fu.AsyncFlowClient(
        sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS
    ) as client:
        download = asyncio.ensure_future(client.download(url, target))
        while not _part_holds(part, size):
            await asyncio.sleep(0.002)
        download.cancel()
        with pytest.raises(asyncio.CancelledError):
            await download


# -- the form: Cancel, then the loop goes away with the request in flight ----------------


def test_the_forms_4k_upscale_cancelled_with_its_loop_is_recorded_and_resumed(
    sim: Any, tmp_path: Path
) -> None:
    source = sim.new_video_id(JO)

    async def scenario(ledger: fu.Ledger) -> UpscaleController:
        client = fu.AsyncFlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS)
        await client.get_account(JO)
        controller = UpscaleController(client, check_links=False)
        controller.upscale(source, "4K", "sync")
        while not _jobs_of(sim, source):
            await asyncio.sleep(0.002)
        controller.cancel()
        assert controller.state.phase is Phase.CANCELLED
        assert "may still finish" in (controller.state.note or "")
        # Cancel stops waiting, not the request: it is still in flight when the loop (a
        # kernel restarting, asyncio.run ending) cancels every task left.
        return controller

    with fu.Ledger(tmp_path / "l.sqlite") as ledger:
        asyncio.run(scenario(ledger))
        row = _last(ledger, "upscale")
        assert (row["outcome"], row["source_id"], row["resolution"]) == ("cancelled", source, "4K")

        def resume() -> Any:
            with fu.FlowClient(
                sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS
            ) as client:
                return client.resume(progress=False)

        frame = _assert_unknown_then_settled(ledger, sim, resume)
    [resumed] = frame.itertuples()
    assert (resumed.status, resumed.origin) == ("done", "adopted")
    assert _upscales_received(sim) == 1


# -- batches: every in-flight item gets its row ------------------------------------------


def test_an_interrupted_sync_mode_batch_records_every_upscale_in_flight(
    sim: Any, tmp_path: Path
) -> None:
    sources = [sim.new_video_id(JO) for _ in range(3)]

    async def scenario(ledger: fu.Ledger) -> None:
        async with fu.AsyncFlowClient(
            sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS
        ) as client:
            await client.get_account(JO)
            await client.upscale_many(sources, "4K", mode="sync", concurrency=3, progress=False)

    with fu.Ledger(tmp_path / "l.sqlite") as ledger:
        with (
            sigint_when(lambda: all(_jobs_of(sim, s) for s in sources)),
            pytest.raises(KeyboardInterrupt),
        ):
            asyncio.run(scenario(ledger))
        rows = ledger.frame()
        cancelled = rows[(rows["outcome"] == "cancelled").to_numpy()]
        assert sorted(cancelled["source_id"]) == sorted(sources)
        assert set(cancelled["operation"]) == {"upscale"} and set(cancelled["mode"]) == {"sync"}

        def resume() -> Any:
            with fu.FlowClient(
                sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS
            ) as client:
                return client.resume(progress=False)

        frame = _assert_unknown_then_settled(ledger, sim, resume)
    assert sorted(frame["id"]) == sorted(sources)
    assert set(frame["status"]) == {"done"} and set(frame["origin"]) == {"adopted"}
    assert _upscales_received(sim) == 3
    assert sim.stats()["credits_charged"] == {JO: 3 * FOUR_K}


def test_an_interrupted_batch_records_every_submission_in_flight(sim: Any, tmp_path: Path) -> None:
    """A blocking client's batch (async mode): Ctrl-C while the submissions are with the
    server; the batch waits for their answers before the KeyboardInterrupt goes on, so
    every job the server created is in the ledger with its id."""
    sources = [sim.new_video_id(JO) for _ in range(3)]
    sim.inject("upscale", "delay", times=3, delay=0.3)  # the 201s are held a moment
    with (
        fu.Ledger(tmp_path / "l.sqlite") as ledger,
        fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **SETTINGS) as client,
    ):
        client.get_account(JO)
        with sigint_when(lambda: _upscales_received(sim) >= 3), pytest.raises(KeyboardInterrupt):
            client.upscale_many(sources, "4K", concurrency=3, progress=False)
        rows = ledger.frame()
        submits = rows[(rows["operation"] == "submit_upscale").to_numpy()]
        created = {job["jobid"] for s in sources for job in _jobs_of(sim, s)}
        assert len(created) == 3
        assert set(submits["job_id"].dropna()) == created

        frame = _assert_unknown_then_settled(ledger, sim, lambda: client.resume(progress=False))
    assert set(frame["job_id"]) == created and set(frame["status"]) == {"done"}
    assert _upscales_received(sim) == 3
    assert sim.stats()["credits_charged"] == {JO: 3 * FOUR_K}
