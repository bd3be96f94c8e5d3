"""metering.py: the way down for one view, from a request scope to one Decision."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paywall import PaywallMiddleware
from paywall.decision import Result, Who
from paywall.metering import Viewed, decide_view
from paywall.names import Prompt
from paywall.overload import Busy

from .conftest import CONFIG, article_site

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
