"""End to end in a real browser: Voila serves the quickstart notebook on loopback,
Debian's chromium (driven by Playwright) presses Upscale, and the page itself says the
upscaled video decoded at 1920 and then 3840 pixels wide, and the ledger view moved."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pages import ARTIFACTS, PAGE_READY_MS, ROOT, UPSCALE_MS, decoded_width, ledger_exchanges

from flowup_nb.sim import SimHandle

pytestmark = pytest.mark.browser

NOTEBOOK = ROOT / "notebooks" / "01_quickstart.ipynb"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def voila(tmp_path: Path, api: SimHandle) -> Iterator[str]:
    """Voila serving the quickstart on 127.0.0.1; its kernel uses ``api`` as the service."""
    port = _free_port()
    env = dict(os.environ)
    env["USEAPI_TOKEN"] = api.token
    env["FLOWUP_BASE_URL"] = api.base_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")  # no user config
    log_path = tmp_path / "voila.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voila",
                str(NOTEBOOK),
                "--no-browser",
                f"--port={port}",
                "--Voila.ip=127.0.0.1",
                "--show_tracebacks=True",
            ],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            # Wait for the port only: every GET of the page starts a kernel and runs the
            # notebook, so probing with requests would start kernels.
            _wait_for_port(port, server, log_path)
            yield f"http://127.0.0.1:{port}/"
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_for_port(port: int, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"voila exited early:\n{log_path.read_text()[-3000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"voila did not listen on {port}:\n{log_path.read_text()[-3000:]}")


def _screenshot_whole_page(page, path: Path) -> None:
    """Voila scrolls inside a container, not the body: grow the viewport to its height."""
    height = page.evaluate(
        """() => Math.max(document.documentElement.scrollHeight,
            ...Array.from(document.querySelectorAll('*'), (el) => el.scrollHeight))"""
    )
    page.set_viewport_size({"width": 1280, "height": min(int(height) + 40, 12000)})
    page.wait_for_timeout(300)  # let the layout settle at the new size
    page.screenshot(path=str(path), full_page=True)


def test_upscale_in_the_browser_plays_the_video(voila: str, chromium: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    page.goto(voila, timeout=PAGE_READY_MS)
    upscale = page.locator("button.flowup-upscale")
    upscale.wait_for(state="visible", timeout=PAGE_READY_MS)
    page.wait_for_selector(".flowup-ledger-counts-line", timeout=PAGE_READY_MS)
    before = ledger_exchanges(page)
    assert page.locator(".flowup-badge").inner_text() == "SIMULATOR"

    # 1080p, the form's default.
    upscale.click()
    page.wait_for_selector('.flowup-status-line[data-phase="completed"]', timeout=UPSCALE_MS)
    assert decoded_width(page, "1080p") == 1920

    # Then 4K.
    page.locator("button.flowup-res-4k").click()
    upscale.click()
    assert decoded_width(page, "4K") == 3840
    assert page.locator(".flowup-status-line").get_attribute("data-phase") == "completed"
    assert page.locator(".flowup-errorbox").count() == 0

    # The ledger view refreshed itself with the new rows.
    page.wait_for_function(
        """(before) => {
            const line = document.querySelector('.flowup-ledger-counts-line');
            return line && Number(line.dataset.exchanges) >= before + 2;
        }""",
        arg=before,
        timeout=UPSCALE_MS,
    )
    _screenshot_whole_page(page, ARTIFACTS / "quickstart.png")
    assert not failures, failures
