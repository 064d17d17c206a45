"""A catalogue of hostile and malformed input to the public API.

Every entry must raise ``fu.InputError`` (or a documented subclass) before a single
request reaches the simulator, with a message naming the fix (one keyword per entry).
The everyday cases (empty ids, near-miss resolutions, clashing captcha options, bad job
ids, bad client settings) are in tests/api/test_client_inputs.py; this catalogue adds
the hostile ones (huge, unicode, NUL, injection strings, header injection through the
token, URLs with odd schemes, paths) and runs everything through both clients.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import flowup_nb as fu

JO = "jo.ultra@example.com"
HEX_JO = JO.encode().hex()
MEGABYTE = 1024 * 1024
# Fast settings for a simulator at time_scale 0.001 (as in tests/api/client_support.py).
FAST = {"poll_interval": (0.005, 0.05), "retry_backoff": 0.001, "timeout": 30.0}


@dataclass(frozen=True)
class Case:
    """One bad input: ``call(client, ctx)`` must raise InputError whose text has ``keyword``."""

    label: str
    call: Callable[[Any, dict[str, Any]], Any]
    keyword: str


def _upscale(media_id: Any, resolution: Any = "1080p", **options: Any) -> Callable[..., Any]:
    return lambda client, ctx: client.upscale(media_id, resolution, **options)


def _submit(media_id: Any, **options: Any) -> Callable[..., Any]:
    return lambda client, ctx: client.submit_upscale(media_id, **options)


def _with_source(**options: Any) -> Callable[..., Any]:
    """An upscale of a real source video with bad options."""
    return lambda client, ctx: client.upscale(ctx["source"], **options)


def _submit_source(**options: Any) -> Callable[..., Any]:
    return lambda client, ctx: client.submit_upscale(ctx["source"], **options)


def _resolution(value: Any) -> Callable[..., Any]:
    return lambda client, ctx: client.upscale(ctx["source"], value)


def _job(value: Any) -> Callable[..., Any]:
    return lambda client, ctx: client.get_job(value)


def _download(target: Callable[[dict[str, Any]], Any]) -> Callable[..., Any]:
    return lambda client, ctx: client.download(ctx["result"], target(ctx))


def _download_from(source: Any) -> Callable[..., Any]:
    return lambda client, ctx: client.download(source, ctx["tmp"] / "out.mp4")


def _many(ids: Any = None, **options: Any) -> Callable[..., Any]:
    return lambda client, ctx: client.upscale_many(
        [ctx["source"]] if ids is None else ids, progress=False, **options
    )


def _wait(**options: Any) -> Callable[..., Any]:
    return lambda client, ctx: client.wait(
        "j1737312345678v-u1-email:a@b.c-bot:google-flow", **options
    )


def _construct(**settings: Any) -> Callable[..., Any]:
    """A new client of the same kind as ``client``, with ``settings`` over valid ones."""

    def call(client: Any, ctx: dict[str, Any]) -> Any:
        merged = {"token": ctx["token"], "base_url": ctx["base_url"], **FAST, **settings}
        token = merged.pop("token")
        return ctx["make"](token, **merged)

    return call


def _video_id(user: str = "12345", email: str = HEX_JO, tail: str = "video:abc") -> str:
    return f"user:{user}-email:{email}-{tail}"


HUGE = "x" * MEGABYTE
CATALOGUE: list[Case] = [
    # -- media generation ids ---------------------------------------------------------
    Case("id empty", _upscale(""), "empty"),
    Case("id whitespace only", _upscale(" \t\n "), "empty"),
    Case("id with trailing newline", _upscale(_video_id() + "\n"), "strip"),
    Case("id None", _upscale(None), "must be a string"),
    Case("id bytes", _upscale(_video_id().encode()), "must be a string"),
    Case("id list", _upscale([_video_id()]), "must be a string"),
    Case("id image", _upscale(_video_id(tail="image:abc")), "image id"),
    Case("id wrong prefix", _upscale("usr:12345-email:" + HEX_JO + "-video:abc"), "expected"),
    Case("id non-hex email", _upscale(_video_id(email="jo.ultra@example.com")), "expected"),
    Case("id huge 1 MB", _upscale("user:1-email:6a6f-video:" + HUGE), "mediaGenerationId"),
    Case("id huge 1 MB garbage", _upscale(HUGE), "not a mediaGenerationId"),
    Case("id unicode RTL", _upscale(_video_id(tail="video:\u202eabc")), "mediaGenerationId"),
    Case("id NUL byte", _upscale(_video_id(tail="video:ab\x00c")), "mediaGenerationId"),
    Case("id emoji", _upscale("\U0001f3ac"), "not a mediaGenerationId"),
    Case("id SQL injection", _upscale("x'; DROP TABLE exchanges; --"), "not a mediaGenerationId"),
    Case("id HTML injection", _upscale("<script>alert(1)</script>"), "not a mediaGenerationId"),
    Case("id job id", _upscale("j1737312345678v-u1-email:a@b.c-bot:google-flow"), "job id"),
    Case("id signed URL", _upscale("https://media.example/v.mp4?Expires=1"), "URL"),
    Case("id via submit, unicode", _submit("\u0443\u0441\u0435\u0440"), "not a mediaGenerationId"),
    # -- resolutions ------------------------------------------------------------------
    Case("resolution 4k", _resolution("4k"), "'4K'"),
    Case("resolution 2160p", _resolution("2160p"), "'4K'"),
    Case("resolution 1080", _resolution("1080"), "'1080p'"),
    Case("resolution None", _resolution(None), "'1080p' or '4K'"),
    Case("resolution int 4", _resolution(4), "'1080p' or '4K'"),
    Case("resolution float", _resolution(1080.0), "'1080p' or '4K'"),
    Case("resolution 8K", _resolution("8K"), "'1080p' or '4K'"),
    Case("resolution huge", _resolution(HUGE), "'1080p' or '4K'"),
    Case("resolution NUL", _resolution("4K\x00"), "'1080p' or '4K'"),
    # -- captcha options --------------------------------------------------------------
    Case(
        "captcha two at once", _with_source(captcha_retry=3, captcha_order="CapSolver"), "only one"
    ),
    Case(
        "captcha all three",
        _with_source(captcha_retry=3, captcha_order="CapSolver", captcha_token="t" * 40),
        "only one",
    ),
    Case("captcha retry 0", _with_source(captcha_retry=0), "between 1 and 10"),
    Case("captcha retry 11", _with_source(captcha_retry=11), "between 1 and 10"),
    Case("captcha retry True", _with_source(captcha_retry=True), "integer"),
    Case("captcha retry '5'", _with_source(captcha_retry="5"), "integer"),
    Case("captcha retry NaN", _with_source(captcha_retry=math.nan), "integer"),
    Case(
        "captcha order unknown",
        _with_source(captcha_order="CapSolver,Evil"),
        "unknown captcha provider",
    ),
    Case("captcha order 11 entries", _with_source(captcha_order=["CapSolver"] * 11), "at most 10"),
    Case("captcha order empty", _with_source(captcha_order=""), "empty"),
    Case("captcha order empty list", _with_source(captcha_order=[]), "at least one provider"),
    Case("captcha order dict", _with_source(captcha_order={"CapSolver": 1}), "comma-separated"),
    Case(
        "captcha order injection",
        _with_source(captcha_order="CapSolver\r\nX-Evil: 1"),
        "unknown captcha provider",
    ),
    Case("captcha token short", _with_source(captcha_token="abc"), "at least 20"),
    Case(
        "captcha token with spaces",
        _with_source(captcha_token="a" * 12 + " " + "b" * 12),
        "without spaces",
    ),
    Case("captcha token bytes", _with_source(captcha_token=b"x" * 40), "must be a string"),
    # -- job ids ----------------------------------------------------------------------
    Case("job id path traversal", _job("j1/../../accounts"), "'/'"),
    Case("job id query", _job("j1?x=1"), "'?'"),
    Case("job id encoded", _job("j1%2Fx"), "percent-encoded"),
    Case("job id NUL", _job("j1\x00x"), "job id"),
    Case("job id CRLF", _job("j1\r\nX-Evil: 1"), "whitespace"),
    Case("job id huge", _job("j" * MEGABYTE + "/"), "'/'"),
    # -- reply (webhook) options ------------------------------------------------------
    Case("reply_url javascript:", _submit_source(reply_url="javascript:alert(1)"), "http(s) URL"),
    Case("reply_url file://", _submit_source(reply_url="file:///etc/passwd"), "http(s) URL"),
    Case("reply_url no host", _submit_source(reply_url="http://"), "http(s) URL"),
    Case("reply_ref int", _submit_source(reply_ref=7), "reply_ref"),
    # -- URLs and paths of downloads ----------------------------------------------------
    Case("download file:// URL", _download_from("file:///etc/passwd"), "http(s) video URL"),
    Case("download javascript: URL", _download_from("javascript:alert(1)"), "http(s) video URL"),
    Case("download int", _download_from(42), "not int"),
    Case(
        "download into missing dir",
        _download(lambda ctx: ctx["tmp"] / "nope" / "v.mp4"),
        "create it first",
    ),
    Case("download path NUL", _download(lambda ctx: str(ctx["tmp"] / "v\x00.mp4")), "path"),
    Case("download path None", _download(lambda ctx: None), "path"),
    # -- client settings: base URL, tokens, timeouts ------------------------------------
    Case(
        "base_url without scheme", _construct(base_url="api.useapi.net/v1/google-flow"), "http://"
    ),
    Case("base_url file://", _construct(base_url="file:///etc/passwd"), "http://"),
    Case("base_url javascript:", _construct(base_url="javascript:alert(1)"), "http://"),
    Case("base_url with query", _construct(base_url="https://api.useapi.net/v1?token=x"), "query"),
    Case("token empty", _construct(token=""), "USEAPI_TOKEN"),
    Case("token whitespace", _construct(token=" \t "), "USEAPI_TOKEN"),
    Case("token newline injection", _construct(token="abc\nX-Evil: 1"), "copy it again"),
    Case("token CR injection", _construct(token="abc\rX-Evil: 1"), "copy it again"),
    Case("token non-ASCII", _construct(token="t\u00f6ken-\u0442\u043e\u043a\u0435\u043d"), "ASCII"),
    Case("token NUL", _construct(token="abc\x00def"), "copy it again"),
    Case("token bytes", _construct(token=b"abcdef"), "must be a string"),
    Case("timeout negative", _construct(timeout=-1), "timeout"),
    Case("timeout NaN", _construct(timeout=math.nan), "timeout"),
    Case("timeout string", _construct(timeout="60"), "timeout"),
    Case("max_retries negative", _construct(max_retries=-1), "max_retries"),
    Case("wait timeout NaN", _wait(timeout=math.nan), "timeout"),
    Case("wait timeout negative", _wait(timeout=-5), "timeout"),
    # -- batches ----------------------------------------------------------------------
    Case("concurrency 0", _many(concurrency=0), "concurrency"),
    Case("concurrency -1", _many(concurrency=-1), "concurrency"),
    Case("concurrency float", _many(concurrency=2.5), "concurrency"),
    Case("batch with a bad id", _many(ids=["not-an-id"]), "mediaGenerationId"),
    Case("batch ids a string", _many(ids="user:1-email:6a-video:x"), "list"),
]


def test_the_catalogue_is_large_and_unique() -> None:
    labels = [case.label for case in CATALOGUE]
    assert len(labels) >= 50
    assert len(set(labels)) == len(labels)


def _total_requests(sim: Any) -> int:
    stats = sim.stats()
    return sum(stats["requests"].values()) + int(stats["media_requests"])


def _context(sim: Any, tmp_path: Path, make: Callable[..., Any], result: Any) -> dict[str, Any]:
    return {
        "source": sim.sample_ids(JO)[0],
        "token": sim.token,
        "base_url": sim.base_url,
        "tmp": tmp_path,
        "make": make,
        "result": result,
    }


def _check_catalogue(sim: Any, client: Any, ctx: dict[str, Any]) -> list[str]:
    """Run every case; return what went wrong (an empty list when all is well)."""
    problems: list[str] = []
    before = _total_requests(sim)
    for case in CATALOGUE:
        try:
            made = case.call(client, ctx)
        except fu.InputError as exc:
            if case.keyword.lower() not in str(exc).lower():
                problems.append(f"{case.label}: message {str(exc)[:200]!r} lacks {case.keyword!r}")
            if len(str(exc)) > 2000:
                problems.append(f"{case.label}: message of {len(str(exc))} characters")
        except Exception as exc:  # any other kind is the failure this test exists to catch
            problems.append(f"{case.label}: {type(exc).__name__}: {str(exc)[:200]}")
        else:
            problems.append(f"{case.label}: accepted, returned {type(made).__name__}")
        now = _total_requests(sim)
        if now != before:
            problems.append(f"{case.label}: {now - before} request(s) sent before refusing")
            before = now
    return problems


def test_every_hostile_input_is_refused_before_any_request_sync(sim: Any, tmp_path: Path) -> None:
    made: list[fu.FlowClient] = []

    def make(token: Any, **settings: Any) -> fu.FlowClient:
        made.append(fu.FlowClient(token, **settings))
        return made[-1]

    with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
        result = client.upscale(sim.sample_ids(JO)[1])  # a real result to download
        ctx = _context(sim, tmp_path, make, result)
        problems = _check_catalogue(sim, client, ctx)
    for extra in made:
        extra.close()
    assert problems == [], "\n".join(problems)
    assert not list(tmp_path.iterdir()), "a refused download left a file behind"


class _Blocking:
    """Runs an AsyncFlowClient's coroutine methods to completion (one body, both clients)."""

    def __init__(self, client: fu.AsyncFlowClient, runner: asyncio.Runner) -> None:
        self._client, self._runner = client, runner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if asyncio.iscoroutinefunction(value):
            return lambda *args, **kwargs: self._runner.run(value(*args, **kwargs))
        return value


def test_every_hostile_input_is_refused_before_any_request_async(sim: Any, tmp_path: Path) -> None:
    with asyncio.Runner() as runner:
        made: list[fu.AsyncFlowClient] = []

        async def build(token: Any, **settings: Any) -> fu.AsyncFlowClient:
            made.append(fu.AsyncFlowClient(token, **settings))
            return made[-1]

        def make(token: Any, **settings: Any) -> Any:
            return _Blocking(runner.run(build(token, **settings)), runner)

        client = make(sim.token, base_url=sim.base_url, **FAST)
        result = client.upscale(sim.sample_ids(JO)[1])
        problems = _check_catalogue(sim, client, _context(sim, tmp_path, make, result))
        for each in made:
            runner.run(each.aclose())
    assert problems == [], "\n".join(problems)
    assert not list(tmp_path.iterdir())


def test_a_download_onto_a_directory_without_permission_names_the_fix(
    sim: Any, tmp_path: Path
) -> None:
    """As root any directory is writable, so the case becomes a path under a regular file
    (refused for every user): either way the error names the path, and nothing is left."""
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        target = blocker / "v.mp4"
    else:
        locked.chmod(0o500)
        target = locked / "v.mp4"
    with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
        result = client.upscale(sim.sample_ids(JO)[0])
        before = _total_requests(sim)
        try:
            with pytest.raises(fu.InputError) as caught:
                client.download(result, target)
        finally:
            locked.chmod(0o700)
    assert str(target.parent) in str(caught.value)
    assert _total_requests(sim) == before
    assert not target.exists()
