"""billing.lua through the ledger, on fakeredis and real Redis: exactly once, in order per
subscription, the plan held kept through grace and lapse, the account's best subscription
as its entitlement, customers' links and the events waiting for them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from paywall import Entitlements
from paywall.names import Plan
from paywall.payments.events import BillingEvent, Change, Op
from paywall.payments.ledger import MAX_PENDING, REMEMBER_SECONDS, Ledger

pytestmark = pytest.mark.anyio

T = 1_800_000_000
SUB = "sub_A"


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def change(
    op: Op,
    plan: Plan | None,
    until: int,
    created: int,
    sub: str = SUB,
    *,
    period: int = 0,
    final: bool = False,
) -> Change:
    return Change(sub, op, plan, until, (created, 0, period, 0), final)


async def entitlement(store: Any, prefix: str, account: str = "acct") -> tuple[Any, Any]:
    return await Entitlements(store, prefix).lookup(account)


async def test_an_event_applies_once_and_its_replay_changes_nothing(
    store: Any, prefix: str
) -> None:
    ledger = Ledger(store, prefix)
    first = await ledger.apply("acct", "evt_1", change(Op.SET, Plan.TRIAL, T + 100, T))
    assert (first.result, first.plan, first.until) == ("applied", Plan.TRIAL, at(T + 100))
    await Entitlements(store, prefix).revoke("acct")  # changed behind the ledger's back
    again = await ledger.apply("acct", "evt_1", change(Op.SET, Plan.TRIAL, T + 100, T))
    assert (again.result, again.plan) == ("duplicate", None)
    assert await entitlement(store, prefix) == (None, None)
    ttl = await store.ttl(f"{prefix}{{a:acct}}:bill:evt:evt_1")
    assert REMEMBER_SECONDS - 5 < ttl <= REMEMBER_SECONDS and REMEMBER_SECONDS > 30 * 86400


async def test_older_events_of_a_subscription_are_stale(store: Any, prefix: str) -> None:
    ledger = Ledger(store, prefix)
    await ledger.apply("acct", "evt_new", change(Op.SET, Plan.SUBSCRIPTION, T + 900, T + 10))
    old = await ledger.apply("acct", "evt_old", change(Op.SET, Plan.TRIAL, T + 100, T))
    assert (old.result, old.plan, old.until) == ("stale", Plan.SUBSCRIPTION, at(T + 900))
    tie = await ledger.apply("acct", "evt_tie", change(Op.SET, Plan.SUBSCRIPTION, T + 950, T + 10))
    assert tie.result == "applied" and tie.until == at(T + 950)  # a full tie: the later arrival
    # The object's own times break a tie of `created`: an earlier period is older.
    behind = change(Op.SET, Plan.SUBSCRIPTION, T + 10, T + 10, period=-1)
    assert (await ledger.apply("acct", "evt_behind", behind)).result == "stale"


async def test_nothing_revives_a_canceled_subscription(store: Any, prefix: str) -> None:
    ledger = Ledger(store, prefix)
    await ledger.apply("acct", "evt_1", change(Op.SET, Plan.SUBSCRIPTION, T + 900, T))
    ended = await ledger.apply(
        "acct", "evt_2", change(Op.LAPSE, Plan.TRIAL, T + 50, T + 50, final=True)
    )
    assert (ended.plan, ended.until) == (Plan.SUBSCRIPTION, at(T + 50))  # the plan it held
    late = await ledger.apply(
        "acct", "evt_3", change(Op.EXTEND, Plan.SUBSCRIPTION, T + 9999, T + 60)
    )
    assert (late.result, late.until) == ("stale", at(T + 50))


async def test_grace_failure_and_payment_keep_the_plan_held(store: Any, prefix: str) -> None:
    ledger = Ledger(store, prefix)
    await ledger.apply("acct", "e1", change(Op.SET, Plan.TRIAL, T + 100, T))
    grace = await ledger.apply("acct", "e2", change(Op.GRACE, Plan.SUBSCRIPTION, T + 400, T + 1))
    assert (grace.plan, grace.until) == (Plan.TRIAL, at(T + 400))  # a trial, past due
    failed = await ledger.apply("acct", "e3", change(Op.FAIL, Plan.SUBSCRIPTION, T + 900, T + 2))
    assert failed.until == at(T + 400)  # a retry's failure never lengthens the grace
    paid = await ledger.apply("acct", "e4", change(Op.EXTEND, Plan.SUBSCRIPTION, T + 300, T + 3))
    assert (paid.plan, paid.until) == (Plan.SUBSCRIPTION, at(T + 400))  # never shortens
    unseen = await ledger.apply("acct", "e5", change(Op.LAPSE, Plan.TRIAL, T + 5, T + 5, "sub_B"))
    assert unseen.until == at(T + 400)  # sub_B's guess lapses, sub_A still gives access


async def test_a_provisional_grant_yields_to_any_event_of_its_subscription(
    store: Any, prefix: str
) -> None:
    ledger = Ledger(store, prefix)
    provisional = Change(SUB, Op.PROVISIONAL, Plan.SUBSCRIPTION, T + 3000, (0, 0, 0, 0))
    await ledger.apply("acct", "checkout", provisional)
    created = await ledger.apply("acct", "created", change(Op.SET, Plan.TRIAL, T + 1000, T - 5))
    assert (created.result, created.plan) == ("applied", Plan.TRIAL)
    again = Change(SUB, Op.PROVISIONAL, Plan.SUBSCRIPTION, T + 3000, (0, 0, 0, 0))
    assert (await ledger.apply("acct", "checkout-2", again)).result == "stale"


async def test_the_account_gets_its_best_subscription(store: Any, prefix: str) -> None:
    ledger = Ledger(store, prefix)
    await ledger.apply("acct", "old", change(Op.SET, Plan.SUBSCRIPTION, T + 100, T, "sub_old"))
    await ledger.apply("acct", "new", change(Op.SET, Plan.SUBSCRIPTION, T + 900, T + 1, "sub_new"))
    gone = change(Op.LAPSE, None, T + 20, T + 20, "sub_old", final=True)
    after = await ledger.apply("acct", "old-deleted", gone)  # arrives after the new one
    assert (after.plan, after.until) == (Plan.SUBSCRIPTION, at(T + 900))
    nothing = await ledger.apply(
        "acct", "new-incomplete", change(Op.NONE, None, 0, T + 30, "sub_new")
    )
    assert (nothing.plan, nothing.until) == (Plan.SUBSCRIPTION, at(T + 20))  # the lapsed one
    await ledger.apply("acct", "old-none", change(Op.NONE, None, 0, T + 40, "sub_x"))
    assert await entitlement(store, prefix) == (Plan.SUBSCRIPTION, at(T + 20))


async def test_a_subscription_that_never_gave_access_gives_no_lapse(
    store: Any, prefix: str
) -> None:
    ledger = Ledger(store, prefix)
    await ledger.apply("acct", "e1", change(Op.NONE, None, 0, T))
    ended = await ledger.apply(
        "acct", "e2", change(Op.LAPSE, Plan.SUBSCRIPTION, T, T + 1, final=True)
    )
    assert (ended.plan, ended.until) == (None, None)
    assert await entitlement(store, prefix) == (None, None)


async def test_grants_with_and_without_a_request_id(store: Any, prefix: str) -> None:
    ledger = Ledger(store, prefix)
    granted = await ledger.grant("acct", "req-1", Plan.TRIAL, at(T + 50))
    assert (granted.result, granted.plan) == ("applied", Plan.TRIAL)
    assert (await ledger.grant("acct", "req-1", None, None)).result == "duplicate"
    assert await entitlement(store, prefix) == (Plan.TRIAL, at(T + 50))
    for _ in range(2):  # no id: every request applies
        assert (await ledger.grant("acct", None, None, None)).result == "applied"
    assert await entitlement(store, prefix) == (None, None)


async def test_customers_link_and_their_early_events_wait(store: Any, prefix: str) -> None:
    ledger = Ledger(store, prefix)
    assert await ledger.account_of("cus_1") is None
    assert await ledger.link("cus_1", "acct") is None
    assert await ledger.link("cus_1", "acct-2") == "acct"
    assert await ledger.account_of("cus_1") == "acct-2"
    early = BillingEvent("evt_9", "customer.subscription.created", T, "cus_2")
    assert await ledger.hold(early, b'{"id": "evt_9"}')
    assert await ledger.held("cus_2") == {"evt_9": b'{"id": "evt_9"}'}
    await ledger.release("cus_2", ["evt_9"])
    assert await ledger.held("cus_2") == {}
    for n in range(MAX_PENDING):
        assert await ledger.hold(BillingEvent(f"e{n}", "invoice.paid", T, "cus_3"), b"{}")
    assert not await ledger.hold(BillingEvent("one-more", "invoice.paid", T, "cus_3"), b"{}")
