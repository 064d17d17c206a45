"""HTTP plumbing: the API server and the media host, routing, faults, safe answers.

Both are stdlib ThreadingHTTPServers on loopback (HTTP/1.1 keep-alive, one daemon thread
per connection). Every handler is wrapped: whatever happens, the client gets a JSON (API)
or short text (media) answer, never a traceback page.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, parse_qsl, unquote

from flowup_nb.sim import errors
from flowup_nb.sim.bodies import parse_body
from flowup_nb.sim.clock import SimClock
from flowup_nb.sim.faults import (
    DEFAULT_DELAY,
    JOB_FAULTS,
    STATUS_FAULTS,
    Fault,
    FaultBook,
    status_fault_error,
)
from flowup_nb.sim.media import MediaDenied, MediaStore, parse_range
from flowup_nb.sim.routes import Routes

__all__ = ["API_PREFIX", "ApiHandler", "MediaHandler", "SimServer"]

log = logging.getLogger(__name__)

API_PREFIX = "/v1/google-flow"
MAX_BODY = 1024 * 1024  # bodies of this API are a few hundred bytes
_CHUNK = 64 * 1024


class ServedSimulator(Protocol):
    """What the HTTP layer needs of the simulator it serves (the handle provides it; the
    handle owns the servers, so the servers know it only through this shape)."""

    clock: SimClock
    faults: FaultBook
    media: MediaStore
    routes: Routes

    def count_request(self, route: str) -> None: ...
    def count_response(self, status: int) -> None: ...
    def count_media_request(self, *, authorized: bool) -> None: ...
    def count_media_bytes(self, n: int) -> None: ...
    def token_matches(self, candidate: str) -> bool: ...


class SimServer(ThreadingHTTPServer):
    """A loopback server that knows its simulator and can cut its open connections."""

    daemon_threads = True
    block_on_close = False  # never wait on a keep-alive connection at shutdown

    def __init__(self, address: tuple[str, int], handler: type, sim: ServedSimulator) -> None:
        self.sim = sim
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def close_all(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FlowSim/1.0"
    sys_version = ""
    timeout = 300  # an idle keep-alive connection is dropped after this (real seconds)
    server: SimServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY, Nagle and delayed
        # ACKs add ~40 ms to every answer.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    @property
    def sim(self) -> ServedSimulator:
        return self.server.sim

    # -- answers -----------------------------------------------------------------------
    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        *,
        truncate: bool = False,
        body_length: int | None = None,
    ) -> None:
        headers = headers or {}
        self.sim.count_response(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header(
            "Content-Length", str(len(payload) if body_length is None else body_length)
        )
        for name, value in headers.items():
            self.send_header(name, value)
        if truncate or headers.get("Connection") == "close":
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            self.wfile.write(payload[: len(payload) // 2])
            self._cut()
        else:
            self.wfile.write(payload)

    def _send_json(
        self, status: int, body: Any, headers: dict[str, str] | None = None, **kw: Any
    ) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers, **kw)

    def _cut(self) -> None:
        """Close the connection at once: no response (drop) or no rest of the body."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unknown method): JSON, not HTML."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self.close_connection = True
        if not self.request_version.startswith("HTTP/1."):
            # The request line was unreadable: answer in HTTP/1.1 all the same, with headers.
            self.request_version = "HTTP/1.1"
        body = {"error": message or phrase, "code": code}
        if code == 501:  # a method http.server has no do_X for
            code, body = 405, {"error": f"Method {self.command} not allowed", "code": 405}
        self._send_json(code, body, {"Connection": "close"})

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size < 0:
            self.close_connection = True
            raise errors.SimError(
                400,
                {"error": "Invalid Content-Length header", "code": 400},
                {"Connection": "close"},
            )
        if size > MAX_BODY:
            self.close_connection = True
            err = errors.payload_too_large(MAX_BODY)
            err.headers["Connection"] = "close"
            raise err
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                size = -1
            if size < 0 or len(data) + size > MAX_BODY:
                self.close_connection = True
                err = (
                    errors.payload_too_large(MAX_BODY)
                    if size >= 0
                    else errors.bad_request("Malformed chunked body")
                )
                err.headers["Connection"] = "close"
                raise err
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(data)
            data += self.rfile.read(size)
            self.rfile.readline(1024)

    def _apply_transport_fault(self, fault: Fault | None) -> bool:
        """Sleep for a delay; cut for a drop. True when the request is over."""
        if fault is None:
            return False
        if fault.kind == "delay":
            time.sleep(DEFAULT_DELAY if fault.delay is None else fault.delay)
        elif fault.kind == "drop":
            self.sim.count_response(0)
            self._cut()
            return True
        return False


def _match(path: str) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(route name, path parameter, allowed methods) of an API path."""
    if not path.startswith(API_PREFIX + "/"):
        return None, None, ()
    rest = path[len(API_PREFIX) :].rstrip("/") if path != API_PREFIX + "/" else ""
    if rest == "/videos/upscale":
        return "upscale", None, ("POST",)
    if rest == "/videos":
        return "videos", None, ("POST",)
    if path == API_PREFIX + "/jobs":  # exactly: "/jobs/" is a job lookup without its id
        return "job_stats", None, ("GET",)
    if rest.startswith("/jobs/") and len(rest) > len("/jobs/"):
        return "jobs", rest[len("/jobs/") :], ("GET",)
    if rest == "/accounts":
        return "accounts", None, ("GET",)
    if rest.startswith("/accounts/") and "/" not in rest[len("/accounts/") :]:
        return "accounts", unquote(rest[len("/accounts/") :]), ("GET",)
    return None, None, ()


class ApiHandler(_Handler):
    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def _handle(self, method: str) -> None:
        fault: Fault | None = None
        try:
            path = self.path.split("?", 1)[0]
            raw = self._read_body()
            route, param, allowed = _match(path)
            self.sim.count_request(route or "unknown")
            if route is None:
                raise errors.route_not_found(method, path)
            if method not in allowed:
                raise errors.method_not_allowed(method, path, list(allowed))
            fault = self.sim.faults.take(route)
            if self._apply_transport_fault(fault):
                return
            if fault is not None and fault.kind in STATUS_FAULTS:
                raise status_fault_error(fault, self.sim.clock)
            self._check_auth()
            job_fault = fault.kind if fault is not None and fault.kind in JOB_FAULTS else None
            status, body, headers = self._dispatch(route, param, raw, job_fault)
        except errors.SimError as exc:
            status, body, headers = exc.status, exc.body, exc.headers
        except Exception:
            log.exception("simulator bug while answering %s %s", method, self.path)
            err = errors.internal_error()
            status, body, headers = err.status, err.body, err.headers
        payload = json.dumps(body).encode()
        kind = fault.kind if fault is not None else None
        if kind == "hold" and fault is not None:
            time.sleep(DEFAULT_DELAY if fault.delay is None else fault.delay)
        if kind == "malformed_json":
            status, payload = 200, payload[: max(1, len(payload) // 2)]
        try:
            self._send(status, payload, "application/json", headers, truncate=kind == "truncate")
        except OSError:
            self.close_connection = True  # the client went away

    def _check_auth(self) -> None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self.sim.token_matches(token.strip()):
            raise errors.unauthorized()

    def _dispatch(
        self, route: str, param: str | None, raw: bytes, job_fault: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        routes = self.sim.routes
        if route == "upscale":
            return routes.upscale(parse_body(raw, self.headers.get("Content-Type")), job_fault)
        if route == "videos":
            return routes.generate(parse_body(raw, self.headers.get("Content-Type")), job_fault)
        if route == "jobs":
            return routes.get_job(param or "")
        if route == "job_stats":
            query = parse_qs(self.path.partition("?")[2], keep_blank_values=True)
            return routes.job_stats(query.get("options"))
        if param is None:
            return routes.list_accounts()
        return routes.get_account(param)


class MediaHandler(_Handler):
    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, text.encode() + b"\n", "text/plain; charset=utf-8", headers)

    def _handle(self, method: str) -> None:
        try:
            self._read_body()
            self.sim.count_media_request(authorized="Authorization" in self.headers)
            if method not in ("GET", "HEAD"):
                self._text(
                    405, f"Method {method} not allowed; use GET or HEAD", {"Allow": "GET, HEAD"}
                )
                return
            fault = self.sim.faults.take("media")
            if self._apply_transport_fault(fault):
                return
            if fault is not None and fault.kind in STATUS_FAULTS:
                err = status_fault_error(fault, self.sim.clock)
                self._send_json(err.status, err.body, err.headers)
                return
            self._serve(fault is not None and fault.kind == "truncate")
        except errors.SimError as exc:
            self._send_json(exc.status, exc.body, exc.headers)
        except OSError:
            self.close_connection = True  # the client went away mid-body
        except Exception:
            log.exception("simulator bug while serving media %s", self.path)
            self._text(500, "Internal error")

    def _serve(self, truncate: bool) -> None:
        path, _, query = self.path.partition("?")
        try:
            obj = self.sim.media.resolve(path, dict(parse_qsl(query)))
        except MediaDenied as denied:
            self._text(denied.status, denied.text)
            return
        try:
            span = parse_range(self.headers.get("Range"), obj.size)
        except MediaDenied as denied:
            self._text(denied.status, denied.text, {"Content-Range": f"bytes */{obj.size}"})
            return
        start, end = span if span is not None else (0, obj.size - 1)
        length = max(0, end - start + 1)
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=21600"}
        if span is not None:
            headers["Content-Range"] = f"bytes {start}-{end}/{obj.size}"
        status = 206 if span is not None else 200
        if obj.data is not None:
            self._send(
                status, obj.data[start : end + 1], obj.content_type, headers, truncate=truncate
            )
            self.sim.count_media_bytes(length // 2 if truncate else length)
            return
        # A published file: stream it from disk, never load it whole.
        self.sim.count_response(status)
        self.send_response(status)
        self.send_header("Content-Type", obj.content_type)
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        count = length // 2 if truncate else length
        assert obj.path is not None
        with obj.path.open("rb") as file:
            if count:
                self.connection.sendfile(file, start, count)
        self.sim.count_media_bytes(count)
        if truncate:
            self._cut()
