"""A bounded soak of the demo newspaper behind the paywall, under uvicorn with 2 workers.

Starts its own redis-server (appendonly, on a free loopback port, in a temporary folder)
and `uvicorn --workers 2` serving the demo with a config pointing at that Redis, then
drives simulated anonymous readers (each with its own signed cookies, one request at a
time per reader) reading random metered articles over ~32 concurrent connections, until
`--requests` are sent or `--seconds` have passed. Half-way through, Redis is restarted
(`--restart kill` by default: SIGKILL; counts survive through the AOF), after staying
down for `--down-seconds` (default 0: at once).

In the mix (`--subscribers`, `--bursts`): the demo's two paying accounts (`subscriber`,
`trialist`), signed in, reading metered and premium articles one at a time; and a burst
attacker, a reader past the limit who every `--burst-every` seconds opens `--burst-size`
connections at once and asks for an article on each (at most `--bursts` bursts).

Prints a markdown table at the end and exits non-zero if anything leaked, a reader was
over-served, a subscriber was walled, or a reader (not the attacker) got a 5xx.

    /work/venv/bin/python scripts/soak.py [--readers 300] [--requests 6000] [--seconds 60]

Also the uvicorn app factory (`soak:create_app`, imported by the workers, reading the
config path from SOAK_CONFIG).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

ROOT = Path(__file__).resolve().parents[1]
CONFIG_ENV = "SOAK_CONFIG"
PREFIX = "soak:"
TEASER = 2
FULL_PROMPTS = ("meter", "last-free")
_PROMPT = re.compile(rb'data-paywall="([a-z-]+)"')


# -- the app the uvicorn workers serve ---------------------------------------------------


def create_app() -> Any:
    """The demo (paywall.demo.app.build_demo) on SOAK_CONFIG, with an X-Worker-Pid header."""
    from paywall.demo.app import build_demo

    demo = build_demo(os.environ[CONFIG_ENV])
    pid = str(os.getpid()).encode()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await demo(scope, receive, send)
            return

        async def send_with_pid(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"x-worker-pid", pid)]}
            await send(message)

        await demo(scope, receive, send_with_pid)

    return app


# -- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server of our own, appendonly with fsync on every write, in `folder`."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self, how: str = "term") -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
        self.proc.wait(timeout=10)


def start_uvicorn(port: int, config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, CONFIG_ENV: str(config), "PYTHONPATH": str(ROOT)}
    env.setdefault("PAYWALL_SECRET_KEYS", secrets.token_urlsafe(24))
    command = [
        sys.executable, "-m", "uvicorn", "soak:create_app", "--factory",
        "--app-dir", str(Path(__file__).resolve().parent),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("uvicorn did not start")


def stop_uvicorn(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: uvicorn and its workers
            proc.wait(timeout=5)


def write_config(path: Path, redis_port: int, args: argparse.Namespace) -> None:
    import yaml

    from paywall.demo.app import DEMO_CONFIG

    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    data["meter"]["limit"] = args.limit
    data["meter"]["registered_limit"] = args.limit
    data["store"] = {
        "url": f"redis://127.0.0.1:{redis_port}/0",
        "prefix": PREFIX,
        "timeout_ms": args.timeout_ms,
        "breaker_seconds": args.breaker_seconds,
    }
    data["cookie"] = {"secure": False}
    data["on_store_error"] = args.on_store_error
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


# -- the readers -------------------------------------------------------------------------


@dataclass
class Reader:
    cookies: dict[str, str] = field(default_factory=dict)  # what a browser would send back
    full: set[str] = field(default_factory=set)
    busy: bool = False

    def header(self) -> dict[str, str]:
        if not self.cookies:
            return {}
        return {"cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items())}

    def keep(self, set_cookies: list[str]) -> None:
        for line in set_cookies:
            name, _, value = line.split(";")[0].partition("=")
            self.cookies[name.strip()] = value.strip()


@dataclass
class Tally:
    requests: int = 0
    ok: int = 0
    server_errors: int = 0
    other_status: int = 0
    transport_errors: int = 0
    full: int = 0
    walled: int = 0
    walled_early: int = 0  # walled with fewer than `limit` full articles so far (store down)
    early_times: list[float] = field(default_factory=list)
    restart_at: float | None = None
    restart_done: float | None = None
    leaked: int = 0
    prefetch: int = 0
    unknown: int = 0
    latencies: list[float] = field(default_factory=list)
    workers: Counter[str] = field(default_factory=Counter)
    prompts: Counter[str] = field(default_factory=Counter)
    # the paying accounts
    sub_requests: int = 0
    sub_full: int = 0
    sub_walled: int = 0
    sub_other: Counter[int] = field(default_factory=Counter)
    # the burst attacker
    bursts: int = 0
    attack_statuses: Counter[int] = field(default_factory=Counter)
    attack_walled: int = 0
    attack_full: int = 0
    attack_leaked: int = 0
    attack_errors: int = 0


class _NoCookies(DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


def _variants(text: str) -> list[str]:
    """How a paragraph's opening may appear in a page: escaped HTML, raw, JSON-escaped."""
    head = text[:60]
    as_json = json.dumps(head, ensure_ascii=False)[1:-1]
    as_json = as_json.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return list(dict.fromkeys([html.escape(head), head, as_json]))


async def burst(port: int, paths: list[str], headers: dict[str, str]) -> list[tuple[int, bytes]]:
    """Every request on its own connection, all opened first, then all written at once (as
    `curl --parallel` would); returns (status, body) per request, status 0 on a failure."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())

    async def one(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.open_connection("127.0.0.1", port, limit=2**22)
        except OSError:
            return None

    streams = await asyncio.gather(*(one(path) for path in paths))
    for stream, path in zip(streams, paths, strict=True):
        if stream is not None:
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
            stream[1].write(request.encode())

    async def read(stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> Any:
        if stream is None:
            return 0, b""
        reader, writer = stream
        try:
            data = await asyncio.wait_for(reader.read(), 30)
        except (OSError, TimeoutError):
            return 0, b""
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        try:
            return int(head.split(b" ", 2)[1]), body
        except (IndexError, ValueError):
            return 0, b""

    return list(await asyncio.gather(*(read(stream) for stream in streams)))


class Soak:
    """One run against the demo on `port`: anonymous readers over `--concurrency`
    connections, the paying accounts, the burst attacker, and Redis restarted midway."""

    def __init__(self, port: int, args: argparse.Namespace, restart: Any) -> None:
        from paywall.demo.articles import ARTICLES, METERED

        self.port, self.args, self.restart = port, args, restart
        self.limit: int = args.limit
        self.requests: int = args.requests
        self.seconds: float = args.seconds
        self.articles = [
            (a.path, [html.escape(p) for p in a.paragraphs], a.paragraphs) for a in METERED
        ]
        self.hidden = {
            path: [v for p in raw[TEASER:] for v in _variants(p)] for path, _, raw in self.articles
        }
        self.gated = [
            (a.path, [html.escape(p) for p in a.paragraphs])
            for a in ARTICLES
            if a.access in ("metered", "premium")
        ]
        self.readers = [Reader() for _ in range(args.readers)]
        self.tally = Tally()
        self.rng = random.Random(args.seed)
        self.started = time.monotonic()
        self.restarted = False

    def budget_left(self) -> bool:
        return (
            self.tally.requests < self.requests and time.monotonic() - self.started < self.seconds
        )

    async def restart_midway(self) -> None:
        while self.budget_left():
            half_time = time.monotonic() - self.started >= self.seconds / 2
            if self.tally.requests >= self.requests // 2 or half_time:
                self.tally.restart_at = time.monotonic()
                await asyncio.to_thread(self.restart)
                self.tally.restart_done = time.monotonic()
                self.restarted = True
                return
            await asyncio.sleep(0.05)

    async def one_connection(self, client: httpx.AsyncClient) -> None:
        import httpx

        tally = self.tally
        while self.budget_left():
            sample = self.rng.sample(self.readers, min(8, len(self.readers)))
            idle = [r for r in sample if not r.busy]
            if not idle:
                await asyncio.sleep(0.001)
                continue
            reader = idle[0]
            path, paragraphs, _ = self.rng.choice(self.articles)
            reader.busy = True
            tally.requests += 1
            headers = reader.header()
            t0 = time.monotonic()
            try:
                response = await client.get(path, headers=headers)
            except httpx.HTTPError:
                tally.transport_errors += 1
                reader.busy = False
                continue
            tally.latencies.append(time.monotonic() - t0)
            try:
                self.classify(reader, path, paragraphs, response)
            finally:
                reader.busy = False

    def classify(self, reader: Reader, path: str, paragraphs: list[str], response: Any) -> None:
        tally = self.tally
        tally.workers[response.headers.get("x-worker-pid", "?")] += 1
        if response.status_code >= 500:
            tally.server_errors += 1
            return
        if response.status_code != 200:
            tally.other_status += 1
            return
        tally.ok += 1
        reader.keep(response.headers.get_list("set-cookie"))
        text = response.text
        found = _PROMPT.findall(response.content)
        prompt = found[0].decode() if found else "none"
        tally.prompts[prompt] += 1
        if prompt in FULL_PROMPTS or prompt == "none":
            if all(p in text for p in paragraphs):
                tally.full += 1
                reader.full.add(path)
            else:
                tally.unknown += 1
            return
        tally.walled += 1
        if path not in reader.full and len(reader.full) < self.limit:
            tally.walled_early += 1
            tally.early_times.append(time.monotonic())
        if any(v in text for v in self.hidden[path]):
            tally.leaked += 1

    async def subscriber(self, client: httpx.AsyncClient, account: str) -> None:
        """A paying reader, signed in through the demo's form, one view at a time."""
        import httpx

        tally = self.tally
        reader = Reader()
        signin = await client.post("/signin", data={"account": account})
        reader.keep(signin.headers.get_list("set-cookie"))
        assert "session" in reader.cookies, f"demo sign-in failed for {account}"
        while self.budget_left():
            path, paragraphs = self.rng.choice(self.gated)
            tally.sub_requests += 1
            try:
                response = await client.get(path, headers=reader.header())
            except httpx.HTTPError:
                tally.sub_other[0] += 1
                continue
            if response.status_code != 200:
                tally.sub_other[response.status_code] += 1
                continue
            reader.keep(response.headers.get_list("set-cookie"))
            if all(p in response.text for p in paragraphs):
                tally.sub_full += 1
            else:
                tally.sub_walled += 1
            await asyncio.sleep(0.01)

    async def attacker(self, client: httpx.AsyncClient) -> None:
        """A reader past the limit firing bursts of concurrent views of one article each."""
        reader = Reader()
        for path, _, _ in self.articles[: self.limit]:  # use the meter up
            response = await client.get(path, headers=reader.header())
            reader.keep(response.headers.get_list("set-cookie"))
        unread = self.articles[self.limit :]  # every one of these is walled for this reader
        while self.budget_left() and self.tally.bursts < self.args.bursts:
            await asyncio.sleep(self.args.burst_every)
            if not self.budget_left():
                break
            self.tally.bursts += 1
            paths = [self.rng.choice(unread)[0] for _ in range(self.args.burst_size)]
            answers = await burst(self.port, paths, reader.header())
            for (status, body), path in zip(answers, paths, strict=True):
                self.tally_attack(path, status, body)

    def tally_attack(self, path: str, status: int, body: bytes) -> None:
        """One answer to the attacker: walled is right; any hidden text is a leak."""
        tally = self.tally
        tally.attack_statuses[status] += 1
        if status == 0:
            tally.attack_errors += 1
            return
        text = body.decode("utf-8", "replace")
        if any(v in text for v in self.hidden[path]):
            tally.attack_leaked += 1
            if all(p in text for p in dict(self.gated)[path]):
                tally.attack_full += 1
        elif status == 200:
            tally.attack_walled += 1

    async def run(self) -> tuple[Tally, float, int]:
        """Drive everyone until the budget runs out: (tally, seconds, readers over the limit)."""
        import httpx

        args = self.args
        limits = httpx.Limits(
            max_connections=args.concurrency, max_keepalive_connections=args.concurrency
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            cookies=CookieJar(policy=_NoCookies()),
            limits=limits,
            timeout=10.0,
        ) as client:
            restarter = asyncio.create_task(self.restart_midway())
            accounts = ("subscriber", "trialist")[: args.subscribers]
            extras = [self.subscriber(client, account) for account in accounts]
            if args.bursts > 0:
                extras.append(self.attacker(client))
            connections = (self.one_connection(client) for _ in range(args.concurrency))
            await asyncio.gather(*connections, *extras)
            restarter.cancel()
        elapsed = time.monotonic() - self.started
        if not self.restarted:
            print("note: the run ended before the mid-run Redis restart", file=sys.stderr)
        over = sum(len(r.full) > self.limit for r in self.readers)
        return self.tally, elapsed, over


def over_limit_meters(port: int, limit: int) -> tuple[int, int]:
    """(meter sets in Redis, how many hold more than `limit` articles)."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        keys = list(client.scan_iter(match=PREFIX + "{r:*}:m:*", count=1000))
        sizes = [client.scard(key) for key in keys]
    finally:
        client.close()
    return len(keys), sum(size > limit for size in sizes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=300)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--seconds", type=float, default=60.0, help="time cap")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--limit", type=int, default=5, help="meter.limit")
    parser.add_argument("--on-store-error", choices=("open", "closed"), default="closed")
    parser.add_argument("--breaker-seconds", type=int, default=1, help="store.breaker_seconds")
    parser.add_argument("--timeout-ms", type=int, default=100, help="store.timeout_ms")
    parser.add_argument("--restart", choices=("kill", "term", "none"), default="kill")
    parser.add_argument(
        "--down-seconds", type=float, default=0.0, help="keep Redis down this long mid-run"
    )
    parser.add_argument(
        "--subscribers", type=int, choices=(0, 1, 2), default=2,
        help="signed-in paying demo accounts reading alongside (subscriber, trialist)",
    )  # fmt: skip
    parser.add_argument("--bursts", type=int, default=10, help="attacker bursts (0: none)")
    parser.add_argument("--burst-size", type=int, default=250, help="requests per burst")
    parser.add_argument("--burst-every", type=float, default=2.0, help="seconds between bursts")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="paywall-soak-"))
    redis_port, web_port = free_port(), free_port()
    redis_server = RedisServer(folder, redis_port)
    uvicorn: subprocess.Popen[bytes] | None = None
    downtime: list[float] = []

    def restart() -> None:
        if args.restart == "none":
            return
        t0 = time.monotonic()
        redis_server.stop(args.restart)
        time.sleep(args.down_seconds)
        redis_server.start()
        downtime.append(time.monotonic() - t0)

    try:
        redis_server.start()
        config = folder / "paywall.yaml"
        write_config(config, redis_port, args)
        uvicorn = start_uvicorn(web_port, config, folder / "uvicorn.log")
        tally, elapsed, over = asyncio.run(Soak(web_port, args, restart).run())
        meters, over_meters = over_limit_meters(redis_port, args.limit)
    finally:
        if uvicorn is not None:
            stop_uvicorn(uvicorn)
        redis_server.stop("term")
    log = (folder / "uvicorn.log").read_text(errors="replace")
    store_warnings = log.count("store error") + log.count("store unavailable")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)

    lat = sorted(tally.latencies) or [0.0]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    restart_text = f"{args.restart}, {downtime[0]:.2f} s down" if downtime else "none"
    degraded = "none"
    if tally.early_times and tally.restart_at is not None and tally.restart_done is not None:
        first = min(tally.early_times) - tally.restart_at
        last = max(tally.early_times) - tally.restart_done
        degraded = f"from {first:+.2f} s after the stop to {last:+.2f} s after Redis was back"
    rows = [
        ("requests", tally.requests),
        ("2xx", tally.ok),
        ("5xx", tally.server_errors),
        ("other status / transport errors", f"{tally.other_status} / {tally.transport_errors}"),
        ("full articles served", tally.full),
        ("walled pages", tally.walled),
        ("walled before `limit` was used (store down, `closed`)", tally.walled_early),
        ("early walls seen", degraded),
        ("pages leaked to walled readers", tally.leaked),
        (f"readers over-served (> {args.limit} full articles)", over),
        ("meter sets in Redis over the limit", f"{over_meters} of {meters}"),
        ("unclassified 200 pages", tally.unknown),
        ("subscriber views", tally.sub_requests),
        ("subscriber views full / walled", f"{tally.sub_full} / {tally.sub_walled}"),
        ("subscriber views answered otherwise", _counts(tally.sub_other)),
        ("attacker bursts", f"{tally.bursts} of {args.burst_size} requests"),
        ("attacker answers by status", _counts(tally.attack_statuses)),
        ("attacker walled 200s", tally.attack_walled),
        (
            "attacker pages with hidden text / full",
            f"{tally.attack_leaked} / {tally.attack_full}",
        ),
        ("prompts seen", ", ".join(f"{k} {v}" for k, v in sorted(tally.prompts.items()))),
        ("requests per worker", " / ".join(str(v) for v in tally.workers.values())),
        ("Redis restart mid-run", restart_text),
        ("store warnings logged", store_warnings),
        ("latency p50 / p99", f"{statistics.median(lat) * 1000:.0f} / {p99 * 1000:.0f} ms"),
        ("elapsed", f"{elapsed:.1f} s"),
        ("requests/s", f"{tally.requests / elapsed:.0f}"),
    ]
    print(
        f"\nSoak: {args.readers} readers, {args.concurrency} connections, limit {args.limit}, "
        f"on_store_error={args.on_store_error}, breaker {args.breaker_seconds} s, "
        f"store timeout {args.timeout_ms} ms, uvicorn 2 workers, redis-server on loopback, "
        f"{os.cpu_count()} cores\n"
    )
    print("| measure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    failed = (
        tally.server_errors
        or tally.leaked
        or over
        or over_meters
        or tally.unknown
        or tally.sub_walled
        or tally.attack_leaked
    )
    return 1 if failed else 0


def _counts(counter: Counter[int]) -> str:
    return ", ".join(f"{k or 'failed'}: {v}" for k, v in sorted(counter.items())) or "none"


if __name__ == "__main__":
    sys.exit(main())
