"""Account health: an account whose Google session cannot be refreshed shows it on the account
routes and answers 596 (reconnect it) on every request that would use it."""

from __future__ import annotations

import pytest
from simkit import poll

from flowup_nb.sim.faults import FAULT_KINDS, STATUS_FAULTS

JO = "jo.ultra@example.com"
PAT = "pat.pro@example.com"
SAM = "sam.ultra@example.com"
BROKEN = "Error: Google session refresh failed (invalid_grant)"


def _assert_596(response, email: str) -> None:
    assert response.status_code == 596, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == 596
    assert email in body["error"] and "reconnect" in body["error"]


def test_account_routes_show_the_health_and_drop_credits_and_models(calm_sim, client):
    calm_sim.set_health(JO, BROKEN)

    one = client.get(f"/accounts/{JO}")
    assert one.status_code == 200
    body = one.json()
    assert body["health"] == BROKEN
    assert "credits" not in body and "models" not in body
    assert {"created", "project", "nextRefresh"} <= set(body)
    healthy = client.get(f"/accounts/{PAT}").json()
    assert healthy["health"] == "OK" and healthy["credits"]["credits"] == 1000
    assert "videoModels" in healthy["models"]

    listing = client.get("/accounts").json()
    assert listing[JO]["health"] == BROKEN
    assert {email: row["health"] for email, row in listing.items() if email != JO} == {
        email: "OK" for email in listing if email != JO
    }
    assert {a["email"]: a["health"] for a in calm_sim.accounts}[JO] == BROKEN


@pytest.mark.parametrize(
    "body",
    [{}, {"async": True}, {"resolution": "4K"}, {"resolution": "4K", "async": True}],
    ids=["sync", "async", "sync-4K", "async-4K"],
)
def test_upscales_on_the_account_answer_596_and_cost_nothing(calm_sim, client, body):
    source = calm_sim.sample_ids(JO)[0]
    calm_sim.set_health(JO, BROKEN)
    before = calm_sim.stats()

    response = client.post("/videos/upscale", json={"mediaGenerationId": source, **body})

    _assert_596(response, JO)
    after = calm_sim.stats()
    assert after["jobs_created"] == before["jobs_created"] == 0
    assert after["captcha_attempts"] == before["captcha_attempts"]  # no captcha bought
    assert calm_sim.state.accounts[JO].held == 0
    assert client.get(f"/accounts/{PAT}").status_code == 200


def test_generation_pinned_to_the_account_answers_596(calm_sim, client):
    calm_sim.set_health(PAT, BROKEN)
    for extra in ({}, {"async": True}):
        response = client.post("/videos", json={"prompt": "a fox", "email": PAT, **extra})
        _assert_596(response, PAT)
    assert calm_sim.stats()["jobs_created"] == 0


def test_balanced_generation_skips_unhealthy_accounts(calm_sim, client):
    calm_sim.set_health(JO, BROKEN)
    calm_sim.set_health(PAT, BROKEN)
    response = client.post("/videos", json={"prompt": "a fox"})
    assert response.status_code == 200
    assert calm_sim.stats()["credits_charged"] == {SAM: 10}  # veo-3.1-fast on Ultra

    calm_sim.set_health(SAM, BROKEN)
    _assert_596(client.post("/videos", json={"prompt": "a fox"}), JO)


def test_unhealthy_accounts_are_named_among_the_skipped_when_the_rest_are_quarantined(
    calm_sim, client
):
    calm_sim.set_health(JO, BROKEN)
    calm_sim.set_health(PAT, BROKEN)
    calm_sim.state.quarantine(calm_sim.state.accounts[SAM], "PUBLIC_ERROR_USER_QUOTA_REACHED", 60)
    response = client.post("/videos", json={"prompt": "a fox"})
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "no_eligible_account"
    reasons = {s["email"]: s["reason"] for s in body["skipReasons"]}
    assert reasons == {JO: BROKEN, PAT: BROKEN, SAM: "PUBLIC_ERROR_USER_QUOTA_REACHED"}


def test_jobs_already_made_still_answer_and_finish(calm_sim, client):
    calm_sim.inject("upscale", "slow_job")
    created = client.post(
        "/videos/upscale", json={"mediaGenerationId": calm_sim.sample_ids(JO)[0], "async": True}
    ).json()
    calm_sim.set_health(JO, BROKEN)
    calm_sim.advance(30 * 60 * calm_sim.time_scale)
    assert poll(client, created["jobid"])[-1]["status"] == "completed"
    assert client.get("/jobs?options=history").status_code == 200


def test_ok_restores_the_account(calm_sim, client):
    source = calm_sim.sample_ids(JO)[0]
    calm_sim.set_health(JO, BROKEN)
    _assert_596(client.post("/videos/upscale", json={"mediaGenerationId": source}), JO)
    calm_sim.set_health(JO, "OK")
    assert client.post("/videos/upscale", json={"mediaGenerationId": source}).status_code == 200
    body = client.get(f"/accounts/{JO}").json()
    assert body["health"] == "OK" and body["credits"]["credits"] == 18760


def test_validation_comes_first_then_the_account_then_its_health(calm_sim, client):
    calm_sim.set_health(JO, BROKEN)
    bad = client.post(
        "/videos/upscale",
        json={"mediaGenerationId": calm_sim.sample_ids(JO)[0], "resolution": "8K"},
    )
    assert bad.status_code == 400
    missing_video = calm_sim.sample_ids(JO)[0].rsplit(":", 1)[0] + ":0000-missing"
    _assert_596(client.post("/videos/upscale", json={"mediaGenerationId": missing_video}), JO)


def test_set_health_refuses_unknown_accounts_and_empty_text(calm_sim):
    with pytest.raises(KeyError, match=r"ghost@example\.com"):
        calm_sim.set_health("ghost@example.com", BROKEN)
    for text in ("", "   ", None, 3):
        with pytest.raises(ValueError, match="OK"):
            calm_sim.set_health(JO, text)


def test_596_is_a_scriptable_fault_on_every_route(calm_sim, client):
    assert "596_reconnect" in STATUS_FAULTS and "596_reconnect" in FAULT_KINDS
    calls = {
        "upscale": lambda: client.post(
            "/videos/upscale", json={"mediaGenerationId": calm_sim.sample_ids(JO)[0]}
        ),
        "videos": lambda: client.post("/videos", json={"prompt": "a fox"}),
        "accounts": lambda: client.get(f"/accounts/{JO}"),
        "job_stats": lambda: client.get("/jobs"),
    }
    for route, call in calls.items():
        calm_sim.inject(route, "596_reconnect")
        _assert_596(call(), JO)
        assert call().status_code == 200  # one request only
    assert calm_sim.stats()["faults_injected"] == {"596_reconnect": 4}
    # A status fault has no side effect: the account itself stays healthy.
    assert client.get(f"/accounts/{JO}").json()["health"] == "OK"
