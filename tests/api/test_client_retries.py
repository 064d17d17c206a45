"""What is sent again, how many times, counted by the simulator itself."""

from __future__ import annotations

from typing import Any

import pytest
from client_support import ULTRA

import flowup_nb as fu


def _upscales(sim: Any) -> int:
    return sim.stats()["requests"].get("upscale", 0)


@pytest.mark.parametrize("fault", ["503_unavailable", "500", "drop", "truncate", "malformed_json"])
def test_transient_upscale_failures_are_retried(
    fault: str, sim: Any, client: Any, exchanges: list
) -> None:
    sim.inject("upscale", fault, times=2)
    result = client.upscale(sim.sample_ids(ULTRA)[0])
    # A resend after the server ran the upscale gets the cached copy (rawBytes): free.
    assert result.video_url or result.raw_bytes
    assert _upscales(sim) == 3  # 1 + max_retries (2)
    assert [e.attempt for e in exchanges] == [0, 1, 2]
    assert [e.will_retry for e in exchanges] == [True, True, False]
    assert [e.outcome for e in exchanges] == ["error", "error", "ok"]


def test_retries_stop_after_max_retries(sim: Any, make_client: Any) -> None:
    client = make_client(sim.token, base_url=sim.base_url, max_retries=3)
    sim.inject("upscale", "503_unavailable", times=10)
    with pytest.raises(fu.ServiceUnavailableError):
        client.upscale(sim.sample_ids(ULTRA)[0])
    assert _upscales(sim) == 4


def test_max_retries_zero_sends_once(sim: Any, make_client: Any) -> None:
    client = make_client(sim.token, base_url=sim.base_url, max_retries=0)
    sim.inject("upscale", "503_unavailable")
    with pytest.raises(fu.ServiceUnavailableError):
        client.upscale(sim.sample_ids(ULTRA)[0])
    assert _upscales(sim) == 1


def test_captcha_provider_503_is_never_retried(sim: Any, client: Any, exchanges) -> None:
    sim.inject("upscale", "503_captcha_service", times=3)
    with pytest.raises(fu.CaptchaProviderError):
        client.upscale(sim.sample_ids(ULTRA)[0])
    assert _upscales(sim) == 1
    assert [e.will_retry for e in exchanges] == [False]


@pytest.mark.parametrize("lost", ["truncate", "malformed_json"])
def test_an_upscale_whose_answer_was_lost_says_asking_again_is_free(
    lost: str, sim: Any, client: Any
) -> None:
    # The first 4K attempt runs (and is charged) but its answer is lost; the resend then
    # meets an error that is not retried. The user must learn the first one may have run.
    source = sim.sample_ids(ULTRA)[0]
    sim.inject("upscale", lost)
    sim.inject("upscale", "503_captcha_service")
    with pytest.raises(fu.CaptchaProviderError) as caught:
        client.upscale(source, "4K")
    assert "may have run" in str(caught.value) and "asking again is free" in str(caught.value)
    again = client.upscale(source, "4K")  # and indeed: the repeat is cached and free
    assert again.cached and sim.stats()["credits_charged"] == {ULTRA: 50}


def test_an_error_without_a_lost_answer_before_it_has_no_such_note(sim: Any, client: Any) -> None:
    sim.inject("upscale", "503_captcha_service")
    with pytest.raises(fu.CaptchaProviderError) as caught:
        client.upscale(sim.sample_ids(ULTRA)[0])
    assert "may have run" not in str(caught.value)


@pytest.mark.parametrize("fault", ["400", "401", "402", "403_captcha", "404", "408"])
def test_client_errors_are_never_retried(fault: str, sim: Any, client: Any) -> None:
    sim.inject("upscale", fault, times=3)
    with pytest.raises(fu.APIStatusError):
        client.upscale(sim.sample_ids(ULTRA)[0])
    assert _upscales(sim) == 1


def test_a_429_within_max_retry_wait_is_waited_out(sim: Any, client: Any, exchanges) -> None:
    sim.inject("upscale", "429_throttled", retry_after=0)
    result = client.upscale(sim.sample_ids(ULTRA)[0])
    assert result.video_url
    assert _upscales(sim) == 2
    assert exchanges[0].retry_after_s == 0
    assert exchanges[0].will_retry is True


def test_a_429_beyond_max_retry_wait_raises_at_once(sim: Any, client: Any) -> None:
    sim.inject("upscale", "429_quota", retry_after=600)  # max_retry_wait is 5 s here
    with pytest.raises(fu.RateLimitError) as caught:
        client.upscale(sim.sample_ids(ULTRA)[0])
    assert caught.value.retry_after == pytest.approx(600, abs=1)
    assert _upscales(sim) == 1


# -- generation: never resent when its fate is unknown ---------------------------------


@pytest.mark.parametrize("fault", ["drop", "truncate", "500", "malformed_json"])
def test_generation_with_unknown_fate_is_not_resent(fault: str, sim: Any, client: Any) -> None:
    sim.inject("videos", fault)
    with pytest.raises(fu.FlowError) as caught:
        client.generate_video("a lighthouse in a storm")
    assert sim.stats()["requests"]["videos"] == 1
    assert "Check the account" in str(caught.value)
    assert "not resent" in str(caught.value)


@pytest.mark.parametrize(
    ("fault", "retry_after"), [("503_unavailable", None), ("429_throttled", 0)]
)
def test_generation_that_provably_did_not_run_is_resent(
    fault: str, retry_after: int | None, sim: Any, client: Any
) -> None:
    sim.inject("videos", fault, retry_after=retry_after)
    result = client.generate_video("a lighthouse in a storm")
    assert result.media_generation_id
    assert sim.stats()["requests"]["videos"] == 2
    assert sim.stats()["generations"] == 1


def test_generation_is_resent_when_the_connection_never_opened(make_client: Any, exchanges) -> None:
    client = make_client("t" * 24, base_url="http://127.0.0.1:9/v1/google-flow", max_retries=2)
    client.subscribe(exchanges.append)
    with pytest.raises(fu.APIConnectionError) as caught:
        client.generate_video("a lighthouse")
    assert caught.value.request_sent is False
    assert len(exchanges) == 3
    assert all(e.http_status is None for e in exchanges)


# -- polls -------------------------------------------------------------------------


def test_a_poll_that_fails_transiently_is_retried(sim: Any, client: Any) -> None:
    job = client.submit_upscale(sim.new_video_id(ULTRA))
    sim.inject("jobs", "503_unavailable")
    result = client.wait(job, timeout=30)
    assert result.video_url
    assert sim.stats()["responses"].get(503) == 1


def test_a_404_while_polling_is_a_real_error(sim: Any, client: Any) -> None:
    job = client.submit_upscale(sim.new_video_id(ULTRA))
    sim.inject("jobs", "404", times=3)
    with pytest.raises(fu.NotFoundError):
        client.wait(job, timeout=30)
    assert sim.stats()["requests"]["jobs"] == 1
