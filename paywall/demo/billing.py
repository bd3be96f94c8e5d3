"""The demo's stand-in for Stripe: it makes the events Stripe would send for a checkout and a
subscription's life (the shapes of Stripe's current API), signs them as Stripe does with the
demo's own webhook secret, and delivers them to the paywall's webhook in-process.

Nothing reaches Stripe. The demo accounts' states are made this way too, so billing events
alone decide what each demo reader sees.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.types import ASGIApp, Message

from ..settings import Config

API_VERSION = "2026-10-28.endive"
DAY = 86400
PRICE = {"id": "price_demo_digital", "object": "price", "currency": "usd", "unit_amount": 1200}


def demo_secret(config: Config) -> str:
    """The demo's webhook secret: from the environment, else made (and set) for this run."""
    name = config.payments.webhook_secret_env
    if not os.environ.get(name, "").strip():
        os.environ[name] = "whsec_demo_" + secrets.token_hex(16)
    return os.environ[name].strip()


@dataclass
class DemoStripe:
    """Builds and delivers one customer's events; `run` keeps ids unique across restarts."""

    app: ASGIApp
    config: Config
    run: str = field(default_factory=lambda: secrets.token_hex(4))
    sent: int = 0

    async def checkout(
        self, account: str, customer: str, subscription: str, at: int, *, paid: bool, ref: str = ""
    ) -> int:
        """checkout.session.completed of a subscription bought by `account`."""
        session = {
            "id": f"cs_test_{self.run}{secrets.token_hex(8)}",
            "object": "checkout.session",
            "client_reference_id": account,
            "created": at,
            "currency": "usd",
            "amount_total": PRICE["unit_amount"] if paid else 0,
            "customer": customer,
            "livemode": False,
            "metadata": {"paywall_ref": ref} if ref else {},
            "mode": "subscription",
            "payment_status": "paid" if paid else "no_payment_required",
            "status": "complete",
            "subscription": subscription,
        }
        return await self.send("checkout.session.completed", session, at)

    async def subscription(
        self,
        kind: str,
        customer: str,
        subscription: str,
        at: int,
        status: str,
        period: tuple[int, int],
        *,
        trial: tuple[int, int] | None = None,
        ended: int | None = None,
    ) -> int:
        """customer.subscription.`kind` (created, updated, deleted) in `status`."""
        item = {
            "id": f"si_{subscription[4:]}",
            "object": "subscription_item",
            "current_period_start": period[0],
            "current_period_end": period[1],
            "price": {**PRICE, "recurring": {"interval": "month", "interval_count": 1}},
            "quantity": 1,
            "subscription": subscription,
        }
        obj = {
            "id": subscription,
            "object": "subscription",
            "cancel_at_period_end": False,
            "canceled_at": ended,
            "created": at,
            "currency": "usd",
            "customer": customer,
            "ended_at": ended,
            "items": {"object": "list", "data": [item], "has_more": False},
            "livemode": False,
            "metadata": {},
            "start_date": trial[0] if trial else period[0],
            "status": status,
            "trial_end": trial[1] if trial else None,
            "trial_start": trial[0] if trial else None,
        }
        return await self.send(f"customer.subscription.{kind}", obj, at)

    async def send(self, kind: str, obj: dict[str, Any], at: int) -> int:
        """Sign and deliver one event; the webhook's HTTP status."""
        self.sent += 1
        event = {
            "id": f"evt_demo_{self.run}_{self.sent}",
            "object": "event",
            "api_version": API_VERSION,
            "created": at,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        body = json.dumps(event).encode()
        sent_at = int(time.time())  # when it is sent: Stripe's tolerance is about this
        mac = hmac.new(demo_secret(self.config).encode(), f"{sent_at}.".encode() + body, "sha256")
        headers = [
            (b"content-type", b"application/json"),
            (b"stripe-signature", f"t={sent_at},v1={mac.hexdigest()}".encode()),
        ]
        path = self.config.analytics.prefix + "/webhooks/stripe"
        return await post(self.app, path, body, headers)


async def post(app: ASGIApp, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """POST `body` to `app` in-process; the response's status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"demo.invalid"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("demo.invalid", 80),
    }
    sent = False
    status = 0

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def customer_of(account: str) -> tuple[str, str]:
    """The demo's Stripe customer and subscription ids for `account` (stable per account)."""
    digest = hashlib.sha256(account.encode()).hexdigest()[:14]
    return f"cus_demo{digest}", f"sub_demo{digest}"


def stamp(moment: datetime) -> int:
    return int(moment.timestamp())
