"""A bad request never crashes the simulator: only JSON answers, 4xx for client mistakes."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowup_nb.sim as simulator

ROUTES = [
    ("POST", "/videos/upscale"),
    ("POST", "/videos"),
    ("GET", "/jobs/j1737312345678v-u12345-email:jo.ultra@example.com-bot:google-flow"),
    ("GET", "/accounts/jo.ultra@example.com"),
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
known_keys = st.sampled_from(
    ["mediaGenerationId", "resolution", "async", "replyUrl", "replyRef", "captchaToken",
     "captchaRetry", "captchaOrder", "email", "prompt", "model", "count", "aspectRatio", "seed"]
)  # fmt: skip
bodies = st.dictionaries(known_keys, json_values, max_size=6)


@pytest.fixture(scope="module")
def fuzz_sim():
    # time_scale 0: no waiting; failures off so a valid-looking body cannot 500 by chance.
    with simulator.start(seed=13, time_scale=0, fail_rate=0) as s:
        yield s


@pytest.fixture(scope="module")
def fuzz_client(fuzz_sim):
    with httpx.Client(
        base_url=fuzz_sim.base_url,
        headers={"Authorization": f"Bearer {fuzz_sim.token}"},
        timeout=10,
    ) as c:
        yield c


def _check(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "application/json"
    body = response.json()  # always JSON
    assert isinstance(body, dict)
    assert response.status_code < 500
    if response.status_code >= 400:
        assert "error" in body
    assert "Traceback" not in response.text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(route=st.sampled_from(ROUTES), body=bodies)
def test_arbitrary_json_objects(fuzz_client, route, body):
    method, path = route
    _check(fuzz_client.request(method, path, json=body))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(ROUTES),
    raw=st.binary(max_size=200),
    content_type=st.sampled_from(
        [
            "application/json",
            "multipart/form-data; boundary=xyz",
            "multipart/form-data",
            "application/x-www-form-urlencoded",
            "text/plain",
            "image/png",
            "",
        ]
    ),
)
def test_arbitrary_bytes(fuzz_client, route, raw, content_type):
    method, path = route
    response = fuzz_client.request(
        method, path, content=raw, headers={"Content-Type": content_type}
    )
    _check(response)
    if method == "POST" and raw.strip():
        assert 400 <= response.status_code < 500 or response.status_code in (200, 201)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=json_values)
def test_arbitrary_json_values_as_body(fuzz_client, value):
    response = fuzz_client.post("/videos/upscale", content=json.dumps(value).encode())
    _check(response)
    assert response.status_code == 400


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tail=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40))
def test_arbitrary_paths(fuzz_client, tail):
    from urllib.parse import quote

    response = fuzz_client.get("/jobs/" + quote(tail, safe=":@-"))
    _check(response)
    if response.request.url.path.endswith("/jobs"):
        # A tail of dot segments ("." or "./") is normalized away by the HTTP client: the
        # request is then GET /jobs, the load statistics, which answers its summary.
        assert response.status_code == 200 and "emails" in response.json()
    else:
        assert response.status_code in (400, 404)


@pytest.mark.parametrize("raw", [b'{"mediaGenerationId": NaN}', b'{"captchaRetry": Infinity}'])
def test_non_json_constants_are_400(fuzz_client, raw):
    response = fuzz_client.post("/videos/upscale", content=raw)
    _check(response)
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


def test_multipart_upscale_is_accepted():
    # Captchas always accepted: a 403 (a rejected captcha) cannot stand in for a success.
    with (
        simulator.start(seed=13, time_scale=0, fail_rate=0, captcha_acceptance=1.0) as sim,
        httpx.Client(
            base_url=sim.base_url, headers={"Authorization": f"Bearer {sim.token}"}, timeout=10
        ) as client,
    ):
        source = sim.sample_ids("jo.ultra@example.com")[0]
        response = client.post(
            "/videos/upscale",
            files={
                "mediaGenerationId": (None, source),
                "resolution": (None, "1080p"),
                "captchaRetry": (None, "5"),
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["media"][0]["mediaGenerationId"] == source + "_upsampled"
        other = sim.sample_ids("jo.ultra@example.com")[1]
        async_job = client.post(
            "/videos/upscale", files={"mediaGenerationId": (None, other), "async": (None, "true")}
        )
        assert async_job.status_code == 201, async_job.text
        assert async_job.json()["request"]["async"] is True
        assert sim.stats()["upscale_submissions"] == 2


def test_the_simulator_still_works_after_the_fuzz(fuzz_sim, fuzz_client):
    assert fuzz_client.get("/accounts/jo.ultra@example.com").status_code == 200
    assert fuzz_sim.stats()["responses"].get(500, 0) == 0
