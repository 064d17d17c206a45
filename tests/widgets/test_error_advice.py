"""What the form says of the two answers no retry fixes: a 596 (reconnect the account) is
never "retry at HH:MM", and a 410 (the job's record expired) is "ask again, free", not
"fix the request"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from formkit import FAST, ULTRA

import flowup_nb as fu
from flowup_nb.widgets.advice import describe_error


def _raised(call: Any) -> BaseException:
    with pytest.raises(fu.FlowError) as caught:
        call()
    return caught.value


def test_a_596_says_to_reconnect_and_offers_no_retry(sim: Any) -> None:
    sim.inject("upscale", "596_reconnect")
    with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
        error = _raised(lambda: client.upscale(sim.sample_ids(ULTRA)[0]))
    view = describe_error(error, datetime.now(UTC))
    assert view.kind == "AccountReconnectError" and view.status_code == 596
    assert "reconnect" in view.title.lower()
    assert view.retry_at is None
    assert "reconnect" in view.retry and "POST /accounts" in view.advice


def test_an_expired_job_says_asking_again_is_free(sim: Any) -> None:
    with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
        job = client.submit_upscale(sim.sample_ids(ULTRA)[0])
        client.wait(job, timeout=30)
        sim.advance(sim.job_retention_seconds + 1.0)
        error = _raised(lambda: client.get_job(job))
    now = datetime.now(UTC)
    view = describe_error(error, now)
    assert view.kind == "JobExpiredError" and view.status_code == 410
    assert "expired" in view.title.lower()
    assert view.retry_at == now and "free" in view.retry
    assert "fix the request" not in view.retry
