"""Every error class, with its attributes, as both clients raise it against the simulator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from client_support import ULTRA

import flowup_nb as fu
from flowup_nb.api.errors import classify

# fault kind -> (class, status, reason, captcha_quality, words the advice must carry)
STATUS_FAULTS: dict[str, tuple[type[fu.APIStatusError], int, str | None, bool, tuple[str, ...]]] = {
    "400": (fu.BadRequestError, 400, None, False, ("Fix the request",)),
    "401": (fu.AuthenticationError, 401, None, False, ("USEAPI_TOKEN",)),
    "402": (fu.PaymentRequiredError, 402, None, False, ("credits", "subscription")),
    "403_captcha": (fu.CaptchaRejectedError, 403, None, True, ("captcha_retry", "5 or more")),
    "404": (fu.NotFoundError, 404, None, False, ("useapi.net",)),
    "408": (fu.PollingTimeoutError, 408, None, False, ("free", "caches")),
    "429_throttled": (
        fu.RateLimitError,
        429,
        "PUBLIC_ERROR_USER_REQUESTS_THROTTLED",
        False,
        ("fewer parallel requests", "UTC"),
    ),
    "429_quota": (
        fu.RateLimitError,
        429,
        "PUBLIC_ERROR_USER_QUOTA_REACHED",
        False,
        ("add accounts", "UTC"),
    ),
    "429_model_quota": (
        fu.RateLimitError,
        429,
        "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED",
        False,
        ("switch model", "UTC midnight"),
    ),
    "429_unusual_activity": (
        fu.RateLimitError,
        429,
        "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC",
        True,
        ("captcha_order", "captcha_retry"),
    ),
    "429_no_eligible_account": (
        fu.NoEligibleAccountError,
        429,
        "no_eligible_account",
        False,
        ("quarantined", "UTC"),
    ),
    "503_unavailable": (fu.ServiceUnavailableError, 503, None, False, ("5-10 seconds",)),
    "503_captcha_service": (fu.CaptchaProviderError, 503, None, False, ("balance", "not retry")),
    "500": (fu.ServerError, 500, None, False, ("retry later",)),
}


@pytest.mark.parametrize("fault", sorted(STATUS_FAULTS))
def test_status_fault_raises_its_class_with_attributes(
    fault: str, sim: Any, make_client: Any
) -> None:
    cls, status, reason, captcha_quality, advice = STATUS_FAULTS[fault]
    seen: list[Any] = []
    client = make_client(sim.token, base_url=sim.base_url, max_retries=0)
    client.subscribe(seen.append)
    is_429 = status == 429
    sim.inject("upscale", fault, retry_after=1000 if is_429 else None)

    with pytest.raises(cls) as caught:
        client.upscale(sim.sample_ids(ULTRA)[0])

    err = caught.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.reason == reason
    assert err.captcha_quality is captcha_quality
    assert isinstance(err.body, dict)
    server_error = err.body["error"]
    expected = server_error if isinstance(server_error, str) else server_error["message"]
    assert err.message == expected
    assert str(err).startswith(f"HTTP {status}: {expected}")
    for words in advice:
        assert words in str(err)
    if is_429:
        assert err.retry_after == pytest.approx(1000, abs=1)
    else:
        assert err.retry_after is None
    # the exchange was recorded, flagged the same way
    assert len(seen) == 1
    assert seen[0].http_status == status
    assert seen[0].error_type == cls.__name__
    assert seen[0].error_reason == reason
    assert seen[0].captcha_quality is captcha_quality
    assert seen[0].outcome == "error"
    assert seen[0].will_retry is False


def test_captcha_provider_error_is_not_a_service_unavailable_error() -> None:
    assert not issubclass(fu.CaptchaProviderError, fu.ServiceUnavailableError)
    assert issubclass(fu.CaptchaProviderError, fu.ServerError)
    assert issubclass(fu.NoEligibleAccountError, fu.RateLimitError)
    assert issubclass(fu.APITimeoutError, fu.APIConnectionError)
    assert issubclass(fu.InputError, ValueError)
    for name in (
        "InputError",
        "APIConnectionError",
        "ResponseFormatError",
        "JobFailedError",
        "JobTimeoutError",
        "APIStatusError",
        "DownloadError",
    ):
        assert issubclass(getattr(fu, name), fu.FlowError)


def test_sync_408_carries_the_job_id(sim: Any, make_client: Any) -> None:
    client = make_client(sim.token, base_url=sim.base_url, upscale_timeout=30.0)
    sim.inject("upscale", "slow_job")
    with pytest.raises(fu.PollingTimeoutError) as caught:
        client.upscale(sim.new_video_id(ULTRA))
    assert caught.value.job_id
    assert caught.value.job_id in str(caught.value)
    assert sim.stats()["requests"]["upscale"] == 1  # a 408 is never resent by the client


def test_dropped_connection_is_an_api_connection_error(sim: Any, make_client: Any) -> None:
    client = make_client(sim.token, base_url=sim.base_url, max_retries=0)
    sim.inject("upscale", "drop")
    with pytest.raises(fu.APIConnectionError) as caught:
        client.upscale(sim.sample_ids(ULTRA)[0])
    assert not isinstance(caught.value, fu.APITimeoutError)
    assert caught.value.request_sent is True
    assert "/videos/upscale" in str(caught.value)


def test_slow_answer_is_an_api_timeout_error(sim: Any, make_client: Any) -> None:
    client = make_client(
        sim.token, base_url=sim.base_url, max_retries=0, timeout=0.2, upscale_timeout=0.2
    )
    sim.inject("upscale", "delay", delay=1.0)
    with pytest.raises(fu.APITimeoutError) as caught:
        client.upscale(sim.sample_ids(ULTRA)[0])
    assert "timed out" in str(caught.value)


def test_unreachable_server_is_a_connection_error_not_sent(make_client: Any) -> None:
    client = make_client("t" * 24, base_url="http://127.0.0.1:9/v1/google-flow", max_retries=0)
    with pytest.raises(fu.APIConnectionError) as caught:
        client.get_job("j1737312345678v-u1-email:a@b.c-bot:google-flow")
    assert caught.value.request_sent is False


def test_malformed_json_is_a_response_format_error(sim: Any, make_client: Any) -> None:
    client = make_client(sim.token, base_url=sim.base_url, max_retries=0)
    sim.inject("upscale", "malformed_json")
    with pytest.raises(fu.ResponseFormatError) as caught:
        client.upscale(sim.sample_ids(ULTRA)[0])
    assert caught.value.status_code == 200
    assert caught.value.snippet
    assert caught.value.snippet in str(caught.value)


# -- classify, pure: cases the simulator's faults do not cover ----------------------------

NOW = datetime(2026, 5, 20, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("status", [400, 403, 429, 500, 503])
def test_captcha_quality_is_detected_whatever_the_status(status: int) -> None:
    err = classify(status, {}, {"error": "captcha_quality: score too low after 3 attempts"})
    assert err.captcha_quality is True
    assert "captcha_retry" in str(err)


def test_a_403_without_captcha_prefix_is_permission_denied_not_captcha() -> None:
    err = classify(403, {}, {"error": "4K requires a Google AI Ultra subscription"})
    assert type(err) is fu.PermissionDeniedError
    assert "Ultra" in str(err)
    assert not err.captcha_quality


def test_reason_is_read_from_google_details() -> None:
    body = {
        "error": "Too many requests",
        "response": {
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "x", "reason": "PUBLIC_ERROR_USER_QUOTA_REACHED"}],
            }
        },
    }
    err = classify(429, {"Retry-After": "1800"}, body, now=NOW)
    assert err.reason == "PUBLIC_ERROR_USER_QUOTA_REACHED"
    assert err.retry_after == 1800
    assert "2026-05-20 12:30:00 UTC" in str(err)


def test_job_id_is_kept_from_either_casing() -> None:
    assert classify(500, {}, {"error": "x", "jobid": "j1"}).job_id == "j1"
    assert classify(500, {}, {"error": "x", "jobId": "j2"}).job_id == "j2"


@pytest.mark.parametrize(
    ("status", "cls"),
    [(418, fu.APIStatusError), (502, fu.ServerError), (504, fu.ServerError)],
)
def test_other_statuses_fall_back_to_the_base_classes(status: int, cls: type) -> None:
    err = classify(status, {}, "<html>Bad gateway</html>")
    assert type(err) is cls
    assert err.message == "<html>Bad gateway</html>"
