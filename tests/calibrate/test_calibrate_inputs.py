"""What the calibration refuses before sending anything (counted at the server), and where
it finds job ids when none are given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from calkit import MutatingProxy, proxy

import flowup_nb as fu
import flowup_nb.sim as simulator
from flowup_nb.calibration.ledger_ids import recent_job_ids

ROOT = Path(__file__).resolve().parents[2]
JO = "jo.ultra@example.com"


@pytest.fixture
def counted(
    service: simulator.SimHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MutatingProxy]:
    """The service behind a proxy that counts every request it receives."""
    with proxy(service) as p:
        monkeypatch.setenv("USEAPI_TOKEN", service.token)
        monkeypatch.setenv("FLOWUP_BASE_URL", p.base_url)
        yield p


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"resolution": "4K"}, "a 4K upscale costs 50"),
        ({"resolution": "4k"}, "a 4K upscale costs 50"),
        ({"resolution": "2160p"}, "a 4K upscale costs 50"),
        ({"resolution": "720p"}, "1080p' only"),
        ({"generate": "a cat surfing"}, "never generates"),
    ],
)
def test_spending_is_refused_before_any_request(
    counted: MutatingProxy, service: simulator.SimHandle, tmp_path, kwargs, says
) -> None:
    with pytest.raises(fu.InputError, match=says):
        fu.calibrate(upscale=service.sample_ids(JO)[0], out=tmp_path / "c.json", **kwargs)
    assert counted.requests == []
    assert sum(service.stats()["requests"].values()) == 0
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"upscale": "user:1-email:6a6f-image:abc"}, "is an image id"),
        ({"upscale": "j1737312345678v-u1-email:a@b.co-bot:google-flow"}, "looks like a job id"),
        ({"job_ids": ["j1737312345678v%2Du1"]}, "percent-encoded"),
        ({"job_ids": "j1737312345678v-u1-email:a@b.co-bot:google-flow"}, "list of job ids"),
        ({"out": "/no/such/folder/c.json"}, "does not exist"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    counted: MutatingProxy, service: simulator.SimHandle, kwargs, says
) -> None:
    with pytest.raises(fu.InputError, match=says):
        fu.calibrate(**kwargs)
    assert counted.requests == []
    assert sum(service.stats()["requests"].values()) == 0


def test_without_a_token_it_says_how_to_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(fu.MissingTokenError, match="USEAPI_TOKEN"):
        fu.calibrate(out=None)


@pytest.mark.parametrize(
    "extra", [["--resolution", "4K"], ["--generate", "a cat surfing"]], ids=["4K", "generate"]
)
def test_the_command_refuses_spending_with_exit_2_and_sends_nothing(
    counted: MutatingProxy, service: simulator.SimHandle, tmp_path, extra: list[str]
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowup_nb.calibrate",
            "--upscale",
            service.sample_ids(JO)[0],
            "--out",
            str(tmp_path / "c.json"),
            *extra,
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "credits" in done.stderr
    assert service.token not in done.stderr + done.stdout
    assert counted.requests == []
    assert not (tmp_path / "c.json").exists()


def test_job_ids_come_from_the_ledger_of_the_services_accounts(
    service: simulator.SimHandle, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    ledger_file = tmp_path / "ledger.sqlite"
    with fu.FlowClient(
        service.token, base_url=service.base_url, ledger=fu.Ledger(ledger_file)
    ) as client:
        upscaled = client.upscale(service.new_video_id())
    assert upscaled.job_id
    # A job of another simulator in the same ledger: not one of this service's accounts.
    with (
        simulator.start(seed=2, time_scale=0.001, fail_rate=0.0, captcha_acceptance=1.0) as other,
        fu.FlowClient(other.token, base_url=other.base_url, ledger=fu.Ledger(ledger_file)) as c,
    ):
        c.upscale(other.new_video_id("pat.pro@example.com"))

    # Ask as the service with only JO's account listed, so the ledger's other job is left out.
    def only_jo(method, path, status, headers, body):
        if path == "/accounts":
            body = {JO: body[JO]}
        return status, headers, body

    with proxy(service, only_jo) as p:
        monkeypatch.setenv("USEAPI_TOKEN", service.token)
        monkeypatch.setenv("FLOWUP_BASE_URL", p.base_url)
        report = fu.calibrate(ledger=ledger_file, out=None, echo=False)
        asked = [path for method, path in p.requests if path.startswith("/v1/google-flow/jobs/")]

    assert asked == [f"/v1/google-flow/jobs/{upscaled.job_id}"]
    assert "1 recent job id(s) from the ledger" in report.notes
    assert report.ok, [str(d) for d in report.differences]


def test_a_ledger_that_is_not_sqlite_gives_no_ids_and_says_so(tmp_path) -> None:
    text = tmp_path / "ledger.sqlite"
    text.write_text(json.dumps({"not": "a database"}))
    assert recent_job_ids(text, [JO]) == (
        [],
        "the ledger file is not a SQLite database: no job ids from it",
    )
    assert recent_job_ids(tmp_path / "missing.sqlite", [JO])[0] == []
