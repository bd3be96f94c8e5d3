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

from ..names import Plan, Status
from ..payments.ledger import Ledger
from ..settings import Config
from .articles import METERED
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
    DemoAccount("trialist", "On a free trial (full access, nothing counted)", Plan.TRIAL, 30),
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


def sharing_note(settings: Config, base_url: str) -> str:
    """What the sign-in page says of gifts and referrals, as the config has them ("" when
    both are off): which accounts may gift, and two commands that show a referral read."""
    sharing, period = settings.sharing, settings.period
    parts: list[str] = []
    gifts = sharing.gifts
    givers = [
        a.id
        for a in DEMO_ACCOUNTS
        if a.plan is not None and a.days_left > 0 and Status(a.plan.value) in gifts.plans
    ]
    if gifts.enabled and givers:
        names = " and ".join(f"<strong>{escape(name)}</strong>" for name in givers)
        parts.append(
            f"<p>{names} see <em>Gift this article</em> on each article: a link anyone can"
            f" read it with for {gifts.valid_days} days, without spending their own free"
            f" articles ({gifts.per_period} gifts a {escape(period)}).</p>"
        )
    if sharing.referrals:
        rules = ", ".join(
            f"<code>{escape(rule.host)}</code> ({rule.per_period} a {escape(period)})"
            for rule in sharing.referrals
        )
        parts.append(f"<p>Readers arriving from {rules} read articles free, outside the meter.")
        rule = sharing.referrals[0]
        host = rule.host.removeprefix("*.")
        host = ("www." if host != rule.host else "") + host.replace("*", "com")
        if rule.matches(host):
            url = escape(base_url.rstrip("/") + METERED[0].path)
            show = "| grep -o 'data-paywall=\"[a-z-]*\"'"
            parts.append(
                " Compare a new reader's view without and with a <code>Referer</code> from"
                " there: the meter's banner, then nothing (read free, not counted).</p>"
                f'<pre class="try">curl -s {url} {show}\n'
                f"curl -s -H 'Referer: https://{escape(host)}/' {url} {show}</pre>"
            )
        else:
            parts.append("</p>")
    if not parts:
        return ""
    return '<h2 class="section-title">Gifts and referrals</h2>' + "".join(parts)


def routes(publication: str, settings: Config | None = None) -> list[Route]:
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
{sharing_note(settings, str(request.base_url)) if settings else ""}
</section>"""
        return page(publication, f"Sign in | {publication}", main)

    return [Route("/signin", signin, methods=["GET", "POST"])]
