"""Building the Redis client from `store.url` (or the embedded store when there is none).

Forms of `store.url`:

- `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS), `unix:///path.sock`:
  one Redis server (redis-py's own URL syntax, query options included).
- `redis+cluster://[user:password@]host:port[,host:port…][/]` (`rediss+cluster://` for
  TLS): a Redis Cluster, reached through any of the listed startup nodes; the client
  learns the rest of the cluster from them and follows MOVED/ASK and failovers.
- `redis+sentinel://[user:password@]host:port[,host:port…]/SERVICE[/DB]`
  (`rediss+sentinel://` for TLS): the master of SERVICE as the listed Sentinels report it;
  the credentials are the master's. Optional query: `?sentinel_password=…` (and
  `sentinel_username=…`) when the Sentinels themselves require a password.

Ports default to 6379 (cluster) and 26379 (sentinel). A malformed URL is a ValueError
that names the problem.

`connect` builds redis-py clients (entitlements, the CLI, a client to share); the meter's
own client comes from `meter_client`: our RESP client (`paywall.resp`) for a plain
`redis://` or `unix://` URL, redis-py for every other form.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

from .deadline import socket_timeout
from .resp import Endpoint, RespClient

logger = logging.getLogger("paywall")

_CLUSTER = ("redis+cluster", "rediss+cluster")
_SENTINEL = ("redis+sentinel", "rediss+sentinel")
_SENTINEL_OPTIONS = ("sentinel_password", "sentinel_username")


def scheme_problem(url: str) -> str | None:
    """What is wrong with a store URL's scheme, for `paywall check`; None when it is usable."""
    scheme = url.partition("://")[0].lower()
    if "://" not in url or scheme not in (
        *_CLUSTER,
        *_SENTINEL,
        "redis",
        "rediss",
        "unix",
        "memory",
    ):
        return (
            f"unknown store URL {_safe(url)!r}: expected redis://, rediss://, unix://,"
            " redis+cluster://, redis+sentinel:// or memory://"
        )
    return None


def meter_client(url: str | None, budget: float) -> Any:
    """The client the meter runs on, for a store budget of `budget` seconds: a `RespClient`
    for `redis://` and `unix://` URLs (one pipelined connection, a fraction of redis-py's
    CPU per call), unless the URL has query options only redis-py knows (anything but `db`,
    `username`, `password`); otherwise `connect`'s client, with socket timeouts well behind
    the budget (`deadline.socket_timeout`)."""
    scheme = url.partition("://")[0].lower() if url else ""
    if url and scheme in ("redis", "unix"):
        endpoint = Endpoint.from_url(url)
        if endpoint is not None:
            return RespClient(endpoint, budget)
    return connect(url, socket_timeout(budget))


def store_clients(url: str | None, budget: float) -> tuple[Any, Any]:
    """The meter's client (`meter_client`) and a redis.asyncio client for everything else on
    the same store (analytics needs pipelines and commands the RESP client does not speak);
    one client for both when the meter runs on redis-py."""
    meter = meter_client(url, budget)
    if isinstance(meter, RespClient):
        return meter, connect(url, socket_timeout(budget))
    return meter, meter


def connect(url: str | None, timeout: float) -> Any:
    """A redis.asyncio client for `url`, or the embedded in-memory store when there is none."""
    scheme = url.partition("://")[0].lower() if url else ""
    if not url or scheme == "memory":
        import fakeredis

        if not url:  # memory:// says so on purpose; no store at all may be an oversight
            logger.warning(
                "paywall: no store.url and no redis= client: using the embedded in-memory store;"
                " counts are not shared between processes and are lost on restart"
            )
        return fakeredis.FakeAsyncRedis()
    if scheme in _CLUSTER:
        return _cluster(url, timeout)
    if scheme in _SENTINEL:
        return _sentinel(url, timeout)
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            f"store.url {_safe(url)!r}: unknown scheme {scheme!r}; expected redis://,"
            " rediss://, unix://, redis+cluster://, redis+sentinel:// or memory://"
        )
    return aioredis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )


def _cluster(url: str, timeout: float) -> RedisCluster:
    parts = _split(url)
    nodes, auth = _hosts(url, parts.netloc, 6379)
    path = parts.path.strip("/")
    if path not in ("", "0"):
        raise ValueError(
            f"store.url {_safe(url)!r}: a Redis Cluster has only database 0, not {path!r}"
        )
    if parts.query:
        raise ValueError(f"store.url {_safe(url)!r}: a cluster URL takes no query options")
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in nodes],
        ssl=parts.scheme.lower().startswith("rediss"),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        **auth,
    )


def _sentinel(url: str, timeout: float) -> aioredis.Redis:
    parts = _split(url)
    sentinels, auth = _hosts(url, parts.netloc, 26379)
    segments = parts.path.strip("/").split("/") if parts.path.strip("/") else []
    if not segments or not segments[0]:
        raise ValueError(
            f"store.url {_safe(url)!r}: name the Sentinel service,"
            " e.g. redis+sentinel://host:26379/mymaster"
        )
    if len(segments) > 2 or (len(segments) == 2 and not segments[1].isdigit()):
        raise ValueError(
            f"store.url {_safe(url)!r}: expected /SERVICE or /SERVICE/DB after the Sentinels"
            f" (DB a number), got {parts.path!r}"
        )
    service = unquote(segments[0])
    db = int(segments[1]) if len(segments) == 2 else 0
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(query) - set(_SENTINEL_OPTIONS))
    if unknown:
        raise ValueError(
            f"store.url {_safe(url)!r}: unknown option(s) {', '.join(unknown)};"
            f" a Sentinel URL takes only {', '.join(_SENTINEL_OPTIONS)}"
        )
    ssl = parts.scheme.lower().startswith("rediss")
    sockets: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    sentinel_kwargs: dict[str, Any] = {**sockets, "ssl": ssl}
    if "sentinel_password" in query:
        sentinel_kwargs["password"] = query["sentinel_password"][-1]
    if "sentinel_username" in query:
        sentinel_kwargs["username"] = query["sentinel_username"][-1]
    manager = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs, **sockets)  # type: ignore[no-untyped-call]
    client: aioredis.Redis = manager.master_for(
        service, db=db, ssl=ssl, health_check_interval=30, **sockets, **auth
    )
    return client


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as exc:  # an unbalanced [IPv6] bracket
        raise ValueError(f"store.url {_safe(url)!r}: bad host list ({exc})") from None


def _hosts(
    url: str, netloc: str, default_port: int
) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """`[user:password@]host[:port][,host[:port]…]` → the (host, port) list and credentials."""
    userinfo, at, hostlist = netloc.rpartition("@")
    auth = _credentials(userinfo) if at else {}
    hosts = [_host(url, hostlist, item, default_port) for item in hostlist.split(",")]
    return hosts, auth


def _credentials(userinfo: str) -> dict[str, Any]:
    """`user:password`, `:password` or `password` → redis-py's username and password."""
    auth: dict[str, Any] = {}
    username, colon, password = userinfo.partition(":")
    if colon:
        auth["password"] = unquote(password)
        if username:
            auth["username"] = unquote(username)
    elif username:
        auth["password"] = unquote(username)  # redis://secret@host, as redis-py reads it
    return auth


def _host(url: str, hostlist: str, item: str, default_port: int) -> tuple[str, int]:
    """One `host[:port]` or `[IPv6][:port]` of the host list → (host, port)."""
    host, port_text = item, ""
    if item.startswith("["):  # [IPv6]:port
        host, bracket, rest = item[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"store.url {_safe(url)!r}: bad host {item!r}")
        port_text = rest[1:]
    elif ":" in item:
        host, _, port_text = item.rpartition(":")
    if not host:
        raise ValueError(
            f"store.url {_safe(url)!r}: empty host in {hostlist!r}; expected host:port[,host:port…]"
        )
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError(f"store.url {_safe(url)!r}: bad port {port_text!r} for {host}")
    return host, int(port_text) if port_text else default_port


def _safe(url: str) -> str:
    """The URL with any password blanked, for error messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    if not sep or not at:
        return url
    username, colon, _ = userinfo.partition(":")
    return f"{scheme}://{username + ':***' if colon else '***'}@{hosts}"
