"""Stripe's webhook over HTTP: signed fixture events sent to a real uvicorn serving the
paywall on real Redis. Every row of the README's lifecycle table, then replays, reordering,
refused deliveries (signature, timestamp, body), events not acted on, unknown customers,
both API shapes, and a checkout's two events in either order with one conversion.

The paywall's clock is fixed relative to the fixtures' times (tests/stripe_events.py);
only the signature carries the real time, as Stripe's 300 s tolerance needs."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from paywall import PaywallMiddleware
from paywall.analytics import AnalyticsReader
from paywall.analytics.refs import Ref, RefSigner
from paywall.names import Status

from . import servers
from .conftest import REAL_REDIS_URL, SECRET, article_site
from .live_server import LiveServer
from .payments_site import GRACE_DAYS, WEBHOOK, Site, config_text, running_site
from .stripe_events import (
    BASE,
    CUSTOMER,
    DAY,
    WEBHOOK_SECRET,
    body_of,
    event,
    fixture,
    signature,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not REAL_REDIS_URL, reason="PAYWALL_TEST_REDIS_URL is not set"),
]

TRIAL_END = BASE + 14 * DAY - 300
PERIOD_END = TRIAL_END + 31 * DAY
PATH = WEBHOOK


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    async with running_site(tmp_path) as running:
        yield running


def checkout(account: str | None = "acct-42", **changes: Any) -> dict[str, Any]:
    changes.setdefault("metadata", {"offer": "trial-3m"})
    return event("checkout.session.completed", client_reference_id=account, **changes)


# -- the route ---------------------------------------------------------------------------


def test_without_the_secret_there_is_no_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    config = tmp_path / "paywall.yaml"
    config.write_text(config_text("paywall-test-off:"), encoding="utf-8")
    server = LiveServer(PaywallMiddleware(article_site, config=config))
    try:
        body = body_of(fixture("checkout.session.completed"))
        headers = {"Stripe-Signature": signature(body)}
        assert httpx.post(server.url + PATH, content=body, headers=headers).status_code == 404
        monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)  # read per request
        assert httpx.post(server.url + PATH, content=body, headers=headers).status_code == 200
        assert httpx.get(server.url + PATH).status_code == 405
    finally:
        server.stop()
        servers.delete_keys(str(REAL_REDIS_URL), "paywall-test-off:")


REFUSED: dict[str, Callable[[Site, bytes], httpx.Response]] = {
    "no signature": lambda site, body: httpx.post(site.server.url + PATH, content=body),
    "another secret": lambda site, body: site.send(body, secret="whsec_someone_else"),
    "a changed body": lambda site, body: httpx.post(
        site.server.url + PATH,
        content=body.replace(b"acct-42", b"acct-43"),
        headers={"Stripe-Signature": signature(body)},
    ),
    "an old timestamp": lambda site, body: site.send(body, stamp=int(time.time()) - 301),
    "malformed JSON": lambda site, body: site.send(body[:-1]),
    "JSON, not an event": lambda site, body: site.send(b"[1, 2, 3]"),
    "an event without its object": lambda site, body: site.send(
        {"id": "evt_x", "type": "customer.subscription.updated", "created": BASE, "data": {}}
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_a_refused_delivery_is_a_400_and_changes_nothing(site: Site, case: str) -> None:
    body = body_of(checkout())
    response = REFUSED[case](site, body)
    assert response.status_code == 400
    assert response.json()["result"] in ("bad_signature", "malformed")
    assert response.json()["detail"]  # what was wrong, e.g. "Timestamp outside the tolerance zone"
    assert await site.status("acct-42") is Status.NONE and site.view("acct-42") == "subscribe"
    keys = [key async for key in site.redis.scan_iter(match=site.prefix + "*")]
    assert keys == []
    # The same event, signed as Stripe signs it, is taken.
    assert (
        site.send(body).status_code == 200 and await site.status("acct-42") is Status.SUBSCRIPTION
    )


# -- the lifecycle table -----------------------------------------------------------------


def created(**changes: Any) -> dict[str, Any]:
    return event("customer.subscription.created", **changes)


def updated(status: str, event_id: str, created: int = TRIAL_END, **changes: Any) -> dict[str, Any]:
    return event("customer.subscription.updated", event_id, created, status=status, **changes)


@dataclass(frozen=True)
class Row:
    """Events after the checkout, then the status at times relative to the fixtures'."""

    events: tuple[dict[str, Any], ...]
    until: int  # when access ends (or ended)
    checks: tuple[tuple[int, Status, str], ...]  # (time, status, what the premium page shows)


LIFECYCLE = {
    "checkout alone: access for 3 days": Row(
        (),
        BASE + 3 * DAY,
        (
            (BASE + DAY, Status.SUBSCRIPTION, "full"),
            (BASE + 3 * DAY, Status.ACCESS_EXPIRED, "access-expired"),
        ),
    ),
    "trialing: a trial until trial_end": Row(
        (created(),),
        TRIAL_END,
        ((TRIAL_END - 1, Status.TRIAL, "full"), (TRIAL_END, Status.TRIAL_EXPIRED, "trial-expired")),
    ),
    "active: until the period's end plus the grace": Row(
        (created(), updated("active", "evt_active")),
        PERIOD_END + GRACE_DAYS * DAY,
        (
            (PERIOD_END + 1, Status.SUBSCRIPTION, "full"),
            (PERIOD_END + GRACE_DAYS * DAY, Status.ACCESS_EXPIRED, "access-expired"),
        ),
    ),
    "past_due after a paid period: kept through the grace, then lapsed": Row(
        (
            updated("active", "evt_active"),
            updated(
                "past_due",
                "evt_due",
                PERIOD_END,
                items__period=(PERIOD_END, PERIOD_END + 31 * DAY),
            ),
        ),
        PERIOD_END + GRACE_DAYS * DAY,
        (
            (PERIOD_END + DAY, Status.SUBSCRIPTION, "full"),
            (PERIOD_END + GRACE_DAYS * DAY, Status.ACCESS_EXPIRED, "access-expired"),
        ),
    ),
    "past_due right after the trial: the trial's grace, then trial_expired": Row(
        (created(), updated("past_due", "evt_due")),
        TRIAL_END + GRACE_DAYS * DAY,
        (
            (TRIAL_END + DAY, Status.TRIAL, "full"),
            (TRIAL_END + 4 * DAY, Status.TRIAL_EXPIRED, "trial-expired"),
        ),
    ),
    "canceled in the trial: trial_expired when it ended": Row(
        (created(), updated("canceled", "evt_cx", BASE + 5 * DAY, ended_at=BASE + 5 * DAY)),
        BASE + 5 * DAY,
        ((BASE + 5 * DAY, Status.TRIAL_EXPIRED, "trial-expired"),),
    ),
    "deleted after paying: access_expired when it ended": Row(
        (updated("active", "evt_active"), fixture("customer.subscription.deleted")),
        BASE + 20 * DAY,
        (
            (BASE + 20 * DAY - 1, Status.SUBSCRIPTION, "full"),
            (BASE + 20 * DAY, Status.ACCESS_EXPIRED, "access-expired"),
        ),
    ),
    "unpaid: lapsed when Stripe gave up": Row(
        (updated("active", "evt_active"), updated("unpaid", "evt_unpaid", TRIAL_END + 9 * DAY)),
        TRIAL_END + 9 * DAY,
        ((TRIAL_END + 9 * DAY, Status.ACCESS_EXPIRED, "access-expired"),),
    ),
    "invoice.paid: extends to the period paid for, plus the grace": Row(
        (created(), fixture("invoice.paid")),
        PERIOD_END + GRACE_DAYS * DAY,
        ((PERIOD_END, Status.SUBSCRIPTION, "full"),),
    ),
    "invoice.payment_failed: the grace starts": Row(
        (updated("active", "evt_active"), fixture("invoice.payment_failed")),
        TRIAL_END + GRACE_DAYS * DAY,
        (
            (TRIAL_END + DAY, Status.SUBSCRIPTION, "full"),
            (TRIAL_END + 3 * DAY, Status.ACCESS_EXPIRED, "access-expired"),
        ),
    ),
}


@pytest.mark.parametrize("name", list(LIFECYCLE))
async def test_the_lifecycle_table(site: Site, name: str) -> None:
    row = LIFECYCLE[name]
    assert site.sends(checkout(), *row.events) == ["applied"] * (1 + len(row.events))
    assert await site.until("acct-42") == row.until
    for moment, status, page in row.checks:
        site.at(moment)
        assert (await site.status("acct-42"), site.view("acct-42")) == (status, page), moment


async def test_the_older_api_shape_reads_the_same(site: Site) -> None:
    site.sends(checkout(), fixture("customer.subscription.updated.2024-06-20"))
    assert await site.until("acct-42") == PERIOD_END + GRACE_DAYS * DAY
    site.sends(fixture("invoice.paid.2024-06-20"))
    assert await site.until("acct-42") == PERIOD_END + GRACE_DAYS * DAY
    site.sends(checkout("acct-new", customer="cus_new", subscription="sub_new", id="cs_2"))
    paid = event(
        "invoice.paid.2024-06-20",
        "evt_old_paid",
        customer="cus_new",
        subscription="sub_new",
        lines__period=(TRIAL_END, PERIOD_END + 31 * DAY),
    )
    site.sends(paid)
    assert await site.until("acct-new") == PERIOD_END + 31 * DAY + GRACE_DAYS * DAY


# -- exactly once, in order --------------------------------------------------------------


def offer_ref() -> str:
    return RefSigner([SECRET]).sign(Ref("subscribe", "trial-3m", "news", date(2027, 1, 1)))


async def conversions(site: Site) -> int:
    report = await AnalyticsReader(site.redis, site.prefix).report(
        date(2027, 1, 1), date(2027, 1, 31)
    )
    offer = report.offer("trial-3m")
    return offer.conversions if offer is not None else 0


async def test_a_replay_answers_200_and_changes_nothing(site: Site) -> None:
    paid = checkout(metadata={"paywall_ref": offer_ref()})
    assert site.sends(paid, created()) == ["applied", "applied"]
    site.sends(updated("canceled", "evt_cx", BASE + 2 * DAY, ended_at=BASE + 2 * DAY))
    site.at(BASE + 3 * DAY)
    assert await site.status("acct-42") is Status.TRIAL_EXPIRED
    assert site.sends(paid, created(), paid) == ["duplicate"] * 3  # Stripe retries
    assert await site.status("acct-42") is Status.TRIAL_EXPIRED
    assert await conversions(site) == 1


async def test_a_late_update_never_regrants_what_a_later_deletion_removed(site: Site) -> None:
    site.sends(checkout(), updated("active", "evt_active"))
    assert site.sends(fixture("customer.subscription.deleted")) == ["applied"]
    late = updated("active", "evt_late", BASE + 19 * DAY)  # sent before the deletion
    renewal = fixture("invoice.paid")  # even one stamped later: a canceled one stays canceled
    renewal["created"] = BASE + 25 * DAY
    assert site.sends(late, renewal) == ["stale", "stale"]
    site.at(BASE + 21 * DAY)
    assert (await site.status("acct-42"), site.view("acct-42")) == (
        Status.ACCESS_EXPIRED,
        "access-expired",
    )


async def test_updates_arriving_in_reverse_are_applied_newest_only(site: Site) -> None:
    site.sends(checkout())
    renewed = updated(
        "active", "evt_2", PERIOD_END, items__period=(PERIOD_END, PERIOD_END + 31 * DAY)
    )
    first = updated("active", "evt_1")
    assert site.sends(renewed, first) == ["applied", "stale"]
    assert await site.until("acct-42") == PERIOD_END + 31 * DAY + GRACE_DAYS * DAY


async def test_another_subscriptions_end_leaves_the_newer_one(site: Site) -> None:
    site.sends(checkout(), updated("active", "evt_active"))
    site.sends(checkout(subscription="sub_second", id="cs_second"))  # bought again
    second = updated("active", "evt_second", TRIAL_END + DAY, id="sub_second")
    second["data"]["object"]["items"]["data"][0]["current_period_end"] = PERIOD_END + 90 * DAY
    site.sends(second, fixture("customer.subscription.deleted"))
    site.at(BASE + 40 * DAY)
    assert await site.status("acct-42") is Status.SUBSCRIPTION


# -- what is acknowledged and not applied ------------------------------------------------


async def test_events_not_acted_on_are_acknowledged(site: Site) -> None:
    response = site.send(fixture("customer.created"))
    assert (response.status_code, response.json()["result"]) == (200, "ignored")
    site.sends(checkout(payment_status="unpaid"))  # paid later, by bank transfer
    assert await site.status("acct-42") is Status.NONE


async def test_an_unknown_customer_is_logged_acknowledged_and_applied_once_linked(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="paywall")
    response = site.send(created())
    assert (response.status_code, response.json()["result"]) == (200, "unknown_customer")
    assert any(CUSTOMER in record.getMessage() for record in caplog.records)
    assert await site.status("acct-42") is Status.NONE
    site.sends(checkout())  # the link comes: the subscription's event is applied
    assert await site.status("acct-42") is Status.TRIAL and await site.until("acct-42") == TRIAL_END


async def test_a_checkout_naming_no_account_is_acknowledged(site: Site) -> None:
    response = site.send(checkout(None))
    assert (response.status_code, response.json()["result"]) == (200, "no_account")


@pytest.mark.parametrize("first", ["checkout.session.completed", "customer.subscription.created"])
async def test_a_checkouts_two_events_in_either_order(site: Site, first: str) -> None:
    """Stripe sends both, in no fixed order: the same access, one conversion."""
    paid = checkout(metadata={"paywall_ref": offer_ref()})
    pair = [paid, created()] if first.startswith("checkout") else [created(), paid]
    site.sends(*pair)
    assert await site.status("acct-42") is Status.TRIAL and await site.until("acct-42") == TRIAL_END
    assert await conversions(site) == 1
    report = await AnalyticsReader(site.redis, site.prefix).report(
        date(2027, 1, 2), date(2027, 1, 2)
    )
    assert [(s.name, s.conversions) for s in report.sections] == [("news", 1)]
    assert [(p.name, p.conversions) for p in report.prompts] == [("subscribe", 1)]
