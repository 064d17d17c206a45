"""The quickstart in the two front ends most people use, driven in Debian's chromium as a
person would: JupyterLab (as `make demo` and `flowup-nb demo` open it) and Notebook 7.

Each opens the quickstart, runs all cells from the Run menu, checks that no cell shows an
error, presses Upscale, and reads off the page that the upscaled video decoded a frame
1920 pixels wide and that the ledger view counted the new exchanges.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jupyter_process import RUNNING, ServerProcess
from pages import (
    ARTIFACTS,
    PAGE_READY_MS,
    ROOT,
    UPSCALE_MS,
    decoded_width,
    ledger_exchanges,
    wait_for_more_exchanges,
)

from flowup_nb.bundled import QUICKSTART, copy_notebooks
from flowup_nb.sim import SimHandle

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Served:
    url: str  # the quickstart, token included
    server: ServerProcess


def _jupyter_env(tmp_path: Path, api: SimHandle) -> dict[str, str]:
    """The kernel talks to ``api``; Jupyter reads only the test's own configuration."""
    config = tmp_path / "jupyter-config"
    (config / "labconfig").mkdir(parents=True)
    # Both front ends lend their application object to the page, so the test can read
    # each cell's outputs from the notebook model rather than guess them from the DOM.
    exposed = {"expose_app_in_browser": True}
    (config / "jupyter_lab_config.json").write_text(json.dumps({"LabApp": exposed}))
    (config / "jupyter_notebook_config.json").write_text(
        json.dumps({"JupyterNotebookApp": exposed})
    )
    # No "get notified about Jupyter news?" toast over the page (it asks the network).
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = dict(os.environ)
    env["USEAPI_TOKEN"] = api.token
    env["FLOWUP_BASE_URL"] = api.base_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["JUPYTER_CONFIG_DIR"] = str(config)
    return env


@pytest.fixture
def jupyterlab(tmp_path: Path, api: SimHandle) -> Iterator[Served]:
    """JupyterLab as the demo opens it, on a copy of the notebooks in a temporary folder."""
    command = [sys.executable, "-m", "flowup_nb.demo", "--no-browser", str(tmp_path / "nb")]
    with ServerProcess(command, cwd=tmp_path, env=_jupyter_env(tmp_path, api)) as server:
        url = server.wait_for(r"JupyterLab on (http://127\.0\.0\.1:\d+/lab/tree/\S+)").group(1)
        server.wait_for(RUNNING)
        yield Served(url, server)


@pytest.fixture
def notebook7(tmp_path: Path, api: SimHandle) -> Iterator[Served]:
    """Notebook 7 (`jupyter notebook`) on a copy of the notebooks in a temporary folder."""
    folder = tmp_path / "nb"
    copy_notebooks(ROOT / "notebooks", folder)
    token = secrets.token_urlsafe(24)
    command = [
        sys.executable,
        "-m",
        "notebook",
        "--no-browser",
        f"--ServerApp.root_dir={folder}",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0",
        f"--IdentityProvider.token={token}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    with ServerProcess(command, cwd=tmp_path, env=_jupyter_env(tmp_path, api)) as server:
        server.wait_for(RUNNING)
        base = server.wait_for(r"(http://127\.0\.0\.1:\d+)/tree").group(1)
        yield Served(f"{base}/notebooks/{QUICKSTART}?token={token}", server)


def test_jupyterlab_runs_the_quickstart(jupyterlab: Served, chromium: Any) -> None:
    _run_the_quickstart(chromium, jupyterlab, "quickstart-jupyterlab.png")


# Notebook 7.6's own keyboard-shortcut settings code throws this on every page it serves,
# its file browser included, with no notebook open: not something the quickstart causes.
NOTEBOOK7_OWN_ERROR = "Cannot read properties of undefined (reading 'schema')"


def test_notebook7_runs_the_quickstart(notebook7: Served, chromium: Any) -> None:
    _run_the_quickstart(
        chromium, notebook7, "quickstart-notebook7.png", tolerated=(NOTEBOOK7_OWN_ERROR,)
    )


def _run_the_quickstart(
    chromium: Any, served: Served, screenshot: str, *, tolerated: tuple[str, ...] = ()
) -> None:
    page = chromium.new_page(viewport={"width": 1280, "height": 1100})
    failures: list[str] = []
    page.on(
        "pageerror",
        lambda error: None if str(error) in tolerated else failures.append(str(error)),
    )
    page.goto(served.url, timeout=PAGE_READY_MS)
    page.wait_for_function(
        """(name) => {
            const panel = window.jupyterapp?.shell.currentWidget;
            return panel?.context?.path === name && panel.sessionContext.session?.kernel != null;
        }""",
        arg=QUICKSTART,
        timeout=PAGE_READY_MS,
    )

    # Run > Run All Cells, as a person would.
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const cells = Array.from(panel.content.model.cells).filter((c) => c.type === "code");
            return panel.sessionContext.session?.kernel?.status === "idle"
                && cells.every((c) => c.executionCount !== null);
        }""",
        timeout=UPSCALE_MS,
    )
    outputs = page.evaluate(
        """() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)
            .filter((c) => c.type === "code")
            .map((c) => c.outputs.toJSON())"""
    )
    problems = [
        output
        for cell in outputs
        for output in cell
        if output["output_type"] == "error"
        or (output.get("name") == "stderr" and "Traceback" in "".join(output["text"]))
    ]
    assert not problems, json.dumps(problems, indent=1)[:4000]
    assert len(outputs) >= 6 and all(outputs), "every code cell of the quickstart shows something"

    page.wait_for_selector(".flowup-ledger-counts-line", state="attached", timeout=PAGE_READY_MS)
    before = ledger_exchanges(page)
    assert page.locator(".flowup-badge").first.inner_text() == "SIMULATOR"
    assert page.locator(".flowup-errorbox").count() == 0

    page.locator("button.flowup-upscale").click()
    page.wait_for_selector('.flowup-status-line[data-phase="completed"]', timeout=UPSCALE_MS)
    assert decoded_width(page, "1080p") == 1920
    assert page.locator(".flowup-errorbox").count() == 0
    assert wait_for_more_exchanges(page, than=before) > before

    ARTIFACTS.mkdir(exist_ok=True)
    # The whole form in view, from its title down to the video.
    page.locator(".flowup-form").first.evaluate("form => form.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(ARTIFACTS / screenshot))
    assert not failures, failures
    assert "Traceback" not in served.server.output
