"""metering.py: the way down for one view, from a request scope to one Decision."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.middleware.authentication import AuthenticationMiddleware

from paywall import Entitlements, PaywallMiddleware
from paywall.analytics import AnalyticsReader
from paywall.decision import Result, Who
from paywall.identity import account_reader_id
from paywall.metering import Viewed, decide_view
from paywall.names import Prompt
from paywall.overload import Busy

from .conftest import CONFIG, SECRET, article_site, client_for
from .overload_app import SignedInByHeader

pytestmark = pytest.mark.anyio

CRAWLERS = """\
crawlers:
  - name: Googlebot
    user_agent: Googlebot
    networks: [66.249.64.0/19]
"""


def scope(path: str, *, cookie: str = "", client: str = "198.51.100.7", ua: str = "") -> Any:
    headers = [(b"user-agent", ua.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": (client, 40000),
    }


class Views:
    """decide_view on a middleware's own tools, keeping the reader's cookie between views."""

    def __init__(self, paywall: PaywallMiddleware) -> None:
        self.paywall = paywall
        self.cookie = ""

    async def view(self, path: str, **kwargs: Any) -> Viewed:
        config = self.paywall.live.current()
        tools = self.paywall.tools(config)
        viewed = await decide_view(
            tools, config, scope(path, cookie=self.cookie, **kwargs), "metered"
        )
        if viewed.identified is not None and viewed.identified.cookie is not None:
            value = tools.cookies.header(viewed.identified.cookie).decode().split(";")[0]
            self.cookie = value
        return viewed


async def test_views_go_down_to_one_decision_each(
    store: Any, config_file: Callable[..., Path]
) -> None:
    views = Views(PaywallMiddleware(article_site, config=config_file(), redis=store))
    results = [(await views.view(f"/articles/{n}")).decision for n in range(4)]
    assert [d.result for d in results] == [
        Result.BANNER,
        Result.BANNER,
        Result.LAST_FREE,
        Result.WALLED_LIMIT,
    ]
    assert all(d.who is Who.ANONYMOUS for d in results)
    assert results[-1].prompt is Prompt.SUBSCRIBE and results[-1].offers == ("trial-3m",)
    again = (await views.view("/articles/0")).decision
    assert again.result is Result.ALREADY_READ and again.prompt is None


async def test_a_verified_crawler_reads_without_a_cookie(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(CONFIG + CRAWLERS), redis=store)
    views = Views(paywall)
    viewed = await views.view("/articles/x", ua="Googlebot/2.1", client="66.249.66.1")
    assert viewed.decision.result is Result.CRAWLER and viewed.decision.who is Who.CRAWLER
    assert viewed.identified is None  # no cookie for a crawler
    spoofed = await views.view("/articles/x", ua="Googlebot/2.1", client="203.0.113.9")
    assert spoofed.decision.result is Result.BANNER


class HeldRedis:
    """The test's Redis client, its round trips held until `release` once `held` is set:
    a slow Redis (a seam the compiled build has too; its MeterStore can't be patched)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.held = False
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = self.client.pipeline(*args, **kwargs)
        if self.held:
            execute = pipe.execute

            async def held(*args: Any, **kwargs: Any) -> Any:
                await self.release.wait()
                return await execute(*args, **kwargs)

            pipe.execute = held
        return pipe


async def test_a_reader_past_its_bound_is_busy_not_decided(
    store: Any, config_file: Callable[..., Path]
) -> None:
    text = CONFIG + "overload:\n  per_reader: 1\n"
    redis = HeldRedis(store)
    views = Views(PaywallMiddleware(article_site, config=config_file(text), redis=redis))
    await views.view("/articles/first")  # the reader now has a cookie
    redis.held = True
    first = asyncio.create_task(views.view("/articles/a"))
    await asyncio.sleep(0.01)
    with pytest.raises(Busy) as refused:
        await views.view("/articles/b")
    assert refused.value.status == 429
    redis.release.set()
    assert (await first).decision.result is Result.BANNER


async def test_a_post_is_decided_under_its_rule_but_never_counted(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(), redis=store)
    config = paywall.live.current()
    tools = paywall.tools(config)
    viewed = await decide_view(tools, config, scope("/articles/form"), "metered", count=False)
    assert viewed.decision.access == "metered" and viewed.decision.result is Result.WALLED_PREMIUM
    views = Views(paywall)
    assert (await views.view("/articles/first")).decision.context.articles_left == 2  # type: ignore[union-attr]


async def test_store_down_open_is_a_degraded_full_article(
    config_file: Callable[..., Path],
) -> None:
    text = CONFIG.replace("  timeout_ms: 1000", "  timeout_ms: 50\n  url: redis://127.0.0.1:1/0")
    views = Views(PaywallMiddleware(article_site, config=config_file(text)))
    viewed = await views.view("/articles/a")
    assert viewed.decision.result is Result.DEGRADED and viewed.decision.prompt is None
    assert viewed.decision.degraded and viewed.decision.label == "degraded"


# -- experiments: which arm a view gets, who is counted as exposed --------------------------

EXPERIMENT = """\
experiments:
  - id: limits
    starts: 2027-01-01
    arms:
      - {name: control, weight: 50}
      - {name: more, weight: 50, meter: {limit: 5, registered_limit: 8}}
"""
NOW = datetime(2027, 1, 5, 3, tzinfo=UTC)


class Browser:
    """A reader's browser on a paywall behind an authentication middleware: it keeps every
    cookie it is given; `account` signs it in (the X-Test-Account header)."""

    def __init__(self, paywall: PaywallMiddleware) -> None:
        self.client = client_for(AuthenticationMiddleware(paywall, backend=SignedInByHeader()))
        self.account: str | None = None

    async def read(self, path: str, **headers: str) -> str:
        if self.account is not None:
            headers["x-test-account"] = self.account
        page = await self.client.get(path, headers=headers)
        found = re.findall(r"You have (\d+) free articles? left|your last free article", page.text)
        return found[0] if found and found[0] else ("last" if found else "walled")

    @property
    def reader_id(self) -> str:
        value = self.client.cookies["paywall_rid"]
        return value.rsplit(".", 1)[0].split("|")[0]


@pytest.fixture
def paywall(store: Any, config_file: Callable[..., Path]) -> PaywallMiddleware:
    text = CONFIG.replace("store:\n", EXPERIMENT + "analytics: {enabled: true}\nstore:\n")
    found = PaywallMiddleware(article_site, config=config_file(text), redis=store)
    found.clock = lambda: NOW
    return found


async def arm_counts(paywall: PaywallMiddleware, kind: str) -> dict[tuple[str, ...], int]:
    await paywall.analytics.flush()
    reader = AnalyticsReader(paywall.analytics.client, paywall.analytics.prefix)
    counters = (await reader.counters(NOW.date(), NOW.date()))[NOW.date()]
    return {tuple(map(str, k[1:])): n for k, n in counters.items() if k[0] == kind}


async def test_signing_in_keeps_the_arm(paywall: PaywallMiddleware) -> None:
    """The arm is the browser's: assigned by the reader id in its cookie, which signing in
    keeps, so a reader of arm `more` (limit 5 anonymous, 8 signed in) stays in it."""
    experiment = paywall.live.config.experiments.get("limits")
    assert experiment is not None
    seen = set()
    for n in range(8):
        browser = Browser(paywall)
        assert await browser.read(f"/articles/{n}-a") in ("2", "4")  # limit 3 or 5
        arm = experiment.arm_of(browser.reader_id).name
        assert await browser.read(f"/articles/{n}-b") == ("1" if arm == "control" else "3")
        browser.account = f"acct-{n}"  # two anonymous views merge into the account's meter
        after = await browser.read(f"/articles/{n}-c")
        assert after == ("last" if arm == "control" else "5")  # registered_limit 3 or 8
        seen.add(arm)
    assert seen == {"control", "more"}
    views = await arm_counts(paywall, "av")
    assert sum(views.values()) == 24  # every view of every reader under one arm


async def test_a_reader_signed_in_without_a_cookie_keeps_one_arm_everywhere(
    paywall: PaywallMiddleware,
) -> None:
    experiment = paywall.live.config.experiments.get("limits")
    assert experiment is not None
    arm = experiment.arm_of(account_reader_id([SECRET], "acct-phone")).name
    first, second = Browser(paywall), Browser(paywall)  # a laptop and a phone, signed in
    first.account = second.account = "acct-phone"
    left = [await first.read("/articles/1"), await second.read("/articles/2")]
    left.append(await first.read("/articles/3"))
    assert left == (["2", "1", "last"] if arm == "control" else ["7", "6", "5"])
    assert first.reader_id == second.reader_id == account_reader_id([SECRET], "acct-phone")


async def test_a_browser_is_counted_exposed_once(paywall: PaywallMiddleware) -> None:
    browsers = [Browser(paywall) for _ in range(6)]
    for browser in browsers:
        for n in range(7):  # past every limit: walls too
            await browser.read(f"/articles/{n}")
        browser.account = "acct-" + browser.reader_id  # signing in is no new exposure
        await browser.read("/articles/8")
    exposed = await arm_counts(paywall, "ae")
    experiment = paywall.live.config.experiments.get("limits")
    assert experiment is not None
    arms = [experiment.arm_of(b.reader_id).name for b in browsers]
    assert exposed == {("limits", arm): arms.count(arm) for arm in set(arms)}
    views = await arm_counts(paywall, "av")
    assert sum(views.values()) == 6 * 8


async def test_entitled_readers_crawlers_and_prefetches_are_in_no_arm(
    store: Any, paywall: PaywallMiddleware
) -> None:
    await Entitlements(store, paywall.store.prefix).grant(
        "acct-paid", plan="subscription", until=NOW + timedelta(days=30)
    )
    subscriber = Browser(paywall)
    subscriber.account = "acct-paid"
    await subscriber.read("/articles/1")
    await Browser(paywall).read("/articles/1", **{"sec-purpose": "prefetch"})
    assert await arm_counts(paywall, "av") == {} and await arm_counts(paywall, "ae") == {}


SHARING = "gifts: {per_period: 2}\nreferrals:\n  - {host: t.co, per_period: 1}\n"


def shared_scope(path: str, query: bytes = b"", referer: str = "", cookie: str = "") -> Any:
    found = scope(path, cookie=cookie)
    found["query_string"] = query
    if referer:
        found["headers"].append((b"referer", referer.encode()))
    return found


async def test_a_gift_view_is_decided_gifted_and_counts_nothing(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(CONFIG + SHARING), redis=store)
    config = paywall.live.current()
    tools = paywall.tools(config)
    token = tools.gifts.sign("/articles/gifted", int(datetime.now(UTC).timestamp()) + 600)
    viewed = await decide_view(
        tools, config, shared_scope("/articles/gifted", b"gift=" + token.encode()), "metered"
    )
    decision = viewed.decision
    assert (decision.result, decision.prompt) == (Result.GIFT, Prompt.GIFTED)
    assert decision.offers == ("trial-3m",)  # the banner shows the anonymous offers
    assert [key async for key in store.scan_iter(match=prefix + "*:m:*")] == []


async def test_a_gift_opens_its_article_while_the_store_is_down(
    config_file: Callable[..., Path],
) -> None:
    paywall = PaywallMiddleware(
        article_site, config=config_file(CONFIG + SHARING), redis=_DownStore()
    )
    config = paywall.live.current()
    tools = paywall.tools(config)
    token = tools.gifts.sign("/articles/gifted", int(datetime.now(UTC).timestamp()) + 600)
    viewed = await decide_view(
        tools, config, shared_scope("/articles/gifted", b"gift=" + token.encode()), "metered"
    )
    assert (viewed.decision.result, viewed.decision.degraded) == (Result.GIFT, True)
    moved = await decide_view(
        tools, config, shared_scope("/premium/x", b"gift=" + token.encode()), "premium"
    )
    assert moved.decision.walled  # the token is this article's only


async def test_a_referral_read_is_its_own_outcome(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(CONFIG + SHARING), redis=store)
    views = Views(paywall)
    config = paywall.live.current()
    tools = paywall.tools(config)
    first = await decide_view(
        tools, config, shared_scope("/articles/a", referer="https://t.co/x"), "metered"
    )
    assert (first.decision.result, first.decision.prompt) == (Result.REFERRAL, None)
    assert (await views.view("/articles/b")).decision.result is Result.BANNER


async def test_no_referral_reads_for_a_reader_whose_meter_starts_used(
    store: Any, config_file: Callable[..., Path]
) -> None:
    text = CONFIG.replace("  limit: 3\n", "  limit: 3\n  new_readers_per_network: 1\n")
    paywall = PaywallMiddleware(article_site, config=config_file(text + SHARING), redis=store)
    config = paywall.live.current()
    tools = paywall.tools(config)
    results = []
    for n in range(3):  # three new cookies from one network: past the cap of 1
        viewed = await decide_view(
            tools, config, shared_scope(f"/articles/{n}", referer="https://t.co/"), "metered"
        )
        results.append(viewed.decision.result)
    assert results == [Result.REFERRAL, Result.WALLED_LIMIT, Result.WALLED_LIMIT]


class _DownStore:
    """A redis.asyncio stand-in whose every call fails as a refused connection does."""

    def __getattr__(self, name: str) -> Any:
        from redis.exceptions import ConnectionError as RedisConnectionError

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise RedisConnectionError("connection refused")

        return fail
