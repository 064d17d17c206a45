"""A closed client refuses every call with a FlowError naming the fix, before any request
(today httpx's raw RuntimeError escapes; a download even opens a new connection pool
that nothing closes); and an account email with stray whitespace or control characters
is refused by name before any request (today httpx's raw InvalidURL escapes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from client_support import ULTRA, total_requests

import flowup_nb as fu
from flowup_nb.api.policy import validate_email


def _calls(sim: Any, tmp_path: Path) -> dict[str, Callable[[Any, Any, Any], Any]]:
    return {
        "upscale": lambda c, source, job: c.upscale(source),
        "submit_upscale": lambda c, source, job: c.submit_upscale(source),
        "get_job": lambda c, source, job: c.get_job(job),
        "wait": lambda c, source, job: c.wait(job, timeout=5),
        "get_account": lambda c, source, job: c.get_account(ULTRA),
        "generate_video": lambda c, source, job: c.generate_video("a cat"),
        "download": lambda c, source, job: c.download(sim.publish_file(_video()), tmp_path),
        "upscale_many": lambda c, source, job: c.upscale_many([source], progress=False),
    }


def _video() -> Path:
    from flowup_nb.sim.media import ASSETS_DIR

    return ASSETS_DIR / "upscaled_1080p.mp4"


def test_every_call_on_a_closed_client_is_refused_by_name(
    sim: Any, client: Any, tmp_path: Path
) -> None:
    source = sim.sample_ids(ULTRA)[0]
    job = client.submit_upscale(source)
    client.close()
    sent = total_requests(sim)
    media = sim.stats()["media_requests"]
    escaped: dict[str, str] = {}
    for name, call in _calls(sim, tmp_path).items():
        try:
            call(client, source, job)
        except fu.FlowError as error:
            assert "closed" in str(error), name
        except Exception as error:  # what this test is about
            escaped[name] = type(error).__name__
        else:
            escaped[name] = "no error"
    assert escaped == {}
    assert total_requests(sim) == sent
    assert sim.stats()["media_requests"] == media


def test_closing_twice_is_harmless(sim: Any, client: Any) -> None:
    client.upscale(sim.sample_ids(ULTRA)[0])
    client.close()
    client.close()


BAD_EMAILS = [
    (f"{ULTRA}\n", "whitespace"),
    (f" {ULTRA}", "whitespace"),
    (f"{ULTRA} ", "whitespace"),
    ("jo ultra@example.com", "whitespace"),
    ("jo\x00@example.com", "control"),
    ("jo\u200b@example.com", "control"),
    ("", "email"),
    ("jo.example.com", "email"),
    ("jo@example.com/x", "'/'"),
    ("jo%40example.com", "'%'"),
    (42, "string"),
]


@pytest.mark.parametrize(("email", "words"), BAD_EMAILS)
def test_bad_account_emails_are_refused_by_name(email: object, words: str) -> None:
    with pytest.raises(fu.InputError, match=words):
        validate_email(email)


def test_account_emails_are_returned_as_given() -> None:
    assert validate_email(ULTRA) == ULTRA
    assert validate_email("o'brien+tag@example.co.uk") == "o'brien+tag@example.co.uk"


def test_get_account_refuses_bad_emails_before_any_request(sim: Any, client: Any) -> None:
    escaped: dict[str, str] = {}
    for email, words in BAD_EMAILS:
        try:
            client.get_account(email)
        except fu.InputError as error:
            assert words.strip("'") in str(error), email
        except Exception as error:  # what this test is about
            escaped[repr(email)] = type(error).__name__
        else:
            escaped[repr(email)] = "no error"
    assert escaped == {}
    assert total_requests(sim) == 0
