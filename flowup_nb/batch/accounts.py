"""Before the first upscale: each account's health and tier, hence whether anything may
be sent to it, its concurrency and its 4K rights.

One ``GET /accounts/{email}`` per account of the batch (not per video). What a tier
allows is the account model's rule (``api/accounts.py``); when the tier cannot be read,
nothing is refused and the account gets a cautious limit. An account whose health is not
"OK" answers every upscale with a 596: its videos are refused without a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Protocol

from flowup_nb.api.accounts import (
    UNKNOWN_TIER_CONCURRENCY,
    concurrency_of,
    four_k_verdict,
    reconnect_error,
)
from flowup_nb.api.errors import AuthenticationError, FlowError, InputError, NotFoundError
from flowup_nb.api.models import Account
from flowup_nb.batch.items import BatchItem

__all__ = [
    "UNKNOWN_TIER_CONCURRENCY",
    "AccountLookup",
    "account_limits",
    "refusal",
    "survey",
]

# What a survey found of one account: the account, or why its look-up failed.
Found = Account | FlowError


class AccountLookup(Protocol):
    """The one call a survey makes (any awaitable client has it)."""

    async def get_account(self, email: str) -> Account: ...


async def survey(calls: AccountLookup, emails: Iterable[str | None]) -> dict[str, Found]:
    """Look every account up once, concurrently. A bad token stops everything here."""
    wanted = sorted({email for email in emails if email})

    async def look_up(email: str) -> Found:
        try:
            return await calls.get_account(email)
        except AuthenticationError:
            raise
        except FlowError as exc:
            return exc

    found = await asyncio.gather(*(look_up(email) for email in wanted))
    return dict(zip(wanted, found, strict=True))


def refusal(item: BatchItem, found: Found | None) -> FlowError | None:
    """Why ``item`` must not be sent at all, judged from its account, or None."""
    if isinstance(found, NotFoundError):
        return found
    if isinstance(found, Account) and not found.healthy:
        return reconnect_error(found)
    if item.resolution != "4K" or not isinstance(found, Account):
        return None
    verdict = four_k_verdict(found, judge_balance=False)
    if verdict.allowed:
        return None
    return InputError(
        f"{verdict.reason}: upscale its videos to 1080p, or use videos of an Ultra account "
        "(not sent)"
    )


def account_limits(
    found: Mapping[str, Found], per_account: int | Mapping[str, int] | None
) -> dict[str | None, int]:
    """Each account's concurrency: the caller's choice, else by tier."""
    limits: dict[str | None, int] = {}
    for email, account in found.items():
        if isinstance(per_account, int):
            limits[email] = per_account
        elif per_account is not None and email in per_account:
            limits[email] = per_account[email]
        else:
            limits[email] = concurrency_of(account.tier if isinstance(account, Account) else None)
    return limits
