"""The price list: what an operation is expected to cost, in credits.

From the endpoint pages (June 2026; see docs/simulator.md for what is documented and what
is guessed). The one place a price is written: the 4K rule, the error advice, the batch
table and the ledger read it here. The ledger compares these expectations with the
balance the server reports (``Ledger.reconcile()``), so a price change shows up as a
disagreement instead of silently skewing the figures.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_GENERATION_MODEL",
    "FOUR_K_PRICE",
    "GENERATION_PRICES",
    "UPSCALE_PRICES",
    "generation_model_key",
    "generation_price",
    "upscale_price",
]

# resolution -> credits for a fresh (not cached) upscale; a cached repeat costs nothing.
UPSCALE_PRICES: dict[str, int] = {"1080p": 0, "4K": 50}
FOUR_K_PRICE = UPSCALE_PRICES["4K"]

# model -> (credits on other paid tiers, credits on Ultra)
GENERATION_PRICES: dict[str, tuple[int, int]] = {
    "veo-3.1-fast": (20, 10),
    "veo-3.1-lite": (10, 5),
    "veo-3.1-quality": (100, 100),
}
DEFAULT_GENERATION_MODEL = "veo-3.1-fast"


def upscale_price(resolution: str | None, *, cached: bool = False) -> int:
    """Credits for one completed upscale (0 for unknown resolutions: nothing documented)."""
    if cached or resolution is None:
        return 0
    return UPSCALE_PRICES.get(resolution, 0)


def generation_model_key(model: str | None) -> str:
    """The price-list key of a model name as requests or answers spell it.

    Answers spell models with underscores and suffixes (``veo_3_1_t2v_fast_ultra``);
    the price list keys on the request names (``veo-3.1-fast``).
    """
    if not model:
        return DEFAULT_GENERATION_MODEL
    name = model.lower()
    for key in GENERATION_PRICES:
        if key in name or key.rsplit("-", 1)[-1] in name.replace("_", "-").split("-"):
            return key
    return DEFAULT_GENERATION_MODEL


def generation_price(model: str | None, *, ultra: bool) -> int:
    """Credits for one completed generation of ``model`` (None: the default model)."""
    other, on_ultra = GENERATION_PRICES[generation_model_key(model)]
    return on_ultra if ultra else other
