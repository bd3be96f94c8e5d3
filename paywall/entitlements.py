"""Trials and subscriptions, stored beside the meter so one Lua call reads both."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from .analytics.conversions import record_conversion
from .analytics.refs import Ref, RefSigner
from .identity import MissingSecretError, Reader, secret_keys
from .names import Plan, Status
from .settings import DEFAULT_PREFIX, Analytics
from .store import entitlement_key

if TYPE_CHECKING:
    from .settings import Config

logger = logging.getLogger("paywall")
DEFAULT_SECRET_ENV = "PAYWALL_SECRET_KEYS"

PLANS = tuple(plan.value for plan in Plan)


class Entitlements:
    """Grant, revoke and look up an account's access.

    One entitlement per account, the latest grant wins; a grant whose `until` has
    passed is how a lapsed trial or subscription is recorded (and prompted).

    A grant may carry the `ref` of the offer link the reader followed (`paywall_ref=` on
    the offer's page): it is then a conversion, credited to that offer, prompt and section
    on the day of the grant in `timezone`. Refs are checked with the keys in `secret_env`.
    """

    def __init__(
        self,
        redis: Any,
        prefix: str = DEFAULT_PREFIX,
        *,
        secret_env: str = DEFAULT_SECRET_ENV,
        timezone: tzinfo = UTC,
        retention_days: int = Analytics().retention_days,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.secret_env = secret_env
        self.timezone = timezone
        self.retention_days = retention_days

    @classmethod
    def for_config(cls, redis: Any, config: Config) -> Entitlements:
        """Entitlements in the store, time zone and retention `config` names."""
        return cls(
            redis,
            config.startup.store_prefix,
            secret_env=config.startup.secret_env,
            timezone=config.timezone,
            retention_days=config.analytics.retention_days,
        )

    async def grant(
        self,
        account: str,
        *,
        plan: Plan | str,
        until: datetime,
        ref: str | None = None,
        now: datetime | None = None,
    ) -> Ref | None:
        """Grant `plan` until `until`; with a `ref`, count the conversion. Returns the ref
        credited, or None (no ref, or one this paywall did not sign: logged, not credited)."""
        if plan not in PLANS:
            raise ValueError(f"plan must be one of {', '.join(PLANS)}, not {plan!r}")
        if until.tzinfo is None:
            raise ValueError("until must be timezone-aware, e.g. datetime(2027, 3, 31, tzinfo=UTC)")
        await self.redis.set(self._key(account), f"{plan} {int(until.timestamp())}")
        if ref is None:
            return None
        credited = await self.credit(ref, now=now)
        if credited is None:
            logger.warning("paywall: grant to an account with a ref we did not sign: not credited")
        return credited

    async def credit(self, ref: str, *, now: datetime | None = None) -> Ref | None:
        """Count one conversion for the offer `ref` names, on `now`'s day (a billing event
        grants access by itself and credits through this). None: not a ref we signed."""
        credited = self.read_ref(ref)
        if credited is None:
            return None
        day = (now or datetime.now(UTC)).astimezone(self.timezone).date()
        await record_conversion(
            self.redis, self.prefix, credited, day, self.timezone, self.retention_days
        )
        return credited

    def read_ref(self, ref: str) -> Ref | None:
        """The offer, prompt and section `ref` names, if this paywall signed it."""
        try:
            keys = secret_keys(self.secret_env)
        except MissingSecretError:
            logger.warning("paywall: %s is not set: refs cannot be checked", self.secret_env)
            return None
        return RefSigner(keys).read(ref)

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
