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


@pytest.mark.slow
def test_a_batch_killed_at_random_points_then_resumed_ends_the_same_without_extra_submissions(
    tmp_path: Path,
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    # High server-side limits: jobs of a killed process keep running unseen by the next
    # one, and must not make the server throttle it (that would be a submission too).
    with simulator.start(
        seed=seed,
        time_scale=0.001,
        fail_rate=0.0,
        captcha_acceptance=1.0,
        concurrency={"ultra": 64, "pro": 64, "free": 1},
    ) as sim:
        entries = [[sim.new_video_id(JO), "4K"] for _ in range(24)]
        ids_file = tmp_path / "ids.json"
        ids_file.write_text(json.dumps(entries))
        ledger_path = tmp_path / "crash.sqlite"
        env = {
            **os.environ,
            "USEAPI_TOKEN": sim.token,
            "FLOWUP_BASE_URL": sim.base_url,
            "FLOWUP_LEDGER": str(ledger_path),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        child = [sys.executable, str(HERE / "batch_child.py"), str(ids_file)]

        def submissions() -> int:
            return int(sim.stats()["upscale_submissions"])

        kills = 0
        for _ in range(3):
            start = submissions()
            if start >= len(entries):
                break
            target = start + rng.randint(1, max(1, (len(entries) - start) // 2))
            process = subprocess.Popen(
                child, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            deadline = time.monotonic() + 120
            while submissions() < target and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.05))  # anywhere: mid-request, mid-poll, mid-write
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=60)
            kills += process.returncode == -signal.SIGKILL

            if kills == 1:  # after the first crash, resume() from a new "kernel"
                with (
                    fu.Ledger(ledger_path) as ledger,
                    fu.FlowClient(
                        sim.token, base_url=sim.base_url, ledger=ledger, **FAST
                    ) as client,
                ):
                    before = submissions()
                    resumed = client.resume(progress=False)
                    assert submissions() == before, f"seed {seed}"
                    assert set(resumed["status"]) <= {"done"}, f"seed {seed}"

        finished = subprocess.run(child, env=env, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        assert json.loads(finished.stdout.strip().splitlines()[-1]) == {
            "done": len(entries),
            "failed": 0,
        }

        with (
            fu.Ledger(ledger_path) as ledger,
            fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **FAST) as client,
        ):
            final = client.upscale_many([tuple(e) for e in entries], progress=False)
            assert client.resume(progress=False).empty
            recorded = set(ledger.frame().query("operation == 'submit_upscale'")["job_id"].dropna())
        assert kills >= 1, f"seed {seed}: no child was killed mid-batch"
        assert set(final["status"]) == {"done"} and set(final["origin"]) == {"ledger"}
        assert list(final["result_id"]) == [source + "_upsampled" for source, _ in entries]

        # Every submission ran a job (no throttles, captchas always pass). A job is only
        # ever submitted again when the kill fell between the server creating it and the
        # ledger recording its 201: no client can see such a job; count them exactly.
        jobs = sim.jobs()
        orphans = [job for job in jobs if job["jobid"] not in recorded]
        assert submissions() == len(jobs) == len(entries) + len(orphans), f"seed {seed}"
        assert len(orphans) <= kills * 4, f"seed {seed}"
        # Each video ran once, plus once per orphan of it (two kills can both land in the
        # window of the same video's submissions).
        per_source = jobs_by_source(sim)
        orphans_per_source = Counter((job["request"]["mediaGenerationId"], "4K") for job in orphans)
        for key, count in per_source.items():
            assert count == 1 + orphans_per_source[key], f"seed {seed}"
        assert max(per_source.values()) <= 1 + kills
        assert sim.stats()["credits_charged"] == {JO: 50 * len(entries)}, f"seed {seed}"
