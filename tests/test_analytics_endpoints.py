"""The paywall's own routes under endpoints.prefix: offer clicks (counted only with a ref we
signed, always redirected), Prometheus metrics, and the lifespan flush."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from paywall import PaywallMiddleware
from paywall.analytics.metrics import sample_value
from paywall.analytics.refs import Ref
from paywall.analytics.report import AnalyticsReader

from .conftest import CONFIG, article_site, client_for

pytestmark = pytest.mark.anyio

NOW = datetime(2027, 1, 5, 3, 0, tzinfo=UTC)
TODAY = date(2027, 1, 5)
ON = CONFIG + "analytics:\n  enabled: true\nmetrics:\n  enabled: true\n"
_LINK = re.compile(r'href="(/paywall/o/[^"]+)"')


class Site:
    def __init__(self, store: Any, path: Path, prefix: str, app: Any = article_site) -> None:
        self.paywall = PaywallMiddleware(app, config=path, redis=store)
        self.paywall.clock = lambda: NOW
        self.analytics = AnalyticsReader(store, prefix)

    def browser(self) -> httpx.AsyncClient:
        return client_for(self.paywall)

    async def walled_link(self) -> str:
        """A new reader reads past the limit; the offer link on the wall."""
        async with self.browser() as reader:
            for n in range(4):
                page = await reader.get(f"/articles/{n}")
        match = _LINK.search(page.text)
        assert match, page.text
        return match.group(1).replace("&amp;", "&")

    async def clicks(self, offer: str = "trial-3m") -> int:
        await self.paywall.analytics.flush()
        return (await self.analytics.report(TODAY, TODAY)).offer(offer).clicks


@pytest.fixture
async def site(store: Any, config_file: Callable[..., Path], prefix: str) -> AsyncIterator[Site]:
    made = Site(store, config_file(ON), prefix)
    yield made
    await made.paywall.analytics.aclose()


async def test_a_click_is_counted_and_redirected_with_the_ref(site: Site) -> None:
    link = await site.walled_link()
    async with site.browser() as reader:
        response = await reader.get(link)
    assert response.status_code == 303
    ref = link.split("?r=", 1)[1]
    assert response.headers["location"] == f"/subscribe?offer=trial-3m&paywall_ref={ref}"
    assert response.headers["cache-control"] == "private, no-store"
    assert await site.clicks() == 1
    read = site.paywall.analytics.refs.read(ref)
    assert read == Ref("subscribe", "trial-3m", "/articles/*", TODAY)


async def test_a_tampered_ref_still_redirects_but_is_not_counted(site: Site) -> None:
    link = await site.walled_link()
    payload, signature = link.split("?r=", 1)[1].split(".", 1)
    forged = Ref("subscribe", "trial-3m", "/premium/*", TODAY)
    other_payload = site.paywall.analytics.refs.sign(forged).split(".", 1)[0]
    async with site.browser() as reader:
        for ref in (f"{other_payload}.{signature}", f"{payload}.{'A' * len(signature)}", "x", ""):
            response = await reader.get("/paywall/o/trial-3m", params={"r": ref} if ref else None)
            assert response.status_code == 303
            assert response.headers["location"] == "/subscribe?offer=trial-3m"
    assert await site.clicks() == 0


async def test_a_ref_for_another_offer_is_not_counted_for_this_one(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    text = ON.replace(
        "store:\n",
        "  - {id: annual, headline: Annual, url: 'https://shop.example/annual#top'}\nstore:\n",
    )
    site = Site(store, config_file(text), prefix)
    trial_ref = site.paywall.analytics.refs.sign(Ref("subscribe", "trial-3m", "news", TODAY))
    async with site.browser() as reader:
        response = await reader.get(f"/paywall/o/annual?r={trial_ref}")
        good = site.paywall.analytics.refs.sign(Ref("subscribe", "annual", "news", TODAY))
        counted = await reader.get(f"/paywall/o/annual?r={good}")
    assert response.headers["location"] == "https://shop.example/annual#top"
    assert counted.headers["location"] == f"https://shop.example/annual?paywall_ref={good}#top"
    assert await site.clicks("annual") == 1 and await site.clicks("trial-3m") == 0
    await site.paywall.analytics.aclose()


async def test_unknown_offers_head_and_other_methods(site: Site) -> None:
    link = await site.walled_link()
    async with site.browser() as reader:
        assert (await reader.get("/paywall/o/nothing?r=x")).status_code == 404
        head = await reader.head(link)
        assert head.status_code == 303  # a HEAD (a link checker) redirects, uncounted
        assert (await reader.post(link)).status_code == 405
    assert await site.clicks() == 0


async def test_with_analytics_off_the_prefix_belongs_to_the_site(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    site = Site(store, config_file(), prefix)
    async with site.browser() as reader:
        for path in ("/paywall/o/trial-3m", "/paywall/metrics"):
            response = await reader.get(path)
            assert response.status_code == 200 and "<article" in response.text  # the upstream


async def test_a_configured_prefix_moves_every_route(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    site = Site(store, config_file(ON + "endpoints:\n  prefix: /_pw/\n"), prefix)
    async with site.browser() as reader:
        for n in range(4):
            page = await reader.get(f"/articles/{n}")
        assert 'href="/_pw/o/trial-3m?r=' in page.text
        assert (await reader.get("/_pw/metrics")).status_code == 200
        assert "<article" in (await reader.get("/paywall/metrics")).text
    await site.paywall.analytics.aclose()


async def test_metrics_count_views_offers_and_clicks(site: Site) -> None:
    link = await site.walled_link()
    async with site.browser() as reader:
        await reader.get(link)
        await reader.get("/premium/x")
        response = await reader.get("/paywall/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert sample_value(text, "paywall_views_total", {"outcome": "banner"}) == 2
    assert sample_value(text, "paywall_views_total", {"outcome": "last_free"}) == 1
    walled = {"outcome": "walled_limit", "prompt": "subscribe"}
    assert sample_value(text, "paywall_views_total", walled) == 1
    assert sample_value(text, "paywall_views_total", {"outcome": "walled_premium"}) == 1
    assert sample_value(text, "paywall_offer_impressions_total", {"offer": "trial-3m"}) == 2
    assert sample_value(text, "paywall_offer_clicks_total", {"offer": "trial-3m"}) == 1
    assert sample_value(text, "paywall_store_seconds_count") == 5  # one store call per view
    config_hash = site.paywall.live.hash
    assert sample_value(text, "paywall_config_info", {"hash": config_hash}) == 1


async def test_lifespan_shutdown_flushes_for_apps_with_and_without_lifespan(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    async def no_lifespan(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")  # like Django's ASGI handler
        await article_site(scope, receive, send)

    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("up")
        yield
        events.append("down")

    starlette = Starlette(
        routes=[Route("/articles/{slug}", lambda request: PlainTextResponse("x"))],
        lifespan=lifespan,
    )
    for app in (no_lifespan, starlette):
        site = Site(store, config_file(ON), prefix, app)
        async with site.browser() as reader:
            await reader.get("/articles/one")
        assert await lifespan_messages(site.paywall) == [
            "lifespan.startup.complete",
            "lifespan.shutdown.complete",
        ]
        report = await site.analytics.report(TODAY, TODAY)
        assert report.total.views == (1 if app is no_lifespan else 2)  # counted once each run
    assert events == ["up", "down"]


async def lifespan_messages(app: Any) -> list[str]:
    """Run a server's lifespan (start-up, then shutdown) on `app`; what it sent back."""
    sent: list[str] = []
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> Any:
        return next(incoming)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent
