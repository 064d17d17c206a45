"""Whether an account may upscale to 4K, and why not: pure, from what the API reports.

The docs: 4K needs a Google AI Ultra subscription and costs 50 credits; other paid
tiers get 1080p only; 1080p is free. ``GET /accounts/{email}`` reports
``credits.credits`` (documented) and ``credits.userPaygateTier`` (not documented; the
simulator sends Google's ``PAYGATE_TIER_*`` names, where TIER_TWO is Ultra). An unknown
tier does not block 4K: the server has the last word, and its refusal is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FOUR_K_COST", "AccountInfo", "Verdict", "account_info", "four_k_verdict"]

FOUR_K_COST = 50
_TIER_NAMES = {
    "PAYGATE_TIER_TWO": "Ultra",
    "PAYGATE_TIER_ONE": "Pro",
    "PAYGATE_TIER_NOT_PAID": "no paid plan",
}


@dataclass(frozen=True, slots=True)
class AccountInfo:
    email: str
    credits: int | None  # None: not known
    tier: str | None  # "Ultra" | "Pro" | "no paid plan" | None (not reported)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str  # shown beside the 4K option

    def with_reason(self, reason: str) -> Verdict:
        return Verdict(self.allowed, reason)


def account_info(email: str, account: Any) -> AccountInfo:
    """From the client's ``Account`` (``credits`` and the raw body)."""
    raw = getattr(account, "raw", None) or {}
    credits_block = raw.get("credits") if isinstance(raw, dict) else None
    tier_code = credits_block.get("userPaygateTier") if isinstance(credits_block, dict) else None
    tier = _TIER_NAMES.get(tier_code) if isinstance(tier_code, str) else None
    return AccountInfo(email=email, credits=getattr(account, "credits", None), tier=tier)


def four_k_verdict(info: AccountInfo | None) -> Verdict:
    if info is None:
        return Verdict(True, f"{FOUR_K_COST} credits; needs Google AI Ultra")
    if info.tier is not None and info.tier != "Ultra":
        return Verdict(
            False,
            f"4K needs Google AI Ultra; {info.email} has {info.tier} (1080p only)",
        )
    if info.credits is not None and info.credits < FOUR_K_COST:
        return Verdict(
            False,
            f"4K costs {FOUR_K_COST} credits; {info.email} has {info.credits:,}",
        )
    balance = f"{info.credits:,} credits" if info.credits is not None else "balance unknown"
    tier = info.tier or "tier not reported"
    return Verdict(True, f"{FOUR_K_COST} credits · {info.email}: {tier}, {balance}")
