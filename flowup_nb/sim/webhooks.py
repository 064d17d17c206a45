"""Webhook deliveries: POST the job record to `replyUrl` at each status change.

One background thread delivers in enqueue order, so the records of a job arrive in the order
created, started, completed|failed. A failed delivery is retried a few times with growing
(scaled) pauses: the docs say nothing about retries; this is a guess.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from flowup_nb.sim.clock import SimClock, iso

__all__ = ["WebhookDispatcher"]

log = logging.getLogger(__name__)

RETRY_PAUSES = (2.0, 10.0, 30.0)  # service seconds between attempts, scaled
DELIVERY_TIMEOUT = 10.0  # real seconds per POST

_STOP = object()


class WebhookDispatcher:
    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._log: list[dict[str, Any]] = []
        self._sent = 0
        self._failed = 0
        self._stopping = threading.Event()
        # No proxies: the receivers live on loopback, and env proxies must not intercept them.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._thread = threading.Thread(target=self._run, name="flow-sim-webhooks", daemon=True)
        self._thread.start()

    def enqueue(self, url: str, record: dict[str, Any]) -> None:
        self._queue.put((url, json.dumps(record).encode(), record))

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log]

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self._sent, self._failed

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued delivery has finished (for tests and clean shutdowns)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.005)
        return False

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(_STOP)
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                self._deliver(*item)
            except Exception:  # a delivery bug must not kill the thread
                log.exception("webhook delivery crashed")
            finally:
                self._queue.task_done()

    def _deliver(self, url: str, payload: bytes, record: dict[str, Any]) -> None:
        attempts, status, error = 0, None, None
        for pause in (0.0, *RETRY_PAUSES):
            if pause and self._stopping.wait(self._clock.scaled(pause)):
                break
            attempts += 1
            status, error = self._post(url, payload)
            if status is not None and 200 <= status < 300:
                break
        ok = status is not None and 200 <= status < 300
        with self._lock:
            if ok:
                self._sent += 1
            else:
                self._failed += 1
            self._log.append(
                {
                    "job_id": record.get("jobid"),
                    "status": record.get("status"),
                    "url": url,
                    "reply_ref": (record.get("request") or {}).get("replyRef"),
                    "attempts": attempts,
                    "http_status": status,
                    "delivered": ok,
                    "error": error,
                    "at": iso(self._clock.now()),
                }
            )

    def _post(self, url: str, payload: bytes) -> tuple[int | None, str | None]:
        request = urllib.request.Request(
            url,
            data=payload,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "flow-sim-webhook/1"},
        )
        try:
            with self._opener.open(request, timeout=DELIVERY_TIMEOUT) as response:
                response.read()
                return response.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
