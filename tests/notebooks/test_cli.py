"""The ``flowup-nb`` command's sub-commands other than ``demo``: ``ledger`` and ``sim``."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from jupyter_process import ServerProcess
from simclient import JO, fast_settings

import flowup_nb as fu
import flowup_nb.sim as simulator
from flowup_nb.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ledger_with_calls(sim: simulator.SimHandle) -> Path:
    """The test's ledger (``FLOWUP_LEDGER``) after two upscales and a download."""
    path = Path(os.environ["FLOWUP_LEDGER"])
    with fu.FlowClient(
        sim.token, base_url=sim.base_url, ledger=fu.Ledger(path), **fast_settings()
    ) as client:
        result = client.upscale(sim.sample_ids(JO)[0], captcha_retry=5)
        client.upscale(sim.sample_ids(JO)[1], captcha_retry=5)
        client.download(result, path.parent / "video.mp4")
    return path


def test_ledger_path_names_the_file_without_making_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "path"]) == 0
    assert capsys.readouterr().out.strip() == os.environ["FLOWUP_LEDGER"]
    assert not Path(os.environ["FLOWUP_LEDGER"]).exists()


def test_ledger_path_of_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "path", "--ledger", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "ledger.sqlite")


def test_ledger_summary(ledger_with_calls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "summary"]) == 0
    out = capsys.readouterr().out
    assert f"{ledger_with_calls}: {len(fu.Ledger(ledger_with_calls))} exchanges in all" in out
    calls = re.search(r"^calls\s+(\d+)\s+(\d+)$", out, flags=re.M)
    assert calls is not None, out
    assert int(calls.group(2)) == len(fu.Ledger(ledger_with_calls))
    assert JO in out and "credits_spent" in out


def test_ledger_summary_with_a_bad_bound(
    ledger_with_calls: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ledger", "summary", "--since", "the day before"]) == 2
    assert "flowup-nb ledger summary:" in capsys.readouterr().err


def test_ledger_export_strips_signed_urls(
    ledger_with_calls: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "history.csv"
    assert main(["ledger", "export", str(target)]) == 0
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == len(fu.Ledger(ledger_with_calls))
    assert f"wrote {len(rows)} exchanges to {target}" in capsys.readouterr().out
    urls = [row["video_url"] for row in rows if row["video_url"]]
    assert urls and not any("?" in url for url in urls)


def test_ledger_export_refuses_an_unknown_type(
    ledger_with_calls: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ledger", "export", str(tmp_path / "history.txt")]) == 2
    assert ".csv" in capsys.readouterr().err
    assert not (tmp_path / "history.txt").exists()


def test_ledger_commands_on_no_ledger(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["ledger", "summary"], ["ledger", "export", "x.csv"]):
        assert main(argv) == 1
        assert "no ledger at" in capsys.readouterr().err
    assert not Path(os.environ["FLOWUP_LEDGER"]).exists()


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        [],
        ["demo"],
        ["ledger"],
        ["ledger", "summary"],
        ["ledger", "path"],
        ["calibrate"],
    ):
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--help"])
        assert exit_.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: flowup-nb {' '.join(argv)}".strip())


def test_no_command_shows_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert re.search(r"demo .*\n\s+sim .*\n\s+ledger ", capsys.readouterr().out)


def test_unknown_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["ledger", "path", "--bogus"])
    assert exit_.value.code == 2
    assert "--bogus" in capsys.readouterr().err


def test_sim_runs_the_simulator(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "flowup_nb", "sim", "--seed", "7", "--time-scale", "0.01"]
    with ServerProcess(command, cwd=tmp_path, env=env) as server:
        base_url = server.wait_for(r"base URL:\s+(\S+)").group(1)
        token = server.wait_for(r"token:\s+(\S+)").group(1)
        assert "seed 7" in server.output
        accounts = httpx.get(
            f"{base_url}/accounts", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert accounts.status_code == 200
        assert JO in accounts.text
        server.process.terminate()
        assert server.process.wait(timeout=30) == 0


def test_python_m_flowup_nb_is_the_command(tmp_path: Path) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "flowup_nb", "--help"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0 and shown.stdout.startswith("usage: flowup-nb")
