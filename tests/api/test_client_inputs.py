"""Bad input is refused before any request, with a message that names the fix."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from client_support import ULTRA, total_requests

import flowup_nb as fu

VIDEO_ID = "user:12345-email:6a6f2e756c747261406578616d706c652e636f6d-video:abc"

BAD_IDS = [
    ("", "empty"),
    ("   ", "empty"),
    (f" {VIDEO_ID}", "whitespace"),
    ("CAMaJDMx", "not a mediaGenerationId"),
    ("user:12345-email:6a6f-image:abc", "image id"),
    ("j1737312345678v-u12345-email:jo***@gmail.com-bot:google-flow", "job id"),
    ("https://flow-content.google/video/abc?Expires=1", "URL"),
    ("user:12345-email:not-hex-video:abc", "not a mediaGenerationId"),
    (12345, "must be a string"),
]


def test_bad_media_ids_are_refused(sim: Any, client: Any) -> None:
    for bad, words in BAD_IDS:
        for call in (client.upscale, client.submit_upscale):
            with pytest.raises(fu.InputError, match=words):
                call(bad)
    assert total_requests(sim) == 0


NEAR_MISSES = [("4k", "4K"), ("2160p", "4K"), ("UHD", "4K"), ("1080", "1080p"), ("1080P", "1080p")]


def test_bad_resolutions_are_refused_with_a_hint(sim: Any, client: Any) -> None:
    source = sim.sample_ids(ULTRA)[0]
    for resolution, hint in NEAR_MISSES:
        with pytest.raises(fu.InputError, match=f"use '{hint}'"):
            client.upscale(source, resolution)
    for resolution in ("720p", "", None, 1080):
        with pytest.raises(fu.InputError, match="'1080p' or '4K'"):
            client.submit_upscale(source, resolution)
    assert total_requests(sim) == 0


CAPTCHA_CASES = [
    ({"captcha_retry": 5, "captcha_order": "CapSolver"}, "mutually exclusive"),
    ({"captcha_retry": 5, "captcha_token": "x" * 30}, "mutually exclusive"),
    ({"captcha_order": "CapSolver", "captcha_token": "x" * 30}, "mutually exclusive"),
    ({"captcha_retry": 0}, "between 1 and 10"),
    ({"captcha_retry": 11}, "between 1 and 10"),
    ({"captcha_retry": True}, "integer"),
    ({"captcha_retry": "5"}, "integer"),
    ({"captcha_order": "CapSolver,Nope"}, "unknown captcha provider 'Nope'"),
    ({"captcha_order": ""}, "empty"),
    ({"captcha_order": ["CapSolver"] * 11}, "at most 10"),
    ({"captcha_order": 7}, "comma-separated"),
    ({"captcha_token": "short"}, "at least 20"),
    ({"captcha_token": "x" * 10 + " " + "x" * 10}, "without spaces"),
]


def test_bad_captcha_options_are_refused(sim: Any, client: Any) -> None:
    source = sim.sample_ids(ULTRA)[0]
    for options, words in CAPTCHA_CASES:
        for call in (client.upscale, client.submit_upscale):
            with pytest.raises(fu.InputError, match=words):
                call(source, **options)
        with pytest.raises(fu.InputError, match=words):
            client.generate_video("a cat", **options)
    assert total_requests(sim) == 0


def test_captcha_order_names_are_canonicalised(sim: Any, client: Any) -> None:
    # Case-insensitive names and a list are accepted and sent as the API spells them.
    result = client.upscale(sim.sample_ids(ULTRA)[0], captcha_order=["capsolver", "ANTICAPTCHA"])
    assert result.captcha is not None
    assert result.captcha.service in ("CapSolver", "AntiCaptcha")


BAD_JOB_IDS = [
    ("", "non-empty"),
    ("j1%3Ax", "percent-encoded"),
    ("j1/../accounts", "'/'"),
    ("j1 x", "whitespace"),
    (VIDEO_ID, "mediaGenerationId, not a job id"),
    (None, "non-empty"),
]


def test_bad_job_ids_are_refused(sim: Any, client: Any) -> None:
    for job_id, words in BAD_JOB_IDS:
        with pytest.raises(fu.InputError, match=words):
            client.get_job(job_id)
        with pytest.raises(fu.InputError, match=words):
            client.wait(job_id)
    assert total_requests(sim) == 0


def test_bad_wait_webhook_and_generation_options_are_refused(sim: Any, client: Any) -> None:
    job_id = "j1737312345678v-u1-email:a@b.c-bot:google-flow"
    for options, words in [
        ({"timeout": 0}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
        ({"on_update": 5}, "callable"),
    ]:
        with pytest.raises(fu.InputError, match=words):
            client.wait(job_id, **options)
    source = sim.sample_ids(ULTRA)[0]
    for options, words in [
        ({"reply_url": "not a url"}, "reply_url"),
        ({"reply_url": "ftp://x/y"}, "reply_url"),
        ({"reply_ref": 7}, "reply_ref"),
    ]:
        with pytest.raises(fu.InputError, match=words):
            client.submit_upscale(source, **options)
    for prompt, options, words in [
        ("", {}, "prompt"),
        (None, {}, "prompt"),
        ("a cat", {"asynchronous": True}, "async"),
    ]:
        with pytest.raises(fu.InputError, match=words):
            client.generate_video(prompt, **options)
    assert total_requests(sim) == 0


@pytest.mark.parametrize("token", [None, "", "   "])
def test_a_client_without_token_refuses_at_construction(token: Any, make_client: Any) -> None:
    with pytest.raises(fu.MissingTokenError) as caught:
        make_client(token)
    assert "USEAPI_TOKEN" in str(caught.value)
    assert "connect()" in str(caught.value)
    assert isinstance(caught.value, fu.InputError)


def test_the_token_falls_back_to_the_environment(
    sim: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USEAPI_TOKEN", sim.token)
    monkeypatch.setenv("FLOWUP_BASE_URL", sim.base_url)
    client = make_client()
    assert client.base_url == sim.base_url
    assert client.upscale(sim.sample_ids(ULTRA)[0]).video_url


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"base_url": "api.useapi.net"}, "http"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"retry_backoff": "5"}, "retry_backoff"),
        ({"max_retry_wait": -1}, "max_retry_wait"),
        ({"poll_interval": (0, 1)}, "poll"),
        ({"tags": "one"}, "tags"),
        ({"ledger": 42}, "ledger"),
    ],
)
def test_bad_client_settings_are_refused(
    settings: dict[str, Any], words: str, make_client: Any
) -> None:
    with pytest.raises(fu.InputError, match=words):
        make_client("t" * 24, **settings)


def test_the_wrong_kind_of_http_client_is_refused(kind: str) -> None:
    if kind == "sync":
        with pytest.raises(fu.InputError, match="AsyncFlowClient"):
            fu.FlowClient("t" * 24, http_client=httpx.AsyncClient())  # type: ignore[arg-type]
    else:
        with httpx.Client() as wrong, pytest.raises(fu.InputError, match="FlowClient"):
            fu.AsyncFlowClient("t" * 24, http_client=wrong)  # type: ignore[arg-type]
