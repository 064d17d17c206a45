"""The webhook receiver facing a hostile network: loopback only, bounded reads, strict
refusals, and nothing written but ledger rows.

Already proven in tests/batch/test_webhooks.py (not repeated here): forged replyRef for a
known job, a real reference presented for another job or another video, missing
replyRef (403); `{not json` and a JSON list (400); a body just over ``max_body`` (413);
another path (404); GET (405); references never logged or shown in ``repr``.
"""

from __future__ import annotations

import json
import logging
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from reliakit_secrets import paths_named_like

import flowup_nb as fu

JOB_ID = "j1700000000000v-u1-email:jo.ultra@example.com-bot:google-flow"


def _record(job_id: Any, reply_ref: Any, *, source: Any = "src", status: str = "started") -> dict:
    return {
        "jobid": job_id,
        "type": "video",
        "status": status,
        "created": "2026-01-01T00:00:00.000Z",
        "updated": "2026-01-01T00:00:01.000Z",
        "request": {"mediaGenerationId": source, "resolution": "1080p", "replyRef": reply_ref},
        "response": {},
    }


def _raw_exchange(receiver: fu.WebhookReceiver, head: bytes, body: bytes = b"") -> bytes:
    """Send raw bytes to the receiver; everything it answers until it closes."""
    with socket.create_connection((receiver.host, receiver.port), timeout=5) as conn:
        conn.sendall(head + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_it_listens_on_loopback_only_by_default() -> None:
    with fu.WebhookReceiver() as receiver:
        host, port = receiver._server.socket.getsockname()[:2]
        assert (host, port) == ("127.0.0.1", receiver.port)
        assert receiver.url == f"http://127.0.0.1:{port}/flowup/webhook"


@pytest.mark.parametrize("claimed", [2048, 10**12])
def test_an_oversized_body_is_refused_from_its_header_without_being_read(claimed: int) -> None:
    with fu.WebhookReceiver(max_body=1024) as receiver:
        head = (
            f"POST {receiver.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {claimed}\r\n\r\n"
        ).encode()
        # Only the first 100 bytes of the announced body are ever sent: the answer (and
        # the close) can only come from a receiver that did not wait to read the rest.
        answer = _raw_exchange(receiver, head, b"{" + b" " * 99)
        assert answer.startswith(b"HTTP/1.0 413 ")
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {
            "ok": False,
            "message": "body too large",
        }
        assert [r.status_code for r in receiver.rejections] == [413]


@pytest.mark.parametrize(
    "length_header",
    [b"Transfer-Encoding: chunked\r\n", b"Content-Length: -5\r\n", b"Content-Length: 1e9\r\n"],
    ids=["chunked", "negative", "not-an-integer"],
)
def test_a_body_of_unknown_length_is_refused_411(length_header: bytes) -> None:
    with fu.WebhookReceiver() as receiver:
        head = f"POST {receiver.path} HTTP/1.1\r\nHost: x\r\n".encode() + length_header + b"\r\n"
        answer = _raw_exchange(receiver, head, b"5\r\nhello\r\n0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 411 ")
        assert receiver.rejected == 1 and receiver.accepted == 0


def test_every_bad_request_gets_a_json_refusal_and_wakes_nothing(record_property: Any) -> None:
    with fu.WebhookReceiver() as receiver, fu.WebhookReceiver() as stranger:
        issued = receiver.reply_for()["reply_ref"]
        receiver.bind(issued, JOB_ID)
        forgotten = receiver.reply_for()["reply_ref"]
        receiver.forget(forgotten)
        theirs = stranger.reply_for()["reply_ref"]
        root = receiver.url.removesuffix(receiver.path)
        url = receiver.url

        def body(job_id: Any, reply_ref: Any) -> bytes:
            return json.dumps(_record(job_id, reply_ref)).encode()

        cases: list[tuple[str, str, str, bytes, int]] = [
            # (what, method, url, body, expected status)
            ("a bracket bomb", "POST", url, b"[" * 200_000, 400),
            ("invalid UTF-8", "POST", url, b'{"jobid": "\xff\xfe"}', 400),
            ("an empty body", "POST", url, b"", 400),
            ("a JSON string", "POST", url, b'"jobid"', 400),
            ("jobid a number", "POST", url, body(7, issued), 400),
            ("jobid empty", "POST", url, body("", issued), 400),
            ("replyRef a list", "POST", url, body(JOB_ID, [issued]), 403),
            ("replyRef empty", "POST", url, body(JOB_ID, ""), 403),
            ("replyRef issued elsewhere", "POST", url, body("j2-other", theirs), 403),
            ("replyRef forgotten", "POST", url, body("j3-other", forgotten), 403),
            ("replyRef of a prefix", "POST", url, body(JOB_ID, issued[:-1]), 403),
            ("unknown job, random ref", "POST", url, body("j4", uuid.uuid4().hex), 403),
            ("path traversal", "POST", url + "/../other", b"{}", 404),
            ("a longer path", "POST", url + "x", b"{}", 404),
            ("the root", "POST", root + "/", b"{}", 404),
        ]
        cases += [
            (method, method, receiver.url, b"", 405)
            for method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE")
        ]
        cases.append(("an unknown method", "BREW", receiver.url, b"", 501))
        failures = []
        for what, method, url, body, expected in cases:
            response = httpx.request(method, url, content=body, timeout=5)
            payload = response.json() if method != "HEAD" else {"ok": False}
            if response.status_code != expected or payload["ok"] is not False:
                failures.append((what, response.status_code, response.text[:80]))
            elif expected == 405 and response.headers.get("Allow") != "POST":
                failures.append((what, "no Allow: POST"))
        assert failures == []
        record_property("bad_requests", len(cases))
        assert receiver.accepted == 0 and stranger.accepted == 0
        assert receiver.latest(JOB_ID) is None
        refused = [r for r in receiver.rejections if r.status_code in (400, 403, 404)]
        assert len(refused) == 15


def test_hostile_values_become_ledger_data_and_nothing_else_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    marker = f"evil{uuid.uuid4().hex[:12]}"
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    ledger_dir = tmp_path / "ledger"
    ledger_dir.mkdir()
    caplog.set_level(logging.DEBUG, logger="flowup_nb.webhooks")
    hostile = [
        f"../../{marker}",
        f"/tmp/{marker}",
        f"{tempfile.gettempdir()}/{marker}.sqlite",
        f"..\\..\\{marker}",
        f"{marker}\x00.mp4",
        f"file:///tmp/{marker}",
        f"~/{marker}",
        f"{marker}\n2026-01-01 WARNING forged log line",
        f"\u202e{marker}\U0001d522\u200b",
        f"{marker}/" + "A" * 300_000,
    ]
    with fu.Ledger(ledger_dir / "ledger.sqlite") as ledger:
        with fu.WebhookReceiver(ledger=ledger) as receiver:
            for value in hostile:
                # Accepted: a reference we issued, carrying a path-like job and source id.
                ref = receiver.reply_for()["reply_ref"]
                accepted = httpx.post(receiver.url, json=_record(value, ref, source=value))
                assert accepted.status_code == 200, (value[:40], accepted.text)
                # Refused: the same values as the reference itself.
                forged = httpx.post(receiver.url, json=_record(value, value, source=value))
                assert forged.status_code == 403
        stored = ledger.frame()
    assert receiver.accepted == len(hostile) and receiver.rejected == len(hostile)
    # Every value reached the ledger verbatim, as data.
    assert sorted(stored["job_id"]) == sorted(hostile)
    assert sorted(stored["source_id"]) == sorted(hostile)

    assert not list(workdir.iterdir())
    # Only the ledger's own files (a set: a sorted list compares lexicographically, and
    # ['evil', 'ledger.sqlite'] <= [...] holds).
    left = {p.name for p in ledger_dir.iterdir()}
    assert "ledger.sqlite" in left
    assert left <= {"ledger.sqlite", "ledger.sqlite-shm", "ledger.sqlite-wal"}, left
    roots = [tmp_path, Path(tempfile.gettempdir()), Path.home()]
    assert paths_named_like(marker, *roots) == []
    # A refused sender cannot forge log lines, nor make the receiver keep a huge string.
    messages = [record.getMessage() for record in caplog.records]
    assert messages and not [m for m in messages if "\n" in m or "\x00" in m]
    assert max(len(r.job_id or "") for r in receiver.rejections) <= 203
