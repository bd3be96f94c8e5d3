"""Trials and subscriptions, stored beside the meter so one Lua call reads both."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .identity import Reader
from .names import Plan, Status
from .settings import DEFAULT_PREFIX
from .store import entitlement_key

PLANS = tuple(plan.value for plan in Plan)


class Entitlements:
    """Grant, revoke and look up an account's access.

    One entitlement per account, the latest grant wins; a grant whose `until` has
    passed is how a lapsed trial or subscription is recorded (and prompted).
    """

    def __init__(self, redis: Any, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix

    async def grant(self, account: str, *, plan: Plan | str, until: datetime) -> None:
        if plan not in PLANS:
            raise ValueError(f"plan must be one of {', '.join(PLANS)}, not {plan!r}")
        if until.tzinfo is None:
            raise ValueError("until must be timezone-aware, e.g. datetime(2027, 3, 31, tzinfo=UTC)")
        await self.redis.set(self._key(account), f"{plan} {int(until.timestamp())}")

    async def revoke(self, account: str) -> None:
        await self.redis.delete(self._key(account))

    async def status(self, account: str, now: datetime | None = None) -> Status:
        plan, until = await self.lookup(account)
        return status_of(plan, until, now or datetime.now(UTC))

    async def lookup(self, account: str) -> tuple[Plan | None, datetime | None]:
        """The account's plan and when it ends (or ended), or (None, None)."""
        raw = await self.redis.get(self._key(account))
        if raw is None:
            return None, None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        plan, _, until = text.partition(" ")
        if plan not in PLANS or not until.isdigit():
            return None, None
        return Plan(plan), datetime.fromtimestamp(int(until), UTC)

    def _key(self, account: str) -> str:
        if not account:
            raise ValueError("account must not be empty")
        return entitlement_key(self.prefix, Reader("", account))


def status_of(plan: Plan | None, until: datetime | None, now: datetime) -> Status:
    """What a plan ending at `until` means at `now` (meter.lua decides the same in Redis)."""
    if plan is None or until is None:
        return Status.NONE
    return Status.of(Plan(plan), active=until > now)
