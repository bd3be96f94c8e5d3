"""What analytics costs a metered view: the paywall with analytics off and on, side by side.

    python -m bench.analytics            # about 2 minutes on 2 cores

Three paywalled uvicorn workers on one private redis-server: `bench/paywall.yaml` (analytics
off), `bench/paywall-analytics-only.yaml` (analytics on) and `bench/paywall-analytics.yaml`
(analytics and Prometheus metrics on), each loaded in turn against the first (A B pairs)
with new readers on random articles; reports the throughput over "off" and the CPU per
request added, medians over the pairs (issue 12's budget for analytics: 2 %).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from .run import SECRET, Scenario, measured, redis_server, uvicorn

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    scenario = Scenario("new readers, random articles", "/articles/{n}", {})
    with redis_server() as redis_url:
        env = {
            **os.environ,
            "PAYWALL_SECRET_KEYS": SECRET,
            "BENCH_REDIS_URL": redis_url,
            "PYTHONPATH": str(HERE.parent),
        }
        variants = {
            name: {**env, "BENCH_CONFIG": str(HERE / config)}
            for name, config in (
                ("off", "paywall.yaml"),
                ("analytics", "paywall-analytics-only.yaml"),
                ("analytics + metrics", "paywall-analytics.yaml"),
            )
        }
        with (
            uvicorn("paywalled", variants["off"], False) as off,
            uvicorn("paywalled", variants["analytics"], False) as analytics,
            uvicorn("paywalled", variants["analytics + metrics"], False) as both,
        ):
            for base, pid in (off, analytics, both):
                measured(base, pid, scenario, 1.0, args.connections)  # warm up
            results: dict[str, tuple[list[float], list[float]]] = {}
            for _ in range(args.pairs):
                for name, (base, pid) in (("analytics", analytics), ("analytics + metrics", both)):
                    a = measured(off[0], off[1], scenario, args.seconds, args.connections)
                    b = measured(base, pid, scenario, args.seconds, args.connections)
                    ratios, added = results.setdefault(name, ([], []))
                    ratios.append(b.load.rps / a.load.rps)
                    added.append(b.cpu_us - a.cpu_us)
    print(f"{scenario.name}, {args.pairs} pairs of {args.seconds:.0f} s against analytics off:")
    for name, (ratios, added) in results.items():
        print(
            f"  {name}: throughput {statistics.median(ratios):.3f} of off,"
            f" {statistics.median(added):+.1f} µs of CPU per request"
            f" (pairs: {', '.join(f'{r:.3f}' for r in ratios)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
