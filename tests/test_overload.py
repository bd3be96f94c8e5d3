"""Views in flight: per reader (429 at once) and per process (a bounded wait, then 503)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import pytest

from paywall import PaywallMiddleware
from paywall.overload import Busy, InFlight

from .conftest import ARTICLE_PARAGRAPHS, CONFIG, article_site, client_for
from .test_middleware import prompts

pytestmark = pytest.mark.anyio


# --- InFlight ------------------------------------------------------------------------------


async def hold(slots: InFlight, reader: str, release: asyncio.Event, **bounds: Any) -> None:
    async with slots.slot(reader, **{"per_reader": 4, "per_process": 8, "wait": 1.0, **bounds}):
        await release.wait()


async def test_one_reader_past_its_bound_is_refused_at_once() -> None:
    slots, release = InFlight(), asyncio.Event()
    holders = [asyncio.create_task(hold(slots, "{r:a}", release)) for _ in range(4)]
    await asyncio.sleep(0)
    assert slots.of("{r:a}") == 4
    started = time.monotonic()
    with pytest.raises(Busy) as refused:
        await hold(slots, "{r:a}", release)
    assert refused.value.status == 429 and time.monotonic() - started < 0.01
    other = asyncio.create_task(hold(slots, "{r:b}", release))  # another reader is not affected
    await asyncio.sleep(0)
    assert slots.of("{r:b}") == 1
    release.set()
    await asyncio.gather(*holders, other)
    assert slots.of("{r:a}") == slots.of("{r:b}") == slots.running == 0


async def test_past_the_process_bound_views_wait_their_turn_in_order() -> None:
    slots, release = InFlight(), asyncio.Event()
    bounds = {"per_process": 2}
    holders = [asyncio.create_task(hold(slots, f"{{r:{n}}}", release, **bounds)) for n in "ab"]
    await asyncio.sleep(0)
    order: list[str] = []

    async def waiter(name: str) -> None:
        async with slots.slot(f"{{r:{name}}}", per_reader=4, per_process=2, wait=1.0):
            order.append(name)
            await asyncio.sleep(0.01)

    waiters = [asyncio.create_task(waiter(name)) for name in "cde"]
    await asyncio.sleep(0.02)
    assert order == [] and slots.running == 2
    release.set()
    await asyncio.gather(*holders, *waiters)
    assert order == ["c", "d", "e"] and slots.running == 0


async def test_no_slot_within_the_wait_is_503() -> None:
    slots, release = InFlight(), asyncio.Event()
    holder = asyncio.create_task(hold(slots, "{r:a}", release, per_process=1))
    await asyncio.sleep(0)
    started = time.monotonic()
    with pytest.raises(Busy) as refused:
        await hold(slots, "{r:b}", release, per_process=1, wait=0.05)
    assert refused.value.status == 503 and time.monotonic() - started >= 0.05
    assert slots.of("{r:b}") == 0  # its reader slot was given back
    release.set()
    await holder
    assert slots.running == 0


async def test_a_cancelled_waiter_leaks_no_slot() -> None:
    slots, release = InFlight(), asyncio.Event()
    holder = asyncio.create_task(hold(slots, "{r:a}", release, per_process=1))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(hold(slots, "{r:b}", release, per_process=1))
    await asyncio.sleep(0.01)
    waiting.cancel()
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert slots.running == 0 and slots.of("{r:b}") == 0
    async with slots.slot("{r:c}", per_reader=1, per_process=1, wait=0.01):
        assert slots.running == 1


# --- through the middleware ------------------------------------------------------------------


class SlowStore:
    """fakeredis whose pipelines (the meter's round trips) take `delay` seconds; the first
    `silent` of them never answer."""

    def __init__(self, delay: float, silent: int = 0) -> None:
        self.redis = fakeredis.FakeAsyncRedis()
        self.delay = delay
        self.silent = silent

    def __getattr__(self, name: str) -> Any:
        return getattr(self.redis, name)

    def pipeline(self, transaction: bool = True) -> Any:
        return SlowPipeline(self, self.redis.pipeline(transaction=transaction))


class SlowPipeline:
    def __init__(self, store: SlowStore, pipeline: Any) -> None:
        self.store, self.pipeline = store, pipeline

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipeline, name)

    async def execute(self, raise_on_error: bool = True) -> Any:
        if self.store.silent > 0:
            self.store.silent -= 1
            await asyncio.Event().wait()
        await asyncio.sleep(self.store.delay)
        return await self.pipeline.execute(raise_on_error=raise_on_error)


def bounded(per_reader: int, per_process: int = 256) -> str:
    return CONFIG + f"overload:\n  per_reader: {per_reader}\n  per_process: {per_process}\n"


async def test_a_readers_extra_concurrent_view_is_429_uncounted(
    config_file: Callable[..., Path],
) -> None:
    store = SlowStore(0.1)
    paywall = PaywallMiddleware(article_site, config=config_file(bounded(2)), redis=store)
    async with client_for(paywall) as reader:
        first = await reader.get("/articles/first")  # the cookie
        assert prompts(first) == ["meter"]
        pages = await asyncio.gather(*(reader.get(f"/articles/{n}") for n in range(5)))
        statuses = Counter(page.status_code for page in pages)
        assert statuses == {200: 2, 429: 3}, statuses
        for page in pages:
            if page.status_code == 429:
                assert page.headers["retry-after"] == "1"
                assert page.headers["cache-control"] == "private, no-store"
                assert page.headers["vary"] == "Cookie"
                assert page.headers["content-type"].startswith("text/plain")
                assert "set-cookie" not in page.headers
                assert ARTICLE_PARAGRAPHS[0] not in page.text and len(page.content) < 100
        # Only the two metered views counted: the next one is the last free article.
        assert prompts(await reader.get("/articles/later")) == ["subscribe"]
    assert paywall.in_flight.running == 0


async def test_other_readers_and_free_pages_are_not_bounded_by_one_reader(
    config_file: Callable[..., Path],
) -> None:
    store = SlowStore(0.05)
    paywall = PaywallMiddleware(article_site, config=config_file(bounded(1)), redis=store)
    readers = [client_for(paywall) for _ in range(4)]
    try:
        pages = await asyncio.gather(
            *(r.get("/articles/a") for r in readers), readers[0].get("/sponsored/free")
        )
    finally:
        for r in readers:
            await r.aclose()
    assert [page.status_code for page in pages] == [200] * 5


async def test_the_process_bound_queues_views_rather_than_refusing_them(
    config_file: Callable[..., Path],
) -> None:
    store = SlowStore(0.05)
    paywall = PaywallMiddleware(article_site, config=config_file(bounded(4, 1)), redis=store)
    readers = [client_for(paywall) for _ in range(4)]
    try:
        started = time.monotonic()
        pages = await asyncio.gather(*(r.get("/articles/a") for r in readers))
        elapsed = time.monotonic() - started
    finally:
        for r in readers:
            await r.aclose()
    assert [prompts(page) for page in pages] == [["meter"]] * 4
    assert elapsed >= 0.2  # one at a time


async def test_a_view_our_own_lag_timed_out_is_503_not_the_article(
    config_file: Callable[..., Path],
) -> None:
    """The loop blocked past the store's hard cap during a round trip that got no answer:
    the view is not served (neither full nor walled), and the breaker stays closed.
    (An answer that arrived meanwhile would still be read: see test_deadline.py.)"""
    paywall = PaywallMiddleware(
        article_site,
        config=config_file(CONFIG.replace("timeout_ms: 1000", "timeout_ms: 50")),
        redis=SlowStore(0, silent=1),
    )
    async with client_for(paywall) as reader:
        asyncio.get_running_loop().call_later(0.005, time.sleep, 1.1)
        page = await reader.get("/articles/one")
        assert page.status_code == 503, page.text[:200]
        assert page.headers["retry-after"] == "1" and ARTICLE_PARAGRAPHS[0] not in page.text
        assert paywall.store.breaker.allow()
        again = await reader.get("/articles/one")
        assert prompts(again) == ["meter"]


def test_busy_statuses() -> None:
    assert {Busy(429, "").status, Busy(503, "").status} == {429, 503}
    assert httpx.codes(429).name == "TOO_MANY_REQUESTS"


async def test_when_we_are_too_slow_the_summary_still_walls_the_walled(
    config_file: Callable[..., Path],
) -> None:
    """Too slow to hear the store, a reader whose signed summary says the meter is used up
    is walled (not refused, not served), as in an outage."""
    store = SlowStore(0)
    paywall = PaywallMiddleware(
        article_site,
        config=config_file(CONFIG.replace("timeout_ms: 1000", "timeout_ms: 50")),
        redis=store,
    )
    async with client_for(paywall) as reader:
        for n in range(4):
            await reader.get(f"/articles/{n}")
        store.silent = 1
        asyncio.get_running_loop().call_later(0.005, time.sleep, 1.1)
        page = await reader.get("/articles/new")
        assert page.status_code == 200 and prompts(page) == ["subscribe"]
        assert ARTICLE_PARAGRAPHS[-1] not in page.text
        assert paywall.store.breaker.allow()
