"""Calibrating the simulator against a simulator: every call, in every situation the twin
run mirrors, answers with the same shapes, so the diff is empty."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from calkit import api, submit, wait_for

import flowup_nb as fu
import flowup_nb.sim as simulator

JO, PAT, SAM = "jo.ultra@example.com", "pat.pro@example.com", "sam.ultra@example.com"
NEVER_ISSUED = "j1700000000000v-u999-email:nobody@example.com-bot:google-flow"


def _terminal(status: str) -> bool:
    return status in ("completed", "failed")


def test_the_diff_of_the_simulator_against_itself_is_empty_in_every_situation(
    service: simulator.SimHandle,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with api(service) as client:
        expired = submit(client, "/videos/upscale", {"mediaGenerationId": service.new_video_id()})
        service.advance(service.job_retention_seconds + 1)
        # As the toolkit submits: async, with a replyRef and a captcha option.
        completed = submit(
            client,
            "/videos/upscale",
            {
                "mediaGenerationId": service.new_video_id(),
                "async": True,
                "replyRef": "row-1",
                "captchaRetry": 5,
            },
        )
        wait_for(client, completed, _terminal)
        service.inject("upscale", "job_fail")
        failed = submit(
            client, "/videos/upscale", {"mediaGenerationId": service.new_video_id(), "async": True}
        )
        wait_for(client, failed, _terminal)
        service.inject("upscale", "slow_job")
        running = submit(
            client,
            "/videos/upscale",
            {"mediaGenerationId": service.new_video_id(SAM), "async": True},
        )
        wait_for(client, running, lambda status: status == "started")
        already_upscaled = service.new_video_id()
        submit(client, "/videos/upscale", {"mediaGenerationId": already_upscaled})
    service.set_health(PAT, "Session expired: sign in again")
    monkeypatch.setenv("USEAPI_TOKEN", service.token)
    monkeypatch.setenv("FLOWUP_BASE_URL", service.base_url)
    before = service.stats()

    report = fu.calibrate(
        upscale=already_upscaled,
        job_ids=[expired, completed, failed, running, NEVER_ISSUED],
        out=tmp_path / "calibration.json",
    )

    printed = capsys.readouterr().out
    assert [str(d) for d in report.differences] == []
    assert report.ok and "No differences" in printed
    written = json.loads((tmp_path / "calibration.json").read_text())
    assert written["differences"] == []
    calls = written["service"]["calls"]
    # Every situation was met, so the empty diff covers each of them.
    lookups = [c for c in calls if c["call"] == "GET /jobs/{jobId}"]
    assert sorted(c["status"] for c in lookups) == [200, 200, 200, 200, 404, 410]
    records = Counter(c["situation"]["record"] for c in lookups if c["status"] == 200)
    assert records == {"completed": 2, "failed": 1, "started": 1}
    assert [c["situation"] for c in calls if c["call"] == "POST /videos/upscale"] == [
        {"cached": True}
    ]
    health = [c["situation"]["healthy"] for c in calls if c["call"] == "GET /accounts/{email}"]
    assert sorted(health) == [False, True, True, True]
    assert len(written["simulator"]["calls"]) == len(calls)
    # Read-only, plus the one free upscale asked for: nothing generated, nothing charged.
    after = service.stats()
    sent = Counter(after["requests"]) - Counter(before["requests"])
    assert sent == {"accounts": 5, "upscale": 1, "job_stats": 3, "jobs": 6}
    assert after["credits_charged"] == before["credits_charged"]
    assert after["generations"] == before["generations"]


def test_the_command_against_a_second_simulator_finds_nothing_and_exits_0(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowup_nb.calibration import main

    status = main(["--against-sim", "--out", str(tmp_path / "self.json")])

    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "No differences" in printed
    written = json.loads((tmp_path / "self.json").read_text())
    assert written["service"]["target"] == "simulator"
    assert written["differences"] == []
    assert {c["call"] for c in written["service"]["calls"]} == {
        "GET /accounts",
        "GET /accounts/{email}",
        "POST /videos/upscale",
        "GET /jobs?options=summary",
        "GET /jobs?options=executing",
        "GET /jobs?options=history",
        "GET /jobs/{jobId}",
    }


def test_documented_error_answers_are_mirrored_so_only_their_shapes_are_compared(
    service: simulator.SimHandle, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    with api(service) as client:
        job = submit(client, "/videos/upscale", {"mediaGenerationId": service.new_video_id()})
    service.inject("upscale", "402")
    service.inject("job_stats", "503_unavailable")
    service.inject("jobs", "596_reconnect")
    monkeypatch.setenv("USEAPI_TOKEN", service.token)
    monkeypatch.setenv("FLOWUP_BASE_URL", service.base_url)

    report = fu.calibrate(
        upscale=service.new_video_id(), job_ids=[job], out=tmp_path / "c.json", echo=False
    )

    statuses = [(a.call, a.status) for a in report.service]
    assert ("POST /videos/upscale", 402) in statuses
    assert ("GET /jobs?options=summary", 503) in statuses
    assert ("GET /jobs/{jobId}", 596) in statuses
    assert [(a.call, a.status) for a in report.simulator] == statuses
    assert [str(d) for d in report.differences] == []
