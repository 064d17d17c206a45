"""The account model and its rules: tier and health from GET /accounts, the 4K verdict,
the concurrency by tier. The form and the batch both judge with these."""

from __future__ import annotations

from typing import Any

import pytest
from client_support import FAST
from simclient import JO, LEE, PAT

import flowup_nb as fu
from flowup_nb.api.accounts import (
    UNKNOWN_TIER_CONCURRENCY,
    concurrency_of,
    four_k_verdict,
    tier_of_paygate,
)
from flowup_nb.api.models import Account
from flowup_nb.api.parsing import parse_account
from flowup_nb.api.prices import FOUR_K_PRICE, upscale_price


def test_4k_rule() -> None:
    ultra = Account("a@x", credits=500, tier="ultra")
    assert four_k_verdict(ultra).allowed
    poor = Account("a@x", credits=20, tier="ultra")
    verdict = four_k_verdict(poor)
    assert not verdict.allowed and "50 credits" in verdict.reason and "20" in verdict.reason
    pro = four_k_verdict(Account("p@x", credits=1000, tier="pro"))
    assert not pro.allowed and "Ultra" in pro.reason and "Pro" in pro.reason
    assert four_k_verdict(None).allowed  # unknown: the server has the last word
    unknown_tier = four_k_verdict(Account("u@x", credits=None, tier=None))
    assert unknown_tier.allowed and "not reported" in unknown_tier.reason


def test_a_batch_judges_the_tier_but_not_the_balance() -> None:
    # A cached repeat is free, and the balance moves while a batch runs.
    assert four_k_verdict(Account("a@x", credits=20, tier="ultra"), judge_balance=False).allowed
    free = four_k_verdict(Account("f@x", credits=0, tier="free"), judge_balance=False)
    assert not free.allowed and "no paid plan" in free.reason


def test_parse_account_reads_the_paygate_tier_and_health() -> None:
    body = {"health": "OK", "credits": {"credits": 18760, "userPaygateTier": "PAYGATE_TIER_TWO"}}
    account = parse_account(body, email="jo@x")
    assert (account.email, account.credits, account.tier) == ("jo@x", 18760, "ultra")
    assert account.health == "OK" and account.healthy
    bare = parse_account({"credits": 5}, email="b@x")
    assert bare.tier is None and bare.credits == 5
    assert bare.health is None and bare.healthy  # not reported: not refused
    broken = parse_account({"health": "session expired"}, email="c@x")
    assert not broken.healthy and broken.credits is None and broken.tier is None


@pytest.mark.parametrize(
    ("code", "tier"),
    [
        ("PAYGATE_TIER_TWO", "ultra"),
        ("PAYGATE_TIER_ONE", "pro"),
        ("PAYGATE_TIER_NOT_PAID", "free"),
        ("PAYGATE_TIER_NINE", None),
        (2, None),
    ],
)
def test_paygate_codes(code: object, tier: str | None) -> None:
    assert tier_of_paygate(code) == tier


def test_concurrency_by_tier() -> None:
    assert concurrency_of("ultra") > concurrency_of("pro") > concurrency_of("free") >= 1
    assert concurrency_of(None) == concurrency_of("unheard-of") == UNKNOWN_TIER_CONCURRENCY


def test_the_4k_price_is_the_price_list_s() -> None:
    assert upscale_price("4K") == FOUR_K_PRICE == 50
    assert upscale_price("4K", cached=True) == 0 and upscale_price("1080p") == 0
    advice = fu.PaymentRequiredError("x", status_code=402).advice
    assert f"{FOUR_K_PRICE} credits" in advice


@pytest.mark.parametrize(("email", "tier"), [(JO, "ultra"), (PAT, "pro"), (LEE, "free")])
def test_the_simulator_s_accounts_read_back_with_their_tier(
    sim: Any, email: str, tier: str
) -> None:
    with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
        account = client.get_account(email)
    assert account.email == email and account.tier == tier and account.healthy
    assert four_k_verdict(account).allowed == (tier == "ultra")
