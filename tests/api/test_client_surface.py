"""The public surface: sync/async parity, observers, context managers, displays."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import httpx
import pytest
from client_support import FAST, ULTRA, total_requests

import flowup_nb as fu
from flowup_nb.api import media, parsing

CLOSERS = {"close", "aclose"}


def _public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in CLOSERS
    }


def test_sync_and_async_clients_have_the_same_methods_and_signatures() -> None:
    sync, asynchronous = _public_methods(fu.FlowClient), _public_methods(fu.AsyncFlowClient)
    assert sorted(sync) == sorted(asynchronous)
    assert {"upscale", "submit_upscale", "get_job", "wait", "download", "generate_video"} <= set(
        sync
    )
    for name in sync:
        assert inspect.signature(sync[name]) == inspect.signature(asynchronous[name]), name
    init_sync = inspect.signature(fu.FlowClient.__init__).parameters
    init_async = inspect.signature(fu.AsyncFlowClient.__init__).parameters
    assert list(init_sync) == list(init_async)
    assert [p.default for p in init_sync.values()] == [p.default for p in init_async.values()]


def test_async_client_methods_are_coroutines_and_sync_ones_are_not() -> None:
    for name, member in _public_methods(fu.AsyncFlowClient).items():
        if name != "subscribe":
            assert inspect.iscoroutinefunction(member), name
    for member in _public_methods(fu.FlowClient).values():
        assert not inspect.iscoroutinefunction(member)


def test_design_signatures() -> None:
    params = inspect.signature(fu.FlowClient.__init__).parameters
    assert params["token"].default is None
    for name, default in {
        "base_url": None,
        "ledger": None,
        "timeout": 60.0,
        "max_retries": 2,
        "retry_backoff": 5.0,
        "max_retry_wait": 120.0,
        "http_client": None,
    }.items():
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default == default
    upscale = inspect.signature(fu.FlowClient.upscale).parameters
    assert upscale["resolution"].default == "1080p"
    wait = inspect.signature(fu.FlowClient.wait).parameters
    assert wait["timeout"].default == 900.0
    assert wait["on_update"].kind is inspect.Parameter.KEYWORD_ONLY


def test_one_exchange_per_http_exchange(sim: Any, client: Any, exchanges: list, tmp_path) -> None:
    result = client.upscale(sim.new_video_id(ULTRA))
    client.download(result, tmp_path / "a.mp4")
    job = client.submit_upscale(sim.new_video_id(ULTRA), "4K")
    client.wait(job, timeout=60)
    sim.inject("upscale", "503_unavailable")
    client.upscale(sim.new_video_id(ULTRA))
    client.get_account(ULTRA)

    stats = sim.stats()
    assert len(exchanges) == total_requests(sim) + stats["media_requests"]
    assert len({e.call_id for e in exchanges}) == len(exchanges)
    assert {e.session_id for e in exchanges} == {client.session_id}
    first = exchanges[0]
    assert (first.operation, first.method, first.endpoint) == ("upscale", "POST", "/videos/upscale")
    assert first.mode == "sync"
    assert first.account == ULTRA
    assert first.source_id and first.result_id and first.result_id != first.source_id
    assert first.resolution == "1080p"
    assert first.remaining_credits is not None
    assert first.captcha_service and first.captcha_attempts
    assert first.finished_at >= first.started_at
    submitted = next(e for e in exchanges if e.operation == "submit_upscale")
    assert (submitted.mode, submitted.outcome, submitted.job_status) == (
        "async",
        "pending",
        "created",
    )
    polls = [e for e in exchanges if e.operation == "get_job"]
    assert all(p.endpoint == "/jobs/{jobId}" and p.job_id == job.job_id for p in polls)
    assert all(p.account == ULTRA and p.resolution == "4K" for p in polls)
    assert polls[-1].outcome == "ok" and polls[-1].cached is False


def test_unsubscribe_and_ledger_parameter(sim: Any, make_client: Any) -> None:
    class Ledger:
        def __init__(self) -> None:
            self.rows: list[Any] = []

        def record(self, exchange: Any) -> None:
            self.rows.append(exchange)

    ledger = Ledger()
    client = make_client(sim.token, base_url=sim.base_url, ledger=ledger, tags=["exp-1"])
    extra: list[Any] = []
    unsubscribe = client.subscribe(extra.append)
    client.get_account(ULTRA)
    unsubscribe()
    client.get_account(ULTRA)
    assert len(ledger.rows) == 2
    assert len(extra) == 1
    assert ledger.rows[0].tags == ("exp-1",)


def test_a_given_http_client_is_not_closed(sim: Any, kind: str) -> None:
    if kind == "sync":
        with httpx.Client() as http:
            with fu.FlowClient(sim.token, base_url=sim.base_url, http_client=http, **FAST) as c:
                c.get_account(ULTRA)
            assert not http.is_closed
        return

    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            async with fu.AsyncFlowClient(
                sim.token, base_url=sim.base_url, http_client=http, **FAST
            ) as c:
                await c.get_account(ULTRA)
            assert not http.is_closed

    asyncio.run(scenario())


def test_closing_twice_is_harmless(sim: Any, make_client: Any) -> None:
    client = make_client(sim.token, base_url=sim.base_url)
    client.get_account(ULTRA)
    client.close()
    client.close()


def test_account_credits(sim: Any, client: Any) -> None:
    account = client.get_account(ULTRA)
    assert account.email == ULTRA
    assert account.credits == next(a["credits"] for a in sim.accounts if a["email"] == ULTRA)


# -- displays ---------------------------------------------------------------------------


def _result(**overrides: Any) -> fu.UpscaleResult:
    fields = {
        "job_id": "j1",
        "media": (),
        "video_url": None,
        "thumbnail_url": None,
        "media_generation_id": "user:1-email:6a6f-video:x",
        "resolution": "1080p",
        "model": "veo_3_1_upsampler_1080p",
        "remaining_credits": 10,
        "cached": False,
        "raw_bytes": None,
        "captcha": None,
    }
    return fu.UpscaleResult(**{**fields, **overrides})


def test_html_escapes_the_video_url() -> None:
    html = _result(
        video_url='https://x/v.mp4?a=1&b="><script>alert(1)</script>',
        thumbnail_url="https://x/t.jpg?a=1&b=2",
    )._repr_html_()
    assert "<video controls muted playsinline" in html
    assert "<script>" not in html
    assert "&amp;b=&quot;&gt;&lt;script&gt;" in html
    assert 'poster="https://x/t.jpg?a=1&amp;b=2"' in html


def test_html_inlines_small_raw_bytes_as_a_data_url() -> None:
    data = b"\x00\x00\x00\x20ftypisom" + b"\x00" * 100
    html = _result(raw_bytes=data, cached=True)._repr_html_()
    assert 'src="data:video/mp4;base64,' in html


def test_html_does_not_inline_huge_raw_bytes() -> None:
    data = b"\x00" * (media.INLINE_VIDEO_LIMIT + 1)
    html = _result(raw_bytes=data, cached=True)._repr_html_()
    assert "data:" not in html
    assert "client.download" in html
    assert len(html) < 2000


def test_reprs_are_short() -> None:
    data = b"\x00" * 5_000_000
    text = repr(_result(raw_bytes=data, video_url="https://x/" + "a" * 500))
    assert len(text) < 400
    assert "4.8 MB" in text


def test_job_html_is_a_status_table() -> None:
    job = parsing.parse_job(
        {"jobid": "j9", "status": "started", "created": "2026-01-19T12:34:56Z", "request": {}}
    )
    html = job._repr_html_()
    assert "<table>" in html and "started" in html and "j9" in html


@pytest.mark.parametrize("name", ["connect", "FlowClient", "AsyncFlowClient", "Job", "Captcha"])
def test_public_names_are_exported(name: str) -> None:
    assert name in dir(fu)
    assert getattr(fu, name) is not None
