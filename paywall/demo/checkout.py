"""The demo's checkout, standing in for Stripe Checkout: the offer's page leads here with its
`paywall_ref`; "paying" signs the reader in (a new `buyer-…` account when anonymous) and has
the demo's stand-in Stripe send what Stripe would, `checkout.session.completed` (the ref in
its metadata, the account as `client_reference_id`) and `customer.subscription.created`, to
the paywall's webhook. The reader's next article is full; the offer has its conversion.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from html import escape
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..settings import Config
from .billing import DAY, DemoStripe, customer_of, stamp
from .site import page

BUYER_PREFIX = "buyer-"  # accounts the demo checkout makes for anonymous buyers
PERIOD_DAYS = 30


def routes(config: Config, clock: Callable[[], datetime]) -> list[Route]:
    publication = config.publication

    async def show(request: Request) -> Response:
        offer = request.query_params.get("offer", "")
        ref = request.query_params.get("paywall_ref", "")
        account = request.session.get("account")
        who = (
            f"You are signed in as <strong>{escape(account)}</strong>."
            if account
            else "You are not signed in: paying makes you a demo account and signs you in."
        )
        main = f"""<section class="article"><p class="kicker">Checkout</p>
<h1>Pay for {escape(offer or "a subscription")}</h1>
<p class="standfirst">A stand-in for Stripe Checkout: no card, no money. {who}</p>
<form method="post" action="/checkout">
<input type="hidden" name="offer" value="{escape(offer)}">
<input type="hidden" name="paywall_ref" value="{escape(ref)}">
<button class="button" data-checkout="pay">Pay (demo)</button></form>
<p class="colophon">The demo then sends the paywall the events Stripe would send, signed with
the demo's webhook secret: checkout.session.completed and customer.subscription.created.</p>
</section>"""
        return page(publication, f"Checkout | {publication}", main)

    async def pay(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        ref = form.get("paywall_ref", [""])[0]
        account = request.session.get("account") or BUYER_PREFIX + secrets.token_hex(4)
        request.session["account"] = account
        customer, subscription = customer_of(account)
        now = stamp(clock())
        stripe = DemoStripe(request.app, config)
        await stripe.checkout(account, customer, subscription, now, paid=True, ref=ref)
        period = (now, now + PERIOD_DAYS * DAY)
        await stripe.subscription("created", customer, subscription, now, "active", period)
        return RedirectResponse("/checkout/done", status_code=303)

    async def done(request: Request) -> Response:
        account = request.session.get("account", "")
        main = f"""<section class="article"><p class="kicker">Thank you</p>
<h1>Welcome, {escape(account)}</h1>
<p class="standfirst">Your subscription is active: every article is yours to read.</p>
<p><a class="button" href="/">Back to the front page</a></p></section>"""
        return page(publication, f"Welcome | {publication}", main)

    return [
        Route("/checkout", show, methods=["GET"]),
        Route("/checkout", pay, methods=["POST"]),
        Route("/checkout/done", done, methods=["GET"]),
    ]
