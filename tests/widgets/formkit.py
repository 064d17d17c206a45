"""Helpers for the widget tests (a module with a unique name: test dirs have no __init__)."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable
from typing import Any

from simclient import fast_settings

import flowup_nb as fu

# A simulator at time_scale 0.001: short polls, no real waiting on retries, and no
# retries at all, so that each injected fault reaches the form as it is.
FAST: dict[str, Any] = fast_settings(max_retry_wait=5.0, max_retries=0)
ULTRA = "jo.ultra@example.com"
PRO = "pat.pro@example.com"
FREE = "lee.free@example.com"


def make_client(kind: str, sim: Any, **settings: Any) -> Any:
    """A client of ``kind`` ("sync" or "async") for ``sim``; call inside the running loop."""
    cls = fu.FlowClient if kind == "sync" else fu.AsyncFlowClient
    client = cls(sim.token, base_url=sim.base_url, **{**FAST, **settings})
    client.simulator = sim  # what connect() sets: the form offers the sim's sample videos
    return client


async def close_client(client: Any) -> None:
    if isinstance(client, fu.AsyncFlowClient):
        await client.aclose()
    else:
        client.close()


async def until(condition: Callable[[], bool], *, limit: float = 20.0) -> None:
    """Yield to the loop until ``condition()`` holds (a generous bound, not a timing claim)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the condition did not become true in time")
        await asyncio.sleep(0.005)


def attribute(markup: str, tag_class: str, name: str) -> str | None:
    """The (unescaped) attribute ``name`` of the first element with class ``tag_class``."""
    element = re.search(rf'<[a-z]+ class="{re.escape(tag_class)}"[^>]*>', markup)
    if element is None:
        return None
    found = re.search(rf' {name}="([^"]*)"', element.group(0))
    return html.unescape(found.group(1)) if found else None


def fact(markup: str, name: str) -> str | None:
    """The text of the result's fact row ``name`` (e.g. "credits"), unescaped."""
    row = re.escape(name.replace(" ", "-"))
    found = re.search(rf'<tr class="flowup-fact-{row}"><th>[^<]*</th><td>([^<]*)</td></tr>', markup)
    return html.unescape(found.group(1)) if found else None


def text(markup: str) -> str:
    """The visible text of some HTML, tags removed and entities unescaped."""
    without_style = re.sub(r"<style>.*?</style>", "", markup, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", without_style))
