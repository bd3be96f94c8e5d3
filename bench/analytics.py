"""What analytics costs a metered view: the paywall with analytics off and on, side by side.

    python -m bench.analytics                # about 4 minutes on 2 cores
    python -m bench.analytics --in-process   # the CPU per view alone, no HTTP (30 s)

Over HTTP: paywalled uvicorn workers on one private redis-server, `bench/paywall.yaml`
(analytics off), `bench/paywall-analytics-only.yaml` (analytics on) and
`bench/paywall-analytics.yaml` (analytics and Prometheus metrics on), each loaded in turn
against an "off" worker (A B pairs, the order swapped every other pair) with new readers on
random articles; reports the throughput over "off" and the CPU per request added, medians
over the pairs (issue 12's budget for analytics: 2 %). A second "off" worker measured the
same way is the control: what it reports is the noise of the machine, not analytics. Every
round starts fresh workers, so that no one worker's luck (its memory layout, its hash seed)
is taken for the cost of analytics.

In process (`in_process` below): the recorder's CPU per view with Redis stubbed, off and on
in alternating batches of one middleware; no HTTP, no kernel, and the machine's other load
shared alike: the figure to hold a change against when the machine is too noisy for 2 %.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .inprocess import StubRedis, _StubPipeline
from .run import SECRET, Measured, Scenario, measured, redis_server, uvicorn

HERE = Path(__file__).resolve().parent
CONFIGS = {
    "control (off again)": "paywall.yaml",
    "analytics": "paywall-analytics-only.yaml",
    "analytics + metrics": "paywall-analytics.yaml",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each load run")
    parser.add_argument("--pairs", type=int, default=4, help="A B pairs per variant and round")
    parser.add_argument("--rounds", type=int, default=2, help="each with fresh workers")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--in-process", action="store_true", help="CPU per view, no HTTP")
    args = parser.parse_args()
    if args.in_process:
        return in_process()
    scenario = Scenario("new readers, random articles", "/articles/{n}", {})
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in CONFIGS}
    off_cpu: list[float] = []
    with redis_server() as redis_url:
        env = {
            **os.environ,
            "PAYWALL_SECRET_KEYS": SECRET,
            "BENCH_REDIS_URL": redis_url,
            "PYTHONPATH": str(HERE.parent),
        }
        for _ in range(args.rounds):
            with ExitStack() as stack:
                workers = {
                    name: stack.enter_context(
                        uvicorn("paywalled", {**env, "BENCH_CONFIG": str(HERE / config)}, False)
                    )
                    for name, config in {"off": "paywall.yaml", **CONFIGS}.items()
                }
                for base, pid in workers.values():
                    measured(base, pid, scenario, 1.0, args.connections)  # warm up
                for pair in range(args.pairs):
                    for name in CONFIGS:
                        off, on = _pair(workers, name, pair % 2 == 1, scenario, args)
                        ratios, added = results[name]
                        ratios.append(on.load.rps / off.load.rps)
                        added.append(on.cpu_us - off.cpu_us)
                        off_cpu.append(off.cpu_us)
    print(
        f"{scenario.name}, {args.rounds} rounds of {args.pairs} pairs of {args.seconds:.0f} s"
        f" against analytics off (off: {statistics.median(off_cpu):.0f} µs of CPU per request):"
    )
    for name, (ratios, added) in results.items():
        low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        print(
            f"  {name}: throughput {statistics.median(ratios):.3f} of off"
            f" (middle half of the pairs {low:.3f} to {high:.3f}),"
            f" {statistics.median(added):+.1f} µs of CPU per request"
        )
    return 0


def _pair(
    workers: dict[str, tuple[str, int]],
    name: str,
    swapped: bool,
    scenario: Scenario,
    args: argparse.Namespace,
) -> tuple[Measured, Measured]:
    """One run of "off" and one of `name`, back to back (`swapped`: `name` first)."""
    run: dict[str, Measured] = {}
    for which in [name, "off"] if swapped else ["off", name]:
        base, pid = workers[which]
        run[which] = measured(base, pid, scenario, args.seconds, args.connections)
    return run["off"], run[name]


def in_process(batches: int = 150, views: int = 240, at_once: int = 16) -> int:
    """CPU per view in one process, Redis stubbed: one middleware (analytics and metrics
    configured) whose recorder is switched off, on, and on with metrics, batch by batch in
    shuffled order, so that all three share one process, one memory layout and one moment
    of the machine; views `at_once` concurrently, each store call one loop iteration, as
    a loaded worker batches them."""
    os.environ.setdefault("PAYWALL_SECRET_KEYS", SECRET)
    os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:1/0")  # never connected to
    from paywall import PaywallMiddleware

    from . import app as site
    from .inprocess import _view

    middleware = PaywallMiddleware(
        site.upstream, config=HERE / "paywall-analytics.yaml", redis=_Redis()
    )
    app = site._signed_in(middleware)
    recorder = middleware.analytics
    modes: dict[str, tuple[bool, Any]] = {
        "off": (False, None),
        "analytics": (True, None),
        "analytics + metrics": (True, recorder.metrics),
    }

    async def batch() -> None:
        for _ in range(views // at_once):
            await asyncio.gather(
                *(_view(app, f"/articles/{random.randrange(10**9)}", []) for _ in range(at_once))
            )

    async def run() -> dict[str, list[float]]:
        spent: dict[str, list[float]] = {name: [] for name in modes}
        await batch()  # warm up
        for _ in range(batches):
            names = list(modes)
            random.shuffle(names)
            for name in names:
                recorder.enabled, recorder.metrics = modes[name]
                started = time.process_time()
                await batch()
                spent[name].append((time.process_time() - started) / views * 1e6)
        return spent

    spent = asyncio.run(run())
    off = spent["off"]
    print(
        f"new readers, random articles, in process ({batches} batches of {views} views,"
        f" {at_once} at once): off {statistics.median(off):.1f} µs of CPU per view"
    )
    for name in list(modes)[1:]:
        added = [b - a for a, b in zip(off, spent[name], strict=True)]
        print(f"  {name}: {statistics.median(added):+.2f} µs per view")
    return 0


class _Pipeline(_StubPipeline):
    """The meter's pipeline answered after one loop iteration; analytics' flush taken."""

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        await asyncio.sleep(0)
        return await super().execute(raise_on_error)

    def hincrby(self, *args: Any) -> _Pipeline:
        self.execute_command(*args)
        return self

    def expireat(self, *args: Any) -> _Pipeline:
        self.execute_command(*args)
        return self


class _Redis(StubRedis):
    def pipeline(self, transaction: bool = True) -> _Pipeline:
        return _Pipeline(self.reply)

    async def eval(self, *args: Any) -> Any:  # analytics' config history
        return 1


if __name__ == "__main__":
    sys.exit(main())
