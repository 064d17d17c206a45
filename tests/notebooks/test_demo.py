"""`make demo`: JupyterLab opens on the quickstart; `--script` walks through an upscale."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from jupyter_process import RUNNING, ServerProcess
from mp4probe import probe_mp4

import flowup_nb as fu
import flowup_nb.sim as simulator
from flowup_nb.bundled import QUICKSTART, copy_notebooks, notebooks_dir

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
    folder = tmp_path / "flowup-notebooks"
    folder.mkdir()
    edited = folder / "02_cost_latency_analysis.ipynb"
    edited.write_text('{"my": "edits"}')
    with ServerProcess(
        [sys.executable, "-m", "flowup_nb.demo", "--no-browser"], cwd=tmp_path, env=env
    ) as lab:
        url = lab.wait_for(r"JupyterLab on (http://127\.0\.0\.1:\d+/lab/tree/\S+)").group(1)
        lab.wait_for(RUNNING)
        assert "embedded simulator" in lab.output
        assert f"kept your {edited}: it differs from the bundled one" in lab.output
        assert "01_quickstart.ipynb" in url
        answer = httpx.get(url.replace("/lab/tree/", "/api/contents/"), timeout=30)
        assert answer.status_code == 200
        assert answer.json()["type"] == "notebook"
        assert httpx.get(url, timeout=30).status_code == 200
    assert edited.read_text() == '{"my": "edits"}'
    assert (folder / QUICKSTART).read_bytes() == (ROOT / "notebooks" / QUICKSTART).read_bytes()


# -- copying the notebooks where the user works ------------------------------------------


def test_the_checkout_provides_the_notebooks() -> None:
    assert notebooks_dir() == ROOT / "notebooks"


def test_copy_never_replaces_a_file_of_the_user(tmp_path: Path) -> None:
    source = ROOT / "notebooks"
    names = sorted(path.name for path in source.glob("*.ipynb"))
    first = copy_notebooks(source, tmp_path / "mine")
    assert first.copied == names and first.kept == first.unchanged == []
    assert first.lines() == [f"copied {', '.join(names)} into {tmp_path / 'mine'}"]

    (tmp_path / "mine" / names[0]).write_text("my edits")
    (tmp_path / "mine" / names[1]).unlink()
    again = copy_notebooks(source, tmp_path / "mine")
    assert again.kept == [names[0]]
    assert again.copied == [names[1]]
    assert again.unchanged == names[2:]
    assert (tmp_path / "mine" / names[0]).read_text() == "my edits"
    assert any(
        line.startswith(f"kept your {tmp_path / 'mine' / names[0]}") for line in again.lines()
    )


def test_copy_onto_the_notebooks_themselves_changes_nothing() -> None:
    source = ROOT / "notebooks"
    before = {path.name: path.read_bytes() for path in source.glob("*.ipynb")}
    report = copy_notebooks(source, source)
    assert report.in_place and report.lines() == [f"the notebooks where they are: {source}"]
    assert report.copied == report.kept == []
    assert sorted(report.unchanged) == sorted(before)
    assert {path.name: path.read_bytes() for path in source.glob("*.ipynb")} == before


def test_demo_refuses_a_file_as_its_folder(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "flowup_nb.demo", "--no-browser", "taken"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "is a file" in done.stderr
