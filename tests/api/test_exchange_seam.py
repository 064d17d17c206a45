"""One Exchange seam: calls, downloads and webhook deliveries make rows with the same
fields (session, tags, error type, reason and message), against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client_support import FAST, ULTRA

import flowup_nb as fu
import flowup_nb.sim as simulator
from flowup_nb.api.exchange import Exchange


@pytest.fixture
def calm() -> Iterator[simulator.SimHandle]:
    """No random job failures or captcha rejections: every error row is one we asked for."""
    with simulator.start(
        seed=11, time_scale=0.001, fail_rate=0.0, captcha_acceptance=1.0
    ) as handle:
        yield handle


def test_every_row_kind_carries_the_session_and_the_tags(calm: Any, tmp_path: Path) -> None:
    rows: list[Exchange] = []
    source = calm.new_video_id(ULTRA)
    with (
        fu.FlowClient(calm.token, base_url=calm.base_url, tags=["seam"], **FAST) as client,
        fu.WebhookReceiver() as receiver,
    ):
        client.subscribe(rows.append)
        reply = receiver.reply_for(
            source, record=rows.append, session_id=client.session_id, tags=client.tags
        )
        result = client.wait(client.submit_upscale(source, "4K", **reply), timeout=30.0)
        assert calm.wait_webhooks(5.0)
        client.download(result, tmp_path / "v.mp4")

    kinds = {row.operation for row in rows}
    assert {"submit_upscale", "webhook", "download"} <= kinds
    assert {row.session_id for row in rows} == {client.session_id}
    assert {row.tags for row in rows} == {("seam",)}
    webhook = next(r for r in rows if r.operation == "webhook" and r.job_status == "completed")
    assert webhook.result_id == result.media_generation_id and webhook.account == ULTRA


def test_a_receiver_s_own_rows_carry_its_tags(calm: Any) -> None:
    rows: list[Exchange] = []
    source = calm.new_video_id(ULTRA)
    with (
        fu.FlowClient(calm.token, base_url=calm.base_url, **FAST) as client,
        fu.WebhookReceiver(ledger=rows.append, tags=["hooks"]) as receiver,
    ):
        client.wait(client.submit_upscale(source, **receiver.reply_for(source)), timeout=30.0)
        assert calm.wait_webhooks(5.0)
    assert rows and {row.operation for row in rows} == {"webhook"}
    assert {row.tags for row in rows} == {("hooks",)}
    assert {row.session_id for row in rows} == {receiver.session_id}
    with pytest.raises(fu.InputError, match="tags"):
        fu.WebhookReceiver(tags="hooks")  # one string: a list was meant


def test_download_error_rows_say_why(calm: Any, client_rows: Any, tmp_path: Path) -> None:
    client, rows = client_rows
    result = client.upscale(calm.new_video_id(ULTRA))

    calm.inject("media", "503_unavailable")
    client.download(result, tmp_path / "retried.mp4")
    unavailable, fine = rows[-2:]
    assert (unavailable.http_status, unavailable.will_retry) == (503, True)
    assert unavailable.error_type == "DownloadError"
    assert unavailable.error_reason == "service unavailable"
    assert fine.outcome == "ok" and fine.error_reason is None

    calm.inject("media", "truncate")
    client.download(result, tmp_path / "resumed.mp4")
    broken = rows[-2]
    assert broken.error_type == "APIConnectionError" and broken.error_reason == "body broke off"

    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"<html>no</html>" * 10)
    with pytest.raises(fu.NotAVideoError):
        client.download(calm.publish_file(fake), tmp_path / "fake-out.mp4")
    assert (rows[-1].error_type, rows[-1].error_reason) == ("NotAVideoError", "not a video")

    calm.advance(48 * 3600)
    with pytest.raises(fu.MediaExpiredError):
        client.download(result, tmp_path / "late.mp4")
    expired = rows[-1]
    assert expired.error_reason == "link expired or refused" and expired.http_status == 403
    assert expired.error_message and "free" in expired.error_message
    assert {row.session_id for row in rows} == {client.session_id}
    assert {row.tags for row in rows} == {("dl",)}


@pytest.fixture
def client_rows(calm: Any) -> Iterator[tuple[fu.FlowClient, list[Exchange]]]:
    rows: list[Exchange] = []
    with fu.FlowClient(calm.token, base_url=calm.base_url, tags=["dl"], **FAST) as client:
        client.subscribe(rows.append)
        yield client, rows
