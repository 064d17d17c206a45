"""What every browser test shares: the API its page's kernel talks to, and Debian's
chromium driven by Playwright (a test that cannot have it fails, it is never skipped)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowup_nb.sim as simulator
from flowup_nb.sim import SimHandle

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def api() -> Iterator[SimHandle]:
    """The API the page's kernel talks to: a seeded simulator hosted by this test process
    (reproducible: a fixed seed, every captcha accepted)."""
    with simulator.start(seed=2718, time_scale=0.01, fail_rate=0.0, captcha_acceptance=1.0) as sim:
        yield sim


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright (Playwright never downloads a browser here)."""
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium is required for the browser tests: run `make chromium` "
            "(apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
