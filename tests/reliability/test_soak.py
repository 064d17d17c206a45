"""Soak (issue 7, part A): 300 upscales under a seeded 20% fault profile lose nothing,
charge nothing twice, run no 4K upscale twice on the server, and leave one ledger row per
request the simulator saw.

The run itself is ``bench.soak.run_soak`` (``python -m bench.soak`` runs the full 1,000);
this test runs the same shape smaller and asserts the invariants on it. Scripted single
faults and their retries are covered one by one in tests/api/test_client_retries.py,
tests/batch/test_batch_200.py and tests/ledger/test_ground_truth.py.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import flowup_nb as fu
from bench.soak import JO, PROFILE_KINDS, SoakOutcome, client_settings, run_soak

N = 300
RATE = 0.2
SEED = 7
# 0.0001 keeps the longest announced cooldown (until UTC midnight) under 9 s.
TIME_SCALE = 0.0001
# sim.stats() route name -> the ledger's endpoint template.
ENDPOINTS = {
    "upscale": "/videos/upscale",
    "jobs": "/jobs/{jobId}",
    "accounts": "/accounts/{email}",
    "videos": "/videos",
    "job_stats": "/jobs",
}


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> SoakOutcome:
    workdir: Path = tmp_path_factory.mktemp("soak")
    return run_soak(N, RATE, SEED, TIME_SCALE, workdir=workdir)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_every_kind_of_fault_was_injected_and_retried(soak: SoakOutcome) -> None:
    fired = soak.faults_by_kind
    assert set(PROFILE_KINDS) <= set(fired), f"never injected: {set(PROFILE_KINDS) - set(fired)}"
    # About RATE of the requests were spoiled: the profile really played on this run.
    assert sum(fired.values()) >= 0.1 * soak.sim_requests
    assert soak.retried_exchanges > 0
    assert soak.survivors > 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_no_upscale_is_lost(soak: SoakOutcome) -> None:
    assert len(soak.endings) == N
    assert Counter(e.item.way for e in soak.endings) == {
        "sync": N * 2 // 5,
        "submit_wait": N // 5,
        "batch": N * 2 // 5,
    }
    assert len({(e.item.source_id, e.item.resolution) for e in soak.endings}) == N
    lost = [(e.item.way, e.item.source_id, repr(e.error)) for e in soak.lost]
    assert lost == []
    for ending in soak.endings:
        if ending.kind == "typed_error":
            assert isinstance(ending.error, fu.FlowError)
            assert str(ending.error)  # a message a user can act on
    # Single calls come through a 20% fault rate: retries work, errors are the exception.
    # (Not the batch: one captcha-provider 503 rightly ends its account's queue.)
    singles = [e for e in soak.endings if e.item.way != "batch"]
    assert sum(e.kind == "result" for e in singles) >= 0.8 * len(singles)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_every_result_is_the_upscale_that_was_asked_for(soak: SoakOutcome) -> None:
    """Under concurrency and retries, no answer is handed to the wrong caller."""
    for ending in soak.endings:
        if ending.kind == "result":
            result = ending.result
            assert result.media_generation_id == ending.item.source_id + "_upsampled"
            assert result.resolution == ending.item.resolution


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_nothing_is_charged_twice(soak: SoakOutcome) -> None:
    assert soak.completed_4k_sources  # 4K upscales did complete and get charged
    assert soak.double_charged_credits == 0
    charged = {email: n for email, n in soak.stats["credits_charged"].items() if n}
    per_account = Counter()
    for ending in soak.endings:
        if ending.item.source_id in soak.completed_4k_sources:
            per_account[ending.item.account] += 50
    assert charged == dict(per_account)
    # Every 4K result in hand was paid for once; none was paid for without completing.
    four_k_results = {
        e.item.source_id for e in soak.endings if e.kind == "result" and e.item.resolution == "4K"
    }
    assert four_k_results <= soak.completed_4k_sources


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_no_4k_upscale_runs_twice_on_the_server(soak: SoakOutcome) -> None:
    """The simulator charges a video once whatever happens, so "no double charge" alone
    cannot see a duplicate; its execution count can. A 4K answer lost while its job ran
    would be sent again and run a twin: the client looks for the job first."""
    runs = soak.executions
    assert runs, "sim.executions() counted nothing"
    assert {source for (source, res) in runs if res == "4K"} == soak.completed_4k_sources
    assert soak.duplicate_executions["4K"] == 0, {k: n for k, n in runs.items() if n > 1}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_ledger_has_one_row_per_request_the_simulator_saw(soak: SoakOutcome) -> None:
    assert soak.ledger_rows == soak.sim_requests
    by_route = {
        ENDPOINTS[route]: int(count)
        for route, count in soak.stats["requests"].items()
        if route != "media" and count
    }
    assert soak.ledger_rows_by_endpoint == by_route
    # Dropped connections are requests too: the simulator counts them under status 0,
    # and the client records each as an exchange without a status.
    # A truncated answer reaches the client without a usable status either.
    drops = soak.stats["responses"].get(0, 0)
    assert drops == soak.faults_by_kind["drop"] > 0
    assert soak.ledger_rows_without_status == soak.unanswered_faults


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_video_paid_for_but_not_in_hand_is_handed_over_free(soak: SoakOutcome) -> None:
    """A 4K job can complete and be charged while its call ends in an error (a truncated
    201, then a retry refused); asking again must return it from the cache, free. Every
    run also asks again for a few 4K videos already in hand, so the check never rests on
    an empty list."""
    assert len(soak.recovered) == soak.paid_without_result
    assert len(soak.repeated) == 5
    for result in [*soak.recovered, *soak.repeated]:
        assert not isinstance(result, BaseException), repr(result)
        assert result.cached
        assert result.resolution == "4K"
    assert soak.recovery_credits == 0


def test_a_truncated_submit_then_a_refused_retry_costs_once_and_is_recovered(
    sim: Any, tmp_path: Path
) -> None:
    """The soak's rare case, scripted: the 201 is cut off (the job runs and is charged),
    the client's search for that job fails (a 400 on the statistics, not retried), so it
    resends, and the retry meets a captcha-provider 503 (not retried): a typed error.
    Asking again once the job is done is a free cached hit, so nothing is lost or paid
    twice. (When the search works, the client returns the job instead of resending:
    tests/reliability/test_duplicate_runs.py.)"""
    source = sim.new_video_id(JO)
    sim.inject("upscale", "truncate")
    sim.inject("job_stats", "400")
    sim.inject("upscale", "503_captcha_service")
    with (
        fu.Ledger(tmp_path / "orphan.sqlite") as ledger,
        fu.FlowClient(
            sim.token, base_url=sim.base_url, ledger=ledger, **client_settings(0.001)
        ) as client,
    ):
        with pytest.raises(fu.CaptchaProviderError):
            client.submit_upscale(source, "4K")
        assert _job_completes(sim, source)
        result = client.upscale(source, "4K")
        rows = ledger.frame()
    assert result.cached
    assert result.media_generation_id == source + "_upsampled"
    assert sim.stats()["credits_charged"] == {JO: 50}
    # truncated submit, the failed search, the refused retry, the cached repeat
    assert len(rows) == sum(sim.stats()["requests"].values()) == 4


def _job_completes(sim: Any, source: str) -> bool:
    for _ in range(2000):
        statuses = {j["status"] for j in sim.jobs() if j["request"]["mediaGenerationId"] == source}
        if statuses & {"completed", "failed"}:
            return statuses == {"completed"}
        time.sleep(0.01)
    return False
