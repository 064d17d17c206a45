"""The handle's contract (docs/simulator.md): start, stop, ground truth, the CLI."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from simkit import api

import flowup_nb.sim as simulator

JO = "jo.ultra@example.com"
ROOT = Path(__file__).resolve().parents[2]

DOC_ACCOUNTS = [
    {"email": "jo.ultra@example.com", "tier": "ultra", "credits": 18760,
     "providers": ["CapSolver", "AntiCaptcha", "2Captcha"]},
    {"email": "pat.pro@example.com", "tier": "pro", "credits": 1000,
     "providers": ["AntiCaptcha", "SolveCaptcha"]},
    {"email": "sam.ultra@example.com", "tier": "ultra", "credits": 2500,
     "providers": ["CapSolver", "YesCaptcha", "EzCaptcha", "CapMonster"]},
    {"email": "lee.free@example.com", "tier": "free", "credits": 0, "providers": ["CapSolver"]},
]  # fmt: skip

STATS_KEYS = {
    "requests", "responses", "jobs_created", "upscale_submissions", "cache_hits",
    "credits_charged", "captcha_attempts", "webhooks_sent", "media_requests",
    "media_requests_with_authorization", "faults_injected",
}  # fmt: skip


def test_handle_basics_and_token_never_in_repr(sim: simulator.SimHandle):
    assert sim.base_url.startswith("http://127.0.0.1:") and sim.base_url.endswith("/v1/google-flow")
    assert sim.media_base.startswith("http://127.0.0.1:")
    assert sim.media_base.split(":")[2] != sim.base_url.split(":")[2].split("/")[0]
    assert sim.token and sim.token not in repr(sim) and sim.token not in str(sim)
    assert set(sim.stats()) >= STATS_KEYS


def test_accounts_are_the_documented_table(sim):
    accounts = sim.accounts
    assert [
        {k: a[k] for k in ("email", "tier", "credits", "providers")} for a in accounts
    ] == DOC_ACCOUNTS
    for account in accounts:
        assert account["user_id"].isdigit()


def test_sample_and_new_ids_encode_the_email_in_hex(sim):
    ids = sim.sample_ids()
    assert len(ids) >= 6
    for email in ("jo.ultra@example.com", "pat.pro@example.com", "sam.ultra@example.com"):
        own = sim.sample_ids(email)
        assert len(own) >= 2 and set(own) <= set(ids)
        assert all(f"-email:{email.encode().hex()}-video:" in i for i in own)
    fresh = sim.new_video_id("pat.pro@example.com")
    assert fresh.startswith("user:") and fresh not in ids
    with pytest.raises(KeyError, match="no simulated account"):
        sim.sample_ids("nobody@example.com")
    with api(sim) as client:
        response = client.post(
            "/videos/upscale", json={"mediaGenerationId": fresh, "captchaToken": "t" * 30}
        )
    assert response.status_code == 200


def test_stop_closes_the_ports_and_is_idempotent():
    s = simulator.start(seed=1, time_scale=0)
    url = s.base_url
    with api(s) as client:
        assert client.get(f"/accounts/{JO}").status_code == 200
    s.stop()
    s.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + f"/accounts/{JO}", headers={"Authorization": f"Bearer {s.token}"})
    assert "stopped" in repr(s)


def test_time_scale_zero_is_instant_and_still_times_out_slow_jobs():
    with (
        simulator.start(seed=1, time_scale=0, fail_rate=0, captcha_acceptance=1.0) as s,
        api(s) as client,
    ):
        body = client.post(
            "/videos/upscale", json={"mediaGenerationId": s.sample_ids(JO)[0], "resolution": "4K"}
        )
        assert body.status_code == 200 and body.json()["captcha"]["durationMs"] == 0
        s.inject("upscale", "slow_job")
        slow = client.post("/videos/upscale", json={"mediaGenerationId": s.sample_ids(JO)[1]})
        assert slow.status_code == 408
        # URLs keep a usable lifetime even at time_scale 0.
        assert httpx.get(body.json()["media"][0]["videoUrl"]).status_code == 200


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"time_scale": -1}, "time_scale"),
        ({"time_scale": float("nan")}, "time_scale"),
        ({"fail_rate": 1.5}, "fail_rate"),
        ({"concurrency": {"gold": 3}}, "concurrency"),
        ({"concurrency": {"ultra": 0}}, "concurrency"),
        ({"captcha_acceptance": 2}, "captcha_acceptance"),
        ({"captcha_acceptance": {"NoSuch": 0.5}}, "unknown provider"),
    ],
)
def test_bad_settings_are_refused_with_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulator.start(**kwargs)


def test_parallel_requests_are_thread_safe():
    with simulator.start(seed=21, time_scale=0.0005, fail_rate=0, captcha_acceptance=1.0,
                         concurrency={"ultra": 16}) as s:  # fmt: skip
        sources = [s.new_video_id(JO) for _ in range(12)]
        results: list[int] = []

        def work(source: str) -> None:
            with api(s) as client:
                r = client.post(
                    "/videos/upscale", json={"mediaGenerationId": source, "resolution": "4K"}
                )
                results.append(r.status_code)

        threads = [threading.Thread(target=work, args=(src,)) for src in sources]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200] * 12
        assert [a["credits"] for a in s.accounts if a["email"] == JO] == [18760 - 12 * 50]
        assert s.stats()["jobs_by_status"] == {"completed": 12}
        assert s.state.accounts[JO].held == 0 and s.state.reserved[JO] == 0


def test_cli_prints_base_url_and_token_then_serves(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowup_nb.sim",
            "--port",
            "0",
            "--seed",
            "7",
            "--time-scale",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = {}
        for _ in range(10):
            line = proc.stdout.readline()
            if ":" in line:
                key, _, value = line.partition(":")
                lines[key.strip()] = value.strip()
            if "token" in lines:
                break
        base, token = lines["base URL"], lines["token"]
        with simulator.start(seed=7, time_scale=0) as same_seed:
            assert token == same_seed.token  # deterministic for the seed
        response = httpx.get(f"{base}/accounts/{JO}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.json()["credits"]["credits"] == 18760
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
        proc.stderr.close()


def test_the_simulator_is_independent_of_the_client():
    """An independent oracle: nothing under flowup_nb/sim imports flowup_nb.api."""
    for source in (ROOT / "flowup_nb" / "sim").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            assert not any(n.startswith("flowup_nb.api") for n in names), (source, names)
    code = (
        "import sys, flowup_nb.sim as s; s.start(time_scale=0).stop(); "
        "print(any(m.startswith('flowup_nb.api') for m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
