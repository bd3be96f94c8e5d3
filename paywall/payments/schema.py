"""`payments.*` of the YAML: the Stripe webhook's secret variable and the grace after a
failed payment (schema.py calls this with its builder, so problems name file, line, key)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from ..yamlsource import KeyPath

TOP_KEYS = ("payments",)
MAX_GRACE_DAYS = 90
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Payments:
    """How billing events reach the paywall."""

    webhook_secret_env: str = "STRIPE_WEBHOOK_SECRET"  # payments.stripe.webhook_secret_env
    grace_days: int = 3  # payments.stripe.grace_days: access kept after a payment fails


class Builder(Protocol):
    """What this module uses of schema._Builder."""

    def error(self, at: KeyPath, message: str) -> None: ...

    def section(self, value: Any, at: KeyPath, allowed: set[str]) -> dict[str, Any]: ...

    def text(self, where: dict[str, Any], at: KeyPath, default: str | None) -> str: ...


def payments_settings(builder: Builder, top: dict[str, Any]) -> Payments:
    """The validated settings; every problem is recorded through `builder`."""
    default = Payments()
    payments = builder.section(top.get("payments", {}), ("payments",), {"stripe"})
    stripe = builder.section(
        payments.get("stripe", {}), ("payments", "stripe"), {"webhook_secret_env", "grace_days"}
    )
    at: KeyPath = ("payments", "stripe", "webhook_secret_env")
    env = builder.text(stripe, at, default.webhook_secret_env)
    if not _ENV_NAME.fullmatch(env):
        builder.error(at, f"{env!r} is not an environment variable name (the secret goes there)")
        env = default.webhook_secret_env
    grace = stripe.get("grace_days", default.grace_days)
    if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= MAX_GRACE_DAYS:
        builder.error(
            ("payments", "stripe", "grace_days"),
            f"expected a whole number of days from 0 to {MAX_GRACE_DAYS}, got {grace!r}",
        )
        grace = default.grace_days
    return Payments(webhook_secret_env=env, grace_days=grace)
