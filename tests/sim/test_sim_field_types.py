"""A field of the wrong JSON type is the caller's mistake: 400 naming the fix, never a 500."""

from __future__ import annotations

import pytest

JO = "jo.ultra@example.com"
WRONG_TYPES = ([], ["4K"], {}, {"value": "4K"}, 4, 1.5, True)


@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
def test_resolution_of_another_type_is_a_400_naming_the_values(calm_sim, client, value):
    response = client.post(
        "/videos/upscale",
        json={"mediaGenerationId": calm_sim.sample_ids(JO)[0], "resolution": value},
    )
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert '"1080p" or "4K"' in message
    assert calm_sim.stats()["jobs_created"] == 0


@pytest.mark.parametrize(
    "field", ["email", "replyUrl", "replyRef", "captchaOrder", "captchaToken", "captchaRetry"]
)
@pytest.mark.parametrize("value", [[], {}, ["x"], {"a": 1}], ids=repr)
def test_other_upscale_fields_of_a_container_type_are_a_400(calm_sim, client, field, value):
    response = client.post(
        "/videos/upscale",
        json={"mediaGenerationId": calm_sim.sample_ids(JO)[0], field: value},
    )
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]


@pytest.mark.parametrize("field", ["model", "aspectRatio", "email", "count", "seed"])
@pytest.mark.parametrize("value", [[], {}, ["x"], {"a": 1}], ids=repr)
def test_generation_fields_of_a_container_type_are_a_400(calm_sim, client, field, value):
    response = client.post("/videos", json={"prompt": "a fox", field: value})
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]
