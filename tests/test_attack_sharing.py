"""A red-team pass over gift links, referral reads and editor previews (issue 15), through a
real uvicorn and a real Redis: a reader who wants articles free, or wants to spend someone
else's gifts. Each attack that worked is kept here as a test of its fix; the ones that held
are kept too, so they keep holding. Pages are judged by the tree an HTML5 parser builds."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from paywall import PaywallMiddleware
from paywall.identity import Reader
from paywall.store import Extras, MeterStore, Outcome

from . import servers
from .conftest import CONFIG, REAL_REDIS_URL, Backend, article_site
from .live_server import LiveServer, SignedInBy
from .test_sharing_live import (
    ADMIN_TOKEN,
    GOOGLE,
    NOW,
    Site,
    left_on,
    prompts_of,
    reads_in_full,
    subscribe,
)
from .test_store import NOW as STORE_NOW
from .test_store import PERIOD, extra_view

pytestmark = pytest.mark.skipif(not REAL_REDIS_URL, reason="PAYWALL_TEST_REDIS_URL is not set")

SHARING = (
    "cookie: {secure: false}\n"
    "gifts: {per_period: 3, valid_days: 5, plans: PLANS}\n"
    'referrals:\n  - {host: "*.google.*", per_period: 2}\n'
)


@contextlib.contextmanager
def running(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    meter: str = "",
    content: str = "",
    extra: str = "",
    plans: str = "[trial, subscription]",
    store_url: str | None = None,
) -> Iterator[Site]:
    """The sample site behind the paywall (gifts and a referral rule on), with `meter`,
    `content` and `extra` YAML added; on real Redis unless `store_url` names another."""
    prefix = f"paywall-test-{uuid.uuid4().hex[:12]}:"
    url = store_url or str(REAL_REDIS_URL)
    text = CONFIG.replace("PREFIX", prefix).replace("store:\n", f"store:\n  url: {url}\n")
    text = text.replace("meter:\n", "meter:\n" + meter).replace(
        "content:\n", "content:\n" + content
    )
    text += SHARING.replace("PLANS", plans) + extra
    config = tmp_path / f"paywall-{prefix[13:-1]}.yaml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", ADMIN_TOKEN)
    paywall = PaywallMiddleware(article_site, config=config)
    server = LiveServer(SignedInBy(paywall))
    client = redis.Redis.from_url(url)
    site = Site(server, client, prefix, config, NOW)
    paywall.clock = lambda: site.now
    try:
        yield site
    finally:
        server.stop()
        client.close()
        if store_url is None:
            servers.delete_keys(url, prefix)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with running(tmp_path, monkeypatch) as made:
        yield made


def raw_get(site: Site, target: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET `target` exactly as written (no client normalising dots, case or escapes)."""
    host, port = "127.0.0.1", site.server.port
    lines = [b"GET " + target + b" HTTP/1.1", f"Host: {host}:{port}".encode(), b"Connection: close"]
    lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    pairs = [(name, value) for name, _, value in (line.partition(": ") for line in header_lines)]
    return httpx.Response(int(status_line.split()[1]), headers=pairs, content=body)


def token_of(url: str) -> str:
    return url.split("gift=", 1)[1]


def metered(page: httpx.Response) -> bool:
    """An ordinary view: the meter banner (counted) or the wall, not the gift banner."""
    return prompts_of(page) in (["meter"], ["last-free"], ["subscribe"])


# -- findings: each failed before its fix ----------------------------------------------------


def test_a_cleared_cookie_buys_no_referral_reads_once_new_readers_start_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """meter.new_readers_per_network marks a new reader's meter used once a network has
    made its share of new readers; a cookie-clearing reader then got the referral rule's
    reads anyway from the second request of each fresh cookie on (1 walled view, 2 free)."""
    with running(tmp_path, monkeypatch, meter="  new_readers_per_network: 2\n") as site:
        for n in range(2):  # the network's allowance of new readers, used honestly
            with site.browser() as reader:
                assert left_on(reader.get(f"/articles/honest-{n}")) != "walled"
        free = []
        for n in range(4):  # then a fresh cookie each time, arriving "from Google"
            with site.browser() as reader:
                first = reader.get(f"/articles/fresh-{n}", headers=GOOGLE)
                assert left_on(first) == "walled"
                for m in range(3):
                    page = reader.get(f"/articles/fresh-{n}-{m}", headers=GOOGLE)
                    free += [page.url.path] if reads_in_full(page) else []
        assert free == []


@pytest.mark.anyio
async def test_meter_lua_gives_no_referral_reads_to_a_reader_who_started_used(
    backend: Backend, prefix: str
) -> None:
    """The same on each backend meter.lua runs on, a limit of 0 included (nothing to fill
    the meter with, so the mark is the referral hash's own)."""
    meter = MeterStore(backend.client, prefix, timeout=1.0)
    google = Extras(referrals=True, referral="0:2")
    for n, limit in enumerate((2, 0)):
        reader = Reader(f"reader-started-used-{n}")
        first = await meter.view(
            reader, "/a", premium=False, limit=limit, period=PERIOD, now=STORE_NOW,
            start_used=True, extras=google,
        )  # fmt: skip
        assert first.outcome is Outcome.LIMIT_USED
        for path in ("/b", "/c"):
            later = await meter.view(
                reader,
                path,
                premium=False,
                limit=limit,
                period=PERIOD,
                now=STORE_NOW,
                extras=google,
            )
            assert later.outcome is Outcome.LIMIT_USED, (limit, path)
    honest = Reader("reader-honest-aaaaaaaa")  # the rule still works for everyone else
    assert (await extra_view(meter, honest, "/a", google)).outcome is Outcome.REFERRAL


def test_a_gift_path_python_cannot_split_is_a_400_not_a_500(site: Site) -> None:
    asyncio.run(subscribe(site, "sub-split"))
    for path in ("//[", "//[::1", "//ex\uff0fample"):
        made = site.gift("sub-split", path)
        assert made.status_code == 400, (path, made.status_code, made.text)
        assert "not a path of this site" in made.json()["error"]
