"""What analytics costs a metered view: the paywall with analytics off and on, side by side.

    python -m bench.analytics                # about 4 minutes on 2 cores (3 rounds of 60 s)
    python -m bench.analytics --in-process   # the CPU per view alone, no HTTP (30 s)
    python -m bench.analytics --instructions # instructions per request, valgrind (3 min)
    python -m bench.analytics --rounds 8 --save run1.json   # then --pool run1.json run2.json

Over HTTP: one paywalled uvicorn worker (`bench/sliced.py`) on a private redis-server serves
`bench/paywall.yaml` (analytics off), `bench/paywall-analytics-only.yaml` (analytics on),
`bench/paywall-analytics.yaml` (analytics and Prometheus metrics on) and paywall.yaml again
(the control), taking turns in quarter-second slices in shuffled order, while wrk sends new
readers to random articles without a pause. Reports, per config against "off": the
throughput (requests answered per second of its slices) and the worker's CPU per request
added, over all blocks of a round, with a 95 % interval for the throughput (a bootstrap over
the rounds and their blocks: how far the machine's noise and each worker's luck could have
moved the figure); every round
starts a fresh worker, so that no one worker's luck (its memory layout, its hash seed) is
taken for the cost of analytics. Issue 12's budget for analytics: 2 % of throughput. The
control, the same config as "off" loaded twice, shows what is left of the noise.

The worker has the last CPU to itself (wrk, redis-server and this script the others;
`--no-pin` to let them share), so that its throughput follows its own CPU time per request.

Instructions (`--instructions`, bench/instructions.py): each config's worker under callgrind,
the instructions it executes per request: the same within about 0.25 % from run to run,
whatever the machine's speed does, so the steadiest figure of the three.

In process (`in_process` below): the recorder's CPU per view with Redis stubbed, off and on
in alternating batches of one middleware; no HTTP, no kernel: what a change to the recorder
saves, with a resolution of about ±0.3 µs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from .inprocess import StubRedis, _StubPipeline
from .instructions import available as instructions_counted
from .instructions import count
from .run import SECRET, Scenario, load, redis_server, uvicorn

HERE = Path(__file__).resolve().parent
CONFIGS = {
    "off": "paywall.yaml",
    "analytics": "paywall-analytics-only.yaml",
    "analytics + metrics": "paywall-analytics.yaml",
    "control (off again)": "paywall.yaml",
}
Block = dict[str, list[float]]  # config: [CPU s, requests answered, s, s in full collections]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="load per round")
    parser.add_argument("--rounds", type=int, default=3, help="each with a fresh worker")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--in-process", action="store_true", help="CPU per view, no HTTP")
    parser.add_argument(
        "--no-pin", action="store_true", help="let the worker share its CPU with the load"
    )
    parser.add_argument(
        "--instructions", action="store_true", help="instructions per request, valgrind"
    )
    parser.add_argument("--save", type=Path, help="write the run's rounds to this JSON file")
    parser.add_argument(
        "--pool", type=Path, nargs="+", metavar="JSON", help="report saved runs together"
    )
    args = parser.parse_args()
    if args.in_process:
        return in_process()
    if args.instructions:
        return instructions()
    if args.pool:
        pooled = [saved for path in args.pool for saved in _rounds(json.loads(path.read_text()))]
        blocks = sum(len(saved) for saved in pooled)
        print(f"{len(args.pool)} saved runs ({len(pooled)} rounds, {blocks} blocks):")
        _report(pooled, "  ")
        return 0
    pinned = 0 if args.no_pin else _pin_load()
    scenario = Scenario("new readers, random articles", "/articles/{n}", {})
    rounds: list[list[Block]] = []
    print(
        f"{scenario.name}, {args.rounds} rounds of {args.seconds:.0f} s, one worker"
        f" {'alone on CPU ' + str(pinned) if pinned else 'sharing the CPUs'},"
        " configs taking turns in quarter-second slices:"
    )
    with redis_server() as redis_url:
        env = {
            **os.environ,
            "PAYWALL_SECRET_KEYS": SECRET,
            "BENCH_REDIS_URL": redis_url,
            "PYTHONPATH": str(HERE.parent),
            "BENCH_SLICED": ",".join(f"{name}={file}" for name, file in CONFIGS.items()),
        }
        for number in range(1, args.rounds + 1):
            with uvicorn("bench.sliced:app", env, False) as (base, pid):
                if pinned:
                    os.sched_setaffinity(pid, {pinned})
                load(base, scenario, 3.0, args.connections)  # warm up
                urllib.request.urlopen(f"{base}/_sliced/start").read()
                load(base, scenario, args.seconds, args.connections)
                with urllib.request.urlopen(f"{base}/_sliced/blocks") as answer:
                    measured = _busy(json.load(answer))
            rounds.append(measured)
            print(f"  round {number} ({len(measured)} blocks):")
            _report([measured], "    ")
            if args.save:  # after each round: an interrupted run keeps what it measured
                args.save.write_text(json.dumps(rounds))
    print(f"  all rounds ({sum(len(measured) for measured in rounds)} blocks):")
    _report(rounds, "    ")
    return 0


def instructions(views: int = 2000) -> int:
    """Instructions per request of each config's worker, under callgrind."""
    if not instructions_counted():
        print("valgrind (callgrind) is not installed: apt-get install valgrind", file=sys.stderr)
        return 1
    print(f"new readers, random articles, {views} views per config, under callgrind:")
    with redis_server() as redis_url:
        off = count(HERE / CONFIGS["off"], redis_url, views)
        print(f"  off: {off.per_request:,.0f} instructions per request")
        for name, file in list(CONFIGS.items())[1:]:
            counted = count(HERE / file, redis_url, views)
            added = counted.per_request - off.per_request
            shutdown = counted.shutdown - off.shutdown
            print(
                f"  {name}: {counted.per_request:,.0f} per request, {added:+,.0f}"
                f" ({added / off.per_request:+.2%}); its shutdown {shutdown:+,} (the last flush)"
            )
    return 0


def _busy(blocks: list[Block]) -> list[Block]:
    """The blocks during which the load ran throughout (not those it started or ended in)."""
    typical = statistics.median(slice_[1] for block in blocks for slice_ in block.values())
    return [b for b in blocks if min(slice_[1] for slice_ in b.values()) > typical / 2]


def _report(rounds: list[list[Block]], indent: str) -> None:
    blocks = [block for measured in rounds for block in measured]
    off_cpu, off_requests, off_seconds = _totals(blocks, "off")
    off_rps, off_us = off_requests / off_seconds, off_cpu / off_requests * 1e6
    print(f"{indent}off: {off_rps:.0f} requests/s, {off_us:.1f} µs of CPU per request")
    for name in list(CONFIGS)[1:]:
        cpu, requests, _ = _totals(blocks, name)
        low, high = _interval(rounds, name)
        print(
            f"{indent}{name}: throughput {_throughput(blocks, name):.3f} of off"
            f" (95 % interval {low:.3f} to {high:.3f}),"
            f" {cpu / requests * 1e6 - off_us:+.1f} µs of CPU per request"
        )
    if all(len(figures) >= 4 for block in blocks for figures in block.values()):
        collecting = sum(figures[3] for block in blocks for figures in block.values())
        answered = sum(figures[1] for block in blocks for figures in block.values())
        print(f"{indent}full garbage collections: {collecting / answered * 1e6:.1f} µs a request")


def _rounds(saved: list[Any]) -> list[list[Block]]:
    """A saved run's rounds (a run saved as one list of blocks: one round)."""
    return [saved] if saved and isinstance(saved[0], dict) else saved


def _totals(blocks: list[Block], name: str) -> tuple[float, float, float]:
    """CPU seconds, requests answered and seconds of `name`'s slices in `blocks`."""
    cpu, requests, seconds = (sum(block[name][i] for block in blocks) for i in range(3))
    return cpu, requests, seconds


def _throughput(blocks: list[Block], name: str) -> float:
    _, requests, seconds = _totals(blocks, name)
    _, off_requests, off_seconds = _totals(blocks, "off")
    return (requests / seconds) / (off_requests / off_seconds)


def _interval(rounds: list[list[Block]], name: str, draws: int = 2000) -> tuple[float, float]:
    """Where `name`'s throughput against off lies, 95 % of the time: a bootstrap in two
    stages, the rounds drawn again with replacement and the blocks of each drawn round, so
    that the figure's interval holds both the machine's noise and each fresh worker's luck
    (one round: its blocks alone)."""
    draw = random.Random(12)
    ratios = []
    for _ in range(draws):
        picked = draw.choices(rounds, k=len(rounds)) if len(rounds) > 1 else rounds
        blocks = [block for measured in picked for block in draw.choices(measured, k=len(measured))]
        ratios.append(_throughput(blocks, name))
    ratios.sort()
    return ratios[int(draws * 0.025)], ratios[int(draws * 0.975) - 1]


def _pin_load() -> int:
    """Keep this process and what it starts (redis-server, wrk) off the last CPU and return
    that CPU, for the worker to have to itself (0: a single CPU, nothing pinned)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if len(cpus) < 2:
        return 0
    os.sched_setaffinity(0, set(cpus[:-1]))
    return cpus[-1]


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
