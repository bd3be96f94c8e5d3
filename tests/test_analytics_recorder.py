"""Counting in the worker: every decision counted in memory with no Redis round trip on the
view path, flushed in one pipelined call, keyed by day in meter.timezone, kept for the
retention, never lost to a store that was briefly unreachable."""

from __future__ import annotations

import asyncio
import bisect
import html
import json
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from paywall import PaywallMiddleware
from paywall.analytics.keys import BUCKET_LABELS, LATENCY_BUCKETS_MS, Kind, day_key, expires_at
from paywall.analytics.recorder import Recorder
from paywall.analytics.report import AnalyticsReader
from paywall.config import load_config
from paywall.decision import Decision, Result, Who
from paywall.names import Prompt
from paywall.prompts import PromptContext

from .conftest import CONFIG, article_site, client_for
from .test_accounts import CountingClient

pytestmark = pytest.mark.anyio

# 15:30 UTC is already the next day in Tokyo (the config's meter.timezone).
NOW = datetime(2027, 1, 5, 15, 30, tzinfo=UTC)
TOKYO_DAY = date(2027, 1, 6)
ANALYTICS = CONFIG.replace("    - {path: \"/articles/*\", access: metered}",
                           "    - {path: \"/articles/*\", access: metered, section: news}") + """\
analytics:
  enabled: true
  retention_days: 30
"""  # fmt: skip


class Paywall:
    def __init__(self, store: Any, path: Path, prefix: str) -> None:
        self.middleware = PaywallMiddleware(article_site, config=path, redis=store)
        self.middleware.clock = lambda: NOW
        self.reader = AnalyticsReader(store, prefix)

    def browser(self) -> httpx.AsyncClient:
        return client_for(self.middleware)

    async def report_today(self) -> Any:
        await self.middleware.analytics.flush()
        return await self.reader.report(TOKYO_DAY, TOKYO_DAY)


@pytest.fixture
async def paywall(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> AsyncIterator[Paywall]:
    site = Paywall(store, config_file(ANALYTICS), prefix)
    yield site
    await site.middleware.analytics.aclose()


async def test_every_decision_is_counted_by_outcome_section_and_prompt(paywall: Paywall) -> None:
    async with paywall.browser() as reader:
        for n in range(5):  # limit 3: meter, meter, last-free, then two walls
            await reader.get(f"/articles/{n}")
        await reader.get("/articles/0")  # already read
        await reader.get("/premium/x")  # walled premium
        await reader.get("/sponsored/x")  # free: not a view
    report = await paywall.report_today()
    (day,) = report.days
    assert day.day == TOKYO_DAY
    assert (day.views, day.banners, day.last_free, day.walls) == (7, 2, 1, 3)
    assert day.outcomes["already_read"] == 1 and day.outcomes["walled_premium"] == 1
    sections = {s.name: (s.views, s.walls) for s in report.sections}
    assert sections == {"news": (6, 2), "/premium/*": (1, 1)}  # section: label, or the glob
    prompts = {p.name: p.views for p in report.prompts}
    assert prompts == {"meter": 2, "last-free": 1, "subscribe": 3}


async def test_a_views_section_follows_the_access_the_upstream_gave_it(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    """A view counts in the section of the first rule its path matches with the access that
    applied: routing's own match when it applies, and when an upstream's X-Paywall changes
    the access, the first rule of that access (else the first matching rule at all)."""
    deep = '    - {path: "/articles/deep-*", access: premium, section: deep}\n'
    config = ANALYTICS.replace(
        '    - {path: "/articles/*", access: metered, section: news}\n',
        '    - {path: "/articles/*", access: metered, section: news}\n' + deep,
    )
    assert deep in config

    async def upstream(scope: Any, receive: Any, send: Any) -> None:
        async def gated(message: Any) -> None:
            path = scope.get("path", "")
            if message["type"] == "http.response.start" and "/deep-" in path:
                message["headers"] = [*message["headers"], (b"x-paywall", b"premium")]
            if message["type"] == "http.response.start" and path.startswith("/sponsored/"):
                message["headers"] = [*message["headers"], (b"x-paywall", b"metered")]
            await send(message)

        await article_site(scope, receive, gated)

    site = Paywall(store, config_file(config), prefix)
    site.middleware.app = upstream
    async with site.browser() as reader:
        assert (await reader.get("/articles/plain")).status_code == 200
        await reader.get("/articles/deep-1")  # metered by its first rule, premium upstream
        await reader.get("/sponsored/x")  # free by its rule, metered upstream
    report = await site.report_today()
    await site.middleware.analytics.aclose()
    sections = {s.name: (s.views, s.walls) for s in report.sections}
    assert sections == {"news": (1, 0), "deep": (1, 1), "/sponsored/*": (1, 0)}


async def test_offers_shown_are_impressions_and_link_through_the_click_endpoint(
    paywall: Paywall,
) -> None:
    async with paywall.browser() as reader:
        for n in range(3):
            await reader.get(f"/articles/{n}")
        walled = await reader.get("/articles/walled")
    assert 'href="/paywall/o/trial-3m?r=' in walled.text
    assert 'href="/subscribe?offer=trial-3m"' not in walled.text
    report = await paywall.report_today()
    assert report.offer("trial-3m").impressions == 1


async def test_meter_usage_counts_readers_reaching_each_count(paywall: Paywall) -> None:
    for views in (1, 2, 3, 3, 5):  # five readers; the last tries 2 articles past the limit
        async with paywall.browser() as reader:
            for n in range(views):
                await reader.get(f"/articles/{n}")
    await paywall.middleware.analytics.flush()
    usage = await paywall.reader.meter_usage(period="month", today=TOKYO_DAY, limit=3)
    assert usage.reached == (5, 4, 3) and usage.walled == 2
    assert [usage.using_exactly(k) for k in (1, 2, 3)] == [1, 1, 3]


async def test_views_cost_no_round_trip_and_a_flush_is_one_pipeline(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    counting = CountingClient(store)
    paywall = PaywallMiddleware(article_site, config=config_file(ANALYTICS), redis=counting)
    paywall.clock = lambda: NOW
    async with client_for(paywall) as reader:
        await reader.get("/articles/warm-up")  # loads the script once
        counting.commands.clear()
        counting.round_trips = 0
        for n in range(6):
            await reader.get(f"/articles/{n}")
            await reader.get("/premium/x")
    assert counting.commands == ["evalsha"] * 12  # the meter's own, nothing more
    assert counting.round_trips == 12
    counting.commands.clear()
    counting.pipelines.clear()
    counting.round_trips = 0
    await paywall.analytics.aclose()
    day_pipeline = counting.pipelines[0]
    assert set(day_pipeline) == {"hincrby", "expireat"} and day_pipeline.count("expireat") == 1
    assert counting.round_trips == 2  # that pipeline, and the config history's start entry
    assert "eval" in counting.commands


async def test_counts_are_keyed_by_day_and_expire_after_the_retention(
    paywall: Paywall, store: Any, prefix: str
) -> None:
    async with paywall.browser() as reader:
        await reader.get("/articles/a")
    await paywall.middleware.analytics.flush()
    key = day_key(prefix, TOKYO_DAY)
    assert await store.exists(key)
    assert await store.expiretime(key) == expires_at(
        TOKYO_DAY, paywall.middleware.live.config.timezone, 30
    )
    assert not await store.exists(day_key(prefix, NOW.date()))  # not the UTC day
    for raw in await store.hkeys(key):  # aggregates only: no reader id anywhere
        assert b"paywall_rid" not in raw and b"{r:" not in raw


async def test_a_flush_the_store_refused_is_kept_for_the_next(paywall: Paywall, store: Any) -> None:
    recorder = paywall.middleware.analytics
    async with paywall.browser() as reader:
        await reader.get("/articles/a")
    real = recorder.client

    class Refusing:
        def pipeline(self, transaction: bool = True) -> Any:
            pipe = real.pipeline(transaction=transaction)

            async def execute(*args: Any, **kwargs: Any) -> Any:
                raise RedisConnectionError("connection refused")

            pipe.execute = execute
            return pipe

        async def eval(self, *args: Any) -> Any:
            raise RedisConnectionError("connection refused")

    recorder.client = Refusing()
    await recorder.flush()
    recorder.client = real
    async with paywall.browser() as reader:
        await reader.get("/articles/b")
    report = await paywall.report_today()
    assert report.days[0].banners == 2  # both views, the refused flush's included


async def test_analytics_off_counts_nothing_and_keeps_plain_offer_links(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(), redis=store)
    async with client_for(paywall) as reader:
        for n in range(4):
            page = await reader.get(f"/articles/{n}")
    assert 'href="/subscribe?offer=trial-3m"' in page.text
    await paywall.analytics.aclose()
    assert [key async for key in store.scan_iter(match=prefix + "{an:*")] == []


async def test_prefetches_are_counted_and_other_methods_are_not_views(paywall: Paywall) -> None:
    async with paywall.browser() as reader:
        prefetch = await reader.get("/articles/a", headers={"sec-purpose": "prefetch"})
        assert prefetch.status_code == 503
        posted = await reader.post("/premium/x")  # answered with the page: walled, not a view
        assert 'href="/subscribe?offer=trial-3m"' in posted.text
        await reader.head("/articles/a")  # never a view
    report = await paywall.report_today()
    assert report.total.outcomes == {"prefetch": 1}
    assert report.total.impressions == 0


EXPERIMENT = """\
experiments:
  - id: copy
    starts: 2027-01-01
    arms:
      - {name: control, weight: 1}
      - {name: b, weight: 1, teaser_paragraphs: 1}
"""


async def test_an_arms_views_exposures_and_clicks_are_counted_for_it(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    site = Paywall(store, config_file(ANALYTICS + EXPERIMENT), prefix)
    experiment = site.middleware.live.config.experiments.get("copy")
    assert experiment is not None
    arms, ids = [], []
    for _ in range(4):
        async with site.browser() as reader:
            for n in range(4):
                walled = await reader.get(f"/articles/{n}")
            await reader.get("/premium/x")
            link = re.search(r'href="(/paywall/o/trial-3m\?r=([^"]+))"', walled.text)
            assert link is not None
            reader_id = reader.cookies["paywall_rid"].rsplit(".", 1)[0]
            ids.append(reader_id)
            arm = experiment.arm_of(reader_id).name
            ref = site.middleware.analytics.refs.read(html.unescape(link.group(2)))
            assert ref is not None and ref.arms == [("copy", arm)]  # the wall names its arm
            await reader.get(html.unescape(link.group(1)))
            arms.append(arm)
    await site.middleware.analytics.flush()
    counters = (await site.reader.counters(TOKYO_DAY, TOKYO_DAY))[TOKYO_DAY]
    for arm in set(arms):
        readers = arms.count(arm)
        assert counters[("ae", "copy", arm)] == readers  # once per browser, not per view
        assert counters[("av", "copy", arm, "banner")] == 2 * readers
        assert counters[("av", "copy", arm, "walled_limit")] == readers
        assert counters[("av", "copy", arm, "walled_premium")] == readers
        assert counters[("ac", "copy", arm, "trial-3m")] == readers
    everything = json.dumps([list(labels) for labels in counters])
    assert not any(reader_id in everything for reader_id in ids)  # aggregates only
    await site.middleware.analytics.aclose()


async def test_a_view_counts_on_its_day_in_the_meter_timezone_whatever_the_clocks_zone(
    paywall: Paywall,
) -> None:
    new_york = ZoneInfo("America/New_York")
    now = datetime(2027, 1, 5, 14, 59, tzinfo=UTC).astimezone(new_york)  # 23:59 in Tokyo
    paywall.middleware.clock = lambda: now
    async with paywall.browser() as reader:
        await reader.get("/articles/a")
        now = datetime(2027, 1, 5, 15, 0, tzinfo=UTC).astimezone(new_york)  # midnight there
        await reader.get("/articles/b")
        await reader.get("/premium/x")
    await paywall.middleware.analytics.flush()
    report = await paywall.reader.report(date(2027, 1, 5), TOKYO_DAY)
    assert [(d.day, d.views, d.banners, d.walls) for d in report.days] == [
        (date(2027, 1, 5), 1, 1, 0),
        (TOKYO_DAY, 2, 1, 1),
    ]


async def test_each_decision_counts_under_its_label_and_shown_offers_are_impressions(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    """Every result, degraded or not, is counted under Decision.label; a prompt's offers are
    impressions with counted links exactly when it shows them (Decision.offers)."""
    config = load_config(config_file(ANALYTICS))
    recorder = Recorder(store, prefix, ["key"], lambda: NOW, config)
    offers = tuple(offer.context for offer in config.offers)
    context = PromptContext(0, 3, True, "P", "month", "/subscribe", "/register", offers)
    labels, shown = [], 0
    for result in Result:
        for degraded in (False, True):
            decision = Decision(Who.ANONYMOUS, "metered", result, degraded=degraded)
            recorder.view(config, decision, "/articles/x")
            labels.append(decision.label)
    for prompt in [None, *Prompt]:
        decision = Decision(Who.ANONYMOUS, "metered", Result.BANNER, prompt, context=context)
        section = recorder.view(config, decision, "/articles/x")
        linked = recorder.prompt_context(decision, section)
        assert (linked is not context) == bool(decision.offers), prompt
        shown += len(decision.offers)
    await recorder.aclose()
    counts = (await AnalyticsReader(store, prefix).counters(TOKYO_DAY, TOKYO_DAY))[TOKYO_DAY]
    outcomes = Counter[str]()
    for labels_of, count in counts.items():
        if labels_of[0] == "v":
            outcomes[str(labels_of[1])] += count
    assert outcomes == Counter(labels) + Counter({"banner": len(Prompt) + 1})
    impressions = sum(n for key, n in counts.items() if key[0] == "i")
    assert shown > 0 and impressions == shown


async def test_store_call_latencies_land_in_their_buckets_on_their_day(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    """Latencies are kept raw and put in buckets thousands at a time: each call still counts
    in the bucket of the first bound at or above it, on the day it was made, across a fold
    forced by their number and one forced by a new day."""
    config = load_config(config_file(ANALYTICS))
    recorder = Recorder(store, prefix, ["key"], lambda: NOW, config)
    rng = random.Random(12)
    edges = [bound / 1000 for bound in LATENCY_BUCKETS_MS[:-1]]  # exactly on a bound
    first = [rng.choice(edges) if n % 7 == 0 else rng.expovariate(300) for n in range(5000)]
    second = [rng.expovariate(50) for _ in range(300)] + [4.0]  # one past the last bound
    decision = Decision(Who.ANONYMOUS, "metered", Result.PREFETCH)
    next_day = datetime(2027, 1, 6, 15, 30, tzinfo=UTC)  # Tokyo's January 7th
    recorder.view(config, decision, "/articles/x", NOW)
    for seconds in first:
        recorder.store_call(seconds, True)
    recorder.store_call(0.2, False)  # a failure: an error, not a latency
    recorder.view(config, decision, "/articles/x", next_day)
    for seconds in second:
        recorder.store_call(seconds, True)
    await recorder.aclose()
    counted = await AnalyticsReader(store, prefix).counters(TOKYO_DAY, date(2027, 1, 7))

    def buckets(latencies: list[float]) -> Counter[str]:
        return Counter(
            BUCKET_LABELS[bisect.bisect_left(LATENCY_BUCKETS_MS, s * 1000)] for s in latencies
        )

    for day, latencies, errors in [(TOKYO_DAY, first, 1), (date(2027, 1, 7), second, 0)]:
        calls = Counter[str]()
        for labels, count in counted[day].items():
            if labels[0] == Kind.STORE_CALL.value:
                calls[str(labels[1])] += count
        assert calls == buckets(latencies), day
        assert counted[day].get((Kind.STORE_ERROR.value,), 0) == errors


async def test_store_calls_before_any_view_are_flushed_at_shutdown_and_nothing_keeps_running(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    config = load_config(config_file(ANALYTICS))
    tasks = asyncio.all_tasks()
    recorder = Recorder(store, prefix, ["key"], lambda: NOW, config)
    recorder.store_call(0.0012, True)  # a view refused before it was counted, say
    await recorder.aclose()
    assert asyncio.all_tasks() - tasks == set()  # no flush left behind to run after it
    counted = await AnalyticsReader(store, prefix).counters(TOKYO_DAY, TOKYO_DAY)
    assert counted[TOKYO_DAY] == {(Kind.STORE_CALL.value, "2"): 1}


async def test_views_and_meter_counts_reached_land_on_their_day_exactly(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    """Across thousands of views, a flush and a new day, every view and every meter count
    reached is counted once, on the day it was decided."""
    config = load_config(config_file(ANALYTICS))
    recorder = Recorder(store, prefix, ["key"], lambda: NOW, config)
    context = PromptContext(1, 3, True, "P", "month", "/subscribe", "/register", ())
    banner = Decision(Who.ANONYMOUS, "metered", Result.BANNER, Prompt.METER, context=context)
    walled = Decision(Who.ACCOUNT, "premium", Result.WALLED_PREMIUM, Prompt.SUBSCRIBE)
    next_day = datetime(2027, 1, 6, 15, 30, tzinfo=UTC)  # Tokyo's January 7th
    for n in range(5000):
        recorder.view(config, banner if n % 5 else walled, "/articles/x", NOW)
    await recorder.flush()
    for _ in range(7):
        recorder.view(config, banner, "/articles/x", NOW)
    for _ in range(3):  # a new day
        recorder.view(config, walled, "/premium/x", next_day)
    await recorder.aclose()
    counted = await AnalyticsReader(store, prefix).counters(TOKYO_DAY, date(2027, 1, 7))

    def total(day: date, kind: Kind) -> int:
        return sum(n for labels, n in counted[day].items() if labels[0] == kind.value)

    assert total(TOKYO_DAY, Kind.VIEW) == 5007 and total(TOKYO_DAY, Kind.REACHED) == 4007
    assert total(date(2027, 1, 7), Kind.VIEW) == 3
    assert total(date(2027, 1, 7), Kind.REACHED) == 0
    reached = {k: n for k, n in counted[TOKYO_DAY].items() if k[0] == Kind.REACHED.value}
    assert reached == {(Kind.REACHED.value, "anonymous", 2): 4007}  # limit 3, 1 left: the 2nd


async def test_views_after_a_failed_store_call_are_flushed_without_a_shutdown(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    """Whatever is counted first (here a store call that failed before any view), the
    periodic flush runs: views reach the store within flush_seconds, not at shutdown."""
    text = ANALYTICS.replace("retention_days: 30\n", "retention_days: 30\n  flush_seconds: 0.1\n")
    config = load_config(config_file(text))
    recorder = Recorder(store, prefix, ["key"], lambda: NOW, config)
    recorder.store_call(0.01, False)
    decision = Decision(Who.ANONYMOUS, "metered", Result.PREFETCH)
    for _ in range(3):
        recorder.view(config, decision, "/articles/x", NOW)
    await asyncio.sleep(0.5)
    counted = await AnalyticsReader(store, prefix).counters(TOKYO_DAY, TOKYO_DAY)
    await recorder.aclose()
    views = sum(n for labels, n in counted.get(TOKYO_DAY, {}).items() if labels[0] == "v")
    assert views == 3
