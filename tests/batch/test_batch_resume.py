"""Nothing is lost or sent twice: re-runs skip what is done, resume() waits on what was
left running, also after the batch's process was killed with SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from batchkit import FAST, JO, SAM, jobs_by_source

import flowup_nb as fu
import flowup_nb.sim as simulator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def test_a_rerun_skips_what_is_done(calm_sim: Any, client: fu.FlowClient) -> None:
    ids = [calm_sim.new_video_id(JO) for _ in range(5)]
    first = client.upscale_many(ids[:3], "4K", progress=False)
    again = client.upscale_many(ids, "4K", progress=False)

    assert list(again["origin"]) == ["ledger"] * 3 + ["new"] * 2
    assert set(again["status"]) == {"done"}
    assert list(again["result_id"][:3]) == list(first["result_id"])
    assert list(again["job_id"][:3]) == list(first["job_id"])
    assert list(again["credits"]) == [0, 0, 0, 50, 50]  # nothing charged again
    assert calm_sim.stats()["upscale_submissions"] == 5
    assert calm_sim.stats()["credits_charged"] == {JO: 250}
    fresh = client.upscale_many(ids[:1], "4K", skip_done=False, progress=False)
    assert fresh.loc[0, "origin"] == "new" and bool(fresh.loc[0, "cached"])  # a free cached repeat


def test_an_interrupted_batch_is_resumed_without_resubmitting(
    calm_sim: Any, ledger: Any, run_async: Any
) -> None:
    ids = [calm_sim.new_video_id(SAM) for _ in range(12)]

    async def go() -> tuple[Any, Any, int, int]:
        async with fu.AsyncFlowClient(
            calm_sim.token, base_url=calm_sim.base_url, ledger=ledger, **FAST
        ) as client:
            batch = asyncio.ensure_future(client.upscale_many(ids, "4K", progress=False))
            while calm_sim.stats()["upscale_submissions"] < 5:
                await asyncio.sleep(0.002)
            batch.cancel()  # a KeyboardInterrupt in the middle of the batch
            with contextlib.suppress(asyncio.CancelledError):
                await batch
            interrupted = calm_sim.stats()["upscale_submissions"]
            resumed = await client.resume(progress=False)
            after_resume = calm_sim.stats()["upscale_submissions"]
            rerun = await client.upscale_many(ids, "4K", progress=False)
            return resumed, rerun, interrupted, after_resume

    resumed, rerun, interrupted, after_resume = run_async(go())
    assert 5 <= interrupted < len(ids)
    assert after_resume == interrupted  # resume() waits, it never submits
    assert len(resumed) >= 1 and set(resumed["origin"]) == {"resumed"}
    assert set(resumed["status"]) == {"done"} and (resumed["submissions"] == 0).all()
    # The interrupted batch waited for the answers of its submissions in flight, so every
    # job the server created was recorded, and the re-run submits only the rest.
    assert set(rerun["status"]) == {"done"}
    assert calm_sim.stats()["upscale_submissions"] == len(ids)
    assert set(jobs_by_source(calm_sim).values()) == {1}
    assert calm_sim.stats()["credits_charged"] == {SAM: 50 * len(ids)}
    assert set(rerun["origin"]) <= {"ledger", "new"}


def test_resume_needs_a_ledger(calm_sim: Any) -> None:
    with fu.FlowClient(calm_sim.token, base_url=calm_sim.base_url, **FAST) as client:
        with pytest.raises(fu.InputError, match="ledger"):
            client.resume()
        assert (
            client.upscale_many([calm_sim.new_video_id(JO)], progress=False).loc[0, "status"]
            == "done"
        )


# The crash tests' clock: a 1080p job runs 0.3-0.6 s, a captcha is solved in ~0.1 s, and
# the statistics keep finished jobs for 9 s, far longer than a resume takes to start.
CRASH_TIME_SCALE = 0.01
CRASH_SETTINGS = {"poll_interval": (0.01, 0.12), "retry_backoff": 0.001, "max_retry_wait": 0.05}
# Every 201 waits this long after its job was created: kills land in that window often.
HOLD = 0.25
KILLS = 24


def _crash_sim(seed: int) -> Any:
    # High server-side limits: jobs of a killed process keep running unseen by the next
    # one, and must not make the server throttle it (that would be a submission too).
    return simulator.start(
        seed=seed,
        time_scale=CRASH_TIME_SCALE,
        fail_rate=0.0,
        captcha_acceptance=1.0,
        concurrency={"ultra": 64, "pro": 64, "free": 1},
    )


def _child_env(sim: Any, ledger_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "USEAPI_TOKEN": sim.token,
        "FLOWUP_BASE_URL": sim.base_url,
        "FLOWUP_LEDGER": str(ledger_path),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


def _kill(process: subprocess.Popen[bytes]) -> bool:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    return process.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_a_batch_killed_at_random_points_then_resumed_ends_the_same_without_extra_submissions(
    tmp_path: Path,
) -> None:
    """At least KILLS SIGKILLs at random points of a batch (many between the server
    creating a job and its 201 reaching the ledger), each followed by resume() or by a
    re-run of the batch: every video runs once, and the server sees exactly one
    submission per video. Prints the figures (docs/reliability.md)."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    with _crash_sim(seed) as sim:
        sim.inject("upscale", "hold", delay=HOLD, times=1_000_000)
        entries: list[list[str]] = []
        ids_file = tmp_path / "ids.json"
        ledger_path = tmp_path / "crash.sqlite"
        env = _child_env(sim, ledger_path)
        child = [sys.executable, str(HERE / "batch_child.py"), str(ids_file)]
        figures: Counter[str] = Counter()

        def submissions() -> int:
            return int(sim.stats()["upscale_submissions"])

        def more_videos() -> None:
            entries.extend([sim.new_video_id(JO), "1080p"] for _ in range(8))
            ids_file.write_text(json.dumps(entries))

        more_videos()
        while figures["kills"] < KILLS:
            if submissions() >= len(entries):
                more_videos()  # the batch got through: the same batch, grown
            start = submissions()
            process = subprocess.Popen(
                child, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            deadline = time.monotonic() + 120
            while submissions() == start and process.poll() is None:
                assert time.monotonic() < deadline, f"seed {seed}: the child never submitted"
                time.sleep(0.002)  # polling the simulator's counter (it offers no event)
            # Anywhere from "the request is at the server" through its captcha, its job's
            # creation and the held 201, to the polls after it.
            time.sleep(rng.uniform(0.0, 2 * HOLD))
            if process.poll() is not None:
                _, err = process.communicate()
                assert process.returncode == 0, err.decode(errors="replace")
                continue  # it finished first: no kill this round
            assert _kill(process), f"seed {seed}"
            figures["kills"] += 1
            if figures["kills"] % 2:  # a new "kernel" calls resume(); else the re-run does
                with (
                    fu.Ledger(ledger_path) as ledger,
                    fu.FlowClient(
                        sim.token, base_url=sim.base_url, ledger=ledger, **CRASH_SETTINGS
                    ) as client,
                ):
                    resumed = client.resume(progress=False)
                assert set(resumed["status"]) <= {"done"}, f"seed {seed}"
                figures.update(resumed["origin"].astype(str))

        sim.clear_faults()
        finished = subprocess.run(child, env=env, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        counts = json.loads(finished.stdout.strip().splitlines()[-1])
        assert counts["status"] == {"done": len(entries), "failed": 0}, f"seed {seed}"

        with (
            fu.Ledger(ledger_path) as ledger,
            fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **CRASH_SETTINGS) as c,
        ):
            final = c.upscale_many([tuple(e) for e in entries], progress=False)
            assert c.resume(progress=False).empty
            rows = ledger.frame()
        assert set(final["status"]) == {"done"} and set(final["origin"]) == {"ledger"}
        assert list(final["result_id"]) == [source + "_upsampled" for source, _ in entries]

        # Zero extra submissions, counted at the server: one per video, one job each.
        extra = submissions() - len(entries)
        assert extra == 0, f"seed {seed}: {extra} extra submission(s); {dict(figures)}"
        assert set(jobs_by_source(sim).values()) == {1}, f"seed {seed}"
        assert sum(n - 1 for n in sim.executions().values()) == 0, f"seed {seed}"
        # Every job the server made is in the ledger, and came from a written intent.
        intents = rows[rows["operation"] == "intent"]
        known = set(rows["job_id"].dropna())
        for job in sim.jobs():
            assert job["jobid"] in known, f"seed {seed}: job {job['jobid']} was never found"
            assert job["request"]["replyRef"] in set(intents["reply_ref"]), f"seed {seed}"
        # The orphans (a job whose 201 the ledger never got) were adopted, by resume() or
        # by the re-run: the record read when it was found names the intent's replyRef.
        answered = set(rows.loc[rows["operation"] == "submit_upscale", "reply_ref"].dropna())
        found_again = set(rows.loc[rows["operation"] == "get_job", "reply_ref"].dropna())
        orphans = set(intents["reply_ref"]) - answered
        figures["orphans adopted (resume or re-run)"] = len(orphans & found_again)
        figures["intents never sent (video resubmitted)"] = len(orphans - found_again)
        figures["extra submissions"] = extra
        print(f"\nSIGKILL figures (seed {seed}, {len(entries)} videos): {dict(figures)}")
        assert figures["orphans adopted (resume or re-run)"] >= 1, f"seed {seed}: {figures}"


@pytest.mark.slow
def test_a_job_left_behind_past_the_statistics_window_is_submitted_again(
    tmp_path: Path,
) -> None:
    """The documented fallback: once a lost job has left the statistics (15 minutes),
    nothing can find it, and resume() submits its video again (a free cached repeat)."""
    with _crash_sim(seed=2718) as sim:
        sim.inject("upscale", "hold", delay=3.0, times=1_000_000)  # no 201 before the kill
        entries = [[sim.new_video_id(JO), "1080p"] for _ in range(6)]
        ids_file = tmp_path / "ids.json"
        ids_file.write_text(json.dumps(entries))
        ledger_path = tmp_path / "crash.sqlite"
        child = [sys.executable, str(HERE / "batch_child.py"), str(ids_file)]
        process = subprocess.Popen(
            child,
            env=_child_env(sim, ledger_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while len(sim.jobs()) < 4 and process.poll() is None:  # four jobs, their 201s held
            assert time.monotonic() < deadline, "the child never submitted"
            time.sleep(0.002)  # polling the simulator's state (it offers no event)
        assert _kill(process)
        sim.clear_faults()
        lost = {job["request"]["mediaGenerationId"] for job in sim.jobs()}
        sim.advance(sim.stats_window_seconds + 60.0)  # done, and out of the statistics

        with (
            fu.Ledger(ledger_path) as ledger,
            fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **CRASH_SETTINGS) as c,
        ):
            before = int(sim.stats()["upscale_submissions"])
            resumed = c.resume(progress=False).set_index("id")
        assert lost <= set(resumed.index)
        again = resumed.loc[sorted(lost)]
        assert set(again["origin"]) == {"resubmitted"} and set(again["status"]) == {"done"}
        assert (again["submissions"] == 1).all() and again["cached"].all()
        assert int(sim.stats()["upscale_submissions"]) == before + len(resumed)
        # A second job per lost video, but it ran only once: the repeat came from the cache.
        assert all(sim.executions()[(source, "1080p")] == 1 for source in lost)
