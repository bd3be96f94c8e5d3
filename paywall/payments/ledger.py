"""Billing in Redis: which account a Stripe customer is, the events waiting for that link,
and billing.lua, which applies one event to one account exactly once and in order.

Every key of an account carries the account's hash tag (as meter.lua's do), so an event's
marker, the account's subscriptions and its entitlement change in one atomic call, in one
Redis Cluster slot. A customer's keys carry the customer's own tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from ..identity import Reader
from ..names import Plan
from ..store import entitlement_key
from .events import BillingEvent, Change, Op

BILLING_LUA = resources.files("paywall.lua").joinpath("billing.lua").read_text(encoding="utf-8")
# Longer than Stripe retries a delivery (3 days) and keeps an event to resend (30 days).
REMEMBER_SECONDS = 31 * 86400
MAX_PENDING = 100  # events kept per customer not linked to an account yet


@dataclass(frozen=True)
class Applied:
    """What applying an event did, and the account's entitlement after it."""

    result: str  # "applied" | "stale" | "duplicate"
    plan: Plan | None
    until: datetime | None


def customer_key(prefix: str, customer: str, what: str) -> str:
    return f"{prefix}{{sc:{customer}}}:{what}"


class Ledger:
    """Billing state of accounts and customers on a redis.asyncio client."""

    def __init__(self, client: Any, prefix: str, remember: int = REMEMBER_SECONDS) -> None:
        self.client = client
        self.prefix = prefix
        self.remember = remember
        self._script: Any = None  # registered on first use (any client serves the meter)

    async def account_of(self, customer: str) -> str | None:
        raw = await self.client.get(customer_key(self.prefix, customer, "account"))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def link(self, customer: str, account: str) -> str | None:
        """Link `customer` to `account`; returns the account it was linked to before."""
        key = customer_key(self.prefix, customer, "account")
        old = await self.client.set(key, account, get=True)
        return old.decode() if isinstance(old, bytes) else old

    async def apply(self, account: str, event_id: str, change: Change | None) -> Applied:
        """Apply `change` (None: only remember the event) unless this event was seen."""
        if change is None:
            args: list[str | int] = ["mark", "", "", 0, "0 0 0 0", "0"]
        else:
            plan = change.plan.value if change.plan is not None else ""
            order = " ".join(str(part) for part in change.order)
            final = "1" if change.final else "0"
            args = [change.op.value, change.subscription, plan, change.until, order, final]
        return await self._run(account, f"evt:{event_id}", args)

    async def grant(
        self, account: str, request_id: str | None, plan: Plan | None, until: datetime | None
    ) -> Applied:
        """Set (or with no plan, remove) the account's entitlement; a `request_id` seen
        before changes nothing."""
        seconds = int(until.timestamp()) if until is not None else 0
        name = plan.value if plan is not None else ""
        args: list[str | int] = [Op.GRANT.value, "", name, seconds, "0 0 0 0", "0"]
        if request_id is None:  # nothing to remember
            return await self._run(account, "api:-", args, remember=0)
        return await self._run(account, f"api:{request_id}", args)

    async def _run(
        self, account: str, marker: str, args: list[str | int], remember: int | None = None
    ) -> Applied:
        tag = Reader("", account).tag
        keys = [
            f"{self.prefix}{tag}:bill:{marker}",
            f"{self.prefix}{tag}:bill",
            entitlement_key(self.prefix, Reader("", account)),
        ]
        ttl = self.remember if remember is None else remember
        if self._script is None:
            self._script = self.client.register_script(BILLING_LUA)
        result, plan, until = await self._script(keys, [*args, ttl])
        name = plan.decode() if isinstance(plan, bytes) else str(plan)
        return Applied(
            result.decode() if isinstance(result, bytes) else str(result),
            Plan(name) if name in Plan.__members__.values() else None,
            datetime.fromtimestamp(int(until), UTC) if name else None,
        )

    async def forget(self, account: str) -> None:
        """Drop the account's subscriptions and entitlement (the demo's fresh start)."""
        reader = Reader("", account)
        bill = f"{self.prefix}{reader.tag}:bill"
        await self.client.delete(bill, entitlement_key(self.prefix, reader))

    # -- events of customers not linked yet --

    async def hold(self, event: BillingEvent, raw: bytes) -> bool:
        """Keep an event of an unknown customer until a checkout links it (False: too many
        are waiting already; the event is dropped)."""
        assert event.customer is not None
        key = customer_key(self.prefix, event.customer, "pending")
        if await self.client.hlen(key) >= MAX_PENDING:
            return False
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, event.id, raw)
        pipe.expire(key, self.remember)
        await pipe.execute()
        return True

    async def held(self, customer: str) -> dict[str, bytes]:
        """The events waiting for `customer`'s link, by event id."""
        found = await self.client.hgetall(customer_key(self.prefix, customer, "pending"))
        return {
            (name.decode() if isinstance(name, bytes) else str(name)): value
            for name, value in found.items()
        }

    async def release(self, customer: str, event_ids: list[str]) -> None:
        if event_ids:
            await self.client.hdel(customer_key(self.prefix, customer, "pending"), *event_ids)
