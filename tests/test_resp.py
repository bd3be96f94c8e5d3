"""paywall/resp.py, our RESP client, against real Redis: pipelined writes, replies in order,
redis-py's error types, NOSCRIPT, AUTH/SELECT, unix sockets, reconnecting (with backoff),
the store budget on the wire, and callers that give up or lose their server mid-flight.

Tests that restart, pause or kill a server use one of their own (`redis_server`); the
others use PAYWALL_TEST_REDIS_URL under their own key prefix."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import anyio
import hiredis
import pytest
import redis.asyncio as aioredis
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    NoScriptError,
    OutOfMemoryError,
    ResponseError,
)

from paywall.deadline import LoopLagged, RedisSilent
from paywall.resp import BACKOFF, Endpoint, RespClient, _reply_error, encode

from .conftest import REAL_REDIS_URL
from .redis_server import BINARY, RedisServer, free_port, redis_server  # noqa: F401

pytestmark = pytest.mark.anyio

# Appends its argument to KEYS[1] (so a test sees which calls ran) and answers with it.
ECHO_LUA = "redis.call('RPUSH', KEYS[1], ARGV[1]) return ARGV[1]"


@pytest.fixture
async def resp(prefix: str) -> AsyncIterator[RespClient]:
    """Our client on PAYWALL_TEST_REDIS_URL (budget 1 s); the prefix's keys deleted after."""
    if not REAL_REDIS_URL:
        pytest.skip("PAYWALL_TEST_REDIS_URL is not set")
    client = RespClient.from_url(REAL_REDIS_URL, 1.0)
    try:
        yield client
    finally:
        await client.aclose()
        admin = aioredis.from_url(REAL_REDIS_URL)
        keys = [key async for key in admin.scan_iter(match=prefix + "*")]
        if keys:
            await admin.delete(*keys)
        await admin.aclose()


def script_loads(server: RedisServer) -> int:
    """How many SCRIPT LOADs the server has run."""
    with server.sync_client() as admin:
        stats = admin.info("commandstats")
    return int(stats.get("cmdstat_script|load", {}).get("calls", 0))


# --- encoding, URLs, error replies: no server needed ----------------------------------


def test_commands_are_arrays_of_bulk_strings() -> None:
    assert (
        encode("SET", "k", 12, b"\x00v")
        == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$2\r\n\x00v\r\n"
    )
    assert encode("ECHO", "é") == b"*2\r\n$4\r\nECHO\r\n$2\r\n\xc3\xa9\r\n"  # bytes, not chars


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("redis://127.0.0.1:6390/2", Endpoint("127.0.0.1", 6390, db=2)),
        ("redis://:pw@cache/1", Endpoint("cache", db=1, password="pw")),
        (
            "redis://alice:p%40ss@cache:7000",
            Endpoint("cache", 7000, username="alice", password="p@ss"),
        ),
        ("redis://", Endpoint()),
        ("unix:///run/redis.sock?db=3", Endpoint(path="/run/redis.sock", db=3)),
        ("unix://:pw@/run/redis.sock", Endpoint(path="/run/redis.sock", password="pw")),
        ("redis://cache/0?socket_keepalive=true", None),  # an option only redis-py knows
        ("rediss://cache:6380/0", None),
        ("redis+cluster://cache:7000/", None),
    ],
)
def test_urls_are_read_as_redis_py_reads_them(url: str, endpoint: Endpoint | None) -> None:
    assert Endpoint.from_url(url) == endpoint


def test_error_replies_are_redis_py_exceptions() -> None:
    reader = hiredis.Reader(replyError=_reply_error)
    reader.feed(b"-NOSCRIPT No matching script.\r\n-OOM command not allowed\r\n-ERR nope\r\n")
    noscript, oom, err = reader.gets(), reader.gets(), reader.gets()
    assert isinstance(noscript, NoScriptError) and isinstance(oom, OutOfMemoryError)
    assert type(err) is ResponseError and str(err) == "nope"


# --- pipelining ---------------------------------------------------------------------------


async def test_concurrent_calls_leave_in_one_write_and_get_their_own_replies(
    resp: RespClient,
) -> None:
    await resp.execute("PING")  # connected
    writes = resp.writes
    words = [f"call-{n}" for n in range(50)]
    replies = await asyncio.gather(*(resp.execute("ECHO", word) for word in words))
    assert [reply.decode() for reply in replies] == words
    assert resp.writes == writes + 1


async def test_an_error_reply_reaches_only_its_own_caller(resp: RespClient, prefix: str) -> None:
    key = f"{prefix}text"
    calls: list[Awaitable[Any]] = [
        resp.execute("SET", key, "not a number"),
        resp.execute("INCR", key),
        resp.execute("GET", key),
        resp.pipeline(("INCR", key), ("ECHO", "after")),
    ]
    answers = await asyncio.gather(*calls, return_exceptions=True)
    assert answers[0] == b"OK" and answers[2] == b"not a number"
    assert type(answers[1]) is ResponseError and "not an integer" in str(answers[1])
    assert type(answers[3]) is ResponseError  # a pipeline raises its first error
    assert await resp.execute("ECHO", "still in step") == b"still in step"


async def test_a_script_runs_by_sha(resp: RespClient, prefix: str) -> None:
    script = resp.script(ECHO_LUA)
    args = [f"call-{n}" for n in range(10)]
    answers = await asyncio.gather(*(script([f"{prefix}calls"], [arg]) for arg in args))
    assert [answer.decode() for answer in answers] == args
    assert await resp.execute("SCRIPT", "EXISTS", script.sha) == [1]


async def test_noscript_loads_the_script_once_and_sends_the_calls_again(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    client = RespClient.from_url(redis_server.url, 1.0)
    script = client.script(ECHO_LUA)
    try:
        assert await script(["calls"], ["before"]) == b"before"
        with redis_server.sync_client() as admin:
            admin.script_flush()  # as after a restart or failover
        loads = script_loads(redis_server)
        args = [f"call-{n}" for n in range(10)]
        answers = await asyncio.gather(*(script(["calls"], [arg]) for arg in args))
        assert [answer.decode() for answer in answers] == args
        assert script_loads(redis_server) == loads + 1
        with redis_server.sync_client() as admin:
            ran = [item.decode() for item in admin.lrange("calls", 0, -1)]
        assert sorted(ran) == sorted(["before", *args])  # each ran exactly once
    finally:
        await client.aclose()


# --- callers that give up -----------------------------------------------------------------


async def test_a_caller_that_gives_up_does_not_put_the_replies_out_of_step(
    resp: RespClient, prefix: str
) -> None:
    gone = asyncio.create_task(resp.execute("BLPOP", f"{prefix}empty", "0.2"))
    await asyncio.sleep(0.05)  # written; Redis answers (nil) only after 0.2 s
    gone.cancel()
    with anyio.fail_after(2):
        after = await asyncio.gather(*(resp.execute("ECHO", f"after-{n}") for n in range(5)))
    assert after == [f"after-{n}".encode() for n in range(5)]
    assert gone.cancelled()


async def test_a_call_given_up_before_it_was_written_is_never_sent(
    resp: RespClient, prefix: str
) -> None:
    key = f"{prefix}counter"
    resp.send(encode("INCR", key)).cancel()  # still in this loop turn's queue
    assert await resp.execute("GET", key) is None


# --- budget on the wire -------------------------------------------------------------------


async def test_a_silent_server_fails_every_waiter_after_one_budget_and_runs_nothing_later(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    client = RespClient.from_url(redis_server.url, 0.1)
    try:
        await client.execute("PING")
        redis_server.pause(600)
        started = time.monotonic()
        first = asyncio.create_task(client.execute("INCR", "counter"))
        await asyncio.sleep(0.03)
        later = asyncio.create_task(client.execute("INCR", "counter"))  # a write of its own
        for call in (first, later):
            with pytest.raises(RedisSilent):
                await call
        waited = time.monotonic() - started
        # Both at the first write's budget (a busy machine's lag may stretch it).
        assert 0.1 <= waited < 0.4, waited
        await asyncio.sleep(0.8)  # the pause is over
        # The connection was closed: Redis dropped what it had not run.
        assert await client.execute("GET", "counter") is None
    finally:
        await client.aclose()


async def test_an_answer_that_came_while_our_loop_was_blocked_is_read(
    resp: RespClient,
) -> None:
    await resp.execute("PING")
    client = RespClient(resp.endpoint, 0.1)
    try:
        await client.execute("PING")
        call = asyncio.create_task(client.execute("ECHO", "late but there"))
        await asyncio.sleep(0)  # queued: written early in the next loop turn...
        asyncio.get_running_loop().call_soon(time.sleep, 0.3)  # ...then the loop blocks
        assert await call == b"late but there"
        assert client.connects == 1  # the budget did not run out and close the connection
    finally:
        await client.aclose()


async def test_a_wait_only_our_lag_ran_out_is_loop_lagged(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    client = RespClient.from_url(redis_server.url, 0.05)
    try:
        await client.execute("PING")
        redis_server.pause(2000)
        call = asyncio.create_task(client.execute("PING"))
        await asyncio.sleep(0.001)
        asyncio.get_running_loop().call_later(0.005, time.sleep, 1.2)  # past the 1 s cap
        with pytest.raises(LoopLagged):
            await call
    finally:
        await client.aclose()


# --- connections: login, unix sockets, restarts, dead servers -----------------------------


async def test_auth_and_select_come_from_the_url(redis_server: RedisServer) -> None:  # noqa: F811
    with redis_server.sync_client() as admin:
        admin.acl_setuser(
            "alice", enabled=True, passwords=["+alice-pw"], keys=["*"], commands=["+@all"]
        )
        admin.config_set("requirepass", "default-pw")
    port = redis_server.port
    for url, db in [
        (f"redis://:default-pw@127.0.0.1:{port}/3", 3),
        (f"redis://alice:alice-pw@127.0.0.1:{port}/2", 2),
    ]:
        client = RespClient.from_url(url, 1.0)
        try:
            assert await client.execute("SET", "where", url) == b"OK"
        finally:
            await client.aclose()
        with redis_server.sync_client(password="default-pw", db=db) as admin:
            assert admin.get("where") == url.encode()


async def test_a_wrong_password_fails_at_once_and_backs_off(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    with redis_server.sync_client() as admin:
        admin.config_set("requirepass", "right")
    client = RespClient.from_url(f"redis://:wrong@127.0.0.1:{redis_server.port}/0", 1.0)
    try:
        with anyio.fail_after(1), pytest.raises(AuthenticationError):
            await client.execute("PING")
        with pytest.raises(ConnectionError, match="next attempt in"):
            await client.execute("PING")
        assert client.connects == 1  # the second call did not try again
    finally:
        await client.aclose()


async def test_unix_socket_with_a_database(tmp_path: Path) -> None:
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no unix sockets here")
    path = tmp_path / "redis.sock"
    try:
        server = RedisServer(BINARY, "--unixsocket", str(path), "--unixsocketperm", "700")
    except FileNotFoundError:
        pytest.skip(f"{BINARY} is not installed")
    with server:
        client = RespClient.from_url(f"unix://{path}?db=4", 1.0)
        try:
            assert await client.execute("SET", "via", "unix") == b"OK"
        finally:
            await client.aclose()
        with server.sync_client(db=4) as admin:
            assert admin.get("via") == b"unix"


async def test_reconnects_after_the_server_restarts(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    client = RespClient.from_url(redis_server.url, 1.0)
    try:
        await client.execute("SET", "kept", "yes")
        redis_server.restart()
        # The closed connection may fail the first call (a store retries it once at once);
        # the next one is on a new connection.
        with anyio.fail_after(2):
            try:
                kept = await client.execute("GET", "kept")
            except ConnectionError:
                kept = await client.execute("GET", "kept")
        assert kept == b"yes" and client.connects == 2
    finally:
        await client.aclose()


async def test_a_dead_server_is_retried_only_after_a_backoff(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    client = RespClient.from_url(redis_server.url, 1.0)
    try:
        await client.execute("PING")
        redis_server.kill()
        failures = 0
        with anyio.fail_after(2):
            while failures < 20:
                with pytest.raises(ConnectionError):
                    await client.execute("PING")
                failures += 1
        assert client.connects <= 2, "a dead server was asked in a tight loop"
        redis_server.start()
        await asyncio.sleep(4 * BACKOFF)
        assert await client.execute("PING") == b"PONG"
    finally:
        await client.aclose()


async def test_a_server_killed_mid_flight_fails_every_waiter_at_once(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    client = RespClient.from_url(redis_server.url, 10.0)  # no budget runs out here
    try:
        waiting = [asyncio.create_task(client.execute("BLPOP", f"q{n}", "5")) for n in range(5)]
        await asyncio.sleep(0.1)
        redis_server.kill()
        started = time.monotonic()
        answers = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(answer, ConnectionError) for answer in answers), answers
        assert time.monotonic() - started < 0.5
    finally:
        await client.aclose()


async def test_nothing_listening_is_a_connection_error() -> None:
    client = RespClient.from_url(f"redis://127.0.0.1:{free_port()}/0", 1.0)
    with anyio.fail_after(1), pytest.raises(ConnectionError, match="Error connecting to"):
        await client.execute("PING")


def test_one_client_serves_one_event_loop_after_another() -> None:
    """An app built outside any loop (or a test per loop): each loop gets its own connection."""
    if not REAL_REDIS_URL:
        pytest.skip("PAYWALL_TEST_REDIS_URL is not set")
    client = RespClient.from_url(REAL_REDIS_URL, 1.0)

    async def ping() -> Any:
        return await client.execute("PING")

    assert asyncio.run(ping()) == b"PONG"
    assert asyncio.run(ping()) == b"PONG"
    asyncio.run(client.aclose())


def test_a_forked_child_connects_afresh_and_leaves_the_parents_connection_alone() -> None:
    """gunicorn --preload and friends: a client used before fork, used again in the child."""
    if not REAL_REDIS_URL or not hasattr(os, "fork"):
        pytest.skip("needs PAYWALL_TEST_REDIS_URL and fork")
    client = RespClient.from_url(REAL_REDIS_URL, 1.0)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(client.execute("PING")) == b"PONG"
        pid = os.fork()
        if pid == 0:  # the child: a new loop, a new connection; exit without cleanup
            code = 0 if asyncio.run(client.execute("ECHO", "child")) == b"child" else 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert loop.run_until_complete(client.execute("ECHO", "parent")) == b"parent"
        assert client.connects == 1  # the parent's connection survived the child
        loop.run_until_complete(client.aclose())
    finally:
        loop.close()
