"""Nothing secret or identifying leaves in the calibration file or the printed output:
a "service" plants the token, a cookie, an access token, an email and a signed URL in
every answer (as fields, map keys, an enum-like value and a Set-Cookie header)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from calkit import api, proxy, submit

import flowup_nb as fu
import flowup_nb.sim as simulator

COOKIE = "cf_bm9Xq2LrT7vZp4Ks8Wd1Ny6Hb3Jc5Mg0"
ACCESS_TOKEN = "ya29.a0AfB_byC7k2Lm9Qx4Rt8Vw1Zy3Np6Hs5Jd0Fg"
EMAIL = "private.person@gmail.com"
SIGNATURE = "Zk3xQ9pL2mN8vR4tW7yB1cD6fG0hJ5sA"
SIGNED_URL = f"https://storage.googleapis.com/flow/v.mp4?Expires=1767225600&Signature={SIGNATURE}"


def _plant(token: str):
    def plant(
        method: str, path: str, status: int, headers: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        headers["Set-Cookie"] = f"__session={COOKIE}; Path=/; HttpOnly; Secure"
        if isinstance(body, dict):
            body.update(
                cookie=f"__session={COOKIE}",
                access_token=ACCESS_TOKEN,
                contact=EMAIL,
                download=SIGNED_URL,
                echo=token,
                # An enum-like field: recorded, so it must come out scrubbed.
                reason=f"{token} {EMAIL} {SIGNED_URL} {ACCESS_TOKEN} {COOKIE}",
            )
            body[EMAIL] = {"token": token}
            body[SIGNED_URL] = 1
        return status, headers, body

    return plant


def test_no_token_cookie_access_token_email_or_url_is_written_or_printed(
    service: simulator.SimHandle,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = service.new_video_id()
    with api(service) as client:
        job = submit(client, "/videos/upscale", {"mediaGenerationId": service.new_video_id()})
    with proxy(service, _plant(service.token)) as planted:
        monkeypatch.setenv("USEAPI_TOKEN", service.token)
        monkeypatch.setenv("FLOWUP_BASE_URL", planted.base_url)
        report = fu.calibrate(upscale=source, job_ids=[job], out=tmp_path / "calibration.json")

    written = (tmp_path / "calibration.json").read_text()
    printed = capsys.readouterr()
    for text in (written, printed.out, printed.err, repr(report), str(report)):
        for secret in (
            service.token,
            COOKIE,
            ACCESS_TOKEN,
            EMAIL,
            SIGNED_URL,
            SIGNATURE,
            "storage.googleapis.com",
            job,
            source,
        ):
            assert secret not in text
        # Nor any of the simulator's own emails, ids and URLs.
        assert "@" not in text.replace('"@type"', "")
        assert not re.search(r"https?://", text)
        assert "user:" not in text and "email:" not in text
        assert service.base_url not in text and planted.base_url not in text

    # The planted fields are still described (by type), so the redaction hid values, not
    # the shape: the diff names them as fields the simulator lacks.
    data = json.loads(written)
    missing = {(d["call"], d["path"]) for d in data["differences"] if d["kind"] == "missing"}
    for field in ("cookie", "access_token", "contact", "download", "echo", "<email>", "<url>"):
        assert ("GET /accounts/{email}", f"$.{field}") in missing
    reasons = data["service"]["calls"][0]["shape"]["keys"]["reason"]["values"]
    assert reasons == ["<token> <email> <url> <secret> <secret>"]
    assert data["service"]["calls"][0]["headers"]["set-cookie"] == "present"


def test_the_report_object_keeps_no_answer_body_either(
    service: simulator.SimHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USEAPI_TOKEN", service.token)
    monkeypatch.setenv("FLOWUP_BASE_URL", service.base_url)

    report = fu.calibrate(out=None, echo=False)

    assert report.service and report.simulator
    assert all(answer.raw is None for answer in (*report.service, *report.simulator))
    assert "@" not in json.dumps([a.record() for a in report.service]).replace('"@type"', "")
