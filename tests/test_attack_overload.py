"""Overload must not open the wall, and an outage must neither leak nor wall payers.

(a)-(c) run the paywall under a real uvicorn process against a redis-server of their own:
a burst of concurrent views from one walled cookie, 200 concurrent first views from one
fresh cookie, and an event loop made busy by a blocking handler or big pages. None of
them may open the circuit breaker, serve a walled reader the article, or serve a full
page that was not counted.

(d) kills or pauses a real redis-server: a walled reader stays walled, a subscriber keeps
reading, everyone else follows on_store_error. (e) shows every summary cookie a reader was
ever given, forged, replayed or moved, while the store answers and while it is down.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import redis.asyncio as aioredis
from starlette.middleware.authentication import AuthenticationMiddleware

from paywall import Entitlements, PaywallMiddleware
from paywall.identity import ReaderCookie, new_reader_id

from . import servers
from .conftest import ARTICLE_PARAGRAPHS, CONFIG, SECRET, article_site
from .overload_app import SignedInByHeader
from .redis_server import RedisServer, free_port, redis_server  # noqa: F401

pytestmark = pytest.mark.anyio

LIMIT = 10
STARTUP_SECONDS = 20.0
_PROMPT = re.compile(rb'data-paywall="([a-z-]+)"')
HIDDEN = [f"secret-text-{n}" for n in range(3, 7)]
BREAKER_LINE = "not asking Redis again"


class _NoCookies(DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


def http(port: int, connections: int = 16) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        cookies=CookieJar(policy=_NoCookies()),
        limits=limits,
        timeout=30.0,
    )


def prompt(response: httpx.Response | Raw) -> str | None:
    found = _PROMPT.findall(response.content)
    assert len(found) <= 1, found
    return found[0].decode() if found else None


def is_full(response: httpx.Response | Raw) -> bool:
    return response.status_code == 200 and all(p in response.text for p in ARTICLE_PARAGRAPHS)


def leaks(response: httpx.Response | Raw) -> list[str]:
    return [marker for marker in HIDDEN if marker in response.text]


@dataclass
class Raw:
    """A response read off a raw socket: what a curl burst sees."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


async def burst(port: int, paths: list[str], headers: dict[str, str]) -> list[Raw]:
    """Every request on its own connection, all connections opened first, then all the
    requests written at once: as concurrent as one client process can make them (httpx
    needs too long per request to make a burst)."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    streams = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port, limit=2**24) for _ in paths)
    )
    for (_, writer), path in zip(streams, paths, strict=True):
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n".encode()
        )

    async def read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Raw:
        try:
            data = await asyncio.wait_for(reader.read(), 30)
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        return Raw(int(lines[0].split()[1]), fields, body)

    return list(await asyncio.gather(*(read(r, w) for r, w in streams)))


def fresh_cookie() -> tuple[str, str]:
    """A validly signed cookie for a reader the store has never seen: (header, reader id)."""
    reader_id = new_reader_id()
    signer = ReaderCookie([SECRET], "paywall_rid", secure=False, max_age=3600)
    return signer.header(reader_id).decode().split(";")[0], reader_id


@dataclass
class Site:
    port: int
    redis: RedisServer
    prefix: str
    log: Path

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def meter_size(self, reader_id: str) -> int:
        with self.redis.sync_client() as client:
            keys = list(client.scan_iter(match=f"{self.prefix}{{r:{reader_id}}}:m:*"))
            return sum(int(client.scard(key)) for key in keys)


def site_config(prefix: str, redis_url: str, on_store_error: str = "open") -> str:
    text = CONFIG.replace("PREFIX", prefix).replace("limit: 3", f"limit: {LIMIT}")
    text = text.replace("timeout_ms: 1000", "timeout_ms: 100")  # the default budget
    text = text.replace("store:\n", f"store:\n  url: {redis_url}\n")
    return text + f"on_store_error: {on_store_error}\ncookie:\n  secure: false\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("overload")
    prefix = f"paywall-test-{uuid.uuid4().hex[:12]}:"
    with RedisServer() as server:
        config = folder / "paywall.yaml"
        config.write_text(site_config(prefix, server.url), encoding="utf-8")
        port = free_port()
        env = {**os.environ, "PAYWALL_SECRET_KEYS": SECRET, "PAYWALL_TEST_CONFIG": str(config)}
        command = [
            sys.executable, "-m", "uvicorn", "tests.overload_app:app",
            "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        log = folder / "uvicorn.log"
        proc = servers.serve(command, env, log, lambda: answers(port), STARTUP_SECONDS)
        try:
            yield Site(port, server, prefix, log)
        finally:
            servers.stop(proc)


def answers(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0).status_code == 200


async def walled_reader(site: Site) -> str:
    """A reader who has used the whole meter: the cookie header to send."""
    cookie, _ = fresh_cookie()
    async with http(site.port) as client:
        for n in range(LIMIT):
            page = await client.get(f"/articles/used-{n}", headers={"cookie": cookie})
            assert prompt(page) in ("meter", "last-free") and is_full(page), page.text
        walled = await client.get("/articles/used-wall", headers={"cookie": cookie})
        assert prompt(walled) == "subscribe" and leaks(walled) == []
    return cookie


async def assert_metered_normally(site: Site) -> None:
    """A new reader's first view gets the meter: the breaker is not open."""
    cookie, reader_id = fresh_cookie()
    async with http(site.port) as client:
        page = await client.get("/articles/probe", headers={"cookie": cookie})
    assert prompt(page) == "meter", page.text[:300]
    assert f"You have {LIMIT - 1} free articles left" in page.text
    assert site.meter_size(reader_id) == 1


def assert_refusal(response: httpx.Response | Raw) -> None:
    """429 (too many views of this reader at once) or 503 (the process is full): no article."""
    assert response.status_code in (429, 503), response.status_code
    assert int(response.headers["retry-after"]) >= 1
    assert "no-store" in response.headers["cache-control"]
    assert ARTICLE_PARAGRAPHS[0] not in response.text and len(response.content) < 200
    assert "set-cookie" not in response.headers


# --- (a) a burst from one walled cookie ---------------------------------------------------


async def test_burst_from_a_walled_cookie_gets_no_article_and_keeps_the_breaker_closed(
    site: Site,
) -> None:
    cookie = await walled_reader(site)
    offset = site.log_size()
    paths = [f"/articles/burst-{n}" for n in range(300)]
    responses = await burst(site.port, paths, {"cookie": cookie})
    statuses = Counter(r.status_code for r in responses)
    for response in responses:
        assert leaks(response) == [], f"hidden text served; statuses {statuses}"
        if response.status_code == 200:
            assert prompt(response) == "subscribe", f"not walled; statuses {statuses}"
        else:
            assert_refusal(response)
    assert statuses[200] >= 1, statuses
    assert BREAKER_LINE not in site.log_since(offset), site.log_since(offset)
    await assert_metered_normally(site)


# --- (b) 200 concurrent first views from one fresh cookie -----------------------------------


async def test_concurrent_first_views_of_one_cookie_get_at_most_the_limit(site: Site) -> None:
    cookie, reader_id = fresh_cookie()
    offset = site.log_size()
    paths = [f"/articles/first-{n}" for n in range(200)]
    responses = await burst(site.port, paths, {"cookie": cookie})
    statuses = Counter(r.status_code for r in responses)
    full = [r for r in responses if is_full(r)]
    assert len(full) <= LIMIT, f"{len(full)} full articles; statuses {statuses}"
    # Every full article was counted, and shows the meter.
    assert all(prompt(r) in ("meter", "last-free") for r in full), Counter(map(prompt, full))
    assert site.meter_size(reader_id) == len(full)
    for response in responses:
        if response.status_code == 200 and not is_full(response):
            assert prompt(response) == "subscribe" and leaks(response) == []
        elif response.status_code != 200:
            assert_refusal(response)
    assert BREAKER_LINE not in site.log_since(offset)
    await assert_metered_normally(site)


# --- (c) a busy event loop -------------------------------------------------------------------


async def test_a_blocked_event_loop_is_not_a_redis_outage(site: Site) -> None:
    """A handler blocks the loop for 300 ms (3x the store budget) while a view's meter call
    is queued or in flight: the view is still metered, and the breaker stays closed."""
    offset = site.log_size()
    async with http(site.port) as client:
        for n in range(5):
            cookie, reader_id = fresh_cookie()
            view, blocked = await asyncio.gather(
                client.get(f"/articles/busy-{n}", headers={"cookie": cookie}),
                client.get("/block?ms=300"),
            )
            assert blocked.status_code == 200
            assert prompt(view) == "meter", f"round {n}: {view.status_code} {view.text[:200]}"
            assert is_full(view) and site.meter_size(reader_id) == 1
    assert BREAKER_LINE not in site.log_since(offset), site.log_since(offset)
    await assert_metered_normally(site)


async def test_big_pages_rewritten_meanwhile_do_not_open_the_wall(site: Site) -> None:
    """Walled readers asking for a 1.8 MB page keep the loop busy rewriting it; the views
    that arrive meanwhile are metered as usual."""
    walled = await walled_reader(site)
    offset = site.log_size()
    async with http(site.port) as client:
        for n in range(3):
            cookie, reader_id = fresh_cookie()
            pages = [
                client.get(f"/articles/big-{n}-{k}", headers={"cookie": walled}) for k in range(4)
            ]
            *bigs, view = await asyncio.gather(
                *pages, client.get(f"/articles/target-{n}", headers={"cookie": cookie})
            )
            for big in bigs:
                assert big.status_code in (200, 429, 503) and leaks(big) == []
            assert prompt(view) == "meter", f"round {n}: {view.status_code} {view.text[:200]}"
            assert site.meter_size(reader_id) == 1
    assert BREAKER_LINE not in site.log_since(offset), site.log_since(offset)


# --- (d) Redis really down: walled stays walled, payers read, others per on_store_error ------
#
# In process (no load involved), against a redis-server of the test's own that is killed
# (connection refused, then the open breaker) or paused (Redis silent on an idle loop).


class Browser:
    """A reader's browser: keeps the paywall's cookies itself, so tests can swap them."""

    def __init__(self, app: Any, account: str | None = None) -> None:
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="https://news.test",
            cookies=CookieJar(policy=_NoCookies()),
        )
        self.account = account
        self.cookies: dict[str, str] = {}

    async def get(self, path: str, cookies: dict[str, str] | None = None) -> httpx.Response:
        sent = self.cookies if cookies is None else cookies
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in sent.items())} if sent else {}
        if self.account:
            headers["x-test-account"] = self.account
        response = await self.client.get(path, headers=headers)
        if cookies is None:
            for line in response.headers.get_list("set-cookie"):
                name, _, value = line.split(";")[0].partition("=")
                self.cookies[name] = value
        return response

    async def aclose(self) -> None:
        await self.client.aclose()


def kind(page: httpx.Response) -> str:
    """full (the whole article), walled (teaser and a wall prompt), or what else it was."""
    if page.status_code != 200:
        return f"status {page.status_code}"
    if leaks(page):
        assert is_full(page), "hidden text in a page that is not the full article"
        return "full"
    assert prompt(page) in ("subscribe", "register", "trial-expired", "access-expired")
    return "walled"


def outage_config(prefix: str, url: str | None, mode: str, breaker: int = 5) -> str:
    text = CONFIG.replace("PREFIX", prefix).replace("timeout_ms: 1000", "timeout_ms: 100")
    if url is not None:
        text = text.replace("store:\n", f"store:\n  url: {url}\n")
    return text + f"  breaker_seconds: {breaker}\non_store_error: {mode}\n"


def site_app(config: Path) -> tuple[PaywallMiddleware, Any]:
    paywall = PaywallMiddleware(article_site, config=config)
    return paywall, AuthenticationMiddleware(paywall, backend=SignedInByHeader())


@pytest.mark.parametrize("fault", ["killed", "paused"])
@pytest.mark.parametrize("mode", ["open", "closed"])
async def test_redis_down_walled_stays_walled_payers_read_others_per_on_store_error(
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
    prefix: str,
    mode: str,
    fault: str,
) -> None:
    config = tmp_path / "paywall.yaml"
    config.write_text(outage_config(prefix, redis_server.url, mode), encoding="utf-8")
    paywall, app = site_app(config)
    admin = aioredis.from_url(redis_server.url)
    ents = Entitlements(admin, prefix)
    await ents.grant("subscriber", plan="subscription", until=datetime.now(UTC) + timedelta(30))
    walled, subscriber = Browser(app), Browser(app, "subscriber")
    started, newcomer = Browser(app), Browser(app)
    try:
        for n in range(3):
            assert kind(await walled.get(f"/articles/w{n}")) == "full"
        assert kind(await walled.get("/articles/w-wall")) == "walled"
        assert kind(await subscriber.get("/premium/s0")) == "full"
        assert kind(await started.get("/articles/n0")) == "full"  # 1 of 3 used

        if fault == "killed":
            redis_server.kill()
        else:
            redis_server.pause(4000)
        others = "full" if mode == "open" else "walled"
        # First views meet the fault itself (refused, or 100 ms of silence), the later
        # ones the open breaker: the same answers either way.
        for n in range(3):
            with anyio.fail_after(3):
                assert kind(await walled.get(f"/articles/down{n}")) == "walled"
                assert kind(await walled.get(f"/premium/down{n}")) == "walled"
                assert kind(await subscriber.get(f"/articles/down{n}")) == "full"
                assert kind(await subscriber.get(f"/premium/down{n}")) == "full"
                assert kind(await started.get(f"/articles/down{n}")) == others
                assert kind(await newcomer.get(f"/articles/down{n}")) == others
                assert kind(await newcomer.get(f"/premium/down{n}")) == "walled"
        for page in (await subscriber.get("/articles/x"), await started.get("/articles/x")):
            assert prompt(page) is None or kind(page) == "walled"  # nothing counted, no meter
        assert not paywall.store.breaker.allow()  # a real outage: the breaker did open
    finally:
        for browser in (walled, subscriber, started, newcomer):
            await browser.aclose()
        await admin.aclose()


# --- (e) forged, replayed and moved summaries gain nothing -----------------------------------


SUMMARY = "paywall_rid_s"


class Twins:
    """One config and one set of keys, two processes: `up` on a working store, `down` on a
    port that refuses connections (an outage). Cookies from one are valid on the other."""

    def __init__(self, store: Any, config: Path, prefix: str) -> None:
        self.up, self.up_app = self._app(config, store)
        self.down, self.down_app = self._app(config, aioredis.from_url(down_url()))
        self.entitlements = Entitlements(store, prefix)

    @staticmethod
    def _app(config: Path, store: Any) -> tuple[PaywallMiddleware, Any]:
        paywall = PaywallMiddleware(article_site, config=config, redis=store)
        return paywall, AuthenticationMiddleware(paywall, backend=SignedInByHeader())

    def set_clock(self, now: datetime) -> None:
        self.up.clock = self.down.clock = lambda: now


def down_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: connection refused


def tampered(value: str) -> str:
    """The same signature on an edited payload: entitled until 2100."""
    payload, _, signature = value.rpartition(".")
    fields = payload.split(".")
    fields[-1] = "4102444800"
    return ".".join(fields) + "." + signature


@pytest.fixture
def twins(store: Any, tmp_path: Path, prefix: str) -> Iterator[Callable[[str], Twins]]:
    def make(mode: str) -> Twins:
        config = tmp_path / f"paywall-{mode}.yaml"
        config.write_text(outage_config(prefix, None, mode), encoding="utf-8")
        return Twins(store, config, prefix)

    yield make


async def history(app: Any, account: str | None, paths: list[str]) -> tuple[Browser, list[str]]:
    """A reader's views on a working store, and every summary value it was given."""
    browser = Browser(app, account)
    summaries: list[str] = []
    for path in paths:
        await browser.get(path)
        if SUMMARY in browser.cookies and browser.cookies[SUMMARY] not in summaries:
            summaries.append(browser.cookies[SUMMARY])
    return browser, summaries


@pytest.mark.parametrize("mode", ["open", "closed"])
async def test_summaries_are_ignored_while_the_store_answers(
    twins: Callable[[str], Twins], mode: str
) -> None:
    site = twins(mode)
    now = datetime.now(UTC)
    await site.entitlements.grant("payer", plan="subscription", until=now + timedelta(30))
    payer, payer_summaries = await history(site.up_app, "payer", ["/premium/p"])
    reader, reader_summaries = await history(
        site.up_app, None, ["/articles/1", "/articles/2", "/articles/3", "/articles/4"]
    )
    assert len(reader_summaries) == 3  # 1 view, 2 views, 3 views = used up (the wall: same)
    candidates = [*reader_summaries[:2], *payer_summaries, tampered(payer_summaries[0])]
    for value in candidates:
        page = await reader.get("/articles/5", {**reader.cookies, SUMMARY: value})
        assert kind(page) == "walled", value  # the store says walled: walled
        assert kind(await reader.get("/premium/5", {**reader.cookies, SUMMARY: value})) == "walled"
    # The payer's plan is revoked: the store says so, whatever the summary.
    await site.entitlements.revoke("payer")
    assert kind(await payer.get("/premium/p2")) == "walled"
    page = await payer.get("/articles/p3")
    assert prompt(page) == "meter"  # metered (and counted) again
    for browser in (payer, reader):
        await browser.aclose()


@pytest.mark.parametrize("mode", ["open", "closed"])
async def test_in_an_outage_a_summary_gains_nothing_but_a_real_entitlement(
    twins: Callable[[str], Twins], mode: str
) -> None:
    """Every summary a reader or a payer was ever given, shown in an outage by its own
    reader, by another reader, by another account, or tampered with: the page is what no
    summary would get, or a wall; only the payer's own, unexpired entitlement reads more."""
    site = twins(mode)
    now = datetime.now(UTC)
    site.set_clock(now)
    until = now + timedelta(days=30)
    await site.entitlements.grant("payer", plan="subscription", until=until)
    _, payer_summaries = await history(site.up_app, "payer", ["/articles/p", "/premium/p"])
    reader, reader_summaries = await history(
        site.up_app, None, ["/articles/1", "/articles/2", "/articles/3", "/articles/4"]
    )
    other, _ = await history(site.up_app, None, ["/articles/1"])
    await site.entitlements.revoke("payer")  # revoked since: the summary is a replay now
    values = [*reader_summaries, *payer_summaries]
    values += [tampered(v) for v in values]

    async def outage(account: str | None, cookies: dict[str, str], path: str) -> str:
        browser = Browser(site.down_app, account)
        try:
            return kind(await browser.get(path, cookies))
        finally:
            await browser.aclose()

    for path in ("/articles/new", "/premium/new"):
        for account, rid in (
            (None, reader.cookies["paywall_rid"]),
            (None, other.cookies["paywall_rid"]),
            ("payer", other.cookies["paywall_rid"]),
            ("someone-else", reader.cookies["paywall_rid"]),
        ):
            base = {"paywall_rid": rid}
            without = await outage(account, base, path)
            for value in values:
                got = await outage(account, {**base, SUMMARY: value}, path)
                real = account == "payer" and value in payer_summaries
                if real:
                    assert got == "full", (path, account, value)  # real when signed
                else:
                    assert got in (without, "walled"), (path, account, value, got, without)
    # The walled reader's own last summary walls it; no summary would have opened it.
    last = {**reader.cookies}
    assert await outage(None, last, "/articles/new") == "walled"
    # An entitlement summary is good until its own `until`, not after.
    site.set_clock(until + timedelta(seconds=1))
    cookies = {"paywall_rid": other.cookies["paywall_rid"], SUMMARY: payer_summaries[-1]}
    assert await outage("payer", cookies, "/premium/new") == "walled"
    for browser in (reader, other):
        await browser.aclose()
