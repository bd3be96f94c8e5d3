"""The paywall on a real Redis Cluster (3 masters + 3 replicas, started once for the module):
the contract's behaviour through a `redis+cluster://` URL and through a `RedisCluster`
passed as `redis=`, readers spread over slots and nodes, lost script caches, a slot
migrated mid-run, and a master killed mid-run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest
from redis.asyncio.cluster import ClusterNode as StartupNode
from redis.asyncio.cluster import RedisCluster

from paywall import PaywallMiddleware
from paywall.connection import connect
from paywall.identity import Reader
from paywall.periods import current_period
from paywall.store import MeterStore, Outcome

from .conftest import ARTICLE_PARAGRAPHS, CONFIG, article_site, client_for
from .redis_cluster import Cluster, ClusterNode, cluster  # noqa: F401
from .test_accounts import ACCOUNT_CONFIG, NOW, Site
from .test_crawlers import CAPPED_CONFIG, client_from
from .test_middleware import hidden_text_in, prompts

pytestmark = pytest.mark.anyio


def with_store(text: str, url: str | None = None, breaker_seconds: float = 0) -> str:
    """`text` (whose last section is `store:`) with the cluster URL, no breaker, open, and a
    store timeout that a cold cluster client (slot discovery, script load) meets even on a
    busy CI machine."""
    text = text.replace("timeout_ms: 1000", "timeout_ms: 500")
    if url:
        text += f'  url: "{url}"\n'
    return text + f"  breaker_seconds: {breaker_seconds}\non_store_error: open\n"


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[RedisCluster]:  # noqa: F811
    """A RedisCluster built by hand, as an app would pass it as `redis=`."""
    nodes = [StartupNode(host, port) for host, port in cluster.startup_nodes]
    client = RedisCluster(startup_nodes=nodes, socket_timeout=1, socket_connect_timeout=1)
    await client.initialize()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def url_paywall(
    cluster: Cluster,  # noqa: F811
    config_file: Callable[..., Path],
) -> AsyncIterator[PaywallMiddleware]:
    """The paywall configured with `store.url: redis+cluster://…`; its client closed after."""
    paywall = PaywallMiddleware(article_site, config=config_file(with_store(CONFIG, cluster.url)))
    assert isinstance(paywall.store.client, RedisCluster)
    try:
        yield paywall
    finally:
        await paywall.store.client.aclose()


def is_full(page: httpx.Response) -> bool:
    return page.status_code == 200 and all(text in page.text for text in ARTICLE_PARAGRAPHS)


def is_walled(page: httpx.Response) -> bool:
    return page.status_code == 200 and prompts(page) == ["subscribe"] and not hidden_text_in(page)


async def contract(reader: httpx.AsyncClient, tag: str = "") -> None:
    """Countdown, last free, wall, and an article already read stays free."""
    first = await reader.get(f"/articles/{tag}one")
    assert prompts(first) == ["meter"] and is_full(first)
    assert "You have 2 free articles left this month" in first.text
    second = await reader.get(f"/articles/{tag}two")
    assert "You have 1 free article left this month" in second.text
    third = await reader.get(f"/articles/{tag}three")
    assert prompts(third) == ["last-free"] and is_full(third)
    assert is_walled(await reader.get(f"/articles/{tag}four"))
    again = await reader.get(f"/articles/{tag}one")
    assert prompts(again) == [] and is_full(again)


def meter_keys(cluster: Cluster, prefix: str) -> dict[str, ClusterNode]:  # noqa: F811
    return cluster.keys(prefix + "*:m:*")


# --- the contract -----------------------------------------------------------------------


async def test_cluster_url_meters_readers_spread_over_nodes(
    cluster: Cluster,  # noqa: F811
    url_paywall: PaywallMiddleware,
    prefix: str,
) -> None:
    with anyio.fail_after(20):
        for n in range(8):
            async with client_for(url_paywall) as reader:
                await contract(reader, f"r{n}-")
    keys = meter_keys(cluster, prefix)
    assert len(keys) == 8, keys  # one meter per reader
    slots = {cluster.keyslot(key) for key in keys}
    holders = {node.port for node in keys.values()}
    assert len(slots) == 8 and len(holders) >= 2, (slots, holders)
    for key, node in keys.items():  # each key lives where CLUSTER KEYSLOT says it should
        assert cluster.node_for_slot(cluster.keyslot(key)) is node


async def test_cluster_client_passed_as_redis(
    cluster: Cluster,  # noqa: F811
    client: RedisCluster,
    config_file: Callable[..., Path],
    prefix: str,
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(with_store(CONFIG)), redis=client)
    with anyio.fail_after(20):
        for n in range(6):
            async with client_for(paywall) as reader:
                await contract(reader, f"r{n}-")
        async with client_for(paywall) as reader:
            premium = await reader.get("/premium/one")
            assert premium.status_code == 200 and hidden_text_in(premium) == []
            sponsored = await reader.get("/sponsored/one")
            assert is_full(sponsored) and prompts(sponsored) == []
    assert len({node.port for node in meter_keys(cluster, prefix).values()}) >= 2


async def test_signed_in_readers_and_entitlements(
    cluster: Cluster,  # noqa: F811
    client: RedisCluster,
    config_file: Callable[..., Path],
    prefix: str,
) -> None:
    site = Site(client, config_file(with_store(ACCOUNT_CONFIG)), prefix)
    with anyio.fail_after(20):
        await site.entitlements.grant("acct-trial", plan="trial", until=NOW + timedelta(days=3))
        await site.entitlements.grant("acct-lapsed", plan="subscription", until=NOW - timedelta(1))
        assert await site.entitlements.status("acct-trial", NOW) == "trial"
        assert await site.entitlements.status("acct-lapsed", NOW) == "access_expired"
        assert await site.entitlements.status("acct-none", NOW) == "none"

        async with site.browser("acct-trial") as trialist:
            for n in range(7):
                page = await trialist.get(f"/articles/{n}")
                assert is_full(page) and prompts(page) == []
            assert is_full(await trialist.get("/premium/x"))

        async with site.browser("acct-1") as phone, site.browser("acct-1") as laptop:
            assert "You have 4 free articles left" in (await phone.get("/articles/a")).text
            assert "You have 3 free articles left" in (await laptop.get("/articles/b")).text

        # Anonymous views merge into the account on sign-in: the cookie's meter and the
        # account's live in different slots (SMEMBERS on one, then the Lua call on the other).
        async with site.browser() as browser:
            await browser.get("/articles/x")
            await browser.get("/articles/y")
            browser.headers["x-test-account"] = "acct-2"
            assert prompts(await browser.get("/articles/x")) == []
            assert "You have 2 free articles left" in (await browser.get("/articles/z")).text

        async with site.browser("acct-lapsed") as lapsed:
            for n in range(4):
                await lapsed.get(f"/articles/{n}")
            assert prompts(await lapsed.get("/articles/4")) == ["last-free"]
            walled = await lapsed.get("/articles/5")
            assert prompts(walled) == ["access-expired"] and hidden_text_in(walled) == []

        await site.entitlements.revoke("acct-trial")
        assert await site.entitlements.status("acct-trial", NOW) == "none"
    slots = {cluster.keyslot(key) for key in cluster.keys(prefix + "*")}
    assert len(slots) >= 4


async def test_soft_cap_on_new_readers_per_network(
    client: RedisCluster,
    config_file: Callable[..., Path],
) -> None:
    """meter.new_readers_per_network counts with a non-transactional pipeline (INCR+EXPIRE
    on one key): a ClusterPipeline does that fine."""
    paywall = PaywallMiddleware(
        article_site, config=config_file(with_store(CAPPED_CONFIG)), redis=client
    )
    with anyio.fail_after(10):
        for n in range(2):
            async with client_from(paywall, f"198.51.100.{n + 1}") as reader:
                assert prompts(await reader.get("/articles/a")) == ["meter"]
        async with client_from(paywall, "198.51.100.200") as third:
            assert is_walled(await third.get("/articles/a"))


async def test_meter_store_runs_the_script_on_a_cluster(
    client: RedisCluster,
    prefix: str,
) -> None:
    """The store itself, no middleware: one view per reader, readers on several masters,
    views sent concurrently (so that a coalescing store pipelines them)."""
    store = MeterStore(client, prefix, timeout=2.0, breaker_seconds=0)
    now = NOW
    period = current_period("month", ZoneInfo("Asia/Tokyo"), now)
    readers = [Reader(f"reader-{n}") for n in range(12)]
    with anyio.fail_after(10):
        verdicts = await asyncio.gather(
            *(
                store.view(r, "/articles/a", premium=False, limit=3, period=period, now=now)
                for r in readers
            )
        )
    assert [(v.outcome, v.views) for v in verdicts] == [(Outcome.COUNTED, 1)] * len(readers)


# --- faults -------------------------------------------------------------------------------


async def test_script_flush_on_every_node_mid_run(
    cluster: Cluster,  # noqa: F811
    url_paywall: PaywallMiddleware,
) -> None:
    with anyio.fail_after(20):
        readers = [client_for(url_paywall) for _ in range(6)]
        try:
            for reader in readers:
                assert "You have 2 free articles left" in (await reader.get("/articles/a")).text
            for node in cluster.running():
                node.call("SCRIPT", "FLUSH")
                assert node.call("SCRIPT", "EXISTS", url_paywall.store._script.sha) == [0]
            for reader in readers:
                second = await reader.get("/articles/b")
                assert "You have 1 free article left" in second.text, prompts(second)
                assert prompts(await reader.get("/articles/c")) == ["last-free"]
                assert is_walled(await reader.get("/articles/d"))
        finally:
            for reader in readers:
                await reader.aclose()


def migrate_slot(cluster: Cluster, slot: int, target: ClusterNode) -> None:  # noqa: F811
    """Move `slot` and its keys to `target` the way `redis-cli --cluster reshard` does."""
    source = cluster.node_for_slot(slot)
    source_id, target_id = source.node_id, target.node_id
    target.call("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.call("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    while keys := source.call("CLUSTER", "GETKEYSINSLOT", slot, 100):
        source.call("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
    for node in (target, source, *cluster.masters()):
        node.call("CLUSTER", "SETSLOT", slot, "NODE", target_id)


async def test_reader_count_continues_after_its_slot_moves(
    cluster: Cluster,  # noqa: F811
    url_paywall: PaywallMiddleware,
    prefix: str,
) -> None:
    with anyio.fail_after(20):
        async with client_for(url_paywall) as reader:
            await reader.get("/articles/one")
            assert "You have 1 free article left" in (await reader.get("/articles/two")).text
            (key,) = meter_keys(cluster, prefix)
            slot = cluster.keyslot(key)
            source = cluster.node_for_slot(slot)
            target = next(node for node in cluster.masters() if node is not source)

            migrate_slot(cluster, slot, target)
            assert cluster.node_for_slot(slot) is target
            assert meter_keys(cluster, prefix) == {key: target}

            third = await reader.get("/articles/three")  # MOVED: the client follows
            assert prompts(third) == ["last-free"] and is_full(third)
            assert is_walled(await reader.get("/articles/four"))
            assert prompts(await reader.get("/articles/one")) == []
        cluster.wait_healthy()


async def test_view_while_the_slot_is_migrating_is_metered(
    cluster: Cluster,  # noqa: F811
    url_paywall: PaywallMiddleware,
    prefix: str,
) -> None:
    with anyio.fail_after(20):
        async with client_for(url_paywall) as reader:
            await reader.get("/articles/one")
            (key,) = meter_keys(cluster, prefix)
            slot = cluster.keyslot(key)
            source = cluster.node_for_slot(slot)
            target = next(node for node in cluster.masters() if node is not source)
            source_id, target_id = source.node_id, target.node_id
            target.call("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            source.call("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            try:
                # Mid-migration, key still on the source (as for most keys of a big slot).
                second = await reader.get("/articles/two")
                assert "You have 1 free article left" in second.text, prompts(second)
                source.call("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", key)
                # Key moved, slot not yet settled: ASK to the target.
                third = await reader.get("/articles/three")
                assert prompts(third) == ["last-free"], prompts(third)
            finally:
                while keys := source.call("CLUSTER", "GETKEYSINSLOT", slot, 100):
                    source.call("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
                for node in (target, source, *cluster.masters()):
                    node.call("CLUSTER", "SETSLOT", slot, "NODE", target_id)
                cluster.wait_healthy()


async def test_master_killed_mid_run(
    cluster: Cluster,  # noqa: F811
    url_paywall: PaywallMiddleware,
    prefix: str,
) -> None:
    """Readers keep being served (open) while the cluster fails over; once the replica is
    promoted every count is intact, on the surviving masters and (since the replica had
    caught up before the kill) on the promoted one too."""
    readers = [client_for(url_paywall) for _ in range(15)]
    try:
        with anyio.fail_after(40):
            for n, reader in enumerate(readers):
                await reader.get(f"/articles/{n}-a")
                assert "You have 1 free article left" in (await reader.get(f"/articles/{n}-b")).text
            keys = meter_keys(cluster, prefix)
            assert len(keys) == len(readers)
            # Which reader's meter is where: each key carries the cookie's reader id.
            key_of = {
                reader: next(k for k in keys if "{r:" + reader_id(reader) + "}" in k)
                for reader in readers
            }
            victim = max(cluster.masters(), key=lambda m: sum(n is m for n in keys.values()))
            assert any(node is not victim for node in keys.values())
            cluster.wait_healthy()  # replicas have everything

            replica = cluster.kill_master(victim)
            served = 0
            bystander = 0
            while not (replica.is_master() and cluster.ok_everywhere()):
                for n, reader in enumerate(readers):
                    page = await reader.get(f"/articles/{n}-a")  # read before: never counted
                    assert is_full(page) and prompts(page) == []
                    served += 1
                async with client_for(url_paywall) as newcomer:
                    page = await newcomer.get(f"/articles/new-{bystander}")
                    assert is_full(page)  # counted, or open while the store fails
                    bystander += 1
                await asyncio.sleep(0.05)
            assert served >= len(readers)

            for n, reader in enumerate(readers):
                third = await third_view(reader, f"/articles/{n}-c")
                on = "surviving" if keys[key_of[reader]] is not victim else "promoted"
                assert prompts(third) == ["last-free"], f"reader on the {on} master lost views"
                assert is_walled(await reader.get(f"/articles/{n}-d"))
    finally:
        for reader in readers:
            await reader.aclose()
        cluster.heal()


def reader_id(reader: httpx.AsyncClient) -> str:
    return str(reader.cookies["paywall_rid"]).strip('"').split(".")[0]


async def third_view(reader: httpx.AsyncClient, path: str) -> httpx.Response:
    """The first views after a failover may still fail open (stale slot map, dropped
    connections); a view that failed open was not counted, so asking again is fair."""
    for _ in range(40):
        page = await reader.get(path)
        if prompts(page):
            return page
        await asyncio.sleep(0.05)
    return page


# --- the URL forms ----------------------------------------------------------------------


async def test_cluster_url_builds_a_cluster_client(cluster: Cluster) -> None:  # noqa: F811
    client = connect(cluster.url.rstrip("/"), 0.5)
    try:
        assert isinstance(client, RedisCluster)
        await client.set("{paywall-test}:k", "v")
        assert await client.get("{paywall-test}:k") == b"v"
        await client.delete("{paywall-test}:k")
    finally:
        await client.aclose()


async def test_analytics_flush_and_report_span_slots_on_a_cluster(
    client: RedisCluster, config_file: Callable[..., Path], prefix: str
) -> None:
    """Counts of two days (two hash tags, so two slots) leave in one flush, the config history
    in its own slot, and the report reads them back across nodes."""
    from datetime import UTC, date, datetime

    from paywall.analytics.keys import day_key
    from paywall.analytics.report import AnalyticsReader

    text = with_store(CONFIG) + "analytics:\n  enabled: true\n"
    paywall = PaywallMiddleware(article_site, config=config_file(text), redis=client)
    days = [date(2027, 1, 5), date(2027, 1, 6)]
    assert client.keyslot(day_key(prefix, days[0])) != client.keyslot(day_key(prefix, days[1]))
    now = datetime(2027, 1, 5, 14, 59, tzinfo=UTC)  # 23:59 in Tokyo
    paywall.clock = lambda: now
    async with client_for(paywall) as reader:
        await reader.get("/articles/a")
        now = datetime(2027, 1, 5, 15, 1, tzinfo=UTC)  # past midnight in Tokyo
        await reader.get("/articles/b")
        await reader.get("/premium/x")
    await paywall.analytics.aclose()
    analytics = AnalyticsReader(client, prefix)
    report = await analytics.report(days[0], days[1])
    assert [(d.views, d.banners, d.walls) for d in report.days] == [(1, 1, 0), (2, 1, 1)]
    assert [change.result for change in await analytics.config_history()] == ["start"]
    for day in days:
        await client.delete(day_key(prefix, day))
