"""The account check behind the form: one look-up per account, what it allows (4K, and
anything at all while its health is not OK), and the balance learnt from each upscale's
answer. No widgets.

The rules themselves (tier, balance, health) are the account model's (``api/accounts.py``);
this adds what a person at a form needs on top: "checking…" while the look-up runs, why a
look-up failed, a line to show beside the account, and that an account whose session is
broken must be reconnected.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from flowup_nb.api.accounts import TIER_NAMES, Verdict, four_k_verdict, upscale_verdict
from flowup_nb.api.calls import UpscaleCalls
from flowup_nb.api.errors import FlowError
from flowup_nb.api.models import Account
from flowup_nb.widgets.advice import first_line
from flowup_nb.widgets.tasks import NoRunningLoopError, TaskKeeper

__all__ = ["AccountCheck"]


class AccountCheck:
    """Accounts looked up through ``calls``; ``on_change()`` after each one is known."""

    def __init__(
        self, calls: UpscaleCalls, keeper: TaskKeeper, on_change: Callable[[], None]
    ) -> None:
        self._calls = calls
        self._keeper = keeper
        self._on_change = on_change
        self._accounts: dict[str, Account | None] = {}  # None: the look-up failed
        self._notes: dict[str, str] = {}
        self._checking: dict[str, asyncio.Task[None]] = {}

    def look_up(self, email: str) -> None:
        """Ask for ``email``'s account once (in a task); nothing when no loop runs."""
        if email in self._accounts or email in self._checking:
            return
        try:
            task = self._keeper.spawn(self._load(email), name=f"flowup-account-{email}")
        except NoRunningLoopError:
            return
        if not task.done():
            self._checking[email] = task

    async def checked(self, email: str) -> Account | None:
        """``email``'s account, looked up now if it was not yet (None: the look-up failed)."""
        if email not in self._accounts:
            task = self._checking.get(email)
            if task is None:
                await self._load(email)
            else:
                await asyncio.shield(task)
        return self._accounts.get(email)

    async def _load(self, email: str) -> None:
        try:
            self._accounts[email] = await self._calls.get_account(email)
        except FlowError as exc:
            self._accounts[email] = None
            self._notes[email] = f"could not check {email}: {first_line(exc)}"
        finally:
            self._checking.pop(email, None)
        self._on_change()

    def upscale(self, email: str | None) -> Verdict:
        """Whether anything may be sent to ``email``'s account: not while its health is
        not OK (an account not looked up, or being looked up, is not refused)."""
        if email is None or email not in self._accounts:
            return upscale_verdict(None)
        return upscale_verdict(self._accounts[email])

    def describe(self, email: str | None) -> str:
        """One line about ``email``'s account, to show beside the chosen video."""
        if email is None:
            return ""
        if email in self._checking:
            return f"{email} · checking the account…"
        if email not in self._accounts:
            return email
        account = self._accounts[email]
        if account is None:
            return self._notes.get(email, f"could not check {email}")
        if not account.healthy:
            return f"{email} · health: {account.health} · must be reconnected by its owner"
        tier = TIER_NAMES.get(account.tier or "", "tier not reported")
        balance = f"{account.credits:,} credits" if account.credits is not None else None
        health = f"health {account.health}" if account.health else "health not reported"
        return " · ".join(part for part in (email, tier, balance, health) if part)

    def four_k(self, email: str | None) -> Verdict:
        """Whether ``email``'s account may upscale to 4K, from what is known of it."""
        if email is None or (email not in self._accounts and email not in self._checking):
            return four_k_verdict(None)
        if email not in self._accounts:
            return four_k_verdict(None).with_reason("checking the account…")
        account = self._accounts[email]
        if account is not None and not account.healthy:
            # Such a session reports neither tier nor balance, and every upscale gets a 596.
            return Verdict(False, f"{email} must be reconnected ({account.health}): POST /accounts")
        verdict = four_k_verdict(account)
        note = self._notes.get(email)
        return verdict.with_reason(note) if note else verdict

    def balance(self, email: str | None) -> int | None:
        """The last balance known for ``email`` (None: not known)."""
        account = self._accounts.get(email) if email else None
        return account.credits if account is not None else None

    def learn_balance(self, email: str | None, remaining: int | None) -> None:
        """An answer reported ``remaining`` credits: the 4K verdict follows it."""
        if email is None or remaining is None:
            return
        known = self._accounts.get(email)
        self._accounts[email] = (
            dataclasses.replace(known, credits=remaining)
            if known is not None
            else Account(email=email, credits=remaining)
        )
        self._notes.pop(email, None)
        self._on_change()
