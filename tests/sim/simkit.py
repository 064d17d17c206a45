"""Helpers for the simulator's tests: a plain httpx client, a webhook receiver, polling,
and the shape comparison used against the spec's examples."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

import flowup_nb.sim as simulator

TERMINAL = ("completed", "failed")


def api(sim: simulator.SimHandle, **kwargs: Any) -> httpx.Client:
    """A plain httpx client for the simulator's API, authenticated."""
    return httpx.Client(
        base_url=sim.base_url,
        headers={"Authorization": f"Bearer {sim.token}"},
        timeout=kwargs.pop("timeout", 30.0),
        **kwargs,
    )


def poll(client: httpx.Client, job_id: str, *, limit: float = 20.0) -> list[dict[str, Any]]:
    """GET the job until it is terminal; every record seen, in order.

    `limit` only bounds a broken simulator; no test asserts how long this takes.
    """
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        seen.append(response.json())
        if seen[-1]["status"] in TERMINAL:
            return seen
        time.sleep(0.002)
    raise AssertionError(f"job {job_id} never finished: {seen[-1]}")


def assert_shape(actual: Any, example: Any, path: str = "$") -> None:
    """Every key of the spec's example is in `actual`, recursively, with the same JSON type.

    Lists compare their first items; `{"...": "..."}` in the spec means "anything here".
    """
    if isinstance(example, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        if set(example) == {"..."}:
            return
        for key, value in example.items():
            assert key in actual, f"{path}: missing key {key!r} (have {sorted(actual)})"
            assert_shape(actual[key], value, f"{path}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        if example:
            assert actual, f"{path}: expected a non-empty list"
            assert_shape(actual[0], example[0], f"{path}[0]")
    elif isinstance(example, bool):
        assert isinstance(actual, bool), f"{path}: expected a boolean, got {actual!r}"
    elif isinstance(example, int | float):
        assert isinstance(actual, int | float) and not isinstance(actual, bool), (
            f"{path}: expected a number, got {actual!r}"
        )
    else:
        assert type(actual) is type(example), (
            f"{path}: expected {type(example).__name__}, got {actual!r}"
        )


class WebhookReceiver:
    """A tiny loopback server that records every POST (headers and JSON body)."""

    def __init__(self, *, fail_first: int = 0) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    failing = receiver.fail_first > 0
                    if failing:
                        receiver.fail_first -= 1
                    else:
                        receiver.deliveries.append(
                            {"headers": dict(self.headers), "body": json.loads(body), "raw": body}
                        )
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d["body"] for d in self.deliveries]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def volatile_free(value: Any) -> Any:
    """`value` with what legitimately differs between two runs of one seed blanked out:
    timestamps, job ids (they carry the time), URLs (ports, expiry)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ("created", "updated", "createTime", "retryAfter", "jobId", "jobid"):
                out[key] = "<volatile>"
            elif key in ("videoUrl", "thumbnailUrl", "fifeUrl", "servingBaseUri"):
                out[key] = item.split("?")[0].split("/", 3)[-1]
            else:
                out[key] = volatile_free(item)
        return out
    if isinstance(value, list | tuple):
        return [volatile_free(v) for v in value]
    return value
