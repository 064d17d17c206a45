"""Same seed, same sequence of requests: same answers (apart from time, ports, tokens)."""

from __future__ import annotations

from simkit import api, poll, volatile_free

import flowup_nb.sim as simulator

JO = "jo.ultra@example.com"


def _session(seed: int) -> list:
    out = []
    with simulator.start(seed=seed, time_scale=0.0002) as s, api(s) as client:
        out.append(s.sample_ids())
        generated = client.post("/videos", json={"prompt": "a fox"})
        out.append((generated.status_code, generated.json()))
        source = s.sample_ids(JO)[0]
        for body in (
            {"mediaGenerationId": source},
            {"mediaGenerationId": source, "resolution": "4K"},
            {"mediaGenerationId": source, "resolution": "4K"},
            {"mediaGenerationId": s.sample_ids(JO)[1], "captchaRetry": 5},
            {"mediaGenerationId": s.sample_ids(JO)[2], "async": True},
        ):
            response = client.post("/videos/upscale", json=body)
            out.append((response.status_code, response.json()))
        if out[-1][0] == 201:
            out.append(poll(client, out[-1][1]["jobid"])[-1])
        out.append(client.get(f"/accounts/{JO}").json()["credits"])
        stats = s.stats()
        out.append(
            {
                k: stats[k]
                for k in ("captcha_attempts", "credits_charged", "cache_hits", "jobs_by_status")
            }
        )
        out.append(s.token)
    return volatile_free(out)


def test_same_seed_same_bodies():
    first, second = _session(2024), _session(2024)
    assert first == second


def test_another_seed_differs():
    assert _session(2024) != _session(2025)


def test_token_is_stable_for_a_seed_and_a_random_seed_is_reported():
    with simulator.start(seed=7, time_scale=0) as a, simulator.start(seed=7, time_scale=0) as b:
        assert a.token == b.token and a.token.startswith("sim-")
    with simulator.start(time_scale=0) as c, simulator.start(seed=c.seed, time_scale=0) as d:
        assert c.token == d.token and c.sample_ids() == d.sample_ids()
