"""The fixed accounts, their tiers, limits and the price list."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_CONCURRENCY",
    "GENERATION_MODELS",
    "HEALTH_OK",
    "PAYGATE_TIER",
    "UPSCALE_COST",
    "Account",
    "GenerationModel",
    "default_accounts",
]

# Jobs an account may run at once before Google throttles it (a guess: the docs say only
# "per-user concurrency limit").
DEFAULT_CONCURRENCY = {"ultra": 4, "pro": 2, "free": 1}

PAYGATE_TIER = {
    "ultra": "PAYGATE_TIER_TWO",
    "pro": "PAYGATE_TIER_ONE",
    "free": "PAYGATE_TIER_NOT_PAID",
}

UPSCALE_COST = {"1080p": 0, "4K": 50}

HEALTH_OK = "OK"


@dataclass(frozen=True)
class GenerationModel:
    name: str  # what the request says, e.g. "veo-3.1-fast"
    key: str  # Google's model key in responses
    display_name: str
    cost: int  # credits per video on non-Ultra tiers
    ultra_cost: int
    run_seconds: tuple[float, float]  # typical generation time (a guess)

    def cost_for(self, tier: str) -> int:
        return self.ultra_cost if tier == "ultra" else self.cost


GENERATION_MODELS = {
    m.name: m
    for m in (
        GenerationModel("veo-3.1-fast", "veo_3_1_t2v_fast", "Veo 3.1 - Fast", 20, 10, (40, 80)),
        GenerationModel("veo-3.1-lite", "veo_3_1_t2v_lite", "Veo 3.1 - Lite", 10, 5, (30, 60)),
        GenerationModel("veo-3.1-quality", "veo_3_1_t2v", "Veo 3.1 - Quality", 100, 100, (90, 180)),
    )
}


@dataclass
class Account:
    email: str
    tier: str  # "ultra" | "pro" | "free"
    credits: int
    user_id: str
    providers: tuple[str, ...]
    held: int = 0  # credits promised to running jobs, charged at completion
    # scope ("*" for the whole account, else a model key) -> (until, reason)
    quarantine: dict[str, tuple[float, str]] = field(default_factory=dict)
    # (time, kind) with kind "failed" | "rate_limited": the load balancer's memory
    events: list[tuple[float, str]] = field(default_factory=list)
    health: str = HEALTH_OK  # else the error text of a session that cannot be refreshed

    @property
    def available(self) -> int:
        return self.credits - self.held

    @property
    def healthy(self) -> bool:
        return self.health == HEALTH_OK

    @property
    def paid(self) -> bool:
        return self.tier != "free" or self.credits > 0

    def public(self) -> dict[str, object]:
        return {
            "email": self.email,
            "tier": self.tier,
            "credits": self.credits,
            "user_id": self.user_id,
            "providers": list(self.providers),
            "health": self.health,
        }


def default_accounts() -> list[Account]:
    """The table of docs/simulator.md, as fresh mutable records (one set per simulator)."""
    return [
        Account(
            "jo.ultra@example.com",
            "ultra",
            18760,
            "12345",
            ("CapSolver", "AntiCaptcha", "2Captcha"),
        ),
        Account("pat.pro@example.com", "pro", 1000, "23456", ("AntiCaptcha", "SolveCaptcha")),
        Account(
            "sam.ultra@example.com",
            "ultra",
            2500,
            "34567",
            ("CapSolver", "YesCaptcha", "EzCaptcha", "CapMonster"),
        ),
        Account("lee.free@example.com", "free", 0, "45678", ("CapSolver",)),
    ]
