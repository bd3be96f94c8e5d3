"""`{prefix}/api/entitlements`: grants, revocations and status for billing systems other
than Stripe, with the admin token (`Authorization: Bearer`; no token set: a 404).

`POST` a JSON object `{"account", "plan", "until", "ref"?, "id"?}`: `plan` is `trial`,
`subscription` or `none` (revoke); `until` a date (the last day of access, inclusive, in
meter.timezone, as `paywall grant --until`) or an ISO 8601 time with its offset; `ref` the
`paywall_ref` the reader arrived with (a conversion); `id` an idempotency key, so a retried
request changes nothing and counts no second conversion. `GET ?account=ID` reads the
status. Both answer `{"account", "status", "plan", "until"}`; bad input is a 400 naming the
field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs

from ..entitlements import Entitlements, status_of
from ..names import Plan
from ..settings import Config
from .events import MAX_ACCOUNT_CHARS
from .ledger import Ledger

FIELDS = frozenset({"account", "plan", "until", "ref", "id"})
NONE = "none"


class BadRequest(ValueError):
    """A request we refuse: `field` is the one at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Grant:
    account: str
    plan: Plan | None  # None: revoke
    until: datetime | None
    ref: str | None
    request_id: str | None


class EntitlementsApi:
    """Answers the JSON API with the store's `client` and the middleware's `clock`."""

    def __init__(self, ledger: Ledger, client: Any, clock: Callable[[], datetime]) -> None:
        self.ledger = ledger
        self.client = client
        self.clock = clock

    async def post(self, config: Config, body: bytes) -> dict[str, Any]:
        grant = read_grant(body, config)
        applied = await self.ledger.grant(grant.account, grant.request_id, grant.plan, grant.until)
        answer = self._status(grant.account, applied.plan, applied.until)
        answer["result"] = applied.result
        if grant.ref is not None:
            credited = None
            if applied.result == "applied":
                entitlements = Entitlements.for_config(self.client, config)
                credited = await entitlements.credit(grant.ref, now=self.clock())
            answer["credited"] = credited is not None
        return answer

    async def get(self, query: bytes) -> dict[str, Any]:
        values = parse_qs(query.decode("latin-1"), keep_blank_values=True).get("account", [""])
        account = check_account(values[0])
        plan, until = await Entitlements(self.client, self.ledger.prefix).lookup(account)
        return self._status(account, plan, until)

    def _status(self, account: str, plan: Plan | None, until: datetime | None) -> dict[str, Any]:
        return {
            "account": account,
            "status": status_of(plan, until, self.clock()).value,
            "plan": plan.value if plan is not None else None,
            "until": until.isoformat() if until is not None else None,
        }


def read_grant(body: bytes, config: Config) -> Grant:
    """The grant a request body asks for; raises BadRequest naming the field at fault."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body", "expected a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest("body", "expected a JSON object")
    for name in data:
        if name not in FIELDS:
            raise BadRequest(str(name), f"unknown field; expected {', '.join(sorted(FIELDS))}")
    account = check_account(data.get("account"))
    plan = data.get("plan")
    if plan not in (*(p.value for p in Plan), NONE):
        raise BadRequest("plan", f"expected trial, subscription or none, got {plan!r}")
    until = None
    if plan != NONE:
        until = read_until(data.get("until"), config)
    return Grant(
        account,
        None if plan == NONE else Plan(plan),
        until,
        _optional_text(data, "ref"),
        _optional_text(data, "id"),
    )


def check_account(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ACCOUNT_CHARS:
        raise BadRequest("account", f"expected an account id (1-{MAX_ACCOUNT_CHARS} characters)")
    if "{" in value or "}" in value:
        raise BadRequest("account", "must not contain { or }")
    return value


def read_until(value: Any, config: Config) -> datetime:
    """A date is the last day of access in meter.timezone; a time needs its offset."""
    if not isinstance(value, str):
        raise BadRequest("until", f"expected a date like 2027-03-31 or a time, got {value!r}")
    try:
        if len(value) == 10:
            last_day = date.fromisoformat(value)
            return datetime.combine(last_day + timedelta(days=1), time(), config.timezone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            "until", f"expected a date like 2027-03-31 or a time, got {value!r}"
        ) from None
    if moment.tzinfo is None:
        raise BadRequest("until", "a time needs its UTC offset, e.g. 2027-03-31T12:00:00+00:00")
    return moment


def _optional_text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 512:
        raise BadRequest(name, "expected text (at most 512 characters)")
    return value
