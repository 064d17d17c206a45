"""`make demo`: JupyterLab opens on the quickstart; `--script` walks through an upscale."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from mp4probe import probe_mp4

import flowup_nb as fu
import flowup_nb.sim as simulator

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def test_the_script_walks_through_an_upscale(tmp_path: Path) -> None:
    # The "real API" here is a seeded simulator hosted by the test (every captcha passes).
    with simulator.start(seed=99, time_scale=0.01, fail_rate=0.0, captcha_acceptance=1.0) as api:
        source = api.sample_ids("jo.ultra@example.com")[0]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "flowup_nb.demo",
                "--script",
                "--source",
                source,
                "--out",
                str(tmp_path / "videos"),
            ],
            cwd=tmp_path,
            env=_env(USEAPI_TOKEN=api.token, FLOWUP_BASE_URL=api.base_url),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        out = done.stdout
        steps = re.findall(r"^ ?\d+\. (\w+):", out, flags=re.M)
        assert steps == [
            "connected",
            "upscaled",
            "downloaded",
            "submitted",
            "done",
            "saved",
            "ledger",
        ]
        assert "real API" in out and "cached: free" in out
        assert api.token not in out + done.stderr
        assert api.stats()["upscale_submissions"] == 2 and api.stats()["cache_hits"] == 1
    for name in ("upscaled-1080p.mp4", "upscaled-1080p-again.mp4"):
        info = probe_mp4(tmp_path / "videos" / name)
        assert (info.width, info.height) == (1920, 1080)
    ledger = fu.Ledger(os.environ["FLOWUP_LEDGER"])
    assert set(ledger.frame()["operation"]) >= {"upscale", "submit_upscale", "download"}


def test_the_script_on_the_embedded_simulator(tmp_path: Path) -> None:
    env = _env(FLOWUP_SIM_SEED="11", FLOWUP_SIM_TIME_SCALE="0.01")
    env.pop("USEAPI_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "flowup_nb.demo", "--script", "--out", str(tmp_path / "v")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    steps = re.findall(r"^ ?\d+\. (\w+):", done.stdout, flags=re.M)
    assert steps[:3] == ["connected", "picked", "upscaled"]
    assert "embedded simulator" in done.stdout
    assert probe_mp4(tmp_path / "v" / "upscaled-1080p.mp4").width == 1920


def test_the_script_refuses_to_spend_credits_unasked(tmp_path: Path) -> None:
    with simulator.start(seed=1, time_scale=0.01) as api:
        done = subprocess.run(
            [sys.executable, "-m", "flowup_nb.demo", "--script"],
            cwd=tmp_path,
            env=_env(USEAPI_TOKEN=api.token, FLOWUP_BASE_URL=api.base_url),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2
        assert "--source" in done.stderr and "--generate" in done.stderr
        assert api.stats()["generations"] == 0


def test_demo_opens_jupyterlab_on_the_quickstart(tmp_path: Path) -> None:
    env = _env(JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    env.pop("USEAPI_TOKEN", None)
    lab = subprocess.Popen(
        [sys.executable, "-m", "flowup_nb.demo", "--no-browser"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        url = None
        while url is None:
            line = lab.stdout.readline()
            if not line:
                pytest.fail("the demo exited: " + "".join(lines))
            lines.append(line)
            found = re.search(r"JupyterLab on (http://127\.0\.0\.1:\d+/lab/tree/\S+)", line)
            url = found.group(1) if found else None
        assert "embedded simulator" in "".join(lines)
        assert "01_quickstart.ipynb" in url
        contents = url.replace("/lab/tree/", "/api/contents/")
        deadline = time.monotonic() + 90
        while True:
            try:
                answer = httpx.get(contents, timeout=5)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or lab.poll() is not None:
                    raise
                time.sleep(0.3)
        assert answer.status_code == 200
        assert answer.json()["type"] == "notebook"
        assert httpx.get(url, timeout=10).status_code == 200
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait()
