"""A "service" that renames, adds and drops fields, changes a type, an enum value and a
header, and answers a status nobody documents: the calibration names each difference, and
nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from calkit import api, proxy, submit

import flowup_nb as fu
import flowup_nb.sim as simulator


def _reshape(
    method: str, path: str, status: int, headers: dict[str, str], body: Any
) -> tuple[int, dict[str, str], Any]:
    if path == "/accounts":
        headers["Retry-After"] = "30"
    elif path.startswith("/accounts/") and status == 200:
        body["refreshAt"] = body.pop("nextRefresh")  # renamed
        body["quota"] = {"daily": 5}  # added
        del body["project"]  # dropped
        if body["credits"]["userPaygateTier"] == "PAYGATE_TIER_TWO":
            body["credits"]["userPaygateTier"] = "PAYGATE_TIER_THREE"  # a new enum value
    elif path.startswith("/jobs/") and status == 200:
        body["created"] = 1767225600000  # epoch ms instead of an ISO string
    elif path == "/jobs?options=history":
        return 418, headers, {"error": "I'm a teapot", "code": 418}
    return status, headers, body


EXPECTED = {
    ("header", "GET /accounts", 200, "header retry-after", "seconds", "absent"),
    ("missing", "GET /accounts/{email}", 200, "$.refreshAt", "object", "absent"),
    ("missing", "GET /accounts/{email}", 200, "$.quota", "object", "absent"),
    ("invented", "GET /accounts/{email}", 200, "$.nextRefresh", "absent", "object"),
    ("invented", "GET /accounts/{email}", 200, "$.project", "absent", "object"),
    (
        "values",
        "GET /accounts/{email}",
        200,
        "$.credits.userPaygateTier",
        "'PAYGATE_TIER_THREE'",
        "'PAYGATE_TIER_NOT_PAID', 'PAYGATE_TIER_ONE', 'PAYGATE_TIER_TWO'",
    ),
    ("type", "GET /jobs/{jobId}", 200, "$.created", "integer", "string (iso-time)"),
    ("status", "GET /jobs?options=history", None, "", "418", "200"),
}


def test_each_difference_is_named_and_nothing_else(
    service: simulator.SimHandle,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with api(service) as client:
        job = submit(client, "/videos/upscale", {"mediaGenerationId": service.new_video_id()})
    with proxy(service, _reshape) as changed:
        monkeypatch.setenv("USEAPI_TOKEN", service.token)
        monkeypatch.setenv("FLOWUP_BASE_URL", changed.base_url)
        report = fu.calibrate(job_ids=[job], out=tmp_path / "calibration.json")

    found = {(d.kind, d.call, d.status, d.path, d.service, d.simulator) for d in report.differences}
    assert found == EXPECTED
    assert not report.ok
    printed = capsys.readouterr().out
    for difference in report.differences:
        assert str(difference) in printed
    written = json.loads((tmp_path / "calibration.json").read_text())
    assert {
        (d["kind"], d["call"], d["status"], d["path"], d["service"], d["simulator"])
        for d in written["differences"]
    } == EXPECTED


def test_the_command_exits_1_when_it_finds_differences(
    service: simulator.SimHandle,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flowup_nb.calibration import main

    with proxy(service, _reshape) as changed:
        monkeypatch.setenv("USEAPI_TOKEN", service.token)
        monkeypatch.setenv("FLOWUP_BASE_URL", changed.base_url)
        status = main(["--out", str(tmp_path / "c.json"), "--ledger", str(tmp_path / "none")])

    printed = capsys.readouterr().out
    assert status == 1
    assert "status    GET /jobs?options=history: service 418, simulator 200" in printed
