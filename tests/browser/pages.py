"""What the browser tests read off a page showing the quickstart, whatever serves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
# Generous bounds for a busy 2-core machine; the tests wait for events, not for time.
PAGE_READY_MS = 180_000
UPSCALE_MS = 180_000


def decoded_width(page: Any, resolution: str) -> int:
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


def ledger_exchanges(page: Any) -> int:
    return int(
        page.get_attribute(".flowup-ledger-counts-line", "data-exchanges", timeout=PAGE_READY_MS)
    )


def wait_for_more_exchanges(page: Any, than: int) -> int:
    """Wait until the ledger view counts more than ``than`` exchanges; returns the count."""
    page.wait_for_function(
        """(before) => {
            const line = document.querySelector('.flowup-ledger-counts-line');
            return line !== null && Number(line.dataset.exchanges) > before;
        }""",
        arg=than,
        timeout=UPSCALE_MS,
    )
    return ledger_exchanges(page)
