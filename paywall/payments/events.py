"""What a Stripe event means for access: one pure function from the event's JSON to a
`BillingEvent` (which customer, which subscription, what it does), no I/O.

The lifecycle table in the README is this module. Both shapes of Stripe's API are read:
before 2025-03-31 ("basil") a subscription carries `current_period_start`/`_end` itself and
an invoice names its `subscription`; from basil on the period lives on each subscription
item and an invoice names its subscription under `parent.subscription_details`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ..names import Plan

DAY = 86400
PROVISIONAL_SECONDS = 3 * DAY  # a paid checkout's access until its subscription's events come
CHECKOUT_TYPES = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)
SUBSCRIPTION_TYPES = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
    }
)
INVOICE_TYPES = frozenset({"invoice.paid", "invoice.payment_failed"})
HANDLED_TYPES = CHECKOUT_TYPES | SUBSCRIPTION_TYPES | INVOICE_TYPES
REF_KEY = "paywall_ref"  # the offer ref, in the Checkout Session's metadata
ACCOUNT_KEY = "account_id"  # the account, in metadata, when client_reference_id is not used
MAX_ACCOUNT_CHARS = 200

# Where a subscription status stands in its life: the last tie-break between two events of
# one subscription stamped in the same second with the same period.
_STAGE = {
    "incomplete": 0,
    "trialing": 1,
    "active": 2,
    "past_due": 3,
    "unpaid": 4,
    "paused": 4,
    "canceled": 5,
    "incomplete_expired": 5,
}


class Op(enum.StrEnum):
    """What an event does to its subscription's access (billing.lua applies it)."""

    SET = "set"  # plan until the time given
    GRACE = "grace"  # past due: the plan held, until the grace ends
    EXTEND = "extend"  # paid: a subscription until the later of the time held and the one given
    FAIL = "fail"  # a payment failed: the plan held, until the earlier of the two
    LAPSE = "lapse"  # ended: the plan held, ended at the earlier of the two
    NONE = "none"  # no access from this subscription (not paid for yet, or expired unpaid)
    PROVISIONAL = "provisional"  # a paid checkout, before any event of its subscription
    GRANT = "grant"  # the JSON API: the account's entitlement itself, not a subscription's


@dataclass(frozen=True)
class Change:
    """One event's effect on one subscription. `order` is compared as a tuple: the event's
    `created`, then the object's own timestamps (`ended_at`, the period's end), then the
    status's stage. `plan` is the plan given, or for GRACE, FAIL and LAPSE the guess used
    only when the subscription was never seen before."""

    subscription: str
    op: Op
    plan: Plan | None
    until: int  # unix seconds
    order: tuple[int, int, int, int]
    final: bool = False  # canceled: no later event of this subscription changes anything


@dataclass(frozen=True)
class BillingEvent:
    id: str
    type: str
    created: int
    customer: str | None = None
    change: Change | None = None  # None: nothing to apply (recorded, acknowledged)
    account: str | None = None  # checkout: the account the customer belongs to
    ref: str | None = None  # checkout: the offer ref (metadata.paywall_ref)
    paid: bool = False  # checkout: paid, or nothing to pay (a trial)
    note: str = ""  # why nothing is applied, for the log and the answer

    @property
    def handled(self) -> bool:
        return self.type in HANDLED_TYPES


class BadEvent(ValueError):
    """A signed event whose shape we cannot read: the message names the field."""


def read_event(payload: Any, grace_days: int) -> BillingEvent:
    """The meaning of one Stripe event (`payload`, the parsed JSON body)."""
    if not isinstance(payload, dict):
        raise BadEvent("the body is not a JSON object")
    event_id = _text(payload, "id", "")
    kind = _text(payload, "type", "")
    created = _int(payload, "created", "")
    if not event_id or not kind:
        raise BadEvent("id and type are required")
    if kind not in HANDLED_TYPES:
        return BillingEvent(event_id, kind, created, note="not an event the paywall acts on")
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise BadEvent("data.object is required")
    grace = grace_days * DAY
    if kind in CHECKOUT_TYPES:
        return _checkout(event_id, kind, created, obj)
    customer = _id(obj, "customer", "data.object.")
    if kind in SUBSCRIPTION_TYPES:
        change = _subscription(kind, created, obj, grace)
    else:
        change = _invoice(kind, created, obj, grace)
    note = "" if change is not None else _INVOICE_NOTE.get(kind, "status not acted on")
    return BillingEvent(event_id, kind, created, customer, change, note=note)


# -- checkout ----------------------------------------------------------------------------


def _checkout(event_id: str, kind: str, created: int, session: dict[str, Any]) -> BillingEvent:
    metadata = session.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadEvent("data.object.metadata must be an object")
    account = session.get("client_reference_id") or metadata.get(ACCOUNT_KEY) or None
    if account is not None and (
        not isinstance(account, str) or len(account) > MAX_ACCOUNT_CHARS or "}" in account
    ):
        raise BadEvent("data.object.client_reference_id: not an account id")
    ref = metadata.get(REF_KEY)
    paid = session.get("payment_status") in ("paid", "no_payment_required")
    subscription = _id(session, "subscription", "data.object.")
    change = None
    if paid and subscription is not None:
        plan = Plan.SUBSCRIPTION if session.get("payment_status") == "paid" else Plan.TRIAL
        until = created + PROVISIONAL_SECONDS
        change = Change(subscription, Op.PROVISIONAL, plan, until, (0, 0, 0, 0))
    note = "" if change else ("not paid yet" if not paid else "not a subscription")
    return BillingEvent(
        event_id,
        kind,
        created,
        _id(session, "customer", "data.object."),
        change,
        account=account,
        ref=ref if isinstance(ref, str) and ref else None,
        paid=paid,
        note=note,
    )


# -- subscriptions -----------------------------------------------------------------------


def _subscription(kind: str, created: int, sub: dict[str, Any], grace: int) -> Change | None:
    sub_id = _text(sub, "id", "data.object.")
    status = _text(sub, "status", "data.object.")
    start, end = period_of(sub)
    ended = _int(sub, "ended_at", "data.object.", 0)
    trial_end = _int(sub, "trial_end", "data.object.", 0)
    order = (created, ended, end, _STAGE.get(status, 0))
    # Only a guess for a subscription we never saw: the plan it held is what counts.
    held = Plan.TRIAL if trial_end and start <= trial_end else Plan.SUBSCRIPTION
    if kind == "customer.subscription.deleted" or status == "canceled":
        when = ended or _int(sub, "canceled_at", "data.object.", 0) or created
        return Change(sub_id, Op.LAPSE, held, when, order, final=True)
    if status in ("incomplete", "incomplete_expired"):
        return Change(sub_id, Op.NONE, None, 0, order, final=status == "incomplete_expired")
    if status == "trialing":
        return Change(sub_id, Op.SET, Plan.TRIAL, trial_end or end, order)
    if status == "active":
        return Change(sub_id, Op.SET, Plan.SUBSCRIPTION, end + grace, order)
    if status == "past_due":
        return Change(sub_id, Op.GRACE, held, (start or created) + grace, order)
    if status in ("unpaid", "paused"):
        return Change(sub_id, Op.LAPSE, held, created, order)
    return None


def period_of(sub: dict[str, Any]) -> tuple[int, int]:
    """The subscription's current period (start, end), from the subscription itself (API
    versions before 2025-03-31) or from its items (basil and later: the latest item's)."""
    start = _int(sub, "current_period_start", "data.object.", 0)
    end = _int(sub, "current_period_end", "data.object.", 0)
    items = sub.get("items")
    rows = items.get("data") if isinstance(items, dict) else None
    for row in rows if isinstance(rows, list) else ():
        if isinstance(row, dict):
            start = max(start, _int(row, "current_period_start", "data.object.items.data[].", 0))
            end = max(end, _int(row, "current_period_end", "data.object.items.data[].", 0))
    return start, end


# -- invoices ----------------------------------------------------------------------------

_INVOICE_NOTE = {
    "invoice.paid": "not a subscription's invoice, or nothing was paid",
    "invoice.payment_failed": "not a subscription's invoice",
}


def _invoice(kind: str, created: int, invoice: dict[str, Any], grace: int) -> Change | None:
    sub_id = invoice_subscription(invoice)
    if sub_id is None:
        return None
    end = _paid_until(invoice)
    if kind == "invoice.paid":
        if _int(invoice, "amount_paid", "data.object.", 0) <= 0:
            return None  # a $0 invoice (a trial's first): the subscription's events decide
        order = (created, 0, end, _STAGE["active"])
        return Change(sub_id, Op.EXTEND, Plan.SUBSCRIPTION, end + grace, order)
    failed_at = _int(invoice, "created", "data.object.", 0) or created
    order = (created, 0, end, _STAGE["past_due"])
    return Change(sub_id, Op.FAIL, Plan.SUBSCRIPTION, failed_at + grace, order)


def invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """The subscription an invoice bills: `parent.subscription_details.subscription` (basil
    and later) or `subscription` (before)."""
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    if isinstance(details, dict) and details.get("subscription"):
        return _id(details, "subscription", "data.object.parent.subscription_details.")
    return _id(invoice, "subscription", "data.object.")


def _paid_until(invoice: dict[str, Any]) -> int:
    """The end of the service the invoice bills: its lines' latest period end."""
    end = 0
    lines = invoice.get("lines")
    rows = lines.get("data") if isinstance(lines, dict) else None
    for row in rows if isinstance(rows, list) else ():
        period = row.get("period") if isinstance(row, dict) else None
        if isinstance(period, dict):
            end = max(end, _int(period, "end", "data.object.lines.data[].period.", 0))
    return end or _int(invoice, "period_end", "data.object.", 0)


# -- fields ------------------------------------------------------------------------------


def _text(obj: dict[str, Any], key: str, at: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise BadEvent(f"{at}{key}: expected text, got {value!r}")
    return value


def _int(obj: dict[str, Any], key: str, at: str, default: int | None = None) -> int:
    value = obj.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadEvent(f"{at}{key}: expected a unix time, got {value!r}")
    return value


def _id(obj: dict[str, Any], key: str, at: str) -> str | None:
    """An id field, as Stripe sends it: an id, an expanded object with one, or null."""
    value = obj.get(key)
    if isinstance(value, dict):
        value = value.get("id")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadEvent(f"{at}{key}: expected an id, got {value!r}")
    return value
