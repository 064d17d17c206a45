"""Before the first upscale: each account's tier, hence its concurrency and 4K rights.

One ``GET /accounts/{email}`` per account of the batch (not per video). The tier comes
from ``credits.userPaygateTier``; when it cannot be read, nothing is refused and the
account gets a cautious limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flowup_nb.api.errors import AuthenticationError, FlowError, InputError, NotFoundError
from flowup_nb.api.models import Account
from flowup_nb.batch.calls import BatchCalls
from flowup_nb.batch.items import BatchItem

__all__ = [
    "TIER_CONCURRENCY",
    "AccountInfo",
    "account_limits",
    "refusal",
    "survey",
    "tier_of",
]

_TIER_BY_PAYGATE = {
    "PAYGATE_TIER_TWO": "ultra",
    "PAYGATE_TIER_ONE": "pro",
    "PAYGATE_TIER_NOT_PAID": "free",
}
# Jobs an account may run at once. The docs only say "per-user concurrency limit": these
# are a guess (the simulator's), and a throttle lowers an account's limit on the fly.
TIER_CONCURRENCY = {"ultra": 4, "pro": 2, "free": 1}
UNKNOWN_TIER_CONCURRENCY = 2


@dataclass(frozen=True, slots=True)
class AccountInfo:
    email: str
    tier: str | None  # "ultra" | "pro" | "free" | None (unknown)
    credits: int | None
    error: FlowError | None = None  # the lookup failed with this


def tier_of(account: Account) -> str | None:
    credits = account.raw.get("credits") if isinstance(account.raw, dict) else None
    paygate = credits.get("userPaygateTier") if isinstance(credits, dict) else None
    return _TIER_BY_PAYGATE.get(paygate) if isinstance(paygate, str) else None


async def survey(calls: BatchCalls, emails: Iterable[str | None]) -> dict[str, AccountInfo]:
    """Look every account up once, concurrently. A bad token stops everything here."""
    wanted = sorted({email for email in emails if email})

    async def look_up(email: str) -> AccountInfo:
        try:
            account = await calls.get_account(email)
        except AuthenticationError:
            raise
        except FlowError as exc:
            return AccountInfo(email, None, None, exc)
        return AccountInfo(email, tier_of(account), account.credits)

    found = await asyncio.gather(*(look_up(email) for email in wanted))
    return {info.email: info for info in found}


def refusal(item: BatchItem, info: AccountInfo | None) -> FlowError | None:
    """Why ``item`` must not be sent at all, judged from its account, or None."""
    if info is None:
        return None
    if isinstance(info.error, NotFoundError):
        return info.error
    if item.resolution == "4K" and info.tier in ("pro", "free"):
        return InputError(
            f"4K needs a Google AI Ultra subscription and {info.email} is {info.tier}: "
            "upscale its videos to 1080p, or use videos of an Ultra account (not sent)"
        )
    return None


def account_limits(
    infos: Mapping[str, AccountInfo], per_account: int | Mapping[str, int] | None
) -> dict[str | None, int]:
    """Each account's concurrency: the caller's choice, else by tier."""
    limits: dict[str | None, int] = {}
    for email, info in infos.items():
        if isinstance(per_account, int):
            limits[email] = per_account
        elif per_account is not None and email in per_account:
            limits[email] = per_account[email]
        else:
            limits[email] = TIER_CONCURRENCY.get(info.tier or "", UNKNOWN_TIER_CONCURRENCY)
    return limits
