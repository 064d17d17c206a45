"""WebhookReceiver: the simulator's callbacks wake waiting calls; forgeries are refused."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from batchkit import FAST, JO, SAM, requests

import flowup_nb as fu


def test_webhook_mode_needs_no_polls_and_records_the_deliveries(
    calm_sim: Any, client: fu.FlowClient, ledger: Any
) -> None:
    ids = [calm_sim.new_video_id(email) for _ in range(6) for email in (JO, SAM)]
    with fu.WebhookReceiver() as receiver:
        frame = client.upscale_many(ids, "4K", webhook=receiver, progress=False)
        assert calm_sim.wait_webhooks(5.0)

    assert set(frame["status"]) == {"done"}
    assert requests(calm_sim, "jobs") == 0  # not a single poll
    assert (frame["polls"] == 0).all()
    assert (frame["webhooks"] >= 2).all()  # at least started and completed woke the wait
    assert receiver.rejected == 0
    log = calm_sim.webhook_log()
    assert log and all(entry["delivered"] and entry["url"] == receiver.url for entry in log)
    refs = {entry["reply_ref"] for entry in log}
    assert len(refs) == len(ids)  # one secret per job
    recorded = ledger.frame().query("operation == 'webhook'")
    assert len(recorded) == len(log)
    assert set(recorded["session_id"]) == {client.session_id}
    completed = recorded.query("job_status == 'completed'")
    assert set(completed["job_id"]) == set(frame["job_id"])
    assert set(completed["result_id"]) == set(frame["result_id"])
    assert calm_sim.stats()["credits_charged"] == {JO: 300, SAM: 300}


def test_a_temporary_receiver_serves_one_batch(calm_sim: Any, client: fu.FlowClient) -> None:
    ids = [calm_sim.new_video_id(JO) for _ in range(3)]
    frame = client.upscale_many(ids, webhook=True, progress=False)
    assert set(frame["status"]) == {"done"} and requests(calm_sim, "jobs") == 0


def test_client_wait_is_woken_by_the_webhook(
    calm_sim: Any, client: fu.FlowClient, run_async: Any
) -> None:
    source = calm_sim.new_video_id(JO)
    with fu.WebhookReceiver(grace=30.0) as receiver:
        job = client.submit_upscale(source, "4K", **receiver.reply_for(source))
        seen: list[str] = []
        result = client.wait(job, webhook=receiver, on_update=lambda j: seen.append(j.status))
        assert result.media_generation_id == source + "_upsampled"
        assert seen[-1] == "completed"

        async def go() -> Any:
            async with fu.AsyncFlowClient(
                calm_sim.token, base_url=calm_sim.base_url, **FAST
            ) as aio:
                other = calm_sim.new_video_id(SAM)
                job = await aio.submit_upscale(other, **receiver.reply_for(other))
                return await aio.wait(job, webhook=receiver)

        assert run_async(go()).resolution == "1080p"
    assert requests(calm_sim, "jobs") == 0


def _record(
    sim: Any,
    reply_ref: str | None,
    source: str,
    job_id: str = "j1700000000000v-u1-email:x-bot:google-flow",
) -> dict:
    return {
        "jobid": job_id,
        "type": "video",
        "status": "completed",
        "created": "2026-01-01T00:00:00.000Z",
        "request": {"mediaGenerationId": source, "resolution": "1080p", "replyRef": reply_ref},
        "response": {"media": []},
    }


def test_forged_and_malformed_deliveries_are_rejected_and_logged(
    calm_sim: Any, client: fu.FlowClient, caplog: pytest.LogCaptureFixture
) -> None:
    source = calm_sim.new_video_id(JO)
    caplog.set_level(logging.WARNING, logger="flowup_nb.webhooks")
    with fu.WebhookReceiver() as receiver:
        reply = receiver.reply_for(source)
        job = client.submit_upscale(source, **reply)
        receiver.bind(reply["reply_ref"], job.job_id)
        real_ref = reply["reply_ref"]

        def post(body: Any, **kwargs: Any) -> httpx.Response:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            return httpx.post(receiver.url, content=content, **kwargs)

        forged = _record(calm_sim, "guessed-ref", source, job.job_id)
        assert post(forged).status_code == 403  # right job, wrong secret
        assert post(_record(calm_sim, real_ref, source)).status_code == 403  # another job
        assert post(_record(calm_sim, None, source, job.job_id)).status_code == 403
        other = calm_sim.new_video_id(JO)
        assert post(_record(calm_sim, real_ref, other, job.job_id)).status_code == 403
        assert post(b"{not json").status_code == 400
        assert post([1, 2]).status_code == 400
        too_big = b"{" + b" " * (receiver.max_body + 1) + b"}"
        assert post(too_big).status_code == 413
        assert (
            httpx.post(receiver.url.replace("/flowup/webhook", "/other"), json={}).status_code
            == 404
        )
        assert httpx.get(receiver.url).status_code == 405
        # Only deliveries carrying our secret (the simulator's) are believed: what the
        # receiver knows of the job is never one of the forged records above.
        known = receiver.latest(job.job_id)
        assert known is None or known.raw["created"] != _record(calm_sim, None, source)["created"]

        result = client.wait(job, webhook=receiver)  # the real deliveries still count
        assert result.media_generation_id == source + "_upsampled"
        assert calm_sim.wait_webhooks(5.0)
        assert receiver.rejected == 8
        assert all(r.status_code in (400, 403, 404, 413) for r in receiver.rejections)
        assert all(entry["delivered"] for entry in calm_sim.webhook_log())
    text = caplog.text
    assert text.count("webhook delivery rejected") == 8
    assert real_ref not in text and "guessed-ref" not in text  # secrets never logged
    assert real_ref not in repr(receiver)


def test_lost_deliveries_fall_back_to_polling_after_the_grace(
    calm_sim: Any, client: fu.FlowClient
) -> None:
    # The server is told to call a port nobody listens on: no delivery ever arrives.
    with fu.WebhookReceiver(grace=0.05, public_url="http://127.0.0.1:9/hook") as receiver:
        frame = client.upscale_many([calm_sim.new_video_id(JO)], webhook=receiver, progress=False)
    assert frame.loc[0, "status"] == "done"
    assert frame.loc[0, "polls"] >= 1 and frame.loc[0, "webhooks"] == 0
    with fu.WebhookReceiver() as closed:
        pass  # closed: the batch polls on its usual plan
    frame = client.upscale_many([calm_sim.new_video_id(JO)], webhook=closed, progress=False)
    assert frame.loc[0, "status"] == "done" and frame.loc[0, "polls"] >= 1


def test_receiver_settings_are_checked(calm_sim: Any) -> None:
    with pytest.raises(fu.InputError, match="port"):
        fu.WebhookReceiver(port=70000)
    with pytest.raises(fu.InputError, match="public_url"):
        fu.WebhookReceiver(public_url="ftp://x")
    with fu.WebhookReceiver(public_url="https://tunnel.example/hook") as receiver:
        assert receiver.url == "https://tunnel.example/hook"
        assert receiver.host == "127.0.0.1" and receiver.port > 0
        with pytest.raises(fu.InputError, match="reply_for"):
            receiver.bind("never-issued", "j1")
