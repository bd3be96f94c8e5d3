"""The store budget measures Redis's answer, not our own queue or a busy event loop: on a
scripted stand-in for Redis, and on a real (paused) Redis through redis-py and our RESP
client."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from paywall.deadline import LoopLagged, RedisBudget, RedisSilent, hard_cap, socket_timeout
from paywall.identity import Reader
from paywall.periods import current_period
from paywall.resp import RespClient
from paywall.store import MeterStore, StoreError, StoreOverloaded

from .redis_server import RedisServer, redis_server  # noqa: F401

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def block_loop_soon(after: float, seconds: float) -> None:
    """In `after` seconds, stop the whole event loop for `seconds` (a synchronous handler)."""
    asyncio.get_running_loop().call_later(after, time.sleep, seconds)


async def answer_while_blocked(budget: Any) -> bytes:
    """Redis answers 20 ms after the question, while our loop is blocked from 5 to 305 ms:
    the answer is in the socket long before the loop can read it."""
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    threading.Timer(0.02, theirs.sendall, args=(b"+OK\r\n",)).start()
    block_loop_soon(0.005, 0.3)
    try:
        async with budget:
            return await reader.readline()
    finally:
        writer.close()
        theirs.close()


async def test_a_plain_timer_blames_redis_for_our_blocked_loop() -> None:
    """The bug: a 100 ms timer started before the loop blocked fires when it wakes, before
    the answer that arrived meanwhile is read."""
    with pytest.raises(TimeoutError):
        await answer_while_blocked(asyncio.timeout(0.1))


async def test_the_budget_reads_an_answer_that_arrived_while_the_loop_was_blocked() -> None:
    budget = RedisBudget(0.1)
    assert await answer_while_blocked(budget) == b"+OK\r\n"
    assert budget.lag >= 0.2  # the blocked time was seen, and not charged to Redis


async def test_silent_redis_on_an_idle_loop_runs_out_after_the_budget() -> None:
    started = time.monotonic()
    with pytest.raises(RedisSilent):
        async with RedisBudget(0.1):
            await asyncio.Event().wait()
    assert 0.1 <= time.monotonic() - started < 0.2


async def test_blocked_loop_and_silent_redis_waits_for_the_budget_of_redis_time() -> None:
    """Blocked 300 ms, then Redis still silent: Redis gets its 100 ms of on-time loop after
    the block, so the silence is a real timeout (not more than the cap)."""
    started = time.monotonic()
    block_loop_soon(0.005, 0.3)
    with pytest.raises(RedisSilent):
        async with RedisBudget(0.1):
            await asyncio.Event().wait()
    assert 0.38 <= time.monotonic() - started < 0.6


async def test_lag_past_the_hard_cap_is_our_slowness_not_an_outage() -> None:
    block_loop_soon(0.005, 0.3)
    started = time.monotonic()
    with pytest.raises(LoopLagged):
        async with RedisBudget(0.05, cap=0.2):
            await asyncio.Event().wait()
    assert time.monotonic() - started < 0.4


async def test_a_loop_that_is_always_late_never_blames_redis() -> None:
    """Every loop turn takes 30 ms (a loop saturated with work): whatever Redis does, the
    wait ends at the cap as LoopLagged, never as RedisSilent."""
    loop = asyncio.get_running_loop()
    busy = True

    def hog() -> None:
        if busy:
            time.sleep(0.03)
            loop.call_soon(hog)

    loop.call_soon(hog)
    started = time.monotonic()
    try:
        with pytest.raises(LoopLagged):
            async with RedisBudget(0.05, cap=0.3):
                await asyncio.Event().wait()
    finally:
        busy = False
    assert 0.3 <= time.monotonic() - started < 0.5


async def test_hard_cap() -> None:
    assert hard_cap(0.1) == 1.0 and hard_cap(0.5) == 5.0


# --- through the store: queue time is not Redis's time, only outages open the breaker --------


class ScriptedClient:
    """A pipeline whose round trip takes `delay` (None: never answers); each EVALSHA answers
    'counted, 1 view'."""

    def __init__(self, delay: float | None) -> None:
        self.delay = delay
        self.round_trips: list[float] = []

    def pipeline(self, transaction: bool = True) -> Any:
        return ScriptedPipeline(self)


class ScriptedPipeline:
    def __init__(self, client: ScriptedClient) -> None:
        self.client = client
        self.commands = 0

    def execute_command(self, *args: Any) -> ScriptedPipeline:
        self.commands += 1
        return self

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        self.client.round_trips.append(time.monotonic())
        if self.client.delay is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.client.delay or 0)
        return [[1, 1, b"none"]] * self.commands


async def view(store: MeterStore, reader: str) -> Any:
    period = current_period("month", UTC, NOW)  # type: ignore[arg-type]
    return await store.view(
        Reader(reader), f"/articles/{reader}", premium=False, limit=3, period=period, now=NOW
    )


async def test_time_queued_behind_another_round_trip_is_not_charged_to_redis() -> None:
    """Each round trip takes 80 ms of a 100 ms budget; a view that queued behind one waits
    160 ms in all and is still answered."""
    client = ScriptedClient(0.08)
    store = MeterStore(client, "p:", 0.1, breaker_seconds=5)
    first = asyncio.create_task(view(store, "a"))
    await asyncio.sleep(0.01)  # the first round trip is in flight
    started = time.monotonic()
    second = await view(store, "b")
    assert second.views == 1 and time.monotonic() - started >= 0.12
    assert (await first).views == 1
    assert len(client.round_trips) == 2 and store.breaker.allow()


async def test_silent_redis_fails_the_queued_views_at_once_and_opens_the_breaker() -> None:
    client = ScriptedClient(None)
    store = MeterStore(client, "p:", 0.1, breaker_seconds=5)
    started = time.monotonic()
    first = asyncio.create_task(view(store, "a"))
    await asyncio.sleep(0.02)
    queued = asyncio.create_task(view(store, "b"))
    for task in (first, queued):
        with pytest.raises(StoreError) as raised:
            await task
        assert not isinstance(raised.value, StoreOverloaded)
    assert 0.1 <= time.monotonic() - started < 0.2  # one budget, not one per round trip
    assert len(client.round_trips) == 1
    assert not store.breaker.allow()  # an outage: the breaker is open


async def test_a_wait_that_only_our_lag_ran_out_does_not_open_the_breaker() -> None:
    client = ScriptedClient(None)
    store = MeterStore(client, "p:", 0.05, breaker_seconds=5)
    block_loop_soon(0.005, 1.2)  # past the 1 s hard cap of a 50 ms budget
    with pytest.raises(StoreOverloaded):
        await view(store, "a")
    assert store.breaker.allow()


# --- the same against real Redis, through redis-py and through our RESP client -----------


@pytest.fixture(params=["redis-py", "resp"])
async def real_store(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,  # noqa: F811
) -> AsyncIterator[Callable[[float], MeterStore]]:
    """Makes a MeterStore with a given budget on this test's own redis-server (so that it
    can be paused), through a redis-py client or our `RespClient`."""
    clients: list[Any] = []

    def make(budget: float) -> MeterStore:
        if request.param == "resp":
            client: Any = RespClient.from_url(redis_server.url, budget)
        else:
            client = aioredis.from_url(redis_server.url, socket_timeout=socket_timeout(budget))
        clients.append(client)
        return MeterStore(client, "p:", budget, breaker_seconds=5)

    try:
        yield make
    finally:
        for client in clients:
            await client.aclose()


async def test_real_redis_silent_fails_the_views_after_one_budget_and_opens_the_breaker(
    real_store: Callable[[float], MeterStore],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    store = real_store(0.1)
    await view(store, "warm")  # connected, script loaded
    redis_server.pause(1000)
    started = time.monotonic()
    first = asyncio.create_task(view(store, "a"))
    await asyncio.sleep(0.02)
    later = asyncio.create_task(view(store, "b"))
    for task in (first, later):
        with pytest.raises(StoreError) as raised:
            await task
        assert not isinstance(raised.value, StoreOverloaded)
    waited = time.monotonic() - started
    # One budget for both, not one each; a busy machine's lag may stretch it (not charged).
    assert 0.1 <= waited < 0.4, waited
    assert not store.breaker.allow()  # an outage: the breaker is open


async def test_real_redis_answer_that_came_while_our_loop_was_blocked_is_read(
    real_store: Callable[[float], MeterStore],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """Redis answers 50 ms after the question, while our loop is blocked from 5 to 305 ms."""
    store = real_store(0.1)
    await view(store, "warm")
    redis_server.pause(50)
    block_loop_soon(0.005, 0.3)
    assert (await view(store, "a")).views == 1
    assert store.breaker.allow()


async def test_real_redis_wait_that_only_our_lag_ran_out_is_overload(
    real_store: Callable[[float], MeterStore],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    store = real_store(0.05)
    await view(store, "warm")
    redis_server.pause(2000)
    block_loop_soon(0.005, 1.2)  # past the 1 s hard cap of a 50 ms budget
    with pytest.raises(StoreOverloaded):
        await view(store, "a")
    assert store.breaker.allow()
