"""`POST {prefix}/gift` in process, on fakeredis and real Redis: every bad request gets a
clear answer naming what is wrong, a browser's own form post gets a page with the link,
a store that does not answer is a 503, and analytics count each link made."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from paywall import Entitlements, PaywallMiddleware
from paywall.analytics.keys import Kind, day_key, decode

from .conftest import article_site, client_for
from .live_server import SignedInBy

pytestmark = pytest.mark.anyio

NOW = datetime(2027, 1, 5, 3, 0, tzinfo=UTC)
ORIGIN = {"Origin": "https://news.test"}
EXTRA = (
    "gifts: {per_period: 2, valid_days: 5, plans: [subscription]}\n"
    "analytics: {enabled: true, flush_seconds: 600}\n"
)


@pytest.fixture
async def paywall(store: Any, config_file: Callable[..., Path]) -> PaywallMiddleware:
    text = config_file().read_text(encoding="utf-8") + EXTRA
    middleware = PaywallMiddleware(article_site, config=config_file(text), redis=store)
    middleware.clock = lambda: NOW
    return middleware


@pytest.fixture
async def site(
    paywall: PaywallMiddleware, store: Any, prefix: str
) -> AsyncIterator[httpx.AsyncClient]:
    entitlements = Entitlements(store, prefix)
    await entitlements.grant("subscriber", plan="subscription", until=NOW + timedelta(days=9))
    await entitlements.grant("trialist", plan="trial", until=NOW + timedelta(days=9))
    await entitlements.grant("lapsed", plan="subscription", until=NOW - timedelta(days=1))
    async with client_for(SignedInBy(paywall)) as client:
        yield client


async def gift(
    site: httpx.AsyncClient,
    account: str | None = "subscriber",
    path: str = "/articles/story",
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    sent = {**ORIGIN, **(headers or {})}
    if account:
        sent["X-Test-Account"] = account
    if "content" not in kwargs:
        kwargs["data"] = {"path": path}
    return await site.post("/paywall/gift", headers=sent, **kwargs)


async def test_a_link_for_the_article_and_the_gifts_left(site: httpx.AsyncClient) -> None:
    made = await gift(site, path="/articles/story")
    assert made.status_code == 200
    body = made.json()
    assert body["url"].startswith("https://news.test/articles/story?gift=")
    assert body["left"] == 1 and body["path"] == "/articles/story"
    assert body["expires"] == "2027-01-10T12:00:00+09:00"  # five days on, in meter.timezone
    assert made.headers["content-type"] == "application/json"


async def test_a_form_post_from_a_browser_gets_a_page_with_the_link(
    site: httpx.AsyncClient,
) -> None:
    made = await gift(site, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert made.status_code == 200 and made.headers["content-type"].startswith("text/html")
    assert 'id="gift-link"' in made.text and "https://news.test/articles/story?gift=" in made.text
    assert 'href="/articles/story"' in made.text and "1 gift left" in made.text
    refused = await gift(site, account=None, headers={"Accept": "text/html"})
    assert refused.status_code == 401 and "sign in to gift articles" in refused.text.lower()


@pytest.mark.parametrize(
    ("account", "path", "headers", "status", "message"),
    [
        (None, "/articles/story", {}, 401, "sign in"),
        ("nobody", "/articles/story", {}, 403, "for subscribers"),
        ("trialist", "/articles/story", {}, 403, "for subscribers"),  # plans: [subscription]
        ("lapsed", "/articles/story", {}, 403, "for subscribers"),
        ("subscriber", "", {}, 400, "path"),
        ("subscriber", "/sponsored/story", {}, 400, "free to read"),
        ("subscriber", "/about", {}, 400, "free to read"),
        ("subscriber", "https://evil.example/articles/x", {}, 400, "not a path of this site"),
        ("subscriber", "//evil.example/articles/x", {}, 400, "not a path of this site"),
        ("subscriber", "articles/x", {}, 400, "not a path of this site"),
        ("subscriber", "/\\evil.example/articles/x", {}, 400, "not a path of this site"),
        ("subscriber", "/articles/a b", {}, 400, "not a path of this site"),
        ("subscriber", "/articles/" + "x" * 3000, {}, 400, "not a path of this site"),
        ("subscriber", "/articles/x", {"Origin": "https://evil.example"}, 403, "own pages"),
        ("subscriber", "/articles/x", {"Origin": "null"}, 403, "own pages"),
    ],
)
async def test_bad_requests_are_refused_clearly(
    site: httpx.AsyncClient,
    account: str | None,
    path: str,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    refused = await gift(site, account, path, headers)
    assert refused.status_code == status
    assert message in refused.json()["error"]
    assert refused.headers["cache-control"] == "private, no-store"


async def test_a_referer_from_this_site_will_do_without_an_origin(site: httpx.AsyncClient) -> None:
    made = await site.post(
        "/paywall/gift",
        data={"path": "/articles/story"},
        headers={"X-Test-Account": "subscriber", "Referer": "https://news.test/articles/story"},
    )
    assert made.status_code == 200
    bare = await site.post(
        "/paywall/gift", data={"path": "/articles/story"}, headers={"X-Test-Account": "subscriber"}
    )
    assert bare.status_code == 403


async def test_only_a_post_makes_a_link(site: httpx.AsyncClient) -> None:
    got = await site.get("/paywall/gift", headers={"X-Test-Account": "subscriber"})
    assert got.status_code == 405 and got.headers["allow"] == "POST"


async def test_a_huge_body_is_refused(site: httpx.AsyncClient) -> None:
    big = await gift(
        site,
        content=b"path=/articles/x&pad=" + b"x" * 20000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413


async def test_the_quota_is_per_account_and_period(
    site: httpx.AsyncClient, paywall: PaywallMiddleware, store: Any, prefix: str
) -> None:
    assert [(await gift(site)).status_code for _ in range(3)] == [200, 200, 429]
    await Entitlements(store, prefix).grant(
        "other", plan="subscription", until=NOW + timedelta(days=60)
    )
    assert (await gift(site, "other")).status_code == 200  # their own quota
    paywall.clock = lambda: NOW + timedelta(days=30)  # February in Tokyo: a new period
    assert (await gift(site, "other")).json()["left"] == 1


async def test_analytics_count_each_link_made(
    site: httpx.AsyncClient, paywall: PaywallMiddleware, store: Any, prefix: str
) -> None:
    await gift(site, path="/articles/one")
    await gift(site, path="/premium/two")
    await gift(site, "nobody")  # refused: not counted
    await paywall.analytics.flush()
    counts = await store.hgetall(
        day_key(prefix, NOW.astimezone(paywall.live.config.timezone).date())
    )
    fields = {decode(k): int(v) for k, v in counts.items()}
    made = {k: v for k, v in fields.items() if k is not None and k[0] == Kind.GIFT}
    assert made == {(Kind.GIFT, "/articles/*"): 1, (Kind.GIFT, "/premium/*"): 1}


async def test_gifts_off_is_a_plain_404_for_the_upstream(
    store: Any, config_file: Callable[..., Path]
) -> None:
    middleware = PaywallMiddleware(article_site, config=config_file(), redis=store)
    async with client_for(SignedInBy(middleware)) as client:
        answer = await client.post("/paywall/gift", data={"path": "/articles/x"}, headers=ORIGIN)
    assert answer.status_code == 200  # not ours: the upstream's own page at that path
    assert "gift" not in answer.text


class _DownStore:
    """A client whose every script call fails as a dead Redis does."""

    def register_script(self, script: str) -> Any:
        async def call(keys: Any = None, args: Any = None) -> Any:
            raise RedisConnectionError("connection refused")

        return call


async def test_a_store_that_does_not_answer_is_a_503(
    site: httpx.AsyncClient, paywall: PaywallMiddleware
) -> None:
    paywall.endpoints.gifts.client = _DownStore()
    paywall.endpoints.gifts._script = None
    down = await gift(site)
    assert down.status_code == 503 and "try again" in json.loads(down.text)["error"]
