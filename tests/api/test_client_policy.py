"""The pure decisions: Retry-After forms, backoff, what is retried, the poll schedule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

import flowup_nb as fu
from flowup_nb.api import policy, times
from flowup_nb.api.errors import classify

NOW = datetime(2026, 5, 20, 12, 0, 0, tzinfo=UTC)

RETRY_AFTER_FORMS = [
    # (Retry-After header, body retryAfter, expected seconds)
    ("120", None, 120.0),
    ("0", None, 0.0),
    (" 7 ", None, 7.0),
    ("1.5", None, 1.5),
    ("Wed, 20 May 2026 12:01:30 GMT", None, 90.0),
    ("Wed, 20 May 2026 11:00:00 GMT", None, 0.0),  # in the past: go now
    (None, "2026-05-20T12:00:45.000Z", 45.0),
    (None, "2026-05-20T12:00:45Z", 45.0),
    (None, "2026-05-20T14:00:45+02:00", 45.0),
    (None, "2026-05-20T12:00:45", 45.0),  # naive means UTC
    (None, "2026-05-20T11:59:00Z", 0.0),
    ("30", "2026-05-20T13:00:00Z", 30.0),  # the relative header wins
    ("soon", "2026-05-20T12:00:10Z", 10.0),  # unreadable header: fall back to the body
    ("soon", None, None),
    (None, "tomorrow", None),
    ("", "", None),
    ("-5", None, 0.0),
    ("inf", None, None),
]


@pytest.mark.parametrize(("header", "body", "expected"), RETRY_AFTER_FORMS)
def test_retry_after_forms(header: str | None, body: str | None, expected: float | None) -> None:
    assert times.retry_after_seconds(header, body, now=NOW) == expected


@pytest.mark.parametrize(("header", "body", "expected"), RETRY_AFTER_FORMS)
def test_classify_reads_retry_after_forms(
    header: str | None, body: str | None, expected: float | None
) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    payload = {"error": "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"}
    if body is not None:
        payload["retryAfter"] = body
    err = classify(429, headers, payload, now=NOW)
    assert err.retry_after == expected


def test_backoff_grows_exponentially_within_jitter_bounds() -> None:
    retry = policy.RetryPolicy(max_retries=5, backoff=5.0, max_retry_wait=120.0)
    assert retry.backoff_delay(0, 0.0) == 5.0
    assert retry.backoff_delay(0, 0.999) == pytest.approx(9.995)  # the docs' 5-10 s
    assert retry.backoff_delay(1, 0.0) == 10.0
    assert retry.backoff_delay(2, 0.5) == 30.0
    assert retry.backoff_delay(10, 0.5) == 120.0  # capped at max_retry_wait


def _status(status: int, body: object, headers: dict[str, str] | None = None) -> fu.FlowError:
    return classify(status, headers or {}, body, now=NOW)


RETRY_TABLE = [
    # (error, idempotent, retried?)
    (_status(503, {"error": {"code": 503, "message": "Service unavailable."}}), True, True),
    (_status(503, {"error": {"code": 503, "message": "x"}}), False, True),
    (_status(503, {"error": "Captcha service failed: ERROR_ZERO_BALANCE"}), True, False),
    (_status(500, {"error": "Internal"}), True, True),
    (_status(500, {"error": "Internal"}), False, False),  # a generation may have run
    (_status(502, "bad gateway"), True, True),
    (_status(429, {"error": "x"}, {"Retry-After": "10"}), False, True),
    (_status(429, {"error": "x"}, {"Retry-After": "121"}), True, False),  # > max_retry_wait
    (_status(429, {"error": "x"}), True, True),  # no wait announced: backoff
    *[(_status(s, {"error": "x"}), True, False) for s in (400, 401, 402, 403, 404, 408)],
    (fu.APIConnectionError("refused", request_sent=False), False, True),
    (fu.APIConnectionError("dropped", request_sent=True), True, True),
    (fu.APIConnectionError("dropped", request_sent=True), False, False),
    (fu.APITimeoutError("slow", request_sent=True), False, False),
    (fu.ResponseFormatError("not JSON", not_json=True), True, True),
    (fu.ResponseFormatError("not JSON", not_json=True), False, False),
    (fu.ResponseFormatError("wrong shape"), True, False),
]


@pytest.mark.parametrize(("error", "idempotent", "retried"), RETRY_TABLE)
def test_retry_decisions(error: fu.FlowError, idempotent: bool, retried: bool) -> None:
    retry = policy.RetryPolicy(max_retries=2, backoff=5.0, max_retry_wait=120.0)
    decision = policy.decide_retry(
        error, retries_done=0, policy=retry, idempotent=idempotent, jitter=0.0
    )
    assert decision.retry is retried, decision.why
    exhausted = policy.decide_retry(
        error, retries_done=2, policy=retry, idempotent=idempotent, jitter=0.0
    )
    assert exhausted.retry is False


def test_a_429_waits_exactly_the_announced_time() -> None:
    retry = policy.RetryPolicy(max_retries=2, backoff=5.0, max_retry_wait=120.0)
    err = _status(429, {"error": "x"}, {"Retry-After": "42"})
    decision = policy.decide_retry(err, retries_done=0, policy=retry, idempotent=True, jitter=0.9)
    assert decision.delay == 42.0


def test_no_retry_when_it_would_start_after_the_deadline() -> None:
    retry = policy.RetryPolicy(max_retries=2, backoff=5.0, max_retry_wait=120.0)
    err = _status(503, {"error": {"message": "x"}})
    late = policy.decide_retry(
        err, retries_done=0, policy=retry, idempotent=True, jitter=0.0, time_left=4.0
    )
    assert late.retry is False
    early = policy.decide_retry(
        err, retries_done=0, policy=retry, idempotent=True, jitter=0.0, time_left=6.0
    )
    assert early.retry is True


def test_poll_schedule_starts_near_a_second_and_settles_at_10_to_15_s() -> None:
    schedule = policy.PollSchedule()
    delays = [schedule.delay(n) for n in range(12)]
    assert delays[0] == 1.0
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert 10.0 <= delays[-1] <= 15.0
    scaled = schedule.scaled(0.01)
    assert scaled.delay(0) == pytest.approx(0.01)
    assert scaled.delay(50) == pytest.approx(delays[-1] * 0.01)


def test_poll_sleep_is_cut_short_by_the_deadline() -> None:
    schedule = policy.PollSchedule()
    assert policy.sleep_before_next_poll(20, schedule, time_left=3.0) == 3.0
    assert policy.sleep_before_next_poll(0, schedule, time_left=-1.0) == 0.0


@pytest.mark.parametrize(
    "value",
    [(0.1, 1.0), [0.1, 1.0], policy.PollSchedule(0.1, 2.0, 1.0)],
)
def test_poll_schedule_coerces_pairs(value: object) -> None:
    assert policy.PollSchedule.coerce(value).first == pytest.approx(0.1)


@pytest.mark.parametrize("value", [(0, 1), (2, 1), "fast", (1, 2, 3)])
def test_poll_schedule_refuses_nonsense(value: object) -> None:
    with pytest.raises(fu.InputError):
        policy.PollSchedule.coerce(value)


@pytest.mark.parametrize(
    ("media_id", "email"),
    [
        ("user:12345-email:6a6f40782e636f6d-video:CAMaJDMx", "jo@x.com"),
        ("user:1-email:6a6f40782e636f6d-video:abc_upsampled", "jo@x.com"),
        ("user:1-email:zz-video:abc", None),
        ("user:1-email:6a6f-video:abc", None),  # "jo": no @, not an email
        ("user:1-email:6a6f4-video:abc", None),  # odd length
        (None, None),
    ],
)
def test_account_is_decoded_from_the_id(media_id: str | None, email: str | None) -> None:
    assert policy.decode_account(media_id) == email
