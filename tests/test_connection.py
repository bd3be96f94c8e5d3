"""`store.url` forms: one server, Redis Cluster, Sentinel; malformed URLs are ValueErrors
naming the problem (and never the password); which client the meter gets for each form.
Nothing here connects."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.asyncio.sentinel import SentinelConnectionPool, SentinelManagedSSLConnection

from paywall.connection import connect, meter_client, scheme_problem, store_clients
from paywall.deadline import socket_timeout
from paywall.resp import Endpoint, RespClient

pytestmark = pytest.mark.anyio


async def built(url: str, timeout: float = 0.25) -> Any:
    client = connect(url, timeout)
    await client.aclose()
    return client


async def test_single_server_urls_are_redis_py_urls() -> None:
    client = await built("redis://:pw@127.0.0.1:6390/2")
    kwargs = client.connection_pool.connection_kwargs
    assert isinstance(client, aioredis.Redis) and not isinstance(client, RedisCluster)
    assert (kwargs["port"], kwargs["db"], kwargs["password"]) == (6390, 2, "pw")
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.25


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("redis://:pw@127.0.0.1:6390/2", Endpoint("127.0.0.1", 6390, db=2, password="pw")),
        ("unix:///run/redis.sock?db=1", Endpoint(path="/run/redis.sock", db=1)),
    ],
)
def test_the_meter_runs_on_our_resp_client_for_plain_urls(url: str, endpoint: Endpoint) -> None:
    client = meter_client(url, 0.1)
    assert isinstance(client, RespClient)
    assert (client.endpoint, client.budget) == (endpoint, 0.1)


@pytest.mark.parametrize("url", ["rediss://h:6380/0", "redis://h/0?socket_keepalive=true"])
async def test_the_meter_runs_on_redis_py_for_tls_and_redis_py_options(url: str) -> None:
    client = meter_client(url, 0.1)
    await client.aclose()
    assert isinstance(client, aioredis.Redis)
    assert client.connection_pool.connection_kwargs["socket_timeout"] == socket_timeout(0.1)


async def test_the_meter_runs_on_redis_py_for_cluster_and_sentinel() -> None:
    cluster = meter_client("redis+cluster://h:7000/", 0.1)
    sentinel = meter_client("redis+sentinel://s1:5000/svc", 0.1)
    for client in (cluster, sentinel):
        await client.aclose()
    assert isinstance(cluster, RedisCluster)
    assert isinstance(sentinel.connection_pool, SentinelConnectionPool)
    assert type(meter_client("memory://", 0.1)).__module__.startswith("fakeredis")


async def test_analytics_gets_redis_py_beside_the_resp_meter_on_the_same_store() -> None:
    meter, other = store_clients("redis://:pw@127.0.0.1:6390/2", 0.1)
    await other.aclose()
    assert isinstance(meter, RespClient) and isinstance(other, aioredis.Redis)
    kwargs = other.connection_pool.connection_kwargs
    assert (kwargs["port"], kwargs["db"], kwargs["password"]) == (6390, 2, "pw")
    tls, same = store_clients("rediss://h:6380/0", 0.1)
    await tls.aclose()
    assert tls is same  # one redis-py client for both


async def test_cluster_url() -> None:
    client = await built("redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002/")
    assert isinstance(client, RedisCluster)
    nodes = client.nodes_manager.startup_nodes
    assert sorted(nodes) == ["10.0.0.1:7000", "10.0.0.2:6379", "::1:7002"]
    kwargs = next(iter(nodes.values())).connection_kwargs
    assert (kwargs["username"], kwargs["password"]) == ("u", "p@ss")
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.25
    assert next(iter(nodes.values())).connection_class is not SSLConnection


async def test_cluster_url_with_tls_and_database_zero() -> None:
    client = await built("rediss+cluster://h:7000/0")
    node = next(iter(client.nodes_manager.startup_nodes.values()))
    assert node.connection_class is SSLConnection


async def test_sentinel_url() -> None:
    url = "redis+sentinel://:masterpw@s1:5000,s2/svc/3?sentinel_password=sentpw"
    client = await built(url)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "svc" and pool.is_master
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["password"], kwargs["socket_timeout"]) == (3, "masterpw", 0.25)
    sentinels = [s.connection_pool.connection_kwargs for s in pool.sentinel_manager.sentinels]
    assert [(s["host"], s["port"]) for s in sentinels] == [("s1", 5000), ("s2", 26379)]
    assert {s["password"] for s in sentinels} == {"sentpw"}
    assert {s["socket_timeout"] for s in sentinels} == {0.25}


async def test_sentinel_url_with_tls_and_default_db() -> None:
    client = await built("rediss+sentinel://s1:5000/svc")
    pool = client.connection_pool
    assert pool.connection_class is SentinelManagedSSLConnection
    assert pool.connection_kwargs["db"] == 0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:6379", "unknown scheme 'http'"),
        ("redis+cluster://h:7000/1", "only database 0"),
        ("redis+cluster://h:7000/?read_from_replicas=true", "takes no query options"),
        ("redis+cluster://h:7000,,h:7001/", "empty host"),
        ("redis+cluster://", "empty host"),
        ("redis+cluster://h:port/", "bad port 'port'"),
        ("redis+cluster://h:70000/", "bad port '70000'"),
        ("redis+cluster://[::1/", "bad host list"),
        ("redis+sentinel://s1:26379", "name the Sentinel service"),
        ("redis+sentinel://s1:26379/", "name the Sentinel service"),
        ("redis+sentinel://s1:26379/svc/db1", "/SERVICE or /SERVICE/DB"),
        ("redis+sentinel://s1:26379/svc/1/x", "/SERVICE or /SERVICE/DB"),
        ("redis+sentinel://s1:26379/svc?socket_timeout=3", "unknown option(s) socket_timeout"),
    ],
)
def test_malformed_urls_name_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=r"^store\.url ") as raised:
        connect(url, 0.1)
    assert problem in str(raised.value)


def test_errors_never_show_the_password() -> None:
    with pytest.raises(ValueError) as raised:
        connect("redis+cluster://user:hunter2@h:bad/", 0.1)
    assert "hunter2" not in str(raised.value) and "user:***@" in str(raised.value)


def test_memory_url_is_the_embedded_store_on_purpose(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="paywall"):
        client = connect("memory://", 0.1)
    assert type(client).__module__.startswith("fakeredis")
    assert "embedded" not in caplog.text  # asked for by name: no warning
    with caplog.at_level(logging.WARNING, logger="paywall"):
        connect(None, 0.1)
    assert "embedded in-memory store" in caplog.text  # nothing configured: say so


@pytest.mark.parametrize("url", ["http://cache:6379", "redis//cache", "memcached://cache"])
def test_check_names_a_store_url_it_cannot_use(url: str) -> None:
    problem = scheme_problem(url)
    assert problem is not None and "unknown store URL" in problem
    assert scheme_problem("redis+sentinel://a:26379/mymaster") is None
