"""The API token appears in no repr, str, exception, log line or Exchange."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from client_support import ULTRA

import flowup_nb as fu


def _texts_of(value: Any) -> list[str]:
    texts = [repr(value), str(value)]
    if isinstance(value, BaseException):
        texts += [repr(getattr(value, name, "")) for name in ("body", "message", "args")]
        if value.__cause__ is not None:
            texts += _texts_of(value.__cause__)
    return texts


def test_token_absent_from_everything_a_session_produces(
    sim: Any, make_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    exchanges: list[Any] = []
    client = make_client(sim.token, base_url=sim.base_url, max_retries=1)
    client.subscribe(exchanges.append)
    produced: list[Any] = [client]

    result = client.upscale(sim.new_video_id(ULTRA))
    produced += [result, result.captcha, *result.media, client.download(result, tmp_path / "a.mp4")]
    job = client.submit_upscale(sim.new_video_id(ULTRA))
    produced += [job, client.wait(job, timeout=60)]
    sim.inject("upscale", "503_unavailable")  # retried, then fine
    produced.append(client.upscale(sim.new_video_id(ULTRA)))
    for fault in ("401", "403_captcha", "429_throttled", "503_captcha_service", "malformed_json"):
        retried = fault == "malformed_json"  # max_retries=1: sent twice
        retry_after = 600 if fault.startswith("429") else None
        sim.inject("upscale", fault, times=2 if retried else 1, retry_after=retry_after)
        with pytest.raises(fu.FlowError) as caught:
            client.upscale(sim.sample_ids(ULTRA)[0])
        produced.append(caught.value)
    sim.inject("videos", "drop")
    with pytest.raises(fu.APIConnectionError) as dropped:
        client.generate_video("a cat")
    produced.append(dropped.value)
    sim.inject("upscale", "job_fail")
    with pytest.raises(fu.JobFailedError) as failed:
        client.wait(client.submit_upscale(sim.new_video_id(ULTRA)), timeout=60)
    produced.append(failed.value)

    texts = [text for value in produced for text in _texts_of(value)]
    texts += [repr(exchange) for exchange in exchanges]
    texts.append(caplog.text)
    assert len(exchanges) >= 10
    assert caplog.records, "the client logs its exchanges at DEBUG"
    leaks = [text for text in texts if sim.token in text]
    assert leaks == []


def test_a_server_echoing_the_token_does_not_leak_it(
    make_client: Any, local_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def echo(request: Any) -> None:
        auth = request.headers.get("Authorization", "")
        body = json.dumps({"error": f"Unauthorized: bad token {auth}", "seen": [auth]}).encode()
        request.send_response(401)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    token = "secret-token-" + "x" * 20
    exchanges: list[Any] = []
    client = make_client(token, base_url=local_server(echo) + "/v1/google-flow")
    client.subscribe(exchanges.append)
    with pytest.raises(fu.AuthenticationError) as caught:
        client.get_job("j1737312345678v-u1-email:a@b.c-bot:google-flow")
    assert "<token>" in caught.value.message  # the server did echo it: it was redacted
    texts = _texts_of(caught.value) + [repr(e) for e in exchanges] + [caplog.text]
    assert not [text for text in texts if token in text]


def test_an_observer_that_fails_does_not_break_the_call(
    sim: Any, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_ledger(exchange: Any) -> None:
        raise RuntimeError("disk full")

    client.subscribe(broken_ledger)
    result = client.upscale(sim.sample_ids(ULTRA)[0])
    assert result.video_url
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "disk full" in warnings[0].getMessage()
    assert sim.token not in caplog.text


def test_client_repr_hides_the_token(sim: Any, client: Any) -> None:
    assert "hidden" in repr(client)
    assert sim.token not in repr(client)
    assert sim.token not in repr(vars(getattr(client, "_client", client)))
