"""The paywall behind Redis Sentinel (a master, a replica, 3 Sentinels, quorum 2; started
once for the module): `redis+sentinel://` meters, and a killed master is failed over
with metering going on and the counts that reached the replica kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import httpx
import pytest

from paywall import PaywallMiddleware

from .conftest import ARTICLE_PARAGRAPHS, CONFIG, article_site, client_for
from .redis_cluster import SentinelGroup, sentinel_group  # noqa: F401
from .test_middleware import hidden_text_in, prompts

pytestmark = pytest.mark.anyio


@pytest.fixture
async def paywall(
    sentinel_group: SentinelGroup,  # noqa: F811
    config_file: Callable[..., Path],
) -> AsyncIterator[PaywallMiddleware]:
    text = CONFIG + f'  url: "{sentinel_group.url()}"\n'
    text = text.replace("timeout_ms: 1000", "timeout_ms: 500")
    text += "  breaker_seconds: 0\non_store_error: open\n"
    paywall = PaywallMiddleware(article_site, config=config_file(text))
    try:
        yield paywall
    finally:
        await paywall.store.client.aclose()


def is_full(page: httpx.Response) -> bool:
    return page.status_code == 200 and all(text in page.text for text in ARTICLE_PARAGRAPHS)


def is_walled(page: httpx.Response) -> bool:
    return page.status_code == 200 and prompts(page) == ["subscribe"] and not hidden_text_in(page)


async def test_sentinel_url_meters(
    sentinel_group: SentinelGroup,  # noqa: F811
    paywall: PaywallMiddleware,
    prefix: str,
) -> None:
    with anyio.fail_after(10):
        async with client_for(paywall) as reader:
            first = await reader.get("/articles/one")
            assert "You have 2 free articles left" in first.text and is_full(first)
            assert "You have 1 free article left" in (await reader.get("/articles/two")).text
            assert prompts(await reader.get("/articles/three")) == ["last-free"]
            assert is_walled(await reader.get("/articles/four"))
            assert prompts(await reader.get("/articles/one")) == []
    with sentinel_group.master.sync_client() as master:
        assert len(master.keys(prefix + "*:m:*")) == 1  # written to the master Sentinel names


async def test_master_killed_replica_promoted_metering_goes_on(
    sentinel_group: SentinelGroup,  # noqa: F811
    paywall: PaywallMiddleware,
) -> None:
    readers = [client_for(paywall) for _ in range(4)]
    try:
        with anyio.fail_after(40):
            for n, reader in enumerate(readers):
                await reader.get(f"/articles/{n}-a")
                assert "You have 1 free article left" in (await reader.get(f"/articles/{n}-b")).text
            await wait_until(sentinel_group.in_sync)  # the counts have reached the replica

            promoted = sentinel_group.kill_master()
            outage_views = 0
            while not promoted_everywhere(sentinel_group):
                for n, reader in enumerate(readers):  # read before: never counted, always 200
                    page = await reader.get(f"/articles/{n}-a")
                    assert is_full(page) and prompts(page) == []
                    outage_views += 1
                await asyncio.sleep(0.1)
            assert outage_views > 0
            assert promoted.port == sentinel_group.master.port

            for n, reader in enumerate(readers):
                third = await metered_view(reader, f"/articles/{n}-c")
                assert prompts(third) == ["last-free"], "views counted before the kill were lost"
                assert is_walled(await reader.get(f"/articles/{n}-d"))
            async with client_for(paywall) as newcomer:  # new readers start on the new master
                page = await metered_view(newcomer, "/articles/new")
                assert "You have 2 free articles left" in page.text
    finally:
        for reader in readers:
            await reader.aclose()


def promoted_everywhere(group: SentinelGroup) -> bool:
    try:
        group.wait_failover(timeout=0)
    except TimeoutError:
        return False
    return True


async def wait_until(check: Callable[[], bool], timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def metered_view(reader: httpx.AsyncClient, path: str) -> httpx.Response:
    """The first views after a failover may still fail open (connections to the dead master
    being dropped); a view that failed open was not counted, so asking again is fair."""
    for _ in range(40):
        page = await reader.get(path)
        if prompts(page):
            return page
        await asyncio.sleep(0.05)
    return page
