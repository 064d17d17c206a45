"""The pip way in: build the wheel, install it in a fresh virtual environment outside the
checkout, and use the ``flowup-nb`` command from an empty folder as a new user would.

The fresh environment gets only our wheel; the libraries it needs (httpx, pandas,
JupyterLab, ...) come from the test's own environment through a ``.pth`` line, so that the
test needs no network. Nothing of the checkout is on its path: the notebooks and the
command must come from the wheel itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jupyter_process import RUNNING, ServerProcess
from mp4probe import probe_mp4

import flowup_nb as fu

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(path.name for path in (ROOT / "notebooks").glob("*.ipynb"))


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv (outside the checkout) with the wheel installed; yields its bin/."""
    base = tmp_path_factory.mktemp("pip-way")
    dist = base / "dist"
    # No build isolation: hatchling comes with the test extra, so no download is needed.
    offline = ["--no-deps", "--no-build-isolation", "--wheel-dir", str(dist)]
    built = _run([sys.executable, "-m", "pip", "wheel", *offline, str(ROOT)], timeout=240)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("flowup_nb-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {f"flowup_nb/notebooks/{name}" for name in NOTEBOOKS} <= names
    assert not any(".ipynb_checkpoints" in name for name in names)

    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], timeout=240)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    # The dependencies, already installed here; a plain path line, so none of this
    # environment's own .pth files (the editable install of the checkout) take effect.
    Path(site.stdout.strip(), "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = _run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], timeout=240
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    yield venv / "bin"


@pytest.fixture
def empty_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def _user_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """A shell that activated the fresh venv: none of the checkout on any path."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.pop("USEAPI_TOKEN", None)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    env.update(extra)
    return env


def test_the_package_comes_from_the_wheel(installed: Path, empty_folder: Path) -> None:
    where = _run(
        [str(installed / "python"), "-c", "import flowup_nb.bundled as b; print(b.__file__)"],
        cwd=empty_folder,
        env=_user_env(installed),
    )
    assert where.returncode == 0, where.stderr
    module = Path(where.stdout.strip())
    assert installed.parent in module.parents and ROOT not in module.parents


def test_help_and_ledger_path(installed: Path, empty_folder: Path) -> None:
    command = str(installed / "flowup-nb")
    env = _user_env(installed)
    for argv in ([], ["demo"], ["ledger"], ["ledger", "export"], ["sim"]):
        shown = _run([command, *argv, "--help"], cwd=empty_folder, env=env, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith("usage:")
    top = _run([command, "--help"], cwd=empty_folder, env=env).stdout
    assert {"demo", "sim", "ledger"} <= set(re.findall(r"^    (\w+) ", top, flags=re.M))

    path = _run([command, "ledger", "path"], cwd=empty_folder, env=env, timeout=60)
    assert path.returncode == 0, path.stderr
    assert path.stdout.strip() == env["FLOWUP_LEDGER"]
    assert not Path(env["FLOWUP_LEDGER"]).exists()  # asking where it is creates nothing


def test_demo_script_from_an_empty_folder(installed: Path, empty_folder: Path) -> None:
    env = _user_env(installed, FLOWUP_SIM_SEED="11", FLOWUP_SIM_TIME_SCALE="0.01")
    done = _run(
        [str(installed / "flowup-nb"), "demo", "--script"],
        cwd=empty_folder,
        env=env,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    steps = re.findall(r"^ ?\d+\. (\w+):", done.stdout, flags=re.M)
    assert steps == [
        "connected",
        "picked",
        "upscaled",
        "downloaded",
        "submitted",
        "done",
        "saved",
        "ledger",
    ]
    assert "embedded simulator" in done.stdout
    assert probe_mp4(empty_folder / "flowup-demo" / "upscaled-1080p.mp4").width == 1920

    summary = _run(
        [str(installed / "flowup-nb"), "ledger", "summary"], cwd=empty_folder, env=env, timeout=60
    )
    assert summary.returncode == 0, summary.stderr
    rows = int(re.search(r"(\d+) exchanges in all", summary.stdout).group(1))
    recorded = fu.Ledger(env["FLOWUP_LEDGER"]).frame()
    assert rows == len(recorded)
    assert set(recorded["operation"]) >= {"upscale", "download", "submit_upscale", "get_job"}


def test_demo_serves_the_quickstart_from_an_empty_folder(
    installed: Path, empty_folder: Path, tmp_path: Path
) -> None:
    env = _user_env(installed, JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"))
    with ServerProcess(
        [str(installed / "flowup-nb"), "demo", "--no-browser"], cwd=empty_folder, env=env
    ) as lab:
        url = lab.wait_for(r"JupyterLab on (http://127\.0\.0\.1:\d+/lab/tree/\S+)").group(1)
        lab.wait_for(RUNNING)
        output = lab.output
        assert "embedded simulator" in output
        folder = empty_folder / "flowup-notebooks"
        assert f"copied {', '.join(NOTEBOOKS)} into {folder}" in output
        assert sorted(path.name for path in folder.iterdir()) == NOTEBOOKS

        contents = url.replace("/lab/tree/", "/api/contents/")
        answer = httpx.get(contents, timeout=30)
        assert answer.status_code == 200
        served = answer.json()
        assert served["type"] == "notebook" and served["name"] == "01_quickstart.ipynb"
        bundled = json.loads((ROOT / "notebooks" / "01_quickstart.ipynb").read_text())
        assert [cell["source"] for cell in served["content"]["cells"]] == [
            "".join(cell["source"]) for cell in bundled["cells"]
        ]
        # Without the token the server refuses: the printed URL is the way in.
        assert httpx.get(contents.split("?")[0], timeout=30).status_code == 403
