"""Crash safety: a kernel killed with SIGKILL loses nothing and leaves nothing misleading.

Already proven elsewhere, not repeated here:
- a batch killed at random points, resumed, ends the same without extra submissions:
  tests/batch/test_batch_resume.py::test_a_batch_killed_at_random_points_then_resumed_...
- a ledger writer killed mid-stream keeps every commit and passes integrity_check:
  tests/ledger/test_concurrency.py::test_a_writer_killed_mid_stream_leaves_a_sound_file_...
This module adds the download killed mid-stream, and, after a batch kill, the ledger's
own ``PRAGMA integrity_check`` and that ``resume()`` recovers every job the ledger holds.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mp4probe import probe_mp4
from simclient import JO, fast_settings

import flowup_nb as fu
import flowup_nb.sim as simulator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

ASSETS = ROOT / "flowup_nb" / "sim" / "assets"
FAST = fast_settings()
# A "kernel" that downloads one URL to one path, then says so.
DOWNLOAD_CHILD = """
import sys
import flowup_nb as fu
with fu.FlowClient("t" * 24, base_url="http://127.0.0.1:9") as client:
    print(client.download(sys.argv[1], sys.argv[2]), flush=True)
"""


def _child_env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def _big_video(path: Path, megabytes: int) -> bytes:
    """A real, decodable MP4 made large by a trailing ``free`` box (players skip it)."""
    video = (ASSETS / "upscaled_4k.mp4").read_bytes()
    padding = megabytes * 1024 * 1024
    data = video + struct.pack(">I4s", 8 + padding, b"free") + bytes(padding)
    path.write_bytes(data)
    return data


def _kill_mid_download(url: str, target: Path, total: int) -> int:
    """Start a download in a child, SIGKILL it once part of the file landed; bytes on disk."""
    part = target.with_name(target.name + ".part")
    process = subprocess.Popen(
        [sys.executable, "-c", DOWNLOAD_CHILD, url, str(target)],
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            landed = part.stat().st_size if part.exists() else 0
            if 0 < landed < total // 2:
                break
            time.sleep(0.0005)
        process.send_signal(signal.SIGKILL)
    finally:
        _, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, err.decode(errors="replace")
    return part.stat().st_size if part.exists() else 0


@pytest.mark.slow
def test_a_download_killed_mid_stream_leaves_only_a_part_file_and_completes_later(
    sim: Any, tmp_path: Path
) -> None:
    source = tmp_path / "big.mp4"
    data = _big_video(source, megabytes=96)
    url = sim.publish_file(source)
    target = tmp_path / "out" / "video.mp4"
    target.parent.mkdir()
    part = target.with_name("video.mp4.part")

    landed = _kill_mid_download(url, target, len(data))

    # The kill fell mid-stream: half a file is on disk, and only under the .part name.
    assert 0 < landed < len(data)
    assert sorted(p.name for p in target.parent.iterdir()) == ["video.mp4.part"]
    assert not target.exists()
    # The next kernel finishes the job: the real name appears only with the whole video.
    with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
        saved = client.download(url, target)
    assert saved == target
    assert not part.exists()
    assert target.read_bytes() == data
    info = probe_mp4(target)
    assert (info.width, info.height) == (3840, 2160) and info.frames > 0
    assert sim.stats()["media_requests_with_authorization"] == 0


@pytest.mark.slow
def test_after_a_batch_is_killed_the_ledger_is_sound_and_resume_recovers_every_job(
    tmp_path: Path,
) -> None:
    # High server-side limits: jobs of the killed process keep running unseen, and must
    # not make the server throttle the next one.
    # time_scale 0.01: a 4K job runs 1.2-3 s, far longer than the kill takes to land, so
    # jobs the child recorded are still running when it dies (at 0.001 they could all be
    # finished on a fast machine, and there would be nothing to resume).
    with simulator.start(
        seed=4242,
        time_scale=0.01,
        fail_rate=0.0,
        captcha_acceptance=1.0,
        concurrency={"ultra": 64, "pro": 64, "free": 1},
    ) as sim:
        entries = [[sim.new_video_id(JO), "4K"] for _ in range(16)]
        ids_file = tmp_path / "ids.json"
        ids_file.write_text(json.dumps(entries))
        ledger_path = tmp_path / "crash.sqlite"
        env = _child_env(
            USEAPI_TOKEN=sim.token, FLOWUP_BASE_URL=sim.base_url, FLOWUP_LEDGER=str(ledger_path)
        )
        child = [sys.executable, str(ROOT / "tests" / "batch" / "batch_child.py"), str(ids_file)]
        process = subprocess.Popen(child, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while (
                sim.stats()["upscale_submissions"] < 6
                and process.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.002)
            process.send_signal(signal.SIGKILL)
        finally:
            _, err = process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL, err.decode(errors="replace")
        submitted_by_the_dead = sim.stats()["upscale_submissions"]

        # Read the file as SQLite itself does, before flowup-nb opens (and maybe repairs) it.
        with sqlite3.connect(ledger_path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()

        with (
            fu.Ledger(ledger_path) as ledger,
            fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **FAST) as client,
        ):
            frame = ledger.frame()
            submits = frame[frame["operation"] == "submit_upscale"]
            recorded = set(submits["job_id"].dropna())
            finished_before = set(
                frame[frame["job_status"].isin(["completed", "failed"])]["job_id"].dropna()
            )
            resumed = client.resume(progress=False)
            frame_after = ledger.frame()

        assert recorded, "the child was killed before it recorded any job"
        # Nothing resent but a video whose request never reached the server (its job could
        # not be found: origin "resubmitted"); a job whose 201 was lost is adopted instead.
        resubmitted = int((resumed["origin"] == "resubmitted").sum())
        assert sim.stats()["upscale_submissions"] == submitted_by_the_dead + resubmitted
        # Every job the dead kernel recorded and had not seen finish is waited on now.
        assert set(resumed.loc[resumed["origin"] == "resumed", "job_id"]) == (
            recorded - finished_before
        )
        assert len(resumed) >= 1, "killed after every job had finished: nothing was resumed"
        assert set(resumed["status"]) <= {"done"}
        completed = set(frame_after[frame_after["job_status"] == "completed"]["job_id"].dropna())
        assert recorded <= completed
        server = {job["jobid"]: job["status"] for job in sim.jobs()}
        assert all(server[job_id] == "completed" for job_id in recorded)
