"""The pure parts of a batch: inputs, admission, reactions to errors (the poll plan is
the client's: tests/api/test_wait_engine.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from batchkit import JO, PAT, SAM

import flowup_nb as fu
from flowup_nb.api.errors import classify
from flowup_nb.batch.items import BatchItem, make_items
from flowup_nb.batch.reactions import MODEL_QUOTA, QUOTA, THROTTLED, Reaction, react
from flowup_nb.batch.scheduler import Counts, Scheduler


def vid(email: str, n: int) -> str:
    return f"user:1-email:{email.encode().hex()}-video:clip-{n}"


def items(*accounts: str, per: int = 3) -> list[BatchItem]:
    return make_items([vid(a, n) for n in range(per) for a in accounts], "1080p")


def limited(status: int, reason: str | None, retry_after: float | None) -> fu.FlowError:
    body: dict = {"error": {"code": status, "message": "RESOURCE_EXHAUSTED"}}
    if reason:
        body["error"]["details"] = [{"reason": reason}]
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return classify(status, headers, body)


# -- inputs ------------------------------------------------------------------------------


def test_duplicates_become_one_item_in_first_seen_order() -> None:
    a, b = vid(JO, 1), vid(SAM, 2)
    made = make_items([a, b, a, (b, "4K"), (a, "1080p"), b], "1080p")
    assert [(i.source_id, i.resolution, i.position) for i in made] == [
        (a, "1080p", 0),
        (b, "1080p", 1),
        (b, "4K", 3),
    ]
    assert [i.account for i in made] == [JO, SAM, SAM]


def test_bad_entries_are_all_named_before_anything_is_sent() -> None:
    with pytest.raises(fu.InputError) as caught:
        make_items([vid(JO, 1), "https://example.com/v.mp4", (vid(JO, 2), "4k"), 42], "1080p")
    text = str(caught.value)
    assert "3 of 4" in text and "#1" in text and "#2" in text and "#3" in text
    assert "'4K'" in text  # the fix for the resolution
    with pytest.raises(fu.InputError, match="not one string"):
        make_items(vid(JO, 1), "1080p")
    with pytest.raises(fu.InputError, match="no ids"):
        make_items([], "1080p")


# -- admission ---------------------------------------------------------------------------


def test_admission_respects_global_and_per_account_limits() -> None:
    batch = items(JO, PAT, per=4)
    plan = Scheduler(batch, concurrency=5, limits={JO: 4, PAT: 2})
    first = plan.admit(0.0)
    assert len(first) == 5
    assert sum(i.account == PAT for i in first) == 2
    assert plan.admit(0.0) == []  # all slots taken
    plan.succeed(first[0], 1.0)
    again = plan.admit(1.0)
    assert len(again) == 1 and again[0].account == JO
    assert plan.counts() == Counts(done=1, failed=0, running=5, waiting=2)


def test_a_paused_account_waits_while_the_others_go_on() -> None:
    batch = items(JO, SAM, per=4)
    plan = Scheduler(batch, concurrency=2, limits={JO: 1, SAM: 1})
    jo, sam = sorted(plan.admit(0.0), key=lambda i: i.account != JO)
    throttled = limited(429, THROTTLED, 30)
    ended = plan.react(
        jo, throttled, react(throttled, backoff=1, max_pause=60, no_eligible="wait"), 0.0
    )
    assert ended == [] and jo.status == "queued" and jo.requeues == 1
    plan.succeed(sam, 1.0)
    admitted = plan.admit(1.0)
    assert [i.account for i in admitted] == [SAM]  # JO stays paused
    assert plan.next_wake(1.0) == 30.0
    plan.succeed(admitted[0], 2.0)
    assert {i.account for i in plan.admit(30.0)} == {JO, SAM}


def test_a_throttle_lowers_the_account_limit_and_completions_raise_it_back() -> None:
    batch = items(JO, per=6)
    plan = Scheduler(batch, concurrency=10, limits={JO: 4})
    running = plan.admit(0.0)
    assert len(running) == 4
    error = limited(429, THROTTLED, 0)
    plan.react(running[3], error, Reaction("pause", 0.0, scope="account", throttled=True), 0.0)
    assert plan.limit(JO) == 3  # three were running when the fourth was refused
    assert plan.admit(0.0) == []
    plan.succeed(running[0], 1.0)
    assert plan.limit(JO) == 4
    assert len(plan.admit(1.0)) == 2


def test_a_stop_ends_the_queued_items_of_its_scope_only() -> None:
    batch = items(JO, SAM, per=3)
    plan = Scheduler(batch, concurrency=1)
    first = plan.admit(0.0)[0]
    quota = limited(429, QUOTA, 7200)
    reaction = react(quota, backoff=1, max_pause=3600, no_eligible="wait")
    assert reaction == Reaction("stop", scope="account")
    ended = plan.react(first, quota, reaction, 0.0)
    assert {i.account for i in ended} == {first.account} and len(ended) == 3
    assert all(i.error is quota for i in ended)
    rest = [i for i in batch if i.account != first.account]
    assert all(i.status == "queued" for i in rest)


def test_retries_use_the_budget_then_fail() -> None:
    batch = items(JO, per=1)
    plan = Scheduler(batch, concurrency=1, retries=2)
    item = batch[0]
    error = classify(403, {}, {"error": "captcha_quality: rejected after 3 attempts"})
    reaction = react(error, backoff=0.5, max_pause=60, no_eligible="wait")
    assert reaction == Reaction("retry", 0.5)
    for attempt in range(3):
        assert plan.admit(10.0 * attempt) == [item]
        plan.react(item, error, reaction, 10.0 * attempt)
    assert item.status == "failed" and item.error is error and item.retries_used == 2
    assert plan.finished


def test_an_error_the_client_retried_is_sent_again_only_within_transient_retries() -> None:
    error = fu.ServiceUnavailableError("down", status_code=503)
    error.attempts = 3  # what the client spent on it, its own retries included
    reaction = react(error, backoff=0.5, max_pause=60, no_eligible="wait")
    assert reaction == Reaction("retry", 0.5, client_retried=True)
    for transient_retries in (0, 1):
        batch = items(JO, per=1)
        plan = Scheduler(batch, concurrency=1, retries=5, transient_retries=transient_retries)
        item = batch[0]
        for attempt in range(transient_retries + 1):
            assert plan.admit(10.0 * attempt) == [item]
            plan.react(item, error, reaction, 10.0 * attempt)
        assert item.status == "failed" and item.error is error
        assert item.resends_used == transient_retries and item.retries_used == 0


def test_a_429_the_client_waited_out_pauses_the_account_but_is_not_resent() -> None:
    error = limited(429, THROTTLED, 0.01)
    error.attempts = 3
    reaction = react(error, backoff=1, max_pause=60, no_eligible="wait")
    assert reaction == Reaction("pause", 0.01, scope="account", throttled=True, client_retried=True)
    batch = items(JO, per=2)
    plan = Scheduler(batch, concurrency=1)
    first = plan.admit(0.0)[0]
    assert plan.react(first, error, reaction, 0.0) == [first]
    assert first.status == "failed" and plan.next_wake(0.0) == 0.01


def test_pauses_cannot_keep_an_item_forever() -> None:
    batch = items(JO, per=1)
    plan = Scheduler(batch, concurrency=1, retries=3)  # a pause-and-requeue uses a retry
    error = limited(429, THROTTLED, 1)
    for step in range(4):
        assert plan.admit(float(step * 2)) == batch
        plan.react(batch[0], error, Reaction("pause", 1.0, scope="account"), float(step * 2))
    assert batch[0].status == "failed"


def test_adopted_jobs_hold_slots_whatever_the_limits() -> None:
    batch = items(JO, per=3)
    for item in batch[:2]:
        item.status, item.job_id = "running", f"j{item.position}"
    plan = Scheduler(batch, concurrency=1)
    assert plan.admit(0.0) == []
    assert plan.counts().running == 2


# -- reactions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (limited(429, THROTTLED, 10), Reaction("pause", 10.0, scope="account", throttled=True)),
        (limited(429, QUOTA, 10), Reaction("pause", 10.0, scope="account")),
        (limited(429, MODEL_QUOTA, 10), Reaction("pause", 10.0, scope="model")),
        (limited(429, MODEL_QUOTA, 10_000), Reaction("stop", scope="model")),
        (
            limited(429, "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC", 5),
            Reaction("retry", 5.0),
        ),
        (
            classify(429, {"Retry-After": "9"}, {"error": "no_eligible_account"}),
            Reaction("pause", 9.0, scope="all"),
        ),
        (
            classify(503, {}, {"error": "Captcha service failed: ERROR_ZERO_BALANCE"}),
            Reaction("stop", scope="account"),
        ),
        (classify(402, {}, {"error": "Not enough credits"}), Reaction("stop", scope="model")),
        (classify(401, {}, {"error": "Unauthorized"}), Reaction("stop", scope="all")),
        (classify(400, {}, {"error": "bad"}), Reaction("fail")),
        (classify(404, {}, {"error": "Video x not found"}), Reaction("fail")),
        (
            classify(403, {}, {"error": "captcha_quality: rejected after 3 attempts"}),
            Reaction("retry", 2.0),
        ),
    ],
)
def test_each_error_gets_the_documented_reaction(error: fu.FlowError, expected: Reaction) -> None:
    assert react(error, backoff=2.0, max_pause=3600, no_eligible="wait") == expected


def test_no_eligible_account_stops_when_asked() -> None:
    error = classify(429, {"Retry-After": "9"}, {"error": "no_eligible_account"})
    assert react(error, backoff=1, max_pause=60, no_eligible="stop") == Reaction(
        "stop", scope="all"
    )


def test_a_model_quota_without_retry_after_waits_for_utc_midnight() -> None:
    error = limited(429, MODEL_QUOTA, None)
    now = datetime(2026, 5, 1, 23, 0, tzinfo=UTC)
    assert react(error, backoff=1, max_pause=7200, no_eligible="wait", now=now) == Reaction(
        "pause", 3600.0, scope="model"
    )
