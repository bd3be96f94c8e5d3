"""Benchmark the paywall against the bare site, side by side, on real Redis and uvicorn.

    python -m bench.run                 # the full run (a few minutes on 2 cores)
    python -m bench.run --quick         # shorter runs, fewer readers: a smoke test
    python -m bench.run --compiled      # the paywalled worker on the mypyc build (setup.py)

Starts its own redis-server on a free port, the benchmark site under uvicorn twice
(bare, and behind the paywall), then loads each in turn, A B A B, with wrk (or a small
Python load generator when wrk is missing) and prints a markdown table per scenario.
Loopback only; every process it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from . import compiled as compiled_build
from .load import LoadResult, python_load, wrk_load

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-key"
SUBSCRIBER = "bench-subscriber"


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str  # "{n}" is replaced by a random number per request
    headers: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


@contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    folder = tempfile.mkdtemp(prefix="paywall-bench-redis-")
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            folder,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def uvicorn(
    factory: str, env: dict[str, str], plain: bool, cwd: Path = ROOT
) -> Iterator[tuple[str, int]]:
    """`factory` names a function of bench.app, or is a full "module:function" target."""
    port = free_port()
    command = uvicorn_command(factory, port)
    if plain:
        command += ["--loop", "asyncio", "--http", "h11"]
    process = subprocess.Popen(command, cwd=cwd, env=env)
    try:
        wait_for(f"http://127.0.0.1:{port}/free/0")
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def uvicorn_command(factory: str, port: int) -> list[str]:
    """One uvicorn worker serving `factory` (a function of bench.app, or "module:function")."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory if ":" in factory else f"bench.app:{factory}",
        "--factory",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Measured:
    """One load run and the CPU the server process spent on it, per request."""

    load: LoadResult
    cpu_us: float


def measured(base: str, pid: int, scenario: Scenario, seconds: float, connections: int) -> Measured:
    before = cpu_seconds(pid)
    result = load(base, scenario, seconds, connections)
    spent = cpu_seconds(pid) - before
    return Measured(result, spent / max(result.requests, 1) * 1e6)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# Commands meter.lua runs inside Redis; everything else was sent by a client.
_INSIDE_LUA = {"sismember", "scard", "sadd", "expire", "get", "exists"}
_HARNESS = {"info", "config", "ping", "set"}


def command_calls(client: redis.Redis) -> tuple[int, int]:
    """(commands sent by clients, commands run inside Lua) so far, from INFO commandstats."""
    sent = inside = 0
    for name, value in client.info("commandstats").items():
        command = name.removeprefix("cmdstat_").split("|")[0]
        if command in _INSIDE_LUA:
            inside += int(value["calls"])
        elif command not in _HARNESS:
            sent += int(value["calls"])
    return sent, inside


def walled_cookie(base: str, limit: int) -> str:
    """A reader cookie whose free articles are all used."""
    jar: dict[str, str] = {}  # the reader cookie and the summary cookie, as a browser keeps them
    for n in range(limit + 1):
        request = urllib.request.Request(f"{base}/articles/walled-{n}")
        if jar:
            request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in jar.items()))
        with urllib.request.urlopen(request) as response:
            for set_cookie in response.headers.get_all("set-cookie") or []:
                name, _, value = set_cookie.split(";")[0].partition("=")
                jar[name] = value
            body = response.read().decode()
    assert 'data-paywall="subscribe"' in body, "the walled reader was not walled"
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def load(base: str, scenario: Scenario, seconds: float, connections: int) -> LoadResult:
    if shutil.which("wrk"):
        return wrk_load(base, scenario.path, scenario.headers, seconds, connections)
    return asyncio.run(python_load(base, scenario.path, scenario.headers, seconds, connections))


def memory_per_reader_month(redis_url: str, readers: int, limit: int) -> tuple[float, int]:
    """Bytes of Redis memory per reader at the limit, and MEMORY USAGE of one meter key."""
    from paywall.identity import Reader, new_reader_id
    from paywall.periods import current_period
    from paywall.store import MeterStore, meter_key

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    before = int(client.info("memory")["used_memory"])

    ids = [new_reader_id() for _ in range(readers)]  # as the middleware mints them

    async def fill() -> None:
        import redis.asyncio as aioredis

        async_client = aioredis.from_url(redis_url)
        store = MeterStore(async_client, "paywall:", timeout=5.0)  # the default prefix
        now = datetime.now(UTC)
        period = current_period("month", __import__("zoneinfo").ZoneInfo("UTC"), now)
        for n in range(readers):
            reader = Reader(ids[n])
            await asyncio.gather(
                *(
                    store.view(
                        reader,
                        f"/articles/{n * 31 + a}",
                        premium=False,
                        limit=limit,
                        period=period,
                        now=now,
                    )
                    for a in range(limit)
                )
            )
        await async_client.aclose()

    asyncio.run(fill())
    after = int(client.info("memory")["used_memory"])
    now = datetime.now(UTC)
    period = current_period("month", __import__("zoneinfo").ZoneInfo("UTC"), now)
    sample = client.memory_usage(meter_key("paywall:", Reader(ids[0]), period)) or 0
    client.flushall()
    return (after - before) / readers, int(sample)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each load run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=2, help="A B pairs per scenario")
    parser.add_argument("--memory-readers", type=int, default=10_000)
    parser.add_argument("--rss-readers", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="2 s runs, 1 pair, fewer readers")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="uvicorn with asyncio and h11 instead of uvloop and httptools (when installed)",
    )
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="run the paywalled worker on the mypyc-compiled build, built into a temp dir",
    )
    parser.add_argument(
        "--wheel", type=Path, help="with --compiled: this compiled wheel instead of building one"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.pairs, args.memory_readers, args.rss_readers = 2.0, 1, 1000, 5000
    if not shutil.which("redis-server"):
        print("bench: redis-server is not installed", file=sys.stderr)
        return 1
    limit = 10
    server = "asyncio + h11" if args.plain else "uvicorn's default loop and parser"
    print(
        f"server: uvicorn, 1 worker, {server}; "
        f"load generator: {'wrk' if shutil.which('wrk') else 'python (wrk not found)'}; "
        f"{args.connections} connections, {args.seconds:.0f} s runs, {args.pairs} A/B pairs; "
        f"{os.cpu_count()} cores",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="paywall-bench-build-") as folder:
        built = None
        if args.compiled or args.wheel:
            built = compiled_build.build(ROOT, Path(folder), args.wheel)
        paywall_cwd, paywall_path = compiled_build.worker_paths(ROOT, built)
        loaded = compiled_build.which_paywall(paywall_cwd, paywall_path)
        if built is not None and not loaded.endswith(".so"):
            print(f"bench: the compiled build did not load ({loaded})", file=sys.stderr)
            return 1
        build = (
            "pure Python"
            if built is None
            else f"compiled (mypyc; wheel {built.wheel.stat().st_size / 1e6:.1f} MB"
            + (f", built in {built.seconds:.0f} s" if args.wheel is None else "")
            + ")"
        )
        print(f"paywall build: {build}; paywall.middleware from {loaded}")
        return _run(args, limit, paywall_cwd, paywall_path)


def _run(args: argparse.Namespace, limit: int, paywall_cwd: Path, paywall_path: str) -> int:
    with redis_server() as redis_url:
        env = {
            **os.environ,
            "PAYWALL_SECRET_KEYS": SECRET,
            "BENCH_REDIS_URL": redis_url,
            "PYTHONPATH": str(ROOT),
        }
        if "BENCH_CONFIG" in env:  # the compiled worker runs elsewhere: no relative path
            env["BENCH_CONFIG"] = str(Path(env["BENCH_CONFIG"]).resolve())
        paywall_env = {**env, "PYTHONPATH": paywall_path}
        client = redis.Redis.from_url(redis_url)
        with (
            uvicorn("bare", env, args.plain) as (bare, bare_pid),
            uvicorn("paywalled", paywall_env, args.plain, paywall_cwd) as (paywalled, pid),
            uvicorn("sessions", env, args.plain) as (sessions, sessions_pid),
        ):
            cookie = walled_cookie(paywalled, limit)
            until = int((datetime.now(UTC) + timedelta(days=30)).timestamp())
            client.set("bench:{a:" + SUBSCRIBER + "}:ent", f"subscription {until}")
            scenarios = [
                Scenario("new readers, random articles", "/articles/{n}", {}),
                Scenario(
                    "returning reader past the limit (walled)", "/articles/{n}", {"Cookie": cookie}
                ),
                Scenario("subscriber", "/articles/{n}", {"X-Bench-Account": SUBSCRIBER}),
                Scenario("free page", "/free/{n}", {}),
            ]
            for base in (bare, paywalled, sessions):
                load(base, scenarios[0], 1.0, args.connections)  # warm up
            rss_start = rss_kib(pid)
            rows = []
            for scenario in scenarios:
                ratios, bare_runs, wall_runs, added_cpu = [], [], [], []
                sent = inside = requests = 0
                for _ in range(args.pairs):
                    a = measured(bare, bare_pid, scenario, args.seconds, args.connections)
                    sent_before, inside_before = command_calls(client)
                    b = measured(paywalled, pid, scenario, args.seconds, args.connections)
                    sent_after, inside_after = command_calls(client)
                    sent += sent_after - sent_before
                    inside += inside_after - inside_before
                    requests += b.load.requests
                    bare_runs.append(a.load)
                    wall_runs.append(b.load)
                    ratios.append(b.load.rps / a.load.rps)
                    added_cpu.append(b.cpu_us - a.cpu_us)
                rows.append(
                    Row(
                        scenario.name,
                        statistics.median(ratios),
                        statistics.median(added_cpu),
                        statistics.median(r.rps for r in bare_runs),
                        statistics.median(r.rps for r in wall_runs),
                        statistics.median(
                            b.p50 - a.p50 for a, b in zip(bare_runs, wall_runs, strict=True)
                        ),
                        statistics.median(
                            b.p99 - a.p99 for a, b in zip(bare_runs, wall_runs, strict=True)
                        ),
                        sent / max(requests, 1),
                        inside / max(requests, 1),
                        sum(r.errors for r in wall_runs),
                    )
                )
            # Calibration: Starlette's SessionMiddleware, which does no I/O at all.
            ratios, added_cpu = [], []
            for _ in range(args.pairs):
                a = measured(bare, bare_pid, scenarios[3], args.seconds, args.connections)
                b = measured(sessions, sessions_pid, scenarios[3], args.seconds, args.connections)
                ratios.append(b.load.rps / a.load.rps)
                added_cpu.append(b.cpu_us - a.cpu_us)
            calibration = (statistics.median(ratios), statistics.median(added_cpu))
            rss_rows = [(0, rss_start)]
            served = 0
            step = max(args.rss_readers // 4, 1)
            while served < args.rss_readers:
                served += _load_count(paywalled, scenarios[0], step, args.connections)
                rss_rows.append((served, rss_kib(pid)))
        per_reader, sample = memory_per_reader_month(redis_url, args.memory_readers, limit)
    print_report(rows, rss_rows, per_reader, sample, args)
    print(
        f"Calibration: Starlette's SessionMiddleware (no I/O) / bare: {calibration[0]:.2f},"
        f" {calibration[1]:+.0f} µs of CPU per request"
    )
    return 0


def _load_count(base: str, scenario: Scenario, requests: int, connections: int) -> int:
    """Send about `requests` new-reader views (wrk by time, estimated from a short run)."""
    probe = load(base, scenario, 1.0, connections)
    seconds = max(requests / max(probe.rps, 1.0) - 1.0, 0.5)
    return probe.requests + load(base, scenario, seconds, connections).requests


@dataclass(frozen=True)
class Row:
    """One scenario's medians over its A/B pairs (the paywall minus or over the bare site)."""

    name: str
    ratio: float
    added_cpu_us: float  # the server process's CPU per request, paywall minus bare
    bare_rps: float
    paywall_rps: float
    added_p50: float
    added_p99: float
    sent: float
    inside: float
    errors: int


def print_report(
    rows: list[Row],
    rss_rows: list[tuple[int, int]],
    per_reader: float,
    sample: int,
    args: argparse.Namespace,
) -> None:
    print(
        "| scenario | paywall/bare throughput | app CPU added per request | bare req/s |"
        " paywall req/s | added p50 | added p99 | Redis commands sent per request |"
        " run inside Lua | errors |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row.name} | {row.ratio:.2f} | {row.added_cpu_us:+.0f} µs | {row.bare_rps:.0f} |"
            f" {row.paywall_rps:.0f} | {row.added_p50:+.2f} ms | {row.added_p99:+.2f} ms |"
            f" {row.sent:.2f} | {row.inside:.2f} | {row.errors} |"
        )
    print()
    print(
        f"Redis memory per reader-month at limit 10: {per_reader:.0f} bytes"
        f" (over {args.memory_readers} readers; MEMORY USAGE of one meter key: {sample} bytes)"
    )
    print(
        "Paywall process RSS: "
        + ", ".join(f"{rss / 1024:.1f} MiB after {readers:,} readers" for readers, rss in rss_rows)
    )


if __name__ == "__main__":
    sys.exit(main())
