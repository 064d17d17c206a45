"""Executions counted at the server, and the option that bills every one of them.

Two identical upscales overlap by construction: at time_scale 1 a 4K upscale runs for minutes
unless the clock is advanced, so both are running before either can finish.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from simkit import api, poll

import flowup_nb.sim as simulator

JO = "jo.ultra@example.com"
PAT = "pat.pro@example.com"
ROOT = Path(__file__).resolve().parents[2]
NO_CAPTCHA_WAIT = {"captchaToken": "t" * 24}


def _twins(s, client, source: str, resolution: str) -> list[dict]:
    """Two upscales of one video running at once, then both finished."""
    body = {"mediaGenerationId": source, "resolution": resolution, "async": True}
    ids = []
    for _ in range(2):
        created = client.post("/videos/upscale", json={**body, **NO_CAPTCHA_WAIT})
        assert created.status_code == 201, created.text
        ids.append(created.json()["jobid"])
    assert [r["jobid"] for r in s.jobs() if r["status"] != "completed"] == ids
    s.advance(400)  # past the longest 4K run
    return [poll(client, job_id)[-1] for job_id in ids]


@pytest.fixture(params=[False, True], ids=["default", "bill-every-execution"])
def slow_sim(request):
    with simulator.start(
        seed=21,
        time_scale=1.0,
        fail_rate=0,
        captcha_acceptance=1.0,
        bill_every_execution=request.param,
    ) as s:
        yield s


def test_duplicate_4k_runs_twice_and_is_billed_per_the_option(slow_sim):
    source = slow_sim.new_video_id(JO)
    with api(slow_sim) as client:
        records = _twins(slow_sim, client, source, "4K")
        credits = client.get(f"/accounts/{JO}").json()["credits"]["credits"]
    assert [r["status"] for r in records] == ["completed", "completed"]
    assert all("media" in r["response"] for r in records)  # both ran in full, neither cached
    assert slow_sim.executions() == {(source, "4K"): 2}
    charged = 100 if slow_sim.state.bill_every_execution else 50
    assert slow_sim.stats()["credits_charged"] == {JO: charged}
    assert credits == 18760 - charged
    assert min(r["response"]["remainingCredits"] for r in records) == credits


def test_a_cached_repeat_is_no_execution_and_stays_free_under_the_option():
    with (
        simulator.start(
            seed=4, time_scale=0.001, fail_rate=0, captcha_acceptance=1.0,
            bill_every_execution=True,
        ) as s,
        api(s) as client,
    ):  # fmt: skip
        source = s.new_video_id(JO)
        for _ in range(3):
            answer = client.post(
                "/videos/upscale", json={"mediaGenerationId": source, "resolution": "4K"}
            )
            assert answer.status_code == 200
        assert s.executions() == {(source, "4K"): 1}
        assert s.stats()["credits_charged"] == {JO: 50}
        assert s.stats()["cache_hits"] == 2


def test_executions_count_per_video_and_resolution_and_skip_failures():
    with (
        simulator.start(seed=8, time_scale=0.001, fail_rate=0, captcha_acceptance=1.0) as s,
        api(s) as client,
    ):
        first, second = s.new_video_id(JO), s.new_video_id(PAT)
        for source, resolution in ((first, "1080p"), (first, "4K"), (second, "1080p")):
            answer = client.post(
                "/videos/upscale", json={"mediaGenerationId": source, "resolution": resolution}
            )
            assert answer.status_code == 200
        s.inject("upscale", "job_fail")
        failed = client.post("/videos/upscale", json={"mediaGenerationId": s.new_video_id(JO)})
        assert failed.status_code == 500
        assert client.post("/videos", json={"prompt": "a fox"}).status_code == 200
        assert s.executions() == {(first, "1080p"): 1, (first, "4K"): 1, (second, "1080p"): 1}


def test_free_1080p_duplicates_are_counted_and_stay_free():
    with (
        simulator.start(
            seed=9, time_scale=1.0, fail_rate=0, captcha_acceptance=1.0,
            bill_every_execution=True,
        ) as s,
        api(s) as client,
    ):  # fmt: skip
        source = s.new_video_id(JO)
        _twins(s, client, source, "1080p")
        assert s.executions() == {(source, "1080p"): 2}
        assert s.stats()["credits_charged"].get(JO, 0) == 0


def test_the_option_takes_only_a_boolean():
    with pytest.raises(TypeError, match="bill_every_execution"):
        simulator.start(seed=1, time_scale=0, bill_every_execution="yes")  # type: ignore[arg-type]


def test_cli_flag_turns_the_option_on():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowup_nb.sim", "--seed", "7", "--time-scale", "0.01",
         "--bill-every-execution"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        lines = []
        for _ in range(12):
            lines.append(proc.stdout.readline())
            if lines[-1].startswith("Ctrl-C"):
                break
        assert any(line.startswith("billing:") and "every execution" in line for line in lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
