"""What an account's tier allows: how many jobs at once, and whether 4K; and whether its
health lets anything be sent to it at all.

Pure, from what ``GET /accounts/{email}`` reports. The docs: 4K needs a Google AI Ultra
subscription (price in ``prices``); other paid tiers get 1080p only; 1080p is free. The
tier comes from ``credits.userPaygateTier``, which the docs do not describe: the
simulator sends Google's ``PAYGATE_TIER_*`` names, where TIER_TWO is Ultra (see
docs/simulator.md). An unknown tier refuses nothing: the server has the last word, and
its refusal is shown. An account whose ``health`` is not "OK" answers every upscale with
a 596 until its owner reconnects it: :func:`upscale_verdict` refuses it up front.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowup_nb.api.errors import AccountReconnectError
from flowup_nb.api.models import Account
from flowup_nb.api.prices import FOUR_K_PRICE

__all__ = [
    "TIER_CONCURRENCY",
    "TIER_NAMES",
    "UNKNOWN_TIER_CONCURRENCY",
    "Verdict",
    "concurrency_of",
    "four_k_verdict",
    "reconnect_error",
    "tier_of_paygate",
    "upscale_verdict",
]

_TIER_BY_PAYGATE = {
    "PAYGATE_TIER_TWO": "ultra",
    "PAYGATE_TIER_ONE": "pro",
    "PAYGATE_TIER_NOT_PAID": "free",
}
TIER_NAMES = {"ultra": "Ultra", "pro": "Pro", "free": "no paid plan"}  # as shown to people
# Jobs an account may run at once. The docs only say "per-user concurrency limit": these
# are a guess (the simulator's), and a throttle lowers an account's limit on the fly.
TIER_CONCURRENCY = {"ultra": 4, "pro": 2, "free": 1}
UNKNOWN_TIER_CONCURRENCY = 2


def tier_of_paygate(code: object) -> str | None:
    """``"ultra"``, ``"pro"`` or ``"free"`` from a ``userPaygateTier``; None if unknown."""
    return _TIER_BY_PAYGATE.get(code) if isinstance(code, str) else None


def concurrency_of(tier: str | None) -> int:
    """How many jobs an account of ``tier`` runs at once (a cautious guess when unknown)."""
    return TIER_CONCURRENCY.get(tier or "", UNKNOWN_TIER_CONCURRENCY)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an upscale may be sent, and the words to show beside the choice."""

    allowed: bool
    reason: str

    def with_reason(self, reason: str) -> Verdict:
        return Verdict(self.allowed, reason)


def four_k_verdict(account: Account | None, *, judge_balance: bool = True) -> Verdict:
    """May ``account`` upscale to 4K? None (not looked up) is allowed.

    ``judge_balance=False`` judges the tier only: a batch cannot judge the balance up
    front, since a cached repeat is free and the balance moves while the batch runs.
    """
    price = FOUR_K_PRICE
    if account is None:
        return Verdict(True, f"{price} credits; needs Google AI Ultra")
    email = account.email or "this account"
    if account.tier is not None and account.tier != "ultra":
        shown = TIER_NAMES.get(account.tier, account.tier)
        return Verdict(False, f"4K needs Google AI Ultra; {email} has {shown} (1080p only)")
    if judge_balance and account.credits is not None and account.credits < price:
        return Verdict(False, f"4K costs {price} credits; {email} has {account.credits:,}")
    balance = f"{account.credits:,} credits" if account.credits is not None else "balance unknown"
    tier = TIER_NAMES.get(account.tier or "", "tier not reported")
    return Verdict(True, f"{price} credits · {email}: {tier}, {balance}")


def upscale_verdict(account: Account | None) -> Verdict:
    """May anything be sent to ``account``? Not while its health is not "OK" (None: not
    looked up, allowed)."""
    if account is None or account.healthy:
        return Verdict(True, "")
    email = account.email or "this account"
    return Verdict(
        False,
        f"{email} must be reconnected by its owner ({account.health}): nothing is sent to it "
        "until then (POST /accounts on useapi.net)",
    )


def reconnect_error(account: Account) -> AccountReconnectError:
    """The error the service would answer (596) to an upscale on the unhealthy
    ``account``, made here so that nothing is sent."""
    return AccountReconnectError(
        f"Google Flow account {account.email} must be reconnected: its health is "
        f"{account.health!r} (seen in GET /accounts/{{email}}; the upscale was not sent)",
        status_code=596,
    )
