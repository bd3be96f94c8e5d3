"""Known gift and referral traffic through a real `PaywallMiddleware` (in-process, at a
fixed time), for the tests of what the report and the dashboard say about it.

A subscriber makes three gift links (two news articles, one premium) and reads one article
herself (the gift control: an entitled view, no gift read). Reader A opens her first link
twice, reader B the other two and follows the offer on the gifted banner, then subscribes
with that ref; reader C tries a forged gift token (a metered view). Reader D comes from
news.example.org three times (a rule of two: two referral reads, then the meter). Reader E
uses up the meter, follows the wall's offer and subscribes: a click and a conversion that
are not a gift's. So: 3 gift links, 4 gift reads, 1 gift click, 1 conversion after a gift,
2 referral reads; 2 clicks and 2 conversions in all.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from paywall import Entitlements, PaywallMiddleware

from .conftest import CONFIG, article_site, client_for
from .live_server import SignedInBy

NOW = datetime(2027, 1, 20, 3, 0, tzinfo=UTC)  # 12:00 in Asia/Tokyo
TODAY = date(2027, 1, 20)
SHARING = (
    CONFIG.replace("access: premium}", "access: premium, section: premium}").replace(
        "access: metered}", "access: metered, section: news}"
    )
    + "analytics:\n  enabled: true\n"
    + "gifts:\n  per_period: 5\n  valid_days: 3\n"
    + "referrals:\n  - {host: news.example.org, per_period: 2}\n"
)
EXPECTED = {"created": 3, "views": 4, "clicks": 1, "conversions": 1}
_OFFER_LINK = re.compile(r'href="(/paywall/o/[^"]+)"')
_GIFTED = 'data-paywall="gifted"'


class SharingSite:
    """The sample site behind a paywall with gifts and a referral rule, signed-in readers
    named by the `X-Test-Account` header."""

    def __init__(self, store: Any, config: Path, prefix: str) -> None:
        self.paywall = PaywallMiddleware(article_site, config=config, redis=store)
        self.paywall.clock = lambda: NOW
        self.app = SignedInBy(self.paywall)
        self.entitlements = Entitlements(store, prefix=prefix)

    def browser(self, account: str | None = None) -> httpx.AsyncClient:
        client = client_for(self.app)
        if account is not None:
            client.headers["x-test-account"] = account
        return client

    async def gift(self, subscriber: httpx.AsyncClient, path: str) -> str:
        """A gift link for `path` (relative to the site), as the gift control asks for it."""
        answer = await subscriber.post(
            "/paywall/gift", data={"path": path}, headers={"Origin": "https://news.test"}
        )
        assert answer.status_code == 200, answer.text
        url = str(answer.json()["url"])
        return url.removeprefix("https://news.test")

    async def traffic(self) -> None:
        until = NOW + timedelta(days=30)
        await self.entitlements.grant("acct-sub", plan="subscription", until=until, now=NOW)
        async with self.browser("acct-sub") as subscriber:
            own = await subscriber.get("/articles/g1")
            assert 'data-paywall="gift"' in own.text  # the control, not a gift read
            links = [await self.gift(subscriber, p) for p in ("/articles/g1", "/articles/g2",
                                                               "/premium/p1")]  # fmt: skip
        async with self.browser() as reader_a:
            for _ in range(2):
                assert _GIFTED in (await reader_a.get(links[0])).text
        async with self.browser() as reader_b:
            assert _GIFTED in (await reader_b.get(links[1])).text
            page = await reader_b.get(links[2])
            assert _GIFTED in page.text
            await self._convert(reader_b, page.text, "acct-b")
        async with self.browser() as reader_c:
            forged = await reader_c.get("/articles/g1?gift=forged.token")
            assert _GIFTED not in forged.text and 'data-paywall="meter"' in forged.text
        async with self.browser() as reader_d:
            came_from = {"Referer": "https://news.example.org/front"}
            shown = [await reader_d.get(f"/articles/r{n}", headers=came_from) for n in range(3)]
            assert [p.text.count("data-paywall=") for p in shown] == [0, 0, 1]
        async with self.browser() as reader_e:
            for n in range(4):
                wall = await reader_e.get(f"/articles/e{n}")
            assert 'data-paywall="subscribe"' in wall.text
            await self._convert(reader_e, wall.text, "acct-e")
        await self.paywall.analytics.flush()

    async def _convert(self, reader: httpx.AsyncClient, page: str, account: str) -> None:
        """Follow the page's first offer link, then subscribe with the ref it carried."""
        link = _OFFER_LINK.search(page)
        assert link, page
        redirect = await reader.get(link.group(1).replace("&amp;", "&"))
        assert redirect.status_code == 303
        ref = parse_qs(urlsplit(redirect.headers["location"]).query)["paywall_ref"][0]
        until = NOW + timedelta(days=30)
        granted = await self.entitlements.grant(
            account, plan="subscription", until=until, ref=ref, now=NOW
        )
        assert granted is not None
