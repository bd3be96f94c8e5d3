"""Demo sign-in: one account in each reader state, so every prompt can be seen; each state is
made by the billing events of its life (billing.py), and buyers of the demo checkout sign in
too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import parse_qs

from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser, SimpleUser
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..names import Plan
from ..payments.ledger import Ledger
from .billing import DAY, DemoStripe, customer_of, stamp
from .checkout import BUYER_PREFIX
from .site import page


@dataclass(frozen=True)
class DemoAccount:
    id: str
    label: str
    plan: Plan | None
    days_left: int  # negative: the plan has ended


DEMO_ACCOUNTS = (
    DemoAccount("reader", "Registered reader, no subscription (metered by account)", None, 0),
    DemoAccount("trialist", "On a free trial (full access, no prompts)", Plan.TRIAL, 30),
    DemoAccount(
        "trial-ended",
        "Trial ended last week (sees “Your trial period has expired”)",
        Plan.TRIAL,
        -7,
    ),
    DemoAccount("subscriber", "Subscriber (full access, premium included)", Plan.SUBSCRIPTION, 365),
    DemoAccount(
        "lapsed",
        "Subscription ended (sees “Your full access … has expired”)",
        Plan.SUBSCRIPTION,
        -30,
    ),
)


async def seed(stripe: DemoStripe, ledger: Ledger, now: datetime) -> None:
    """Make each demo account's state, relative to `now`, with the billing events Stripe
    would have sent over its life (the account's earlier billing state is dropped first)."""
    for account in DEMO_ACCOUNTS:
        await ledger.forget(account.id)
        if account.plan is None:
            continue
        customer, sub = customer_of(account.id)
        end = stamp(now) + account.days_left * DAY
        trial = account.plan is Plan.TRIAL
        start = min(stamp(now), end) - (14 if trial else 30) * DAY
        sent = [await stripe.checkout(account.id, customer, sub, start, paid=not trial)]
        status, period = ("trialing" if trial else "active"), (start, end)
        with_trial = (start, end) if trial else None
        sent.append(
            await stripe.subscription(
                "created", customer, sub, start, status, period, trial=with_trial
            )
        )
        if account.days_left < 0:  # canceled when its trial or period ended
            sent.append(
                await stripe.subscription(
                    "deleted", customer, sub, end, "canceled", period, trial=with_trial, ended=end
                )
            )
        if any(code != 200 for code in sent):
            raise RuntimeError(f"the demo's webhook refused {account.id}'s events: {sent}")


class SessionAccounts(AuthenticationBackend):
    """The signed-in demo account, kept in Starlette's signed session cookie."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        account = conn.session.get("account")
        if not isinstance(account, str):
            return None
        if account not in {a.id for a in DEMO_ACCOUNTS} and not account.startswith(BUYER_PREFIX):
            return None
        return AuthCredentials(["authenticated"]), SimpleUser(account)


def routes(publication: str) -> list[Route]:
    async def signin(request: Request) -> Response:
        if request.method == "POST":
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            account = form.get("account", [""])[0]
            if account in {a.id for a in DEMO_ACCOUNTS}:
                request.session["account"] = account
            else:
                request.session.pop("account", None)
            return RedirectResponse("/signin", status_code=303)
        current = request.session.get("account")
        rows = "".join(
            f'<li><form method="post" action="/signin"><button class="button" name="account"'
            f' value="{escape(a.id)}">{escape(a.id)}</button> {escape(a.label)}'
            f"{' <strong>(signed in)</strong>' if a.id == current else ''}</form></li>"
            for a in DEMO_ACCOUNTS
        )
        status = (
            f"Signed in as <strong>{escape(current)}</strong>." if current else "Not signed in."
        )
        main = f"""<section class="article"><p class="kicker">Demo accounts</p>
<h1>Sign in</h1>
<p class="standfirst">{status} Pick an account to see the paywall as that reader does.</p>
<ul class="accounts">{rows}</ul>
<form method="post" action="/signin">
<button class="button" name="account" value="">Sign out</button>
(back to an anonymous reader, metered by cookie)</form>
<p class="colophon">Views you made anonymously this month count toward the account
you sign in to.</p>
</section>"""
        return page(publication, f"Sign in | {publication}", main)

    return [Route("/signin", signin, methods=["GET", "POST"])]
