"""Credits: 1080p free, 4K 50, cached repeats free, refused and failed requests never charged."""

from __future__ import annotations

import base64

from mp4probe import probe_mp4
from simkit import api, poll

import flowup_nb.sim as simulator

JO, PAT, SAM, LEE = (
    "jo.ultra@example.com",
    "pat.pro@example.com",
    "sam.ultra@example.com",
    "lee.free@example.com",
)


def _credits(client, email):
    return client.get(f"/accounts/{email}").json()["credits"]["credits"]


def _up(client, source, resolution="1080p", **extra):
    return client.post(
        "/videos/upscale", json={"mediaGenerationId": source, "resolution": resolution, **extra}
    )


def test_credits_across_1080p_4k_cached_and_refused(calm_sim, client):
    a, b = calm_sim.sample_ids(JO)[:2]
    start = _credits(client, JO)
    assert start == 18760

    first = _up(client, a, "1080p")
    assert first.json()["remainingCredits"] == start  # 1080p is free
    assert "media" in first.json()

    four_k = _up(client, a, "4K")
    assert four_k.json()["remainingCredits"] == start - 50

    cached = _up(client, a, "4K")  # the same video and resolution again: cached, free
    assert cached.status_code == 200
    assert cached.json()["remainingCredits"] == start - 50
    op = cached.json()["operations"][0]
    assert op["mediaGenerationId"] == a + "_upsampled"
    assert op["status"] == "MEDIA_GENERATION_STATUS_SUCCESSFUL"
    assert "media" not in cached.json()
    raw = base64.b64decode(op["rawBytes"])
    assert op["rawBytes"].startswith("AAAA") and raw[4:8] == b"ftyp"
    info = probe_mp4(raw)
    assert (info.width, info.height) == (3840, 2160)

    second_4k = _up(client, b, "4K")  # another video: charged again
    assert second_4k.json()["remainingCredits"] == start - 100

    refused = _up(client, b, "8K")  # refused: nothing charged
    assert refused.status_code == 400

    assert _credits(client, JO) == start - 100
    stats = calm_sim.stats()
    assert stats["credits_charged"] == {JO: 100}
    assert stats["cache_hits"] == 1
    assert [a_["credits"] for a_ in calm_sim.accounts if a_["email"] == JO] == [start - 100]


def test_cached_1080p_repeat_is_a_1080p_mp4(calm_sim, client):
    source = calm_sim.sample_ids(JO)[0]
    _up(client, source)
    raw = base64.b64decode(_up(client, source).json()["operations"][0]["rawBytes"])
    info = probe_mp4(raw)
    assert (info.width, info.height) == (1920, 1080)


def test_4k_refused_on_pro_and_1080p_free_there(calm_sim, client):
    source = calm_sim.sample_ids(PAT)[0]
    refused = _up(client, source, "4K")
    assert refused.status_code == 400
    message = refused.json()["error"]
    assert "Ultra" in message and "1080p" in message
    assert _up(client, source, "1080p").json()["remainingCredits"] == 1000
    assert _credits(client, PAT) == 1000


def test_free_tier_gets_402(calm_sim, client):
    response = _up(client, calm_sim.sample_ids(LEE)[0])
    assert response.status_code == 402
    assert response.json() == {
        "error": "Video upscaling requires a paid Google AI subscription or remaining credits",
        "code": 402,
    }


def test_4k_needs_50_available_credits():
    with (
        simulator.start(seed=4, time_scale=0.0001, fail_rate=0, captcha_acceptance=1) as s,
        api(s) as client,
    ):
        _spend_sam_down_to_100_then_4k(s, client)


def _spend_sam_down_to_100_then_4k(calm_sim, client):
    # Spend sam's 2500 credits down to 100 with quality generations (100 each, 4 per call).
    for _ in range(6):
        generated = client.post(
            "/videos", json={"prompt": "x", "model": "veo-3.1-quality", "email": SAM, "count": 4}
        )
        assert generated.status_code == 200
    assert _credits(client, SAM) == 100
    source = calm_sim.new_video_id(SAM)
    assert _up(client, source, "4K").json()["remainingCredits"] == 50
    assert _up(client, calm_sim.new_video_id(SAM), "4K").json()["remainingCredits"] == 0
    broke = _up(client, calm_sim.new_video_id(SAM), "4K")
    assert broke.status_code == 402 and "50" in broke.json()["error"]
    # A cached 4K repeat is still free, so it works with 0 credits.
    assert _up(client, source, "4K").status_code == 200
    assert _credits(client, SAM) == 0


def test_failed_jobs_are_not_charged(calm_sim, client):
    calm_sim.inject("upscale", "job_fail")
    job_id = _up(client, calm_sim.sample_ids(JO)[0], "4K", **{"async": True}).json()["jobid"]
    assert poll(client, job_id)[-1]["status"] == "failed"
    assert _credits(client, JO) == 18760
    assert calm_sim.stats()["credits_charged"].get(JO, 0) == 0


def test_generation_prices(calm_sim, client):
    fast = client.post("/videos", json={"prompt": "a", "email": JO}).json()
    assert fast["remainingCredits"] == 18760 - 10  # Ultra price
    lite = client.post(
        "/videos", json={"prompt": "a", "email": PAT, "model": "veo-3.1-lite", "count": 2}
    )
    assert lite.json()["remainingCredits"] == 1000 - 2 * 10
    assert len(lite.json()["media"]) == 2
    quality = client.post("/videos", json={"prompt": "a", "email": PAT, "model": "veo-3.1-quality"})
    assert quality.json()["remainingCredits"] == 1000 - 20 - 100
    assert calm_sim.stats()["credits_charged"] == {JO: 10, PAT: 120}


def test_captcha_rejection_charges_nothing_and_frees_the_hold():
    with (
        simulator.start(seed=8, time_scale=0.001, fail_rate=0, captcha_acceptance=0.0) as s,
        api(s) as client,
    ):
        response = _up(client, s.sample_ids(JO)[0], "4K")
        assert response.status_code == 403
        assert _credits(client, JO) == 18760
        assert s.state.accounts[JO].held == 0
