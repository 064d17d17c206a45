"""Ground truth: a scripted mix through the real client and simulator, over real sockets.

The ledger's counts, credits and captcha figures must equal what the simulator itself
accounted (``sim.stats()``, ``sim.jobs()``, ``sim.accounts``), and no byte of the
ledger may hold the token.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import flowup_nb as fu
from flowup_nb.api.client import FlowClient
from flowup_nb.ledger import Ledger
from flowup_nb.ledger import analyses as an

JO, SAM, PAT = "jo.ultra@example.com", "sam.ultra@example.com", "pat.pro@example.com"


def _scripted_mix(sim, client: FlowClient, tmp_path: Path) -> dict[str, int]:
    """Runs the mix; returns what the test itself knows happened."""
    jo = sim.sample_ids(JO)
    client.get_account(JO)  # the starting balance, so every charge is observed
    client.upscale(jo[0], "1080p")
    client.upscale(jo[1], "4K")
    cached = client.upscale(jo[1], "4K")  # the same video again: cached, free
    assert cached.cached

    sim.inject("upscale", "503_unavailable")  # transient: retried
    client.upscale(jo[2], "1080p")
    sim.inject("upscale", "429_throttled", retry_after=0.01)  # honoured, then retried
    client.upscale(jo[2], "4K")
    sim.inject("upscale", "drop")  # no answer at all: retried (upscales are idempotent)
    client.upscale(jo[0], "1080p")
    sim.inject("upscale", "503_captcha_service")  # the provider is broken: not retried
    with pytest.raises(fu.CaptchaProviderError):
        client.upscale(sim.new_video_id(JO), "4K")
    sim.inject("upscale", "403_captcha")  # Google rejected the token
    with pytest.raises(fu.CaptchaRejectedError):
        client.upscale(sim.new_video_id(JO), "4K")

    sam = sim.sample_ids(SAM)
    client.upscale(sam[0], "1080p")  # sam's balance, seen before the 4K
    job = client.submit_upscale(sam[1], "4K")
    result = client.wait(job, timeout=60)
    video = client.download(result, tmp_path / "sam-4k.mp4")

    with pytest.raises(fu.FlowError):  # pro accounts cannot upscale to 4K
        client.upscale(sim.sample_ids(PAT)[0], "4K")
    return {"downloaded_bytes": video.stat().st_size}


@pytest.mark.timeout(120)
def test_the_ledger_agrees_with_the_simulators_own_accounts(sim, tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    with FlowClient(
        sim.token,
        base_url=sim.base_url,
        ledger=ledger,
        retry_backoff=0.01,
        max_retry_wait=5.0,
        poll_interval=(0.02, 0.05),
    ) as client:
        known = _scripted_mix(sim, client, tmp_path)
    stats = sim.stats()
    frame = ledger.frame()
    api = frame.loc[(frame["operation"] != "download").to_numpy()]

    # Requests per route, and answers per status.
    routes = {
        "/videos/upscale": "upscale",
        "/jobs/{jobId}": "jobs",
        "/accounts/{email}": "accounts",
    }
    by_route = Counter(routes[str(e)] for e in api["endpoint"])
    assert by_route == Counter({k: v for k, v in stats["requests"].items() if k in by_route})
    assert sum(by_route.values()) == sum(stats["requests"].values())
    # The simulator counts media answers too, and a dropped connection as status 0.
    answered = Counter(0 if pd.isna(s) else int(s) for s in frame["http_status"])
    assert answered == Counter({int(k): v for k, v in stats["responses"].items()})
    assert answered[0] == stats["faults_injected"]["drop"] == 1

    # Every job the simulator made, and nothing else; caching as it counted.
    assert set(ledger.jobs()["job_id"]) == {job["jobid"] for job in sim.jobs()}
    assert int(api["cached"].fillna(False).sum()) == stats["cache_hits"]
    polls = api.loc[(api["operation"] == "get_job").to_numpy()]
    assert polls["job_status"].astype(str).tolist()[-1] == "completed"
    assert len(polls) == stats["requests"]["jobs"] >= 2  # at least one poll saw it pending

    # Credits: the balance deltas and the price list both equal what was charged.
    charged = stats["credits_charged"]
    assert charged[JO] == 100 and charged[SAM] == 50  # two fresh 4K on jo, one on sam
    spent = frame.groupby("account", observed=True)["credits_spent"].sum()
    expected = frame.groupby("account", observed=True)["expected_cost"].sum()
    for account, credits in charged.items():
        assert spent[account] == credits
        assert expected[account] == credits
    reconciliation = ledger.reconcile()
    assert reconciliation["agrees"].all()
    live = {a["email"]: a["credits"] for a in sim.accounts}
    summary = ledger.summary()
    for account in (JO, SAM):
        assert summary.loc[account, "balance"] == live[account]
    assert summary.loc[an.ALL, "credits_spent"] == sum(charged.values())

    # Captcha attempts per provider, as the simulator's providers counted them.
    captcha = ledger.captcha()
    assert {
        service: {"attempts": int(row["attempts"]), "successes": int(row["solved"])}
        for service, row in captcha.iterrows()
    } == {service: dict(c) for service, c in stats["captcha_attempts"].items() if c["attempts"]}

    # Errors: one row per fault, retries numbered, the final refusal recorded too.
    errors = api.loc[api["outcome"].isin(["error", "failed"]).to_numpy()]
    assert len(errors) == sum(stats["faults_injected"].values()) + 1
    assert ledger.errors()["count"].sum() == len(errors)
    retried = errors.loc[errors["will_retry"].fillna(False).to_numpy()]
    assert len(retried) == 3  # 503, 429, drop
    by_status = errors.set_index(errors["http_status"].fillna(0).astype(int))
    assert by_status.loc[429, "error_type"] == "RateLimitError"
    assert by_status.loc[429, "error_reason"] == "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"
    assert 0 < by_status.loc[429, "retry_after_s"] <= 1.0
    assert by_status.loc[403, "error_type"] == "CaptchaRejectedError"
    assert bool(by_status.loc[403, "captcha_quality"])
    assert by_status.loc[0, "error_type"] in ("APIConnectionError", "APITimeoutError")
    assert set(api["attempt"].dropna()) == {0, 1}

    downloads = frame.loc[(frame["operation"] == "download").to_numpy()]
    assert len(downloads) >= 1
    assert downloads["bytes_received"].sum() == known["downloaded_bytes"]


def test_no_byte_of_the_ledger_holds_the_token(sim, tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    with FlowClient(
        sim.token,
        base_url=sim.base_url,
        ledger=ledger,
        retry_backoff=0.01,
        poll_interval=(0.02, 0.05),
    ) as client:
        sim.inject("upscale", "401")
        with pytest.raises(fu.AuthenticationError):
            client.upscale(sim.sample_ids(JO)[0])
        job = client.submit_upscale(sim.sample_ids(JO)[0], "1080p", reply_ref="mine")
        client.wait(job, timeout=60)
    exported = ledger.export(tmp_path / "export.csv", include_urls=True)
    token = sim.token.encode()
    files = [p for p in tmp_path.iterdir() if p.name.startswith("ledger.sqlite")]
    assert path in files and exported.is_file()
    for file in [*files, exported]:
        assert token not in file.read_bytes(), file.name
    assert len(ledger) >= 3
    assert ledger.frame()["reply_ref"].dropna().unique().tolist() == ["mine"]


def test_a_ledger_that_cannot_write_does_not_fail_the_users_call(sim, tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path, busy_timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with (
            FlowClient(sim.token, base_url=sim.base_url, ledger=ledger) as client,
            pytest.warns(RuntimeWarning, match="fallback"),
        ):
            result = client.upscale(sim.sample_ids(JO)[0], "1080p")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert result.video_url or result.raw_bytes
    with Ledger(path) as reopened:  # the next open replays what could not be written
        frame = reopened.frame()
        assert frame["operation"].astype(str).tolist() == ["upscale"]
        assert frame["result_id"].tolist() == [result.media_generation_id]
        assert isinstance(frame, pd.DataFrame)
