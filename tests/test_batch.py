"""paywall/batch.py: concurrent calls of one script share pipelined round trips, each caller
gets its own answer or its own error, NOSCRIPT is loaded and retried, and a caller that
gives up does not break the others. Against fakeredis and real Redis (the `store` fixture).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ResponseError

from paywall.batch import ScriptBatcher

from .test_accounts import CountingClient

pytestmark = pytest.mark.anyio

# Appends its argument to KEYS[1], so a test can see which calls ran and how often, and
# answers with it; the argument "fail" is an error for that call alone.
ECHO_LUA = """
if ARGV[1] == 'fail' then
  return redis.error_reply('asked to fail')
end
redis.call('RPUSH', KEYS[1], ARGV[1])
return ARGV[1]
"""

BUDGET = 1.0  # seconds: the store's timeout_ms, as paywall.store passes it to the batcher
PATIENCE = 5.0  # seconds: a caller left waiting for an answer that never comes fails the test


class Echo:
    """A batcher of ECHO_LUA on a counting client, and the key its calls append to."""

    def __init__(self, store: Any, prefix: str) -> None:
        self.client = CountingClient(store)
        self.batcher = ScriptBatcher(self.client, ECHO_LUA, BUDGET)
        self.key = f"{prefix}calls"

    async def __call__(self, arg: str) -> Any:
        return await self.batcher([self.key], [arg])

    async def load(self) -> None:
        await self.client.script_load(ECHO_LUA)
        self.client.commands.clear()
        self.client.pipelines.clear()
        self.client.round_trips = 0

    async def round_trip_sent(self) -> None:
        """Wait until a pipeline has been written: its round trip is on its way."""
        async with asyncio.timeout(PATIENCE):
            while not self.client.pipelines:
                await asyncio.sleep(0)

    async def ran(self) -> list[str]:
        """The arguments of the calls that ran in Redis, in order."""
        return [item.decode() for item in await self.client.lrange(self.key, 0, -1)]


@pytest.fixture
def echo(store: Any, prefix: str) -> Echo:
    return Echo(store, prefix)


async def test_concurrent_calls_share_round_trips_and_each_gets_its_own_answer(
    echo: Echo,
) -> None:
    await echo.load()
    args = [f"call-{n}" for n in range(50)]
    answers = await asyncio.gather(*(echo(arg) for arg in args))
    assert [answer.decode() for answer in answers] == args
    pipelines = echo.client.pipelines
    assert 0 < len(pipelines) < len(args), pipelines
    assert sorted(command for pipeline in pipelines for command in pipeline) == ["evalsha"] * 50
    assert echo.client.round_trips == len(pipelines)  # nothing sent outside the pipelines
    assert sorted(await echo.ran()) == sorted(args)  # each call ran exactly once


async def test_calls_that_arrive_during_a_round_trip_leave_together_in_the_next(
    echo: Echo,
) -> None:
    await echo.load()
    first = asyncio.create_task(echo("first"))
    await echo.round_trip_sent()  # the first call's round trip is on its way
    later = [f"later-{n}" for n in range(20)]
    answers = await asyncio.gather(first, *(echo(arg) for arg in later))
    assert [answer.decode() for answer in answers] == ["first", *later]
    assert [len(pipeline) for pipeline in echo.client.pipelines] == [1, 20]


async def test_an_idle_batcher_sends_each_call_at_once(echo: Echo) -> None:
    await echo.load()
    for n in range(3):
        assert (await echo(f"alone-{n}")).decode() == f"alone-{n}"
    assert echo.client.pipelines == [["evalsha"]] * 3


async def test_an_error_reaches_only_its_own_caller(echo: Echo) -> None:
    await echo.load()
    args = ["a", "b", "fail", "c", "d"]
    answers = await asyncio.gather(*(echo(arg) for arg in args), return_exceptions=True)
    failed = answers.pop(2)
    assert isinstance(failed, ResponseError) and "asked to fail" in str(failed)
    assert answers == [b"a", b"b", b"c", b"d"]
    assert len(echo.client.pipelines) < len(args)
    assert sorted(await echo.ran()) == ["a", "b", "c", "d"]
    assert (await echo("after")).decode() == "after"  # and the batcher goes on


async def test_noscript_loads_the_script_and_retries(echo: Echo) -> None:
    await echo.load()
    assert (await echo("before")).decode() == "before"
    await echo.client.script_flush()  # as after a Redis restart or failover
    assert await echo.client.script_exists(echo.batcher.sha) == [False]
    echo.client.commands.clear()
    echo.client.pipelines.clear()

    args = [f"call-{n}" for n in range(10)]
    answers = await asyncio.gather(*(echo(arg) for arg in args))
    assert [answer.decode() for answer in answers] == args
    # All refused with NOSCRIPT in one round trip, the script loaded once, all sent again.
    assert echo.client.commands.count("script_load") == 1
    assert [len(pipeline) for pipeline in echo.client.pipelines] == [10, 10]
    assert await echo.client.script_exists(echo.batcher.sha) == [True]
    assert sorted(await echo.ran()) == sorted(["before", *args])  # each ran exactly once


async def test_a_first_call_on_a_server_without_the_script_loads_it(echo: Echo) -> None:
    await echo.client.script_flush()
    answers = await asyncio.gather(echo("x"), echo("fail"), return_exceptions=True)
    assert answers[0] == b"x"
    assert isinstance(answers[1], ResponseError) and "asked to fail" in str(answers[1])
    assert echo.client.commands.count("script_load") == 1


async def test_a_caller_that_gives_up_before_its_round_trip_is_dropped(echo: Echo) -> None:
    await echo.load()
    tasks = {arg: asyncio.create_task(echo(arg)) for arg in ("a", "gone", "b")}
    await asyncio.sleep(0)  # each call is queued; the round trip has not been written yet
    assert not echo.client.pipelines
    tasks["gone"].cancel()
    async with asyncio.timeout(PATIENCE):
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    assert tasks["gone"].cancelled()
    assert (tasks["a"].result(), tasks["b"].result()) == (b"a", b"b")
    assert echo.client.pipelines == [["evalsha", "evalsha"]]  # never sent
    assert await echo.ran() == ["a", "b"]


async def test_a_caller_that_gives_up_during_its_round_trip_does_not_break_the_others(
    echo: Echo,
) -> None:
    await echo.load()
    tasks = {arg: asyncio.create_task(echo(arg)) for arg in ("a", "gone", "b")}
    await echo.round_trip_sent()
    tasks["gone"].cancel()
    async with asyncio.timeout(PATIENCE):
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    assert tasks["gone"].cancelled()
    assert (tasks["a"].result(), tasks["b"].result()) == (b"a", b"b")
    assert echo.client.pipelines == [["evalsha"] * 3]
    assert await echo.ran() == ["a", "gone", "b"]  # already written: Redis ran it
    # The batcher is not stuck on the abandoned answer.
    async with asyncio.timeout(PATIENCE):
        c, d = await asyncio.gather(echo("c"), echo("d"))
    assert (c, d) == (b"c", b"d")
