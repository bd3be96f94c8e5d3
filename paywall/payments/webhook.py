"""`{prefix}/webhooks/stripe`: Stripe's events, verified by Stripe's own library, applied to
the accounts they concern.

The signing secret is read from the environment on each request (the variable
`payments.stripe.webhook_secret_env` names; unset, the route is a 404). A bad or missing
signature, a timestamp older than 300 s, a body that is not JSON or an event we cannot read
is a 400 and changes nothing; a store failure is a 503, so Stripe delivers it again.
Everything else is a 200, including events we do not act on and customers we do not know.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..entitlements import Entitlements
from ..settings import Config
from .events import CHECKOUT_TYPES, BadEvent, BillingEvent, read_event
from .ledger import Applied, Ledger

logger = logging.getLogger("paywall")

TOLERANCE_SECONDS = 300  # Stripe's own default: an older signed timestamp is refused


@dataclass(frozen=True)
class Outcome:
    """The answer to one delivery."""

    status: int
    result: str  # what happened, in the JSON answer and the log
    detail: str = ""

    def body(self) -> bytes:
        fields = {"result": self.result, **({"detail": self.detail} if self.detail else {})}
        return json.dumps(fields).encode()


class StripeWebhook:
    """Verifies and applies Stripe events; `clock` is the middleware's (conversion days)."""

    def __init__(self, ledger: Ledger, client: Any, clock: Callable[[], datetime]) -> None:
        self.ledger = ledger
        self.client = client
        self.clock = clock

    @staticmethod
    def secret(config: Config) -> str | None:
        """The signing secret, if the environment has one (else the route does not exist)."""
        return os.environ.get(config.payments.webhook_secret_env, "").strip() or None

    async def deliver(self, config: Config, secret: str, body: bytes, signature: str) -> Outcome:
        """Verify one delivery and apply it."""
        import stripe  # loaded with the first delivery, not with the paywall

        try:
            stripe.Webhook.construct_event(body, signature, secret, tolerance=TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError as exc:
            first_sentence = str(exc).split(". ")[0][:200]
            return Outcome(400, "bad_signature", first_sentence)
        except (ValueError, UnicodeDecodeError):
            return Outcome(400, "malformed", "the body is not JSON")
        except Exception as exc:  # JSON, but not an event (an array, a string...)
            return Outcome(400, "malformed", f"not an event: {type(exc).__name__}")
        try:
            event = read_event(json.loads(body), config.payments.grace_days)
        except BadEvent as exc:
            logger.warning("paywall: Stripe event refused: %s", exc)
            return Outcome(400, "malformed", str(exc))
        if not event.handled:
            logger.debug("paywall: Stripe event %s (%s) ignored", event.id, event.type)
            return Outcome(200, "ignored", event.note)
        if event.type in CHECKOUT_TYPES:
            return await self._checkout(config, event)
        return await self._billing(config, event, body)

    async def _checkout(self, config: Config, event: BillingEvent) -> Outcome:
        if event.account is None:
            logger.warning(
                "paywall: Stripe %s %s names no account (client_reference_id or"
                " metadata.account_id): not applied",
                event.type,
                event.id,
            )
            return Outcome(200, "no_account", "no client_reference_id or metadata.account_id")
        if event.customer is not None:
            before = await self.ledger.link(event.customer, event.account)
            if before is not None and before != event.account:
                logger.warning(
                    "paywall: Stripe customer %s moves from account %s to %s",
                    event.customer,
                    before,
                    event.account,
                )
        applied = await self.ledger.apply(event.account, event.id, event.change)
        if applied.result == "applied" and event.paid and event.ref is not None:
            await self._credit(config, event.ref)
        if event.customer is not None:
            await self._release(config, event.customer, event.account)
        return _answer(event, applied)

    async def _billing(self, config: Config, event: BillingEvent, body: bytes) -> Outcome:
        customer = event.customer
        if customer is None:
            return Outcome(200, "ignored", "no customer")
        account = await self.ledger.account_of(customer)
        if account is None:
            kept = await self.ledger.hold(event, body)
            account = await self.ledger.account_of(customer)  # linked meanwhile?
            if account is None:
                logger.warning(
                    "paywall: Stripe %s %s is for customer %s, linked to no account yet: %s",
                    event.type,
                    event.id,
                    customer,
                    "kept until a checkout links it" if kept else "too many waiting, dropped",
                )
                return Outcome(200, "unknown_customer", customer)
            await self._release(config, customer, account)
            return Outcome(200, "applied")
        applied = await self.ledger.apply(account, event.id, event.change)
        return _answer(event, applied)

    async def _release(self, config: Config, customer: str, account: str) -> None:
        """Apply the events that waited for `customer`'s link, oldest first."""
        held = await self.ledger.held(customer)
        events = []
        for event_id, raw in held.items():
            try:
                events.append(read_event(json.loads(raw), config.payments.grace_days))
            except (BadEvent, ValueError):
                logger.warning("paywall: dropped unreadable held Stripe event %s", event_id)
        events.sort(key=lambda event: event.change.order if event.change else (event.created,))
        for event in events:
            applied = await self.ledger.apply(account, event.id, event.change)
            logger.info("paywall: held Stripe event %s: %s", event.id, applied.result)
        await self.ledger.release(customer, list(held))

    async def _credit(self, config: Config, ref: str) -> None:
        entitlements = Entitlements.for_config(self.client, config)
        if await entitlements.credit(ref, now=self.clock()) is None:
            logger.warning("paywall: a Stripe checkout's paywall_ref is not ours: not credited")


def _answer(event: BillingEvent, applied: Applied) -> Outcome:
    until = applied.until.isoformat() if applied.until is not None else None
    logger.info(
        "paywall: Stripe %s %s: %s (now %s until %s)",
        event.type,
        event.id,
        applied.result,
        applied.plan or "none",
        until,
    )
    return Outcome(200, applied.result, event.note)
