"""The sample site behind the paywall with gifts and a referral rule on, served by a real
uvicorn on a real Redis (its own key prefix, deleted afterwards), its clock in the test's
hands and readers signed in by `X-Test-Account`; and how tests read its pages (by the tree
an HTML5 parser builds). Used by the sharing tests, end to end and red team."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis

from paywall import Entitlements, PaywallMiddleware

from . import leaks, servers
from .conftest import ARTICLE_PARAGRAPHS, CONFIG, REAL_REDIS_URL, article_site
from .live_server import LiveServer, SignedInBy

NOW = datetime(2027, 1, 5, 3, 0, tzinfo=UTC)  # noon in Tokyo
ADMIN_TOKEN = "admin-token-for-sharing-tests"
LAST_PARAGRAPH = ARTICLE_PARAGRAPHS[-1]
GIFT = "/paywall/gift"
GOOGLE = {"Referer": "https://www.google.com/"}


@dataclass
class Site:
    server: LiveServer
    redis: redis.Redis
    prefix: str
    config: Path
    now: datetime

    @property
    def url(self) -> str:
        return self.server.url

    def browser(self, account: str | None = None) -> httpx.Client:
        """A reader keeping its cookies; signed in as `account` if given."""
        headers = {"X-Test-Account": account} if account else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def gift(self, account: str | None, path: str, origin: str | None = None) -> httpx.Response:
        headers = {"Origin": origin or self.url}
        if account:
            headers["X-Test-Account"] = account
        return httpx.post(self.url + GIFT, data={"path": path}, headers=headers, timeout=10)

    def meter_keys(self) -> list[bytes]:
        return [k for k in self.redis.scan_iter(match=self.prefix + "*:m:*")]

    def keys(self) -> set[bytes]:
        return set(self.redis.scan_iter(match=self.prefix + "*"))


SHARING = (
    "cookie: {secure: false}\n"
    "gifts: {per_period: 3, valid_days: 5, plans: PLANS}\n"
    "referrals:\n  - {host: HOST, per_period: 2}\n"
)


@contextlib.contextmanager
def running(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    meter: str = "",
    content: str = "",
    extra: str = "",
    plans: str = "[trial, subscription]",
    referrals: str = '"*.google.*"',
    store_url: str | None = None,
) -> Iterator[Site]:
    """The sample site behind the paywall (gifts and a referral rule on), with `meter`,
    `content` and `extra` YAML added; on real Redis unless `store_url` names another."""
    prefix = f"paywall-test-{uuid.uuid4().hex[:12]}:"
    url = store_url or str(REAL_REDIS_URL)
    text = CONFIG.replace("PREFIX", prefix).replace("store:\n", f"store:\n  url: {url}\n")
    text = text.replace("meter:\n", "meter:\n" + meter).replace(
        "content:\n", "content:\n" + content
    )
    text += SHARING.replace("PLANS", plans).replace("HOST", referrals) + extra
    config = tmp_path / f"paywall-{prefix[13:-1]}.yaml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", ADMIN_TOKEN)
    paywall = PaywallMiddleware(article_site, config=config)
    server = LiveServer(SignedInBy(paywall))
    client = redis.Redis.from_url(url)
    site = Site(server, client, prefix, config, NOW)
    paywall.clock = lambda: site.now
    try:
        yield site
    finally:
        server.stop()
        client.close()
        if store_url is None:
            servers.delete_keys(url, prefix)


async def subscribe(site: Site, account: str, plan: str = "subscription") -> None:
    client = redis.asyncio.from_url(str(REAL_REDIS_URL))
    try:
        await Entitlements(client, site.prefix).grant(
            account, plan=plan, until=NOW + timedelta(days=30)
        )
    finally:
        await client.aclose()


def prompts_of(page: httpx.Response) -> list[str]:
    root = leaks.parse(page.content, page.headers.get("content-type", ""))
    return [
        e.get("data-paywall", "")
        for e in root.iter()
        if isinstance(e.tag, str) and e.get("data-paywall")
    ]


def reads_in_full(page: httpx.Response) -> bool:
    root = leaks.parse(page.content, page.headers.get("content-type", ""))
    return LAST_PARAGRAPH in leaks.visible_text(root)


def left_on(page: httpx.Response) -> str:
    """What the meter banner says, or the wall."""
    root = leaks.parse(page.content, page.headers.get("content-type", ""))
    text = leaks.visible_text(root)
    for phrase in ("You have 2 free articles left", "You have 1 free article left"):
        if phrase in text:
            return phrase
    if "This is your last free article" in text:
        return "last"
    return "walled" if prompts_of(page) == ["subscribe"] else "?"
