"""Verified crawlers, prefetch and the soft cap on new readers per network."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from paywall import PaywallMiddleware
from paywall.crawlers import Crawler, CrawlerVerifier
from paywall.exchange import client_network

from .conftest import ARTICLE_PARAGRAPHS, CONFIG, article_site
from .test_middleware import hidden_text_in, prompts

pytestmark = pytest.mark.anyio

GOOGLEBOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CRAWLER_CONFIG = (
    CONFIG
    + """\
crawlers:
  - name: Googlebot
    user_agent: Googlebot
    networks: [66.249.64.0/19, "2001:4860:4801::/48"]
"""
)


def client_from(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="https://news.test")


async def keys_under(store: Any, prefix: str) -> list[bytes]:
    return [key async for key in store.scan_iter(match=prefix + "*")]


async def test_a_verified_crawler_reads_in_full_uncounted_without_cookie(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(CRAWLER_CONFIG), redis=store)
    for address in ("66.249.66.1", "2001:4860:4801::42"):
        async with client_from(paywall, address) as bot:
            for n in range(6):
                page = await bot.get(f"/articles/{n}", headers={"user-agent": GOOGLEBOT_UA})
                assert prompts(page) == [] and ARTICLE_PARAGRAPHS[-1] in page.text
                assert "set-cookie" not in page.headers
                assert "private" in page.headers["cache-control"]
            premium = await bot.get("/premium/deep", headers={"user-agent": GOOGLEBOT_UA})
            assert prompts(premium) == [] and ARTICLE_PARAGRAPHS[-1] in premium.text
    assert await keys_under(store, prefix) == []


@pytest.mark.parametrize("address", ["203.0.113.9", "66.249.96.1", "::1"])
async def test_a_googlebot_user_agent_from_elsewhere_is_an_ordinary_reader(
    store: Any, config_file: Callable[..., Path], address: str
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(CRAWLER_CONFIG), redis=store)
    async with client_from(paywall, address) as fake:
        for n in range(3):
            page = await fake.get(f"/articles/{n}", headers={"user-agent": GOOGLEBOT_UA})
            assert prompts(page) in (["meter"], ["last-free"])
        walled = await fake.get("/articles/x", headers={"user-agent": GOOGLEBOT_UA})
        assert prompts(walled) == ["subscribe"] and hidden_text_in(walled) == []


async def test_the_right_network_without_the_user_agent_is_a_reader(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(CRAWLER_CONFIG), redis=store)
    async with client_from(paywall, "66.249.66.1") as person:
        assert prompts(await person.get("/articles/a")) == ["meter"]


async def test_reverse_then_forward_dns_is_checked_and_cached() -> None:
    asked: list[str] = []

    async def resolve(address: str) -> bool:
        asked.append(address)
        return address == "66.249.66.1"

    verifier = CrawlerVerifier(resolve=resolve)
    googlebot = Crawler("Googlebot", "googlebot", (), (".googlebot.com",))
    assert await verifier.verify([googlebot], GOOGLEBOT_UA, "66.249.66.1") == "Googlebot"
    assert await verifier.verify([googlebot], GOOGLEBOT_UA, "66.249.66.1") == "Googlebot"
    assert await verifier.verify([googlebot], GOOGLEBOT_UA, "198.51.100.7") is None
    assert await verifier.verify([googlebot], "Mozilla/5.0 Firefox", "66.249.66.1") is None
    assert asked == ["66.249.66.1", "198.51.100.7"]  # cached; no lookup without the UA


async def test_dns_failure_means_not_verified() -> None:
    async def broken(address: str) -> bool:
        raise OSError("no PTR record")

    verifier = CrawlerVerifier(resolve=broken)
    bingbot = Crawler("Bingbot", "bingbot", (), (".search.msn.com",))
    assert await verifier.verify([bingbot], "bingbot/2.0", "40.77.167.1") is None


def test_client_networks() -> None:
    assert client_network("203.0.113.77") == "203.0.113.0/24"
    assert client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_network("not-an-ip") is None


@pytest.mark.parametrize(
    "header",
    [
        {"sec-purpose": "prefetch"},
        {"sec-purpose": "prefetch;prerender"},
        {"purpose": "prefetch"},
        {"x-moz": "prefetch"},
    ],
)
async def test_prefetch_spends_no_view_and_gets_no_article(
    store: Any, config_file: Callable[..., Path], header: dict[str, str]
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(), redis=store)
    async with client_from(paywall, "203.0.113.9") as reader:
        speculative = await reader.get("/articles/a", headers=header)
        assert speculative.status_code == 503
        assert "secret-text" not in speculative.text and "set-cookie" not in speculative.headers
        assert speculative.headers["cache-control"] == "private, no-store"  # contract §5
        assert speculative.headers["vary"] == "Cookie"
        assert "You have 2 free articles left" in (await reader.get("/articles/a")).text
        prefetched_free_page = await reader.get("/sponsored/a", headers=header)
        assert prefetched_free_page.status_code == 200


CAPPED_CONFIG = CONFIG.replace("  limit: 3\n", "  limit: 3\n  new_readers_per_network: 2\n")


async def test_soft_cap_on_new_readers_per_network(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(CAPPED_CONFIG), redis=store)
    for n in range(2):  # two cookie-less readers from one office network are fine
        async with client_from(paywall, f"198.51.100.{n + 1}") as reader:
            assert prompts(await reader.get("/articles/a")) == ["meter"]
    async with client_from(paywall, "198.51.100.200") as third:
        first = await third.get("/articles/a")
        assert prompts(first) == ["subscribe"] and hidden_text_in(first) == []
        assert first.headers["set-cookie"].startswith("paywall_rid=")
        assert prompts(await third.get("/articles/b")) == ["subscribe"]  # persists via cookie
    async with client_from(paywall, "192.0.2.1") as elsewhere:
        assert prompts(await elsewhere.get("/articles/a")) == ["meter"]


async def test_soft_cap_is_off_by_default(store: Any, config_file: Callable[..., Path]) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(), redis=store)
    for n in range(5):
        async with client_from(paywall, f"198.51.100.{n + 1}") as reader:
            assert prompts(await reader.get("/articles/a")) == ["meter"]


async def test_crawler_pages_declare_the_paywall_so_the_bypass_is_not_cloaking(
    store: Any, config_file: Callable[..., Path]
) -> None:
    import json

    paywall = PaywallMiddleware(article_site, config=config_file(CRAWLER_CONFIG), redis=store)
    async with client_from(paywall, "66.249.66.1") as bot:
        page = await bot.get("/articles/a", headers={"user-agent": GOOGLEBOT_UA})
    assert '<article class="story paywall-gated">' in page.text
    start = page.text.index('<script type="application/ld+json">') + 35
    block = json.loads(page.text[start : page.text.index("</script>", start)])
    assert block["isAccessibleForFree"] is False
    assert block["hasPart"]["cssSelector"] == ".paywall-gated"
    assert "articleBody" in block  # the crawler gets the full text, as readers with views left


async def test_structured_data_can_be_left_to_the_publisher(
    store: Any, config_file: Callable[..., Path]
) -> None:
    from .conftest import article_page

    text = CONFIG.replace(
        "  teaser_paragraphs: 2\n", "  teaser_paragraphs: 2\n  structured_data: false\n"
    )
    paywall = PaywallMiddleware(article_site, config=config_file(text), redis=store)
    async with client_from(paywall, "203.0.113.9") as reader:
        await reader.get("/articles/a")
        again = await reader.get("/articles/a")  # already read: nothing to change
    assert again.content == article_page().encode()


async def test_soft_cap_counts_readers_who_start_on_a_premium_page(
    store: Any, config_file: Callable[..., Path]
) -> None:
    text = CAPPED_CONFIG.replace("new_readers_per_network: 2", "new_readers_per_network: 1")
    paywall = PaywallMiddleware(article_site, config=config_file(text), redis=store)
    async with client_from(paywall, "198.51.100.1") as first:
        assert prompts(await first.get("/premium/x")) == ["subscribe"]
    async with client_from(paywall, "198.51.100.2") as second:
        assert prompts(await second.get("/premium/x")) == ["subscribe"]  # over the cap
        assert prompts(await second.get("/articles/a")) == ["subscribe"]  # meter starts used


def test_ipv4_mapped_addresses_are_ipv4() -> None:
    assert client_network("::ffff:198.51.100.7") == "198.51.100.0/24"
    googlebot = Crawler("Googlebot", "googlebot", (ipaddress.ip_network("66.249.64.0/19"),), ())
    verifier = CrawlerVerifier()

    async def check() -> str | None:
        return await verifier.verify([googlebot], GOOGLEBOT_UA, "::ffff:66.249.66.1")

    import asyncio

    assert asyncio.run(check()) == "Googlebot"
