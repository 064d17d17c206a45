"""Money: what the user pays for credits and captcha solves, which only the user knows.

The credit prices of operations live in prices.py (the API's documented figures); this
module holds the user's own prices, so the ledger can turn credits and captcha attempts
into money (``Ledger.costs()``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from flowup_nb.api.errors import InputError

__all__ = ["EXAMPLE_CAPTCHA_PER_1000", "EXAMPLE_CREDIT_PRICE", "Prices"]

# EXAMPLES, not facts about anyone's plan. Per 1,000 reCAPTCHA solves in US dollars, from
# the comparison table of github.com/TheGP/Everything-About-Captchas (README, "reCaptcha
# v2 1000 captchas"; read 2026-12, the table itself is undated): CapSolver 0.8,
# AntiCaptcha 0.95, CapMonster 0.6, EzCaptcha 0.6, SolveCaptcha 1, 2Captcha "1-2.99"
# (its low end). YesCaptcha is not in that table: 0.6 is an example figure, not a quote.
EXAMPLE_CAPTCHA_PER_1000: Mapping[str, float] = MappingProxyType(
    {
        "CapSolver": 0.8,
        "AntiCaptcha": 0.95,
        "CapMonster": 0.6,
        "EzCaptcha": 0.6,
        "SolveCaptcha": 1.0,
        "2Captcha": 1.0,
        "YesCaptcha": 0.6,
    }
)
# An example figure, not a quote (2026-12): what one credit costs depends on the plan.
EXAMPLE_CREDIT_PRICE = 0.01
# Attempts with the user's own token (captchaToken) buy nothing from a provider.
_OWN_TOKEN = "UserProvided"


@dataclass(frozen=True)
class Prices:
    """What the user pays, to turn credits and captcha attempts into money.

    Fill it from your own plan and providers' bills: ``credit`` is the price of one credit
    in ``currency``; ``captcha_per_1000`` maps a provider's name (as the API reports it,
    e.g. ``"CapSolver"``) to its price per 1,000 solves, failed ones included (providers
    bill every attempt); ``other_captcha_per_1000`` prices a provider not in the map. The
    defaults are examples, dated and sourced in ``flowup_nb/api/money.py``, never a
    statement about your plan.
    """

    credit: float = EXAMPLE_CREDIT_PRICE
    captcha_per_1000: Mapping[str, float] = field(
        default_factory=lambda: dict(EXAMPLE_CAPTCHA_PER_1000)
    )
    currency: str = "USD"
    other_captcha_per_1000: float = 1.0

    def __post_init__(self) -> None:
        for name in ("credit", "other_captcha_per_1000"):
            _check_price(name, getattr(self, name))
        if not isinstance(self.captcha_per_1000, Mapping):
            raise InputError(
                "captcha_per_1000 maps provider names to prices, e.g. {'CapSolver': 0.8}"
            )
        table = dict(self.captcha_per_1000)
        for provider, price in table.items():
            if not isinstance(provider, str) or not provider:
                raise InputError(f"captcha_per_1000: {provider!r} is not a provider name")
            _check_price(f"captcha_per_1000[{provider!r}]", price)
        if not isinstance(self.currency, str) or not self.currency.strip():
            raise InputError(f"currency must be a name such as 'USD' (got {self.currency!r})")
        object.__setattr__(self, "captcha_per_1000", MappingProxyType(table))

    def per_attempt(self, provider: str | None) -> float:
        """The price of one captcha attempt with ``provider`` (0 for the user's own token)."""
        if provider == _OWN_TOKEN:
            return float(self.captcha_per_1000.get(_OWN_TOKEN, 0.0)) / 1000.0
        price = self.captcha_per_1000.get(provider or "", self.other_captcha_per_1000)
        return float(price) / 1000.0


def _check_price(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{name} must be a price, a number >= 0 (got {value!r})")
    if value < 0:
        raise InputError(f"{name} must be a price, a number >= 0 (got {value!r})")
