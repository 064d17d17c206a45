"""Fixtures for the client tests: both clients behind one calling convention.

Every behaviour is tested for FlowClient and AsyncFlowClient. The async client runs
on a real event loop (one ``asyncio.Runner`` per test); :class:`Blocking` only turns
``await client.x(...)`` into ``client.x(...)`` so one test body serves both.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from client_support import FAST, Blocking

import flowup_nb as fu
from flowup_nb.api.exchange import Exchange


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_client(kind: str) -> Iterator[Callable[..., Any]]:
    """``make_client(token, base_url=..., **settings)`` -> a client of this test's kind."""
    made: list[Any] = []
    runner = asyncio.Runner() if kind == "async" else None

    def make(*args: Any, **kwargs: Any) -> Any:
        settings = {**FAST, **kwargs}
        if runner is None:
            client: Any = fu.FlowClient(*args, **settings)
        else:
            client = Blocking(runner.run(_make_async(*args, **settings)), runner)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
    if runner is not None:
        runner.close()


async def _make_async(*args: Any, **kwargs: Any) -> fu.AsyncFlowClient:
    # Built inside the loop, as a notebook would.
    return fu.AsyncFlowClient(*args, **kwargs)


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


@pytest.fixture
def client(sim: Any, make_client: Callable[..., Any], exchanges: list[Exchange]) -> Any:
    """A client of this test's kind bound to the ``sim`` fixture, recording exchanges."""
    made = make_client(sim.token, base_url=sim.base_url)
    made.subscribe(exchanges.append)
    return made


@pytest.fixture
def local_server() -> Iterator[Callable[[Callable[[Any], None]], str]]:
    """A tiny loopback HTTP server with a test-supplied GET/POST handler; returns its URL."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handle: Callable[[Any], None]) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                handle(self)

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
