"""The form's pure core: the state machine, the error advice, the HTML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from formkit import attribute

import flowup_nb as fu
from flowup_nb.api.errors import classify
from flowup_nb.widgets.advice import describe_error
from flowup_nb.widgets.player import classify_probe, public_url, video_html
from flowup_nb.widgets.status import (
    BUSY_PHASES,
    END_PHASES,
    FormState,
    InvalidTransition,
    Phase,
    format_elapsed,
)
from flowup_nb.widgets.views import error_html, status_html

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


# -- state machine -------------------------------------------------------------------


def test_a_whole_async_upscale_walks_the_machine() -> None:
    state = FormState()
    assert not state.busy and state.elapsed(5.0) is None
    state = state.to(Phase.SUBMITTING, now=10.0, mode="async", resolution="4K")
    assert state.busy and state.elapsed(12.5) == 2.5
    state = state.to(Phase.CREATED, now=11.0, job_id="j1")
    state = state.to(Phase.STARTED, now=12.0)
    assert state.job_id == "j1"
    state = state.to(Phase.COMPLETED, now=20.0, result="r")
    assert not state.busy
    assert state.elapsed(99.0) == 10.0  # frozen at the end
    assert state.status_text(99.0) == "done · 4K async · 10.0 s · job j1"


@pytest.mark.parametrize("end", sorted(END_PHASES))
def test_an_ended_upscale_cannot_be_dragged_back(end: Phase) -> None:
    state = FormState().to(Phase.SUBMITTING, now=0.0).to(end, now=1.0)
    for late in (Phase.CREATED, Phase.STARTED, Phase.COMPLETED):
        with pytest.raises(InvalidTransition):
            state.to(late, now=2.0)
    again = state.to(Phase.SUBMITTING, now=3.0)
    assert again.job_id is None and again.result is None and again.error is None


def test_idle_cannot_complete_and_busy_cannot_restart() -> None:
    with pytest.raises(InvalidTransition):
        FormState().to(Phase.COMPLETED, now=0.0)
    for phase in BUSY_PHASES:
        state = FormState(phase=phase, started_at=0.0)
        assert not state.can_move_to(Phase.SUBMITTING)


def test_a_new_upscale_forgets_the_last_one() -> None:
    state = (
        FormState()
        .to(Phase.SUBMITTING, now=0.0)
        .to(Phase.ERROR, now=1.0, error="e", note="n", job_id="j")
    )
    fresh = state.to(Phase.SUBMITTING, now=5.0, mode="sync")
    assert (fresh.error, fresh.note, fresh.job_id, fresh.started_at) == (None, None, None, 5.0)


def test_elapsed_reads_well() -> None:
    assert format_elapsed(4.21) == "4.2 s"
    assert format_elapsed(65.2) == "1 min 05 s"
    assert format_elapsed(3600) == "60 min 00 s"


def test_status_html_escapes_and_marks_the_phase() -> None:
    state = FormState().to(Phase.SUBMITTING, now=0.0).to(Phase.CREATED, now=0.5, job_id='j<1>"')
    markup = status_html(state, now=1.0)
    assert attribute(markup, "flowup-status-line", "data-phase") == "created"
    assert 'j<1>"' not in markup and "j&lt;1&gt;&quot;" in markup


# -- advice ------------------------------------------------------------------------------


def _error(status: int, body: object, headers: dict[str, str] | None = None) -> fu.FlowError:
    return classify(status, headers or {}, body, now=NOW)


def test_rate_limit_says_when_to_retry() -> None:
    error = _error(
        429,
        {
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"reason": "PUBLIC_ERROR_USER_QUOTA_REACHED"}],
            }
        },
        {"Retry-After": "1800"},
    )
    view = describe_error(error, NOW)
    assert view.retry_at == NOW + timedelta(seconds=1800)
    assert view.retry == "after 12:30:00 UTC (in 30 min)"
    assert "add accounts" in view.advice


def test_transient_and_provider_503_differ() -> None:
    outage = describe_error(
        _error(
            503,
            {
                "error": {
                    "code": 503,
                    "message": "Service temporarily unavailable.",
                    "status": "UNAVAILABLE",
                }
            },
        ),
        NOW,
    )
    provider = describe_error(
        _error(503, {"error": "Captcha service failed: ERROR_ZERO_BALANCE", "code": 503}), NOW
    )
    assert outage.retry_at == NOW + timedelta(seconds=10)
    assert provider.retry_at is None and "provider" in provider.retry


def test_input_and_unexpected_errors() -> None:
    view = describe_error(fu.InputError("resolution must be '1080p' or '4K'"), NOW)
    assert view.title == "Check the input" and "Nothing was sent" in view.advice
    try:
        raise KeyError("oops")
    except KeyError as exc:
        bug = describe_error(exc, NOW)
    assert bug.kind == "KeyError" and "Traceback" in bug.details
    markup = error_html(bug)
    assert "<details>" in markup and "oops" in markup


def test_error_html_escapes_the_server_text() -> None:
    view = describe_error(_error(400, {"error": "<script>alert(1)</script>"}), NOW)
    markup = error_html(view)
    assert "<script>" not in markup and "&lt;script&gt;" in markup


# -- player ------------------------------------------------------------------------------


def test_video_html_escapes_the_url() -> None:
    url = 'https://cdn.example/v.mp4?Expires=1&Signature=a"b<c'
    markup = video_html(video_url=url, thumbnail_url="https://cdn.example/t.jpg?x=1&y=2")
    assert 'a"b<c' not in markup
    assert attribute(markup, "flowup-video", "src") == url
    assert attribute(markup, "flowup-video", "poster") == "https://cdn.example/t.jpg?x=1&y=2"
    for word in ("controls", "muted", "playsinline"):
        assert f" {word} " in markup


def test_video_html_inlines_small_bytes_only() -> None:
    inline = video_html(video_url=None, raw_bytes=b"\x00\x00\x00\x20ftypisom")
    assert attribute(inline, "flowup-video", "src") == "data:video/mp4;base64,AAAAIGZ0eXBpc29t"
    big = video_html(video_url=None, raw_bytes=b"\x00" * (16 * 1024 * 1024 + 1))
    assert "<video" not in big and "too large" in big
    assert "no video" in video_html(video_url=None)


def test_probe_classification() -> None:
    assert classify_probe(206, "video/mp4", b"").ok
    assert classify_probe(200, "application/octet-stream", b"\0\0\0\x20ftypisom").ok
    expired = classify_probe(403, "text/plain", b"")
    assert not expired.ok and expired.expired
    assert not classify_probe(200, "text/html", b"<html>").ok
    gone = classify_probe(None, None, b"", "ConnectError")
    assert not gone.ok and "ConnectError" in gone.reason
    assert public_url("https://h/p/v.mp4?Signature=s") == "https://h/p/v.mp4"
