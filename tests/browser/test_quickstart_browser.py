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

import pytest

import flowup_nb.sim as simulator
from flowup_nb.sim import SimHandle

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_quickstart.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous bounds for a busy 2-core machine; the test waits for events, not for time.
PAGE_READY_MS = 180_000
UPSCALE_MS = 180_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def api() -> Iterator[SimHandle]:
    """The API the page's kernel talks to: a seeded simulator hosted by this test process
    (reproducible: a fixed seed, every captcha accepted)."""
    with simulator.start(seed=2718, time_scale=0.01, fail_rate=0.0, captcha_acceptance=1.0) as sim:
        yield sim


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


def _decoded_width(page, resolution: str) -> int:
    """Wait until the result for ``resolution`` shows a video that has decoded a frame."""
    selector = f'.flowup-result[data-resolution="{resolution}"] video.flowup-video'
    page.wait_for_selector(selector, state="attached", timeout=UPSCALE_MS)
    page.wait_for_function(
        """(selector) => {
            const video = document.querySelector(selector);
            return video !== null && video.readyState >= 2 && video.videoWidth > 0;
        }""",
        arg=selector,
        timeout=UPSCALE_MS,
    )
    return page.eval_on_selector(selector, "video => video.videoWidth")


def _screenshot_whole_page(page, path: Path) -> None:
    """Voila scrolls inside a container, not the body: grow the viewport to its height."""
    height = page.evaluate(
        """() => Math.max(document.documentElement.scrollHeight,
            ...Array.from(document.querySelectorAll('*'), (el) => el.scrollHeight))"""
    )
    page.set_viewport_size({"width": 1280, "height": min(int(height) + 40, 12000)})
    page.wait_for_timeout(300)  # let the layout settle at the new size
    page.screenshot(path=str(path), full_page=True)


def _ledger_exchanges(page) -> int:
    return int(
        page.get_attribute(".flowup-ledger-counts-line", "data-exchanges", timeout=PAGE_READY_MS)
    )


def test_upscale_in_the_browser_plays_the_video(voila: str) -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium is required for the browser tests: run `make chromium` "
            "(apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            failures: list[str] = []
            page.on("pageerror", lambda error: failures.append(str(error)))
            page.goto(voila, timeout=PAGE_READY_MS)
            upscale = page.locator("button.flowup-upscale")
            upscale.wait_for(state="visible", timeout=PAGE_READY_MS)
            page.wait_for_selector(".flowup-ledger-counts-line", timeout=PAGE_READY_MS)
            before = _ledger_exchanges(page)
            assert page.locator(".flowup-badge").inner_text() == "SIMULATOR"

            # 1080p, the form's default.
            upscale.click()
            page.wait_for_selector(
                '.flowup-status-line[data-phase="completed"]', timeout=UPSCALE_MS
            )
            assert _decoded_width(page, "1080p") == 1920

            # Then 4K.
            page.locator("button.flowup-res-4k").click()
            upscale.click()
            assert _decoded_width(page, "4K") == 3840
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
        finally:
            browser.close()
