"""Hypothesis fuzzing of the parsers and of the simulator's request handling.

Already fuzzed elsewhere, not repeated here:
- response models (parse_upscale_result, parse_job, parse_generation_result, ...), JSON
  decoding and errors.classify: tests/api/test_client_parsers.py
- the simulator with arbitrary JSON bodies, bytes, JSON values and job paths on its known
  routes: tests/sim/test_sim_robustness.py
This module adds: Retry-After and date parsing, account decoding, the input validators,
job records on their way into the ledger, webhook payloads through a real receiver, and
the simulator under arbitrary methods, paths, headers and raw bytes on a socket.
"""

from __future__ import annotations

import json
import math
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import flowup_nb as fu
import flowup_nb.sim as simulator
from flowup_nb.api import parsing, policy, times
from flowup_nb.api.errors import classify
from flowup_nb.api.exchange import Exchange, fields_of_value, new_call_id

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
FIXTURES_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=24)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
# Texts that look like what a Retry-After or retryAfter could hold, and everything else.
date_like = (
    st.text(max_size=40)
    | st.integers(min_value=-(10**12), max_value=10**12).map(str)
    | st.floats(allow_nan=True, allow_infinity=True).map(repr)
    | st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat())
    | st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 1, 1)).map(
        lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")
    )
    | st.sampled_from(["1e400", "-0", "NaN", "inf", "  7  ", "Wed, 31 Feb 2026 25:61:61 GMT"])
)


# -- Retry-After, dates, accounts -----------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(header=st.none() | date_like, body=st.none() | date_like)
def test_retry_after_is_none_or_a_finite_wait(header: str | None, body: str | None) -> None:
    seconds = times.retry_after_seconds(header, body, now=NOW)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)
    if seconds is not None and header is not None:
        # A readable number of seconds in the header wins, clamped at zero.
        try:
            number = float(header.strip())
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                assert seconds == max(0.0, number)


@settings(max_examples=200, deadline=None)
@given(text=date_like)
def test_date_parsers_give_aware_datetimes_or_none(text: str) -> None:
    for parse in (times.parse_iso_datetime, times.parse_http_date):
        parsed = parse(text)
        assert parsed is None or parsed.tzinfo is not None


@settings(max_examples=150, deadline=None)
@given(status=st.sampled_from([429, 503, 408]), retry_after=date_like, header=date_like)
@example(status=429, retry_after="", header="251606653513")  # once an OverflowError
def test_classify_reads_any_retry_after_without_raising(
    status: int, retry_after: str, header: str
) -> None:
    body = {"error": "Too many requests", "retryAfter": retry_after, "code": status}
    error = classify(status, {"Retry-After": header}, body)
    assert error.status_code == status
    assert error.retry_after is None or (
        math.isfinite(error.retry_after) and error.retry_after >= 0
    )
    assert str(error)


@settings(max_examples=200, deadline=None)
@given(email=st.emails())
def test_account_decoding_round_trips_any_email(email: str) -> None:
    media_id = f"user:12345-email:{email.encode().hex()}-video:abc"
    assert policy.decode_account(media_id) == email


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80), hexed=st.binary(max_size=24).map(bytes.hex))
def test_account_decoding_of_anything_is_none_or_a_printable_email(text: str, hexed: str) -> None:
    for candidate in (text, f"user:1-email:{hexed}-video:{text}"):
        account = policy.decode_account(candidate)
        assert account is None or ("@" in account and account.isprintable())


# -- input validators -----------------------------------------------------------------

anything = json_values | st.binary(max_size=16) | st.text(max_size=300)


@settings(max_examples=300, deadline=None)
@given(value=anything)
def test_validators_return_their_input_or_raise_a_short_input_error(value: Any) -> None:
    checks = [
        (policy.validate_media_generation_id, True),
        (policy.validate_job_id, True),
        (policy.validate_resolution, True),
        (policy.validate_token, True),
        (policy.validate_base_url, False),  # normalises (strips a trailing '/')
        (policy.validate_prompt, True),
    ]
    for validate, returns_input in checks:
        try:
            valid = validate(value)
        except fu.InputError as exc:
            assert 0 < len(str(exc)) < 600, (validate.__name__, str(exc)[:200])
        else:
            assert isinstance(valid, str)
            if returns_input:
                assert valid == value


@settings(max_examples=200, deadline=None)
@given(retry=anything, order=anything, token=anything, which=st.integers(0, 7))
def test_captcha_options_become_one_body_field_or_an_input_error(
    retry: Any, order: Any, token: Any, which: int
) -> None:
    options = {
        "captcha_retry": retry if which & 1 else None,
        "captcha_order": order if which & 2 else None,
        "captcha_token": token if which & 4 else None,
    }
    try:
        fields = policy.validate_captcha(**options)
    except fu.InputError as exc:
        assert 0 < len(str(exc)) < 600
    else:
        assert len(fields) <= 1
        assert set(fields) <= {"captchaRetry", "captchaOrder", "captchaToken"}
        if "captchaRetry" in fields:
            assert 1 <= fields["captchaRetry"] <= 10
        if "captchaOrder" in fields:
            names = fields["captchaOrder"].split(",")
            assert 1 <= len(names) <= 10 and set(names) <= set(policy.CAPTCHA_PROVIDERS)


# -- job records into the ledger ------------------------------------------------------

JOB_KEYS = ["jobid", "jobId", "status", "created", "updated", "request", "response", "error",
            "errorDetails", "code", "type", "captcha", "media", "mediaGenerationId",
            "resolution", "replyRef", "remainingCredits", "videoUrl", "attempts"]  # fmt: skip
job_values = st.recursive(
    scalars | st.sampled_from(["completed", "failed", "created", "started", "4K", "1080p"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(JOB_KEYS), children, max_size=6)
    ),
    max_leaves=25,
)
job_records = st.fixed_dictionaries(
    {
        "jobid": st.text(min_size=1, max_size=40),
        "status": st.sampled_from(["created", "started", "completed", "failed"]) | st.text(),
    },
    optional={key: job_values for key in JOB_KEYS if key not in ("jobid", "status")},
)


@pytest.fixture(scope="module")
def fuzz_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fu.Ledger]:
    with fu.Ledger(tmp_path_factory.mktemp("fuzz") / "ledger.sqlite") as ledger:
        yield ledger


@settings(max_examples=120, deadline=None, suppress_health_check=FIXTURES_OK)
@given(record=job_records)
def test_any_readable_job_record_lands_in_the_ledger(fuzz_ledger: fu.Ledger, record: Any) -> None:
    try:
        job = parsing.parse_job(record, status_code=200)
    except fu.ResponseFormatError:
        return
    exchange = Exchange(
        call_id=new_call_id(),
        session_id="fuzz",
        operation="get_job",
        method="GET",
        endpoint="/jobs/{jobId}",
        started_at=1.0,
        finished_at=2.0,
        http_status=200,
        **{"outcome": "ok", **fields_of_value(job)},
    )
    before = len(fuzz_ledger)
    fuzz_ledger.record(exchange)
    assert len(fuzz_ledger) == before + 1
    assert not fuzz_ledger.fallback_path.exists()  # it went into SQLite, not the fallback


def test_the_fuzzed_ledger_still_reads_back(fuzz_ledger: fu.Ledger) -> None:
    fuzz_ledger.record(
        Exchange(
            call_id=new_call_id(),
            session_id="fuzz",
            operation="get_job",
            method="GET",
            endpoint="/jobs/{jobId}",
            started_at=1.0,
            finished_at=2.0,
            outcome="ok",
            job_id="j1",
        )
    )
    frame = fuzz_ledger.frame()
    assert len(frame) == len(fuzz_ledger) >= 1
    assert "j1" in set(frame["job_id"].dropna())


# -- webhook payloads through a real receiver -----------------------------------------


@pytest.fixture(scope="module")
def receiver() -> Iterator[fu.WebhookReceiver]:
    with fu.WebhookReceiver() as made:
        yield made


@pytest.fixture(scope="module")
def webhook_http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def _webhook_answer(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert isinstance(answer, dict) and answer["ok"] is (response.status_code == 200)
    return answer


@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURES_OK)
@given(payload=json_values | job_records, raw=st.none() | st.binary(max_size=64))
def test_an_unexpected_delivery_is_always_refused_cleanly(
    receiver: fu.WebhookReceiver, webhook_http: httpx.Client, payload: Any, raw: bytes | None
) -> None:
    accepted = receiver.accepted
    body = raw if raw is not None else json.dumps(payload).encode()
    response = webhook_http.post(receiver.url, content=body)
    _webhook_answer(response)
    assert response.status_code in (400, 403)
    assert receiver.accepted == accepted  # nobody asked for it: nothing accepted


@settings(max_examples=80, deadline=None, suppress_health_check=FIXTURES_OK)
@given(record=job_records)
def test_a_delivery_with_the_right_reference_and_any_content_never_breaks_the_receiver(
    receiver: fu.WebhookReceiver, webhook_http: httpx.Client, record: dict[str, Any]
) -> None:
    reply = receiver.reply_for()
    # A fresh job id each time: a job already bound to another reference is (rightly) 403.
    record["jobid"] = f"{uuid.uuid4().hex}-{record['jobid']}"
    if "jobId" in record:  # the casing the parser prefers: it must be fresh too
        record["jobId"] = record["jobid"]
    request = record.get("request")
    record["request"] = {
        **(request if isinstance(request, dict) else {}),
        "replyRef": reply["reply_ref"],
    }
    response = webhook_http.post(receiver.url, content=json.dumps(record).encode())
    _webhook_answer(response)
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        latest = receiver.latest(record["jobid"])
        assert latest is not None and latest.job_id == record["jobid"]
    receiver.forget(reply["reply_ref"])


# -- the simulator: methods, paths, headers, raw bytes ---------------------------------


@pytest.fixture(scope="module")
def fuzz_sim() -> Iterator[simulator.SimHandle]:
    # time_scale 0: no waiting; failures off so a valid-looking request cannot 500 by chance.
    with simulator.start(seed=17, time_scale=0, fail_rate=0) as handle:
        yield handle


@pytest.fixture(scope="module")
def sim_http(fuzz_sim: simulator.SimHandle) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "X"]
PATH_PIECES = ["videos", "upscale", "jobs", "accounts", "v1", "google-flow", "..", ".", "%2F",
               "%00", "jo.ultra@example.com", "j1737312345678v-u1-email:a@b.c-bot:google-flow",
               "?", "#", ";", "~", "%", "\u00e9"]  # fmt: skip
paths = st.lists(st.sampled_from(PATH_PIECES) | st.text(max_size=12), max_size=5).map("/".join)
header_names = st.sampled_from(
    ["Content-Type", "Content-Length", "Transfer-Encoding", "Authorization", "Accept",
     "Range", "Expect", "Connection", "X-Forwarded-For", "Host"]
) | st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,20}\Z")  # fmt: skip
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60
) | st.sampled_from(["chunked", "-1", "99999999999", "application/json", "multipart/form-data"])


def _check_sim_answer(response: httpx.Response, method: str) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:200])
    assert "<html" not in response.text.lower()
    if method != "HEAD" and response.content:
        assert response.headers.get("content-type", "").startswith(
            ("application/json", "video/", "image/", "text/plain")
        ), response.headers


@settings(max_examples=120, deadline=None, suppress_health_check=FIXTURES_OK)
@given(
    method=st.sampled_from(METHODS),
    path=paths,
    headers=st.dictionaries(header_names, header_values, max_size=4),
    body=st.none() | st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()),
    authorised=st.booleans(),
    on_media=st.booleans(),
)
def test_any_http_request_gets_a_json_4xx_or_a_normal_answer(
    fuzz_sim: simulator.SimHandle,
    sim_http: httpx.Client,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    authorised: bool,
    on_media: bool,
) -> None:
    # Headers that would make httpx itself refuse or hang are the raw-socket test's job.
    skipped = ("content-length", "host", "transfer-encoding", "expect")
    headers = {k: v.strip() for k, v in headers.items() if k.lower() not in skipped}
    if authorised:
        headers["Authorization"] = f"Bearer {fuzz_sim.token}"
    base = fuzz_sim.media_base if on_media else fuzz_sim.base_url
    try:
        request = sim_http.build_request(method, base + "/" + path, headers=headers, content=body)
    except (httpx.InvalidURL, UnicodeEncodeError):
        assume(False)  # not a request a client could send
    try:
        response = sim_http.send(request)
    except httpx.LocalProtocolError:
        assume(False)  # h11 refused to send it: the raw-socket test covers such bytes
    _check_sim_answer(response, method)


RAW_REQUESTS = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda method, target, version, lines, body: (
            f"{method} {target} {version}\r\n{lines}\r\n".encode("latin-1", "replace") + body
        ),
        st.sampled_from(METHODS) | st.text(max_size=8),
        st.sampled_from(["/", "/v1/google-flow/videos/upscale", "*", "//", "/" + "a" * 70000])
        | st.text(max_size=30),
        st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/1.1x", ""]),
        st.lists(
            st.builds(lambda k, v: f"{k}: {v}\r\n", header_names, header_values), max_size=5
        ).map("".join),
        st.binary(max_size=100),
    ),
)


def _raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` then half-close; read whatever comes back until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        try:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            return b""  # the server closed early (e.g. refused an oversized line)
        chunks = []
        while True:
            try:
                chunk = conn.recv(65536)
            except ConnectionResetError:
                break
            # socket.timeout here fails the test: the server hung on this input.
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURES_OK)
@given(data=RAW_REQUESTS, on_media=st.booleans())
def test_raw_bytes_on_a_socket_never_hang_never_5xx_never_html(
    fuzz_sim: simulator.SimHandle, data: bytes, on_media: bool
) -> None:
    url = httpx.URL(fuzz_sim.media_base if on_media else fuzz_sim.base_url)
    answer = _raw_exchange(int(url.port or 80), data)
    if not answer:
        return  # a closed connection is a fine answer to garbage
    if not answer.startswith(b"HTTP/"):
        # A two-word request line is HTTP/0.9 to http.server: the answer is a bare body
        # (JSON from the API, plain text from the media host).
        assert b"<html" not in answer.lower() and b"Traceback" not in answer, answer[:300]
        if not on_media:
            assert json.loads(answer)["code"] < 500, answer[:300]
        return
    head, _, rest = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1."), answer[:200]
    status = int(status_line.split()[1])
    # 505 is the one 5xx allowed: the right answer to a request in an HTTP version the
    # server does not speak (HTTP/2.0 on a plain HTTP/1.1 socket), not a server failure.
    assert status < 500 or (status == 505 and b"Invalid HTTP version" in rest), answer[:300]
    assert b"<html" not in answer.lower()
    if status >= 400 and rest:
        assert b"application/json" in head.lower() or b"text/plain" in head.lower(), head


def test_the_simulator_is_healthy_after_the_fuzz(
    fuzz_sim: simulator.SimHandle, sim_http: httpx.Client, tmp_path: Path
) -> None:
    with fu.FlowClient(fuzz_sim.token, base_url=fuzz_sim.base_url, retry_backoff=0.001) as client:
        result = client.upscale(fuzz_sim.sample_ids("jo.ultra@example.com")[0])
        assert client.download(result, tmp_path / "v.mp4").stat().st_size > 0
    assert fuzz_sim.stats()["responses"].get(500, 0) == 0


def test_datetimes_far_from_now_still_give_finite_waits() -> None:
    # The extremes hypothesis may not hit every run: the largest and smallest dates.
    far = (datetime.max.replace(tzinfo=UTC) - timedelta(days=1)).isoformat()
    assert times.retry_after_seconds(None, far, now=NOW) is not None
    assert times.retry_after_seconds(None, "0001-01-02T00:00:00Z", now=NOW) == 0.0
