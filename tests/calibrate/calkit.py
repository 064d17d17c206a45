"""Helpers for the calibration tests: a "service" that is a simulator seen through a
loopback proxy which can change each answer, and a plain client to set up jobs in it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

import flowup_nb.sim as simulator

PREFIX = "/v1/google-flow"

# (method, path with query, status, headers, body) -> (status, headers, body)
Mutation = Callable[[str, str, int, dict[str, str], Any], tuple[int, dict[str, str], Any]]


def unchanged(
    method: str, path: str, status: int, headers: dict[str, str], body: Any
) -> tuple[int, dict[str, str], Any]:
    return status, headers, body


class MutatingProxy:
    """A stdlib HTTP server on 127.0.0.1 that forwards every request to a simulator and
    hands each answer to `mutate` on its way back. It counts the requests it receives."""

    def __init__(self, upstream: simulator.SimHandle, mutate: Mutation = unchanged) -> None:
        self.mutate = mutate
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        origin = urlsplit(upstream.base_url)
        self._upstream = httpx.Client(base_url=f"{origin.scheme}://{origin.netloc}", timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                proxy._forward(self)

            def do_POST(self) -> None:
                proxy._forward(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append((handler.command, handler.path))
        length = int(handler.headers.get("Content-Length") or 0)
        payload = handler.rfile.read(length) if length else None
        upstream = self._upstream.request(
            handler.command,
            handler.path,
            content=payload,
            headers={
                k: v
                for k, v in handler.headers.items()
                if k.lower() in ("authorization", "content-type")
            },
        )
        try:
            body: Any = upstream.json()
        except ValueError:
            body = None
        headers = {"Content-Type": upstream.headers.get("content-type", "application/json")}
        if "retry-after" in upstream.headers:
            headers["Retry-After"] = upstream.headers["retry-after"]
        path = handler.path.removeprefix(PREFIX)
        status, headers, body = self.mutate(
            handler.command, path, upstream.status_code, headers, body
        )
        data = json.dumps(body).encode()
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()


@contextmanager
def proxy(upstream: simulator.SimHandle, mutate: Mutation = unchanged) -> Iterator[MutatingProxy]:
    p = MutatingProxy(upstream, mutate)
    try:
        yield p
    finally:
        p.close()


def api(sim: simulator.SimHandle) -> httpx.Client:
    return httpx.Client(
        base_url=sim.base_url, headers={"Authorization": f"Bearer {sim.token}"}, timeout=60
    )


def submit(client: httpx.Client, path: str, body: dict[str, Any]) -> str:
    response = client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    data = response.json()
    return str(data.get("jobId") or data["jobid"])


def wait_for(client: httpx.Client, job_id: str, done: Callable[[str], bool]) -> None:
    """Poll the job until `done(status)`; the limit only bounds a broken simulator."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(f"/jobs/{job_id}").json()["status"]
        if done(status):
            return
        time.sleep(0.005)
    raise AssertionError(f"job never reached its state: {status}")
