"""Store faults end to end: real redis-server, real uvicorn, real HTTP.

    python scripts/faults.py

Starts a redis-server on a free loopback port (tests/redis_server.py), and for each
scenario a uvicorn subprocess serving a small article site behind PaywallMiddleware with
`store.url` pointing at it; readers are httpx clients keeping their cookies. Injects one
fault per scenario and prints a markdown table. Loopback only, under a minute, and every
process it starts is stopped on the way out.

(`python scripts/faults.py --serve PORT CONFIG` is the uvicorn side; used internally.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIMIT = 3
SECRET = [f"secret-text-{n}" for n in range(1, 7)]  # 1-2 are the teaser, 3-6 hidden
PROMPT = re.compile(r'data-paywall="([a-z-]+)"')
RUN_BUDGET = 55.0  # seconds, the whole run

# --- the uvicorn side -------------------------------------------------------------------


def article_page(path: str) -> bytes:
    paragraphs = "\n".join(f"<p>Paragraph of {path}, {marker}.</p>" for marker in SECRET)
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Story</title></head>'
        f'<body><h1>{path}</h1><article class="story">\n{paragraphs}\n</article></body></html>'
    ).encode()


async def article_site(scope: Any, receive: Any, send: Any) -> None:
    """The upstream: an article at every path."""
    if scope["type"] != "http":
        return
    body = article_page(scope["path"])
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve(port: int, config: str) -> None:
    import uvicorn

    from paywall import PaywallMiddleware

    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    # Per-request "store unavailable" lines are debug level; this script counts them.
    logging.getLogger("paywall").setLevel(logging.DEBUG)
    app = PaywallMiddleware(article_site, config=config)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


# --- the driver -------------------------------------------------------------------------

CONFIG = """\
publication: The Faults Gazette
meter: {{limit: {limit}, period: month, timezone: UTC}}
content:
  default: free
  rules:
    - {{path: "/premium/*", access: premium}}
    - {{path: "/articles/*", access: metered}}
  article: article.story
  teaser_paragraphs: 2
cookie:
  secure: false
store:
  url: {url}
  prefix: "{prefix}"
  timeout_ms: 100
  breaker_seconds: {breaker}
on_store_error: {mode}
"""


@dataclass
class View:
    reader: str
    path: str
    status: int
    ms: float
    prompt: str  # the prompt shown, "none" (no prompt) or "error"
    hidden: bool  # carries paragraphs 3-6
    must_wall: bool  # premium page, or a used-up reader where the store's word is needed


@dataclass
class Result:
    fault: str
    views: list[View] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self) -> str:
        errors = sum(v.status >= 500 for v in self.views)
        latency = max((v.ms for v in self.views), default=0.0)
        leaked = sum(v.must_wall and v.hidden for v in self.views)
        seen = Counter(v.prompt for v in self.views)
        shown = ", ".join(f"{name} {n}" for name, n in sorted(seen.items()))
        behaviour = "; ".join([*self.notes, f"prompts: {shown}"])
        cells = [self.fault, len(self.views), errors, f"{latency:.0f}", leaked, behaviour]
        return "| " + " | ".join(str(cell) for cell in cells) + " |"


class App:
    """One uvicorn subprocess with the paywall, on a free port."""

    def __init__(self, workdir: Path, redis_url: str, name: str, mode: str, breaker: int):
        from tests.redis_server import free_port

        self.port = free_port()
        self.mode = mode
        self.config = workdir / f"{name}.yaml"
        self.config.write_text(
            CONFIG.format(
                limit=LIMIT, url=redis_url, prefix=f"faults-{name}:", breaker=breaker, mode=mode
            ),
            encoding="utf-8",
        )
        self.log = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> App:
        import httpx

        env = {**os.environ, "PAYWALL_SECRET_KEYS": "faults-signing-key"}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(self.port), str(self.config)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        async with httpx.AsyncClient(base_url=self.base, timeout=1) as probe:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"uvicorn exited:\n{self.log.read_text()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get("/ready")).status_code == 200:
                        return self
                if time.monotonic() > deadline:
                    raise TimeoutError("uvicorn did not start")
                await asyncio.sleep(0.05)

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def store_attempts(self) -> tuple[int, int]:
        """(views that reached Redis and failed, views failed fast by the open breaker)."""
        text = self.log.read_text(errors="replace")
        unavailable = text.count("store unavailable")
        fast = text.count("circuit open")
        return unavailable - fast, fast


class Reader:
    """A browser: keeps its cookie; knows whether the store has walled it before."""

    def __init__(self, app: App, name: str, result: Result) -> None:
        import httpx

        self.app, self.name, self.result = app, name, result
        self.client = httpx.AsyncClient(base_url=app.base, timeout=10)
        self.used_up = False
        self.read: set[str] = set()
        self.n = 0

    async def get(self, path: str) -> View:
        import httpx

        started = time.perf_counter()
        try:
            response = await self.client.get(path)
            status, text = response.status_code, response.text
        except httpx.HTTPError:
            status, text = 599, ""
        ms = (time.perf_counter() - started) * 1000
        found = PROMPT.findall(text)
        prompt = found[0] if found else ("none" if status == 200 else "error")
        hidden = any(marker in text for marker in SECRET[2:])
        # A used-up reader is walled in both modes, store down or not (its summary cookie).
        must_wall = path.startswith("/premium/") or (self.used_up and path not in self.read)
        view = View(self.name, path, status, ms, prompt, hidden, must_wall)
        if prompt in ("meter", "last-free", "none") and status == 200:
            self.read.add(path)
        if prompt == "subscribe" and hidden:
            view.must_wall = True  # a wall that shows what it walls is a leak in any mode
        self.result.views.append(view)
        return view

    async def exhaust(self) -> None:
        """Read LIMIT + 1 articles with the store up: the store has now walled this reader."""
        for _ in range(LIMIT + 1):
            last = await self.next_article()
        self.used_up = last.prompt == "subscribe"

    async def next_article(self) -> View:
        self.n += 1
        return await self.get(f"/articles/{self.name}-{self.n}")

    async def aclose(self) -> None:
        await self.client.aclose()


@contextlib.asynccontextmanager
async def readers(app: App, result: Result, count: int) -> AsyncIterator[list[Reader]]:
    group = [Reader(app, f"r{n}", result) for n in range(count)]
    try:
        yield group
    finally:
        for reader in group:
            await reader.aclose()


async def each(group: list[Reader], action: Callable[[Reader], Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*(action(reader) for reader in group)))


def admin(server: Any) -> Any:
    return server.sync_client()


def reset(server: Any) -> None:
    if not server.running:
        server.start()
    with admin(server) as c:
        c.config_set("maxmemory", 0)
        c.config_set("maxmemory-policy", "noeviction")
        c.flushall()


# --- scenarios --------------------------------------------------------------------------


async def baseline(server: Any, work: Path) -> Result:
    result = Result("none (baseline)")
    async with App(work, server.url, "baseline", "open", 5) as app, readers(app, result, 4) as rs:
        await each(rs, Reader.exhaust)
        await each(rs, lambda r: r.get("/premium/one"))
        walled = sum(r.used_up for r in rs)
    result.notes.append(f"{walled}/4 readers walled after {LIMIT} free articles")
    return result


async def restart(server: Any, work: Path) -> Result:
    result = Result("Redis restart (SIGTERM, AOF), breaker 5 s")
    async with App(work, server.url, "restart", "open", 5) as app, readers(app, result, 4) as rs:
        for _ in range(LIMIT - 1):
            await each(rs, Reader.next_article)  # every reader at 2 of 3, 4 pooled connections
        server.restart()
        back = time.monotonic()
        first_metered: float | None = None
        uncounted = 0
        verdicts: dict[str, str] = {}
        while time.monotonic() - back < 8 and len(verdicts) < len(rs):
            for reader, view in zip(rs, await each(rs, Reader.next_article), strict=True):
                if view.prompt == "none":
                    uncounted += 1
                    reader.n -= 1  # not counted: read the next one later
                elif reader.name not in verdicts:
                    verdicts[reader.name] = view.prompt
                    if first_metered is None:
                        first_metered = time.monotonic() - back
            await asyncio.sleep(0.25)
        failed, fast = app.store_attempts()
    result.notes.append(
        f"{uncounted} views served uncounted after Redis was back ({failed} store errors, "
        f"{fast} failed fast); metered again after {first_metered or 0:.1f} s; "
        f"counts kept for {list(verdicts.values()).count('last-free')}/{len(rs)} readers"
        " (2 of 3 → last-free)"
    )
    return result


async def script_flush(server: Any, work: Path) -> Result:
    result = Result("SCRIPT FLUSH")
    async with App(work, server.url, "flush", "open", 5) as app, readers(app, result, 4) as rs:
        await each(rs, Reader.next_article)
        with admin(server) as c:
            c.script_flush()
        views = [await each(rs, Reader.next_article) for _ in range(LIMIT)]
    expected = [["meter"] * 4, ["last-free"] * 4, ["subscribe"] * 4]
    ok = [[v.prompt for v in round_] for round_ in views] == expected
    result.notes.append("next views counted correctly" if ok else "WRONG counts after flush")
    return result


async def pause(server: Any, work: Path, mode: str) -> Result:
    result = Result(f"CLIENT PAUSE 1500 ms, {mode}, breaker 0")
    app = App(work, server.url, f"pause-{mode}", mode, 0)
    async with app, readers(app, result, 4) as rs:
        used_up, fresh = rs[:2], rs[2:]
        await each(used_up, Reader.exhaust)
        await each(fresh, lambda r: r.get("/ready"))
        server.pause(1500)
        paused = time.monotonic()
        during = await each(rs, Reader.next_article)
        during += await each(rs, lambda r: r.get("/premium/p"))
        inside = time.monotonic() - paused < 1.5
        await asyncio.sleep(max(0.0, 1.7 - (time.monotonic() - paused)))
        after = await each(fresh, lambda r: r.get(f"/articles/{r.name}-1"))
    article_views = during[:4]
    if mode == "open":
        walled_ok = all(v.prompt == "subscribe" and not v.hidden for v in article_views[:2])
        ok = walled_ok and all(v.prompt == "none" and v.hidden for v in article_views[2:])
        what = "full article, no prompt, to readers with views left; used-up readers walled"
    else:
        ok = all(v.prompt == "subscribe" and not v.hidden for v in article_views)
        what = "walled (subscribe) for every reader"
    not_counted = all(v.prompt == "meter" for v in after)
    result.notes.append(
        f"{what}: {'yes' if ok else 'NO'}; answered during the pause: {'yes' if inside else 'no'}"
        f"; after it, the timed-out view {'was not' if not_counted else 'WAS'} counted"
    )
    return result


async def killed(server: Any, work: Path) -> Result:
    result = Result("Redis killed (SIGKILL), breaker 1 s")
    async with App(work, server.url, "killed", "open", 1) as app, readers(app, result, 3) as rs:
        await each(rs, Reader.next_article)
        server.kill()
        for _ in range(10):  # 30 requests
            for reader, view in zip(rs, await each(rs, Reader.next_article), strict=True):
                if view.prompt == "none":
                    reader.n -= 1
        attempts, fast = app.store_attempts()
        server.start()
        await asyncio.sleep(1.2)
        probe = await each(rs, Reader.next_article)  # concurrent: one probes, others fail fast
        for reader, view in zip(rs, probe, strict=True):
            if view.prompt == "none":
                reader.n -= 1
        back = await each(rs, Reader.next_article)
    metered = [sum(v.prompt in ("meter", "last-free") for v in views) for views in (probe, back)]
    result.notes.append(
        f"down: {attempts} of 30 views reached Redis (all in the first concurrent batch), {fast}"
        f" failed fast; 1.2 s after Redis was back, metered: {metered[0]}/3 (half-open: one"
        f" probe), then {metered[1]}/3"
    )
    return result


def fill_until_oom(server: Any) -> int:
    import redis

    with admin(server) as c:
        c.config_set("maxmemory-policy", "noeviction")
        c.config_set("maxmemory", int(c.info("memory")["used_memory"]) + 256 * 1024)
        n = 0
        while n < 5000:
            try:
                c.set(f"junk:{n}", b"x" * 1024)
            except redis.exceptions.OutOfMemoryError:
                break
            n += 1
        # Stay full: freeing this connection's buffers alone could end the fault.
        c.config_set("maxmemory", int(c.info("memory")["used_memory"]) // 2)
        return n


async def memory_full(server: Any, work: Path, mode: str) -> Result:
    result = Result(f"memory full (noeviction, OOM), {mode}")
    async with App(work, server.url, f"oom-{mode}", mode, 0) as app, readers(app, result, 4) as rs:
        used_up, fresh = rs[:2], rs[2:]
        await each(used_up, Reader.exhaust)
        await each(fresh, lambda r: r.get("/ready"))
        junk = fill_until_oom(server)
        new = await each(fresh, Reader.next_article)
        walled = await each(used_up, Reader.next_article)
        await each(rs, lambda r: r.get("/premium/p"))
    fresh_ok = all(
        (v.prompt == "none" and v.hidden) if mode == "open" else v.prompt == "subscribe"
        for v in new
    )
    result.notes.append(
        f"OOM after {junk} KB of junk; new views {'served in full' if mode == 'open' else 'walled'}"
        f": {'yes' if fresh_ok else 'NO'}; used-up readers still walled: "
        f"{'yes' if all(v.prompt == 'subscribe' for v in walled) else 'NO'}"
    )
    return result


async def eviction(server: Any, work: Path) -> Result:
    result = Result("meter key evicted (allkeys-lru)")
    async with App(work, server.url, "evict", "open", 5) as app, readers(app, result, 1) as rs:
        (reader,) = rs
        await reader.exhaust()
        with admin(server) as c:
            (meter,) = c.keys("faults-evict:*:m:*")
            c.config_set("maxmemory-policy", "allkeys-lru")
            c.config_set("maxmemory", int(c.info("memory")["used_memory"]) + 256 * 1024)
            n = 0
            while n < 20000 and c.exists(meter):
                for _ in range(50):
                    c.set(f"junk:{n}", b"x" * 1024)
                    n += 1
            evicted = not c.exists(meter)
        reader.used_up = False  # the store no longer knows: nothing to hold it to
        after = await reader.next_article()
    result.notes.append(
        f"meter key evicted after {n} junk keys: {'yes' if evicted else 'no'}; the walled reader"
        f" then got '{after.prompt}' with the full article: a fresh meter (limit reset)"
    )
    return result


async def run(work: Path) -> list[Result]:
    from tests.redis_server import RedisServer

    scenarios: list[Callable[[Any, Path], Awaitable[Result]]] = [
        baseline,
        restart,
        script_flush,
        lambda s, w: pause(s, w, "open"),
        lambda s, w: pause(s, w, "closed"),
        killed,
        lambda s, w: memory_full(s, w, "open"),
        lambda s, w: memory_full(s, w, "closed"),
        eviction,
    ]
    results = []
    with RedisServer() as server:
        async with asyncio.timeout(RUN_BUDGET):
            for scenario in scenarios:
                reset(server)
                results.append(await scenario(server, work))
    return results


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
        return 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="paywall-faults-") as work:
        results = asyncio.run(run(Path(work)))
    columns = ["fault", "requests", "5xx", "max latency ms", "pages leaked to walled readers"]
    print("| " + " | ".join([*columns, "behaviour observed"]) + " |")
    print("|" + " --- |" * (len(columns) + 1))
    for result in results:
        print(result.row())
    print(f"\n(store.timeout_ms 100; whole run {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
