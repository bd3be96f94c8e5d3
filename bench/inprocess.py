"""The paywall's own CPU per view, in-process, with Redis stubbed out.

    python -m bench.inprocess              # whichever `paywall` this interpreter imports

Drives bench.app's page through the ASGI app directly, one view at a time, bare and
behind the paywall, with a store client that answers every pipeline at once with the
meter's reply for the scenario: no HTTP server, no socket, no Redis, no redis-py round
trip. What is left is the middleware's own Python (plus Starlette's request objects),
which is what the compiled build changes; `python -m bench.run` measures everything.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message

SUBSCRIBER_UNTIL = 4_102_444_800  # 2100-01-01


class _StubPipeline:
    def __init__(self, reply: list[Any]) -> None:
        self.reply = reply
        self.calls = 0

    def execute_command(self, *args: Any) -> _StubPipeline:
        self.calls += 1
        return self

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        return [self.reply] * self.calls


class StubRedis:
    """Answers every EVALSHA with `reply` (meter.lua's {outcome, views, status, until})."""

    def __init__(self) -> None:
        self.reply: list[Any] = [1, 1, b"none"]

    def pipeline(self, transaction: bool = True) -> _StubPipeline:
        return _StubPipeline(self.reply)

    async def script_load(self, script: str) -> str:
        return ""


async def _view(app: ASGIApp, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench.test"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _cpu_per_view(
    app: ASGIApp, path: Callable[[], str], headers: list[tuple[bytes, bytes]], views: int
) -> float:
    """Microseconds of process CPU per view, `views` of them after a warm-up."""
    for _ in range(max(views // 10, 50)):
        await _view(app, path(), headers)
    started = time.process_time()
    for _ in range(views):
        await _view(app, path(), headers)
    return (time.process_time() - started) / views * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=int, default=3000, help="views per scenario and round")
    parser.add_argument("--rounds", type=int, default=5, help="the median of this many is shown")
    args = parser.parse_args()
    os.environ.setdefault("PAYWALL_SECRET_KEYS", "bench-signing-key")
    os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:1/0")  # never connected to

    import paywall.middleware
    from paywall import PaywallMiddleware

    from . import app as site

    stub = StubRedis()
    bare = site.bare()
    paywalled = site._signed_in(PaywallMiddleware(site.upstream, config=site.CONFIG, redis=stub))
    article = lambda: f"/articles/{random.randrange(1_000_000_000)}"  # noqa: E731
    free = lambda: f"/free/{random.randrange(1_000_000_000)}"  # noqa: E731
    account = [(b"x-bench-account", b"bench-subscriber")]
    scenarios: list[tuple[str, Callable[[], str], list[tuple[bytes, bytes]], list[Any]]] = [
        ("new readers, random articles (counted)", article, [], [1, 1, b"none"]),
        ("walled (limit used)", article, [], [2, 10, b"none"]),
        ("subscriber", article, account, [3, 0, b"subscription", SUBSCRIBER_UNTIL]),
        ("free page", free, [], [1, 1, b"none"]),
    ]
    print(f"paywall.middleware from {paywall.middleware.__file__}")
    print("| scenario | bare µs/view | paywall µs/view | added µs/view |")
    print("| --- | --- | --- | --- |")

    async def run() -> None:
        for name, path, headers, reply in scenarios:
            stub.reply = reply
            rounds: list[tuple[float, float]] = []
            for _ in range(args.rounds):
                bare_us = await _cpu_per_view(bare, path, headers, args.views)
                rounds.append((bare_us, await _cpu_per_view(paywalled, path, headers, args.views)))
            bare_us = statistics.median(r[0] for r in rounds)
            wall_us = statistics.median(r[1] for r in rounds)
            added = statistics.median(r[1] - r[0] for r in rounds)
            print(f"| {name} | {bare_us:.1f} | {wall_us:.1f} | {added:+.1f} |")

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
