"""Same seed, same requests: the load statistics, health answers, expiry and execution counts
come out the same too (apart from what carries the time: job ids, timestamps, elapsed)."""

from __future__ import annotations

import re
from typing import Any

from simkit import api, volatile_free

import flowup_nb.sim as simulator

JO = "jo.ultra@example.com"
PAT = "pat.pro@example.com"
_JOB_ID = re.compile(r"j\d{13}[vi]-u\d+-email:[^\s/%?#]+-bot:google-flow")


def _normalized(value: Any, names: dict[str, str]) -> Any:
    """Job ids become their order of appearance; epoch-ms starts and elapsed times blank."""

    def name(job_id: str) -> str:
        return names.setdefault(job_id, f"<job {len(names)}>")

    if isinstance(value, dict):
        return {
            (name(k) if _JOB_ID.fullmatch(k) else k): (
                "<volatile>" if k in ("timestamp", "elapsed") else _normalized(v, names)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normalized(v, names) for v in value]
    if isinstance(value, str):
        return _JOB_ID.sub(lambda m: name(m.group()), value)
    return value


def _session(seed: int) -> list:
    out: list = []
    with simulator.start(seed=seed, time_scale=0.0002, bill_every_execution=True) as s:
        with api(s) as client:
            sources = s.sample_ids(JO)
            for source, resolution in ((sources[0], "1080p"), (sources[1], "4K"),
                                       (sources[2], "1080p"), (sources[1], "4K")):  # fmt: skip
                answer = client.post(
                    "/videos/upscale",
                    json={"mediaGenerationId": source, "resolution": resolution, "replyRef": "r"},
                )
                out.append((answer.status_code, answer.json()))
            out.append(client.get("/jobs").json())
            out.append(client.get("/jobs?options=history").json())
            s.inject("upscale", "slow_job")
            created = client.post(
                "/videos/upscale", json={"mediaGenerationId": s.new_video_id(JO), "async": True}
            )
            out.append(created.json())
            out.append(client.get("/jobs?options=executing").json())
            s.set_health(PAT, "Error: session refresh failed")
            refused = client.post(
                "/videos/upscale", json={"mediaGenerationId": s.sample_ids(PAT)[0]}
            )
            out.append((refused.status_code, refused.json()))
            out.append(client.get("/accounts").json())
            s.advance(s.job_retention_seconds + 1)
            first = out[0][1]["jobId"]
            expired = client.get(f"/jobs/{first}")
            out.append((expired.status_code, expired.json()))
            out.append(client.get("/jobs?options=history").json())
        out.append(sorted(s.executions().items()))
        out.append(s.stats()["credits_charged"])
    return _normalized(volatile_free(out), {})


def test_same_seed_same_statistics_health_and_expiry():
    first, second = _session(31), _session(31)
    assert first == second


def test_another_seed_differs():
    assert _session(31) != _session(32)
