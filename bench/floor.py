"""Measure the floor: which Redis client carries one EVALSHA per view nearly for free (issue 11).

    python -m bench.floor                # uvloop + httptools (uvicorn's defaults when installed)
    python -m bench.floor --plain        # asyncio + h11
    python -m bench.floor --faults-only  # only the quick fault checks of each client
    python -m bench.floor --in-process-only  # only each client's CPU per call, no HTTP

The bench site of bench/app.py (a ~20 KB Starlette article page) is served by real uvicorn,
one worker per variant: bare; Starlette's SessionMiddleware (no I/O, the calibration); and a
minimal metering middleware (`MinimalMeter`: reads a reader cookie or mints an id, runs the
real paywall/lua/meter.lua once per article view with the product's keys and arguments, adds
a header, passes the page on untouched) once per Redis client:

- redis-py asyncio (with hiredis when installed), through its `Script` object; and as the
  product drives it today, through `paywall.batch.ScriptBatcher` (pipelined);
- coredis, through its `Script` object (`register_script`), by default and with its
  documented `Config.optimized` (most runtime validation off);
- valkey-glide, through `Script` and `invoke_script` (its documented script API: EVALSHA,
  loading the script on NOSCRIPT);
- `RawResp`, defined below: a raw pipelined RESP protocol, the measuring stick.

wrk loads bare and each candidate in turn, A B A B, with new readers on random articles; the
report gives per candidate the median throughput ratio to bare and the median app CPU added
per view (the worker's utime+stime over a run divided by its requests, candidate minus bare).
The machine is shared, so throughput is noisy: CPU per view is the robust figure. Each pair
waits (a bounded time) for the machine to be quiet; a pair during which processes other than
ours took more than `--disturbed` of a core is discarded and measured again, `--retries`
times at most, after which it is kept and counted as disturbed; the report shows the median
other load. Then, in process and without HTTP, each client's own CPU per meter call at the
same concurrency; then quick fault checks (SCRIPT FLUSH, a killed and a restarted Redis).
Candidates whose package is missing are skipped, saying why.
Redis is a private redis-server on a free port; loopback only; every process started here
is stopped at the end.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import importlib.util
import os
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paywall.periods import EXPIRY_SLACK_SECONDS, current_period
from paywall.store import METER_LUA, article_id

from .run import Measured, Scenario, cpu_seconds, free_port, measured, redis_server, uvicorn

TIMEOUT = 0.1  # the product's default store budget (store.timeout_ms: 100)
PREFIX = "floor:"
LIMIT = 10
COOKIE = b"reader"
ID_KEY = b"floor-bench-article-id-key"

# meter.lua's arguments for an anonymous reader's metered view; see paywall/store.py
MeterArgs = tuple[str, int, int, int, int, str]


# --- the clients -----------------------------------------------------------------------------


class Backend(abc.ABC):
    """One Redis client running meter.lua; `running` connects and loads, `meter` runs it."""

    name = ""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout

    @abc.abstractmethod
    def running(self, url: str) -> Any:
        """An async context manager: the client is usable inside it."""

    @abc.abstractmethod
    async def meter(self, key: str, args: MeterArgs) -> Any:
        """meter.lua's reply for one view."""


class RedisPy(Backend):
    """redis-py asyncio, its connection pool and `Script` (EVALSHA, SCRIPT LOAD on NOSCRIPT);
    the budget is its socket timeout, so no per-view asyncio.timeout is paid."""

    name = "redis-py"

    @asynccontextmanager
    async def running(self, url: str) -> AsyncIterator[None]:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(
            url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        self._script = client.register_script(METER_LUA)
        try:
            yield
        finally:
            await client.aclose()

    async def meter(self, key: str, args: MeterArgs) -> Any:
        return await self._script(keys=[key], args=args)


class RedisPyBatched(Backend):
    """redis-py asyncio as the product drives it today: `paywall.batch.ScriptBatcher`, the
    calls of concurrent views pipelined per round trip, each round trip under a budget."""

    name = "redis-py, batched"

    @asynccontextmanager
    async def running(self, url: str) -> AsyncIterator[None]:
        import redis.asyncio as aioredis

        from paywall.batch import ScriptBatcher

        client = aioredis.Redis.from_url(url)
        await client.script_load(METER_LUA)
        self._batcher = ScriptBatcher(client, METER_LUA, self.timeout)
        try:
            yield
        finally:
            await client.aclose()

    async def meter(self, key: str, args: MeterArgs) -> Any:
        return await self._batcher([key], args)


class Coredis(Backend):
    """coredis (RESP3 only since 6.0; the client must be entered as a context manager), its
    `Script` (EVALSHA, SCRIPT LOAD on NOSCRIPT); the budget is its stream timeout.
    `optimized` is its documented switch that turns most runtime validation off; some of
    it is decided as coredis is imported, hence the environment variable."""

    name = "coredis"

    def __init__(self, timeout: float = TIMEOUT, optimized: bool = False) -> None:
        super().__init__(timeout)
        self.optimized = optimized

    @asynccontextmanager
    async def running(self, url: str) -> AsyncIterator[None]:
        if self.optimized:
            os.environ["COREDIS_OPTIMIZED"] = "true"
        import coredis

        assert coredis.Config.optimized == self.optimized, "set before coredis was imported"
        client = coredis.Redis.from_url(
            url, stream_timeout=self.timeout, connect_timeout=self.timeout
        )
        async with client:
            self._script = client.register_script(METER_LUA)
            yield

    async def meter(self, key: str, args: MeterArgs) -> Any:
        return await self._script(keys=[key], args=args)


class Glide(Backend):
    """valkey-glide's asyncio client: `Script` and `invoke_script` (the Rust core sends
    EVALSHA and loads the script on NOSCRIPT); the budget is its request_timeout. Its
    arguments must be str or bytes."""

    name = "valkey-glide"

    @asynccontextmanager
    async def running(self, url: str) -> AsyncIterator[None]:
        from glide import (
            GlideClient,
            GlideClientConfiguration,
            Logger,
            LogLevel,
            NodeAddress,
            Script,
        )

        # Its core logs each slow or timed-out request to stdout at WARN; keep the report clean.
        Logger.set_logger_config(LogLevel.ERROR)
        parts = urlsplit(url)
        config = GlideClientConfiguration(
            [NodeAddress(parts.hostname or "127.0.0.1", parts.port or 6379)],
            request_timeout=max(int(self.timeout * 1000), 1),
        )
        self._client = await GlideClient.create(config)
        self._script = Script(METER_LUA)
        try:
            yield
        finally:
            await self._client.close()

    async def meter(self, key: str, args: MeterArgs) -> Any:
        return await self._client.invoke_script(
            self._script, keys=[key], args=[str(arg) for arg in args]
        )


class RawResp(asyncio.Protocol):
    """The measuring stick, not product code: one connection; the calls made during one turn
    of the event loop leave in one `transport.write`; `hiredis.Reader` parses the replies,
    which resolve the waiting futures in order; one timer per written batch fails whatever
    of that batch is still unanswered when the budget runs out."""

    def __init__(self, timeout: float) -> None:
        import hiredis

        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._parser = hiredis.Reader()
        self._reply_error = hiredis.ReplyError
        self._transport: asyncio.Transport | None = None
        self._outgoing: list[bytes] = []
        self._unsent: list[asyncio.Future[Any]] = []
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._timers: deque[tuple[list[asyncio.Future[Any]], asyncio.TimerHandle]] = deque()
        self._lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        while (reply := self._parser.gets()) is not False:
            future = self._waiting.popleft()
            if self._timers and self._timers[0][0][-1] is future:  # its batch is all answered
                self._timers.popleft()[1].cancel()
            if future.done():  # timed out meanwhile
                continue
            if isinstance(reply, self._reply_error):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = ConnectionError(f"Redis connection lost: {exc or 'closed'}")
        for _, timer in self._timers:
            timer.cancel()
        for future in (*self._waiting, *self._unsent):
            if not future.done():
                future.set_exception(self._lost)

    def call(self, command: bytes) -> asyncio.Future[Any]:
        """Send one RESP-encoded command (with the others of this loop turn)."""
        if self._lost is not None or self._transport is None:
            raise self._lost or ConnectionError("not connected")
        future = self._loop.create_future()
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(command)
        self._unsent.append(future)
        return future

    def _flush(self) -> None:
        batch, self._unsent = self._unsent, []
        payload, self._outgoing = b"".join(self._outgoing), []
        if self._lost is not None or self._transport is None:
            return  # connection_lost failed them
        self._transport.write(payload)
        self._waiting.extend(batch)
        self._timers.append((batch, self._loop.call_later(self._timeout, self._expire, batch)))

    def _expire(self, batch: list[asyncio.Future[Any]]) -> None:
        for future in batch:
            if not future.done():
                future.set_exception(TimeoutError("Redis did not answer in time"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def resp(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class Raw(Backend):
    """meter.lua through `RawResp`: the EVALSHA prefix (command, SHA, one key) pre-encoded;
    on NOSCRIPT the script is loaded and the call sent again."""

    name = "raw RESP"

    @asynccontextmanager
    async def running(self, url: str) -> AsyncIterator[None]:
        import hashlib

        parts = urlsplit(url)
        sha = hashlib.sha1(METER_LUA.encode()).hexdigest().encode()
        self._load = resp(b"SCRIPT", b"LOAD", METER_LUA.encode())
        # EVALSHA, the SHA, 1 (one key), the key, then meter.lua's six arguments
        self._prefix = b"*10\r\n$7\r\nEVALSHA\r\n$40\r\n" + sha + b"\r\n$1\r\n1\r\n"
        _, self._conn = await asyncio.get_running_loop().create_connection(
            lambda: RawResp(self.timeout), parts.hostname or "127.0.0.1", parts.port or 6379
        )
        try:
            await self._conn.call(self._load)
            yield
        finally:
            self._conn.close()

    async def meter(self, key: str, args: MeterArgs) -> Any:
        encoded = [key.encode(), *(str(arg).encode() for arg in args)]
        command = self._prefix + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)
        try:
            return await self._conn.call(command)
        except Exception as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            await self._conn.call(self._load)
            return await self._conn.call(command)


BACKENDS: dict[str, type[Backend]] = {
    backend.name: backend for backend in (RedisPy, RedisPyBatched, Coredis, Glide, Raw)
}
NEEDS = {Coredis.name: "coredis", Glide.name: "glide", Raw.name: "hiredis"}  # else redis


# --- the minimal middleware ------------------------------------------------------------------


class MinimalMeter:
    """The least a metering middleware does per article view: no HTML work, one EVALSHA."""

    def __init__(self, app: ASGIApp, backend: Backend, url: str) -> None:
        self.app = app
        self.backend = backend
        self.url = url
        self._period_ends = 0  # unix seconds
        self._period_id = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the client lives as long as the server
            async with self.backend.running(self.url):
                await self.app(scope, receive, send)
            return
        if scope["type"] != "http" or not scope["path"].startswith("/articles/"):
            await self.app(scope, receive, send)
            return
        reader_id = reader_cookie(scope["headers"])
        minted = reader_id is None
        if reader_id is None:
            reader_id = secrets.token_urlsafe(12)
        now = int(time.time())
        if now >= self._period_ends:
            period = current_period("month", ZoneInfo("UTC"), datetime.fromtimestamp(now, UTC))
            self._period_ends, self._period_id = int(period.ends.timestamp()), period.id
        args = (
            "m",
            article_id(scope["path"], ID_KEY),
            LIMIT,
            self._period_ends - now + EXPIRY_SLACK_SECONDS,
            now,
            "0",
        )
        key = f"{PREFIX}{{r:{reader_id}}}:m:{self._period_id}"
        try:
            reply = await self.backend.meter(key, args)
            extra = [(b"x-meter", b"%d %d" % (int(reply[0]), int(reply[1])))]
        except Exception:  # fail open, as the paywall does
            extra = [(b"x-meter", b"down")]
        if minted:
            extra.append((b"set-cookie", COOKIE + b"=" + reader_id.encode() + b"; Path=/"))

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_header)


def reader_cookie(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            for part in value.split(b";"):
                cookie, _, found = part.strip().partition(b"=")
                if cookie == COOKIE and found:
                    return found.decode("latin-1")
    return None


def _site(backend: Backend) -> ASGIApp:
    from .app import _signed_in, upstream

    return _signed_in(MinimalMeter(upstream, backend, os.environ["BENCH_REDIS_URL"]))


# uvicorn --factory targets, one per client
def redis_py() -> ASGIApp:
    return _site(RedisPy())


def redis_py_batched() -> ASGIApp:
    return _site(RedisPyBatched())


def coredis_site() -> ASGIApp:
    return _site(Coredis())


def coredis_optimized_site() -> ASGIApp:
    return _site(Coredis(optimized=True))


def glide_site() -> ASGIApp:
    return _site(Glide())


def raw_site() -> ASGIApp:
    return _site(Raw())


# --- the harness -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    label: str
    target: str  # uvicorn --factory target
    needs: tuple[str, ...] = ()  # modules it imports
    metered: bool = True  # runs meter.lua once per article view


def candidates() -> list[Candidate]:
    hiredis = "with hiredis" if importlib.util.find_spec("hiredis") else "WITHOUT hiredis"
    return [
        Candidate("SessionMiddleware (no I/O, calibration)", "bench.app:sessions", metered=False),
        Candidate(
            f"minimal + redis-py {_version('redis')} asyncio ({hiredis})",
            "bench.floor:redis_py",
            ("redis",),
        ),
        Candidate(
            f"minimal + redis-py {_version('redis')} batched (paywall.batch, today's path)",
            "bench.floor:redis_py_batched",
            ("redis",),
        ),
        Candidate(
            f"minimal + coredis {_version('coredis')}", "bench.floor:coredis_site", ("coredis",)
        ),
        Candidate(
            f"minimal + coredis {_version('coredis')}, Config.optimized",
            "bench.floor:coredis_optimized_site",
            ("coredis",),
        ),
        Candidate(
            f"minimal + valkey-glide {_version('valkey-glide')} (invoke_script)",
            "bench.floor:glide_site",
            ("glide",),
        ),
        Candidate("minimal + raw pipelined RESP (floor)", "bench.floor:raw_site", ("hiredis",)),
    ]


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "(not installed)"


def missing(candidate: Candidate) -> str | None:
    for module in candidate.needs:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[bench]')"
    return None


@dataclass(frozen=True)
class Snapshot:
    """CPU seconds so far: the whole machine's busy time (steal included), and ours."""

    at: float
    busy: float
    ours: float


_TICK = os.sysconf("SC_CLK_TCK")


def snapshot(pids: Sequence[int]) -> Snapshot:
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has exited
    ours = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return Snapshot(
        time.monotonic(),
        (user + nice + system + irq + softirq + steal) / _TICK,
        ours + sum(cpu_seconds(pid) for pid in pids),
    )


def others(before: Snapshot, after: Snapshot) -> float:
    """Cores' worth of CPU that processes other than ours took between two snapshots."""
    return max((after.busy - before.busy) - (after.ours - before.ours), 0.0) / max(
        after.at - before.at, 1e-9
    )


@dataclass
class Tally:
    """One candidate's kept A/B pairs."""

    bare: list[Measured] = field(default_factory=list)
    tried: list[Measured] = field(default_factory=list)
    evalsha_per_view: list[float] = field(default_factory=list)
    keys_per_view: list[float] = field(default_factory=list)  # meter keys written
    other_load: list[float] = field(default_factory=list)  # cores other processes took
    discarded: int = 0
    kept_disturbed: int = 0


def evalsha_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0


def smoke(base: str, metered: bool) -> str | None:
    """Why a started variant cannot be measured, if it cannot."""
    try:
        with urllib.request.urlopen(f"{base}/articles/1", timeout=5) as response:
            meter = response.headers.get("x-meter")
            body = response.read()
    except OSError as exc:
        return f"GET /articles/1 failed: {exc}"
    if len(body) < 15_000:
        return f"the page came back short ({len(body)} bytes)"
    if metered and (meter is None or meter == "down"):
        return f"the meter call failed (x-meter: {meter}); see the server's log above"
    return None


@dataclass
class Server:
    candidate: Candidate
    base: str
    pid: int
    tally: Tally = field(default_factory=Tally)


def server_mode(plain: bool) -> str:
    """What uvicorn runs on: its defaults pick uvloop and httptools when they are installed."""
    if plain:
        return "asyncio + h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio (no uvloop)"
    return f"{loop} + {'httptools' if importlib.util.find_spec('httptools') else 'h11'}"


def measure(args: argparse.Namespace) -> None:
    scenario = Scenario("new readers, random articles", "/articles/{n}", {})
    mode = server_mode(args.plain)
    print(
        f"# bench.floor: uvicorn 1 worker, {mode}; wrk, {args.connections} connections,"
        f" {args.seconds:.0f} s runs, {args.pairs} A/B pairs per candidate; {scenario.name};"
        f" {os.cpu_count()} cores (shared: throughput is noisy, CPU per view is the robust"
        " figure)",
        flush=True,
    )
    with redis_server() as redis_url, ExitStack() as stack:
        client = redis.Redis.from_url(redis_url)
        redis_pid = int(client.info("server")["process_id"])
        env = {**os.environ, "BENCH_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
        bare, bare_pid = stack.enter_context(uvicorn("bare", env, args.plain))
        servers: list[Server] = []
        for candidate in candidates():
            if args.only and not any(name in candidate.target for name in args.only.split(",")):
                continue
            reason = missing(candidate)
            if reason is None:
                try:
                    base, pid = stack.enter_context(uvicorn(candidate.target, env, args.plain))
                except RuntimeError as exc:
                    reason = str(exc)
                else:
                    reason = smoke(base, candidate.metered)
            if reason is not None:
                print(f"skipped: {candidate.label}: {reason}", flush=True)
                continue
            servers.append(Server(candidate, base, pid))
        pids = [redis_pid, bare_pid, *(server.pid for server in servers)]
        for base in (bare, *(server.base for server in servers)):
            load(base, scenario, 2.0, args.connections)  # warm up
        for round_ in range(args.pairs):
            for server in servers:
                run_pair(server, bare, bare_pid, scenario, args, client, pids)
            print(f"  round {round_ + 1}/{args.pairs} done", file=sys.stderr, flush=True)
    report(servers, args)


def load(base: str, scenario: Scenario, seconds: float, connections: int) -> None:
    from .run import load as run_load

    run_load(base, scenario, seconds, connections)


def run_pair(
    server: Server,
    bare: str,
    bare_pid: int,
    scenario: Scenario,
    args: argparse.Namespace,
    client: redis.Redis,
    pids: list[int],
) -> None:
    """One A B pair, measured again (up to --retries times) while others disturb it."""
    for attempt in range(args.retries + 1):
        client.flushall()  # new readers: keep Redis small and alike for every pair
        wait_until_quiet(pids, args.disturbed, args.wait)
        s0 = snapshot(pids)
        a = measured(bare, bare_pid, scenario, args.seconds, args.connections)
        s1 = snapshot(pids)
        calls = evalsha_calls(client)
        b = measured(server.base, server.pid, scenario, args.seconds, args.connections)
        calls = evalsha_calls(client) - calls
        keys = int(client.dbsize())  # one new meter key per new reader's view
        s2 = snapshot(pids)
        disturbed = max(others(s0, s1), others(s1, s2))
        if disturbed <= args.disturbed or attempt == args.retries:
            if disturbed > args.disturbed:
                server.tally.kept_disturbed += 1
            server.tally.bare.append(a)
            server.tally.tried.append(b)
            server.tally.evalsha_per_view.append(calls / max(b.load.requests, 1))
            server.tally.keys_per_view.append(keys / max(b.load.requests, 1))
            server.tally.other_load.append(disturbed)
            print(
                f"  {server.candidate.label}: {b.load.rps / a.load.rps:.2f} of bare,"
                f" {b.cpu_us - a.cpu_us:+.0f} µs per view (other load {disturbed:.2f} cores)",
                file=sys.stderr,
                flush=True,
            )
            return
        server.tally.discarded += 1
        print(
            f"  {server.candidate.label}: pair disturbed ({disturbed:.2f} cores of other"
            " processes), measuring again",
            file=sys.stderr,
            flush=True,
        )


def wait_until_quiet(pids: list[int], threshold: float, limit: float) -> None:
    """Wait (at most `limit` seconds) until other processes take less than `threshold` of
    a core over half a second."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = snapshot(pids)
        time.sleep(0.5)
        if others(before, snapshot(pids)) <= threshold:
            return


def report(servers: list[Server], args: argparse.Namespace) -> None:
    def added(server: Server) -> float:
        return statistics.median(
            b.cpu_us - a.cpu_us for a, b in zip(server.tally.bare, server.tally.tried, strict=True)
        )

    floor = next((added(s) for s in servers if s.candidate.target.endswith(":raw_site")), None)
    print()
    print(
        "| candidate | throughput / bare | app CPU added per view | minus the raw floor |"
        " bare req/s | candidate req/s | EVALSHA per view | meter keys per view | errors |"
        " pairs kept (discarded) | other load |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for server in servers:
        tally = server.tally
        ratio = statistics.median(
            b.load.rps / a.load.rps for a, b in zip(tally.bare, tally.tried, strict=True)
        )
        cpu = added(server)
        versus = f"{cpu - floor:+.0f} µs" if floor is not None and server.candidate.metered else ""
        note = f" ({tally.discarded} re-measured, {tally.kept_disturbed} kept disturbed)"
        print(
            f"| {server.candidate.label} | {ratio:.2f} | {cpu:+.0f} µs | {versus} |"
            f" {statistics.median(a.load.rps for a in tally.bare):.0f} |"
            f" {statistics.median(b.load.rps for b in tally.tried):.0f} |"
            f" {statistics.median(tally.evalsha_per_view):.2f} |"
            f" {statistics.median(tally.keys_per_view):.2f} |"
            f" {sum(b.load.errors for b in tally.tried)} | {len(tally.tried)}{note} |"
            f" {statistics.median(tally.other_load):.2f} cores |"
        )
    print()
    print(
        "Medians over the kept pairs. App CPU: the uvicorn worker's utime+stime (all its"
        " threads) over a run divided by its requests, candidate minus the bare run of its"
        f" pair. A pair is measured again when other processes took > {args.disturbed:.2f}"
        f" of a core during it ({args.retries} time(s) at most, then kept as disturbed);"
        " 'other load' is the median of that over the kept pairs. The machine (2 cores) is"
        " shared, so the throughput ratio is noisy and CPU per view is the robust figure.",
        flush=True,
    )


# --- fault checks ------------------------------------------------------------------------------


ROOT = Path(__file__).resolve().parent.parent


class RedisProcess:
    """A private redis-server on a fixed free port, which can be killed and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="paywall-floor-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", self.folder),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def private_redis() -> Iterator[RedisProcess]:
    server = RedisProcess()
    try:
        server.start()
        yield server
    finally:
        server.stop()


async def timed(backend: Backend, key: str) -> tuple[float, str]:
    """(milliseconds, what happened) for one meter call, bounded at 5 s."""
    now = int(time.time())
    started = time.perf_counter()
    try:
        reply = await asyncio.wait_for(backend.meter(key, ("m", 7, LIMIT, 3600, now, "0")), 5)
        outcome = f"answered {[int(x) for x in reply[:2]]}"
    except Exception as exc:  # what the client raises is the finding
        outcome = f"{type(exc).__name__}: {str(exc)[:60]}"
    return (time.perf_counter() - started) * 1000, outcome


async def faults_of(backend: Backend, server: RedisProcess) -> list[str]:
    key = f"{PREFIX}{{r:faults}}:m:check"
    found = []
    async with backend.running(server.url):
        _, first = await timed(backend, key)
        found.append(f"first call: {first}")
        redis.Redis(port=server.port).script_flush()
        ms, after = await timed(backend, key)
        found.append(f"after SCRIPT FLUSH: {after} ({ms:.1f} ms)")
        server.kill()
        for n in (1, 2):
            ms, dead = await timed(backend, key)
            found.append(f"Redis killed, call {n}: {dead} after {ms:.1f} ms")
        server.start()
        started = time.perf_counter()
        while time.perf_counter() - started < 5:
            _, again = await timed(backend, key)
            if again.startswith("answered"):
                waited = (time.perf_counter() - started) * 1000
                found.append(f"Redis restarted: answered again after {waited:.0f} ms")
                break
            await asyncio.sleep(0.02)
        else:
            found.append(f"Redis restarted: no answer within 5 s ({again})")
    return found


def faults() -> None:
    print()
    print(f"## Fault checks (budget {TIMEOUT * 1000:.0f} ms, each call bounded at 5 s)")
    for backend_class in BACKENDS.values():
        backend = backend_class()
        module = NEEDS.get(backend.name, "redis")
        if importlib.util.find_spec(module) is None:
            print(f"- {backend.name}: skipped, {module} is not installed")
            continue
        with private_redis() as server:
            try:
                found = asyncio.run(faults_of(backend, server))
            except Exception as exc:
                found = [f"the check itself failed: {type(exc).__name__}: {exc}"]
        print(f"- {backend.name}: " + "; ".join(found), flush=True)


# --- in process: the client alone, no HTTP ----------------------------------------------------


async def per_call(backend: Backend, url: str, callers: int, seconds: float) -> tuple[float, int]:
    """(CPU µs of this process, all its threads, per meter call; calls made) with `callers`
    concurrent tasks calling meter.lua for new readers during `seconds`."""
    now = int(time.time())
    async with backend.running(url):
        for n in range(200):  # warm up: connections, pools
            await backend.meter(f"{PREFIX}{{r:warm{n}}}:m:x", ("m", n, LIMIT, 3600, now, "0"))
        count = 0
        stop = time.monotonic() + seconds

        async def caller(n: int) -> None:
            nonlocal count
            while time.monotonic() < stop:
                key = f"{PREFIX}{{r:{n}-{count}}}:m:x"
                await backend.meter(key, ("m", count, LIMIT, 3600, now, "0"))
                count += 1

        started = time.process_time()
        await asyncio.gather(*(caller(n) for n in range(callers)))
        spent = time.process_time() - started
    return spent / max(count, 1) * 1e6, count


def in_process(args: argparse.Namespace) -> None:
    loop_factory = None
    if not args.plain and importlib.util.find_spec("uvloop"):
        loop_factory = importlib.import_module("uvloop").new_event_loop
    print()
    print(
        f"## In process: CPU per meter call, {args.connections} concurrent callers,"
        f" {'uvloop' if loop_factory else 'asyncio'}, median of 3 runs of 2 s per client"
    )
    print()
    print("| client | CPU per call (this process, all threads) | calls/s | minus raw |")
    print("| --- | --- | --- | --- |")
    results: dict[str, list[tuple[float, int]]] = {}
    with redis_server() as url:
        client = redis.Redis.from_url(url)
        for _ in range(3):
            for name, backend_class in BACKENDS.items():
                if importlib.util.find_spec(NEEDS.get(name, "redis")) is None:
                    continue
                client.flushall()
                with asyncio.Runner(loop_factory=loop_factory) as runner:
                    measured_call = runner.run(per_call(backend_class(), url, args.connections, 2))
                results.setdefault(name, []).append(measured_call)
    medians = {name: statistics.median(cpu for cpu, _ in runs) for name, runs in results.items()}
    for name, runs in results.items():
        floor = medians.get(Raw.name)
        versus = f"{medians[name] - floor:+.0f} µs" if floor is not None else ""
        rate = statistics.median(count for _, count in runs) / 2
        print(f"| {name} | {medians[name]:.0f} µs | {rate:.0f} | {versus} |", flush=True)
    for name in BACKENDS:
        if name not in results:
            print(f"skipped: {name}: {NEEDS.get(name, 'redis')} is not installed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each load run")
    parser.add_argument("--pairs", type=int, default=5, help="A B pairs per candidate")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--disturbed",
        type=float,
        default=0.25,
        help="cores of other processes' CPU during a run above which its pair is measured again",
    )
    parser.add_argument("--retries", type=int, default=1, help="re-measurements of a pair")
    parser.add_argument(
        "--wait", type=float, default=10.0, help="seconds to wait for a quiet machine per run"
    )
    parser.add_argument("--plain", action="store_true", help="asyncio + h11 instead of uvloop")
    parser.add_argument("--quick", action="store_true", help="2 s runs, 1 pair: a smoke test")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated parts of factory names to measure (e.g. raw_site,redis_py_batched)",
    )
    parser.add_argument("--faults-only", action="store_true")
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument(
        "--in-process-only", action="store_true", help="only the clients' CPU per call, no HTTP"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.pairs = 2.0, 1
    if not shutil.which("redis-server") or not shutil.which("wrk"):
        print("bench.floor needs redis-server and wrk", file=sys.stderr)
        return 1
    if not (args.faults_only or args.in_process_only):
        measure(args)
    if not args.faults_only:
        in_process(args)
    if not (args.no_faults or args.in_process_only):
        faults()
    return 0


if __name__ == "__main__":
    sys.exit(main())
