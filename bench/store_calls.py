"""CPU per meter call: MeterStore through redis-py vs through our RESP client (paywall/resp.py).

    python -m bench.store_calls                          # Redis at $PAYWALL_TEST_REDIS_URL or :6379
    python -m bench.store_calls --calls 50000 --concurrency 1,8,64 --loop asyncio

For each concurrency N, N views are metered at once (`asyncio.gather` of `MeterStore.view`)
round after round, and the figure is this process's CPU time (`time.process_time()`, so not
Redis's, and not disturbed much by other processes on the machine) divided by the calls.
Rows:

- `redis-py`: a redis.asyncio client, as `redis=` or a `rediss://`/cluster URL gets.
- `resp`: our RESP client, as a plain `redis://` or `unix://` store.url gets.
- `resp, script only`: the RESP client's EVALSHA call alone, without MeterStore around it.
- `no client`: MeterStore with a stand-in that answers at once: the store's own Python
  (keys, article id, breaker, patience timer), the part no client can save.

Keys go under a prefix of their own and are deleted afterwards. No timing assertions: it
prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis
import redis.asyncio as aioredis

from paywall.identity import Reader
from paywall.periods import current_period
from paywall.resp import RespClient
from paywall.store import METER_LUA, MeterStore

NOW = datetime.now(UTC)
PERIOD = current_period("month", ZoneInfo("UTC"), NOW)
# The store budget: it costs the same CPU at any size (each write's clock ticks only if the
# answer is late), and a generous one keeps a busy shared machine from aborting the run.
BUDGET = 1.0


class Answering:
    """Stands in for the store's script runner: answers "counted, 1 view" at once."""

    sha = "0" * 40

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return [1, 1, b"none"]


def views(store: MeterStore, round_no: int, concurrency: int) -> list[Awaitable[Any]]:
    return [
        store.view(
            Reader(f"bench{round_no % 500:05d}r{n:06d}"),
            f"/articles/{round_no}-{n}",
            premium=False,
            limit=10,
            period=PERIOD,
            now=NOW,
        )
        for n in range(concurrency)
    ]


async def cpu_per_call(
    calls: Callable[[int], list[Awaitable[Any]]], total: int, concurrency: int
) -> float:
    """CPU µs per call over `total` calls made `concurrency` at a time (after a warm-up). One
    at a time is awaited in the caller's own task, as a request's view is."""

    async def one_round(round_no: int) -> None:
        if concurrency == 1:
            await calls(round_no)[0]
        else:
            await asyncio.gather(*calls(round_no))

    for round_no in range(warm_up_rounds(concurrency)):
        await one_round(round_no)
    rounds = max(1, total // concurrency)
    started = time.process_time()
    for round_no in range(rounds):
        await one_round(round_no)
    return (time.process_time() - started) / (rounds * concurrency) * 1e6


def warm_up_rounds(concurrency: int) -> int:
    return max(20, 2000 // concurrency)


async def measure(url: str, prefix: str, total: int, concurrency: int) -> dict[str, float]:
    rows: dict[str, float] = {}
    redis_py = aioredis.from_url(url)
    resp = RespClient.from_url(url, BUDGET)

    def meter(store: MeterStore) -> Callable[[int], list[Awaitable[Any]]]:
        return lambda round_no: views(store, round_no, concurrency)

    try:
        rows["redis-py"] = await cpu_per_call(
            meter(MeterStore(redis_py, prefix, BUDGET)), total, concurrency
        )
        writes = resp.writes
        rows["resp"] = await cpu_per_call(
            meter(MeterStore(resp, prefix, BUDGET)), total, concurrency
        )
        rounds = max(1, total // concurrency) + warm_up_rounds(concurrency)
        rows["resp calls per write"] = rounds * concurrency / max(1, resp.writes - writes)
        script = resp.script(METER_LUA)
        key = f"{prefix}{{r:script-only}}:m:{PERIOD.id}"

        def script_calls(round_no: int) -> list[Awaitable[Any]]:
            args = ("m", round_no, 10, 3600, int(NOW.timestamp()), "0")
            return [script([key], args) for _ in range(concurrency)]

        rows["resp, script only"] = await cpu_per_call(script_calls, total, concurrency)
        answering = MeterStore(redis_py, prefix, BUDGET)
        answering._script = Answering()  # type: ignore[assignment]
        rows["no client"] = await cpu_per_call(meter(answering), total, concurrency)
    finally:
        await redis_py.aclose()
        await resp.aclose()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_url = os.environ.get("PAYWALL_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    parser.add_argument("--redis", default=default_url, help=f"Redis URL (default {default_url})")
    parser.add_argument("--calls", type=int, default=20000, help="calls per row (default 20000)")
    parser.add_argument("--concurrency", default="1,16,128", help="N at once (default 1,16,128)")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args(argv)
    prefix = f"bench-store-calls-{uuid.uuid4().hex[:8]}:"
    levels = [int(level) for level in args.concurrency.split(",")]
    runner: Callable[[Any], Any] = asyncio.run
    if args.loop == "uvloop":
        import uvloop

        runner = uvloop.run
    try:
        results = {n: runner(measure(args.redis, prefix, args.calls, n)) for n in levels}
    finally:
        admin = redis.Redis.from_url(args.redis)
        keys = list(admin.scan_iter(match=prefix + "*", count=1000))
        if keys:
            admin.delete(*keys)
        admin.close()
    print(f"CPU µs per meter call ({args.loop}, {args.calls} calls per row)\n")
    print("| | " + " | ".join(f"{level} at once" for level in levels) + " |")
    print("| --- |" + " ---: |" * len(levels))
    for row in results[levels[0]]:
        cells = " | ".join(f"{results[level][row]:.1f}" for level in levels)
        print(f"| {row} | {cells} |")


if __name__ == "__main__":
    main()
