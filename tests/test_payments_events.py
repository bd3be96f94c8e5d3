"""What each Stripe event means for access (the README's lifecycle table), in both shapes of
Stripe's API, read from the fixtures in tests/fixtures/stripe."""

from __future__ import annotations

from typing import Any

import pytest

from paywall.names import Plan
from paywall.payments.events import (
    PROVISIONAL_SECONDS,
    BadEvent,
    Op,
    invoice_subscription,
    period_of,
    read_event,
)

from .stripe_events import BASE, CUSTOMER, DAY, SUBSCRIPTION, event, fixture

GRACE = 3
TRIAL_END = BASE + 14 * DAY - 300
PERIOD_END = TRIAL_END + 31 * DAY


def test_a_paid_checkout_links_its_customer_and_opens_access_until_its_subscription_speaks() -> (
    None
):
    read = read_event(fixture("checkout.session.completed"), GRACE)
    assert (read.account, read.customer, read.paid) == ("acct-42", CUSTOMER, True)
    assert read.ref == "REF"
    assert read.change is not None and read.change.op is Op.PROVISIONAL
    assert read.change.subscription == SUBSCRIPTION and read.change.plan is Plan.SUBSCRIPTION
    assert read.change.until == BASE + PROVISIONAL_SECONDS
    assert read.change.order == (0, 0, 0, 0)  # any event of the subscription comes after it


@pytest.mark.parametrize(
    ("changes", "account", "plan", "granted"),
    [
        (
            {"client_reference_id": None, "metadata": {"account_id": "acct-7"}},
            "acct-7",
            "subscription",
            True,
        ),
        ({"payment_status": "no_payment_required"}, "acct-42", "trial", True),
        ({"payment_status": "unpaid"}, "acct-42", None, False),
        ({"mode": "payment", "subscription": None}, "acct-42", None, False),
        ({"client_reference_id": None}, None, "subscription", True),
    ],
)
def test_checkout_variants(
    changes: dict[str, Any], account: str | None, plan: str | None, granted: bool
) -> None:
    read = read_event(event("checkout.session.completed", **changes), GRACE)
    assert read.account == account
    assert (read.change is not None) is granted
    if read.change is not None:
        assert read.change.plan == plan


@pytest.mark.parametrize(
    ("status", "op", "plan", "until", "final"),
    [
        ("trialing", Op.SET, Plan.TRIAL, TRIAL_END, False),
        ("active", Op.SET, Plan.SUBSCRIPTION, PERIOD_END + GRACE * DAY, False),
        (
            "past_due",
            Op.GRACE,
            Plan.TRIAL,
            TRIAL_END + GRACE * DAY,
            False,
        ),  # first bill after the trial
        ("unpaid", Op.LAPSE, Plan.TRIAL, BASE + 14 * DAY - 300, False),
        ("paused", Op.LAPSE, Plan.TRIAL, BASE + 14 * DAY - 300, False),
        ("canceled", Op.LAPSE, Plan.TRIAL, BASE + 14 * DAY - 300, True),
        ("incomplete", Op.NONE, None, 0, False),
        ("incomplete_expired", Op.NONE, None, 0, True),
    ],
)
def test_subscription_statuses(
    status: str, op: Op, plan: Plan | None, until: int, final: bool
) -> None:
    data = event("customer.subscription.updated", status=status)
    if status == "trialing":
        data = event("customer.subscription.created")
    read = read_event(data, GRACE)
    assert read.customer == CUSTOMER and read.change is not None
    assert (read.change.op, read.change.plan, read.change.until, read.change.final) == (
        op,
        plan,
        until,
        final,
    )


def test_a_deleted_subscription_lapses_when_it_ended() -> None:
    read = read_event(fixture("customer.subscription.deleted"), GRACE)
    assert read.change is not None and read.change.op is Op.LAPSE and read.change.final
    assert read.change.until == BASE + 20 * DAY
    # Billed for months after its trial: it lapses as a subscription if never seen before.
    later = event(
        "customer.subscription.deleted", items__period=(PERIOD_END, PERIOD_END + 31 * DAY)
    )
    assert read_event(later, GRACE).change.plan is Plan.SUBSCRIPTION  # type: ignore[union-attr]


def test_the_order_key_is_created_then_the_objects_own_times_then_the_stage() -> None:
    updated = read_event(fixture("customer.subscription.updated"), GRACE).change
    deleted = read_event(
        event("customer.subscription.deleted", created=BASE + 14 * DAY - 300), GRACE
    ).change
    assert updated is not None and deleted is not None
    assert updated.order == (BASE + 14 * DAY - 300, 0, PERIOD_END, 2)
    assert deleted.order > updated.order  # same second: the ended one is the later


def test_both_api_versions_read_the_same() -> None:
    new = read_event(fixture("customer.subscription.updated"), GRACE)
    old = read_event(fixture("customer.subscription.updated.2024-06-20"), GRACE)
    assert old.change is not None and new.change is not None
    assert (old.change.op, old.change.plan, old.change.until) == (
        new.change.op,
        new.change.plan,
        new.change.until,
    )
    new_paid = read_event(fixture("invoice.paid"), GRACE)
    old_paid = read_event(fixture("invoice.paid.2024-06-20"), GRACE)
    assert old_paid.change == new_paid.change
    assert period_of(fixture("customer.subscription.updated.2024-06-20")["data"]["object"]) == (
        TRIAL_END,
        PERIOD_END,
    )
    assert (
        invoice_subscription(fixture("invoice.paid.2024-06-20")["data"]["object"]) == SUBSCRIPTION
    )


def test_invoices() -> None:
    paid = read_event(fixture("invoice.paid"), GRACE).change
    assert paid is not None and paid.op is Op.EXTEND and paid.plan is Plan.SUBSCRIPTION
    assert paid.until == PERIOD_END + GRACE * DAY and paid.subscription == SUBSCRIPTION
    failed = read_event(fixture("invoice.payment_failed"), GRACE).change
    assert failed is not None and failed.op is Op.FAIL
    assert failed.until == TRIAL_END + GRACE * DAY  # the grace runs from the invoice
    free = read_event(event("invoice.paid", amount_paid=0), GRACE)
    assert free.change is None and "nothing was paid" in free.note
    alone = read_event(event("invoice.paid", parent=None), GRACE)
    assert alone.change is None  # not a subscription's invoice


def test_events_not_acted_on_are_read_but_change_nothing() -> None:
    read = read_event(fixture("customer.created"), GRACE)
    assert not read.handled and read.change is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([1, 2], "not a JSON object"),
        ({"type": "invoice.paid", "created": 1}, "id"),
        ({"id": "evt_1", "type": "invoice.paid"}, "created"),
        ({"id": "evt_1", "type": "invoice.paid", "created": 1, "data": {}}, "data.object"),
    ],
)
def test_unreadable_events_name_the_field(payload: Any, field: str) -> None:
    with pytest.raises(BadEvent, match=field):
        read_event(payload, GRACE)


def test_bad_fields_of_a_handled_event_are_named() -> None:
    with pytest.raises(BadEvent, match=r"data\.object\.status"):
        read_event(event("customer.subscription.updated", status=None), GRACE)
    with pytest.raises(BadEvent, match=r"items\.data\[\]\.current_period_end"):
        read_event(event("customer.subscription.updated", items__period=(1, "soon")), GRACE)
    with pytest.raises(BadEvent, match="client_reference_id"):
        read_event(event("checkout.session.completed", client_reference_id=["a"]), GRACE)
