"""Shared fixtures: a store per backend (fakeredis always, real Redis when configured),
each on its own key prefix and cleaned up afterwards, plus a sample article site."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import pytest
import redis.asyncio as aioredis

from paywall import PaywallMiddleware
from paywall.resp import RespClient

REAL_REDIS_URL = os.environ.get("PAYWALL_TEST_REDIS_URL")
SECRET = "test-signing-key"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def signing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYWALL_SECRET_KEYS", SECRET)


@pytest.fixture
def prefix() -> str:
    return f"paywall-test-{uuid.uuid4().hex[:12]}:"


@contextlib.asynccontextmanager
async def redis_client(kind: str, prefix: str) -> AsyncIterator[Any]:
    """fakeredis, or real Redis (skipped without PAYWALL_TEST_REDIS_URL); the keys under
    `prefix` are deleted afterwards."""
    if kind == "fakeredis":
        client: Any = fakeredis.FakeAsyncRedis()
    elif REAL_REDIS_URL:
        client = aioredis.from_url(REAL_REDIS_URL)
    else:
        pytest.skip("PAYWALL_TEST_REDIS_URL is not set")
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture(params=["fakeredis", "redis"])
async def store(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Any]:
    """A redis.asyncio client: fakeredis, and real Redis when PAYWALL_TEST_REDIS_URL is set."""
    async with redis_client(request.param, prefix) as client:
        yield client


@dataclass(frozen=True)
class Backend:
    """What a meter runs on (`client`), and a redis.asyncio client on the same data (`redis`)
    to set up and inspect it with."""

    name: str
    client: Any
    redis: Any


@pytest.fixture(params=["fakeredis", "redis", "resp"])
async def backend(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Backend]:
    """The store tests' three backends: fakeredis and real Redis through redis-py, and real
    Redis through our own RESP client (`paywall.resp`, budget 1 s)."""
    async with redis_client("fakeredis" if request.param == "fakeredis" else "redis", prefix) as r:
        if request.param != "resp":
            yield Backend(request.param, r, r)
            return
        client = RespClient.from_url(str(REAL_REDIS_URL), 1.0)
        try:
            yield Backend("resp", client, r)
        finally:
            await client.aclose()


ARTICLE_PARAGRAPHS = [f"Paragraph {n} of the story, secret-text-{n}." for n in range(1, 7)]


def article_page(paragraphs: list[str] = ARTICLE_PARAGRAPHS, charset: str = "utf-8") -> str:
    body = "\n".join(f"<p>{text}</p>" for text in paragraphs)
    full_text = " ".join(paragraphs)
    return (
        f'<!doctype html>\n<html><head><meta charset="{charset}"><title>Story</title>\n'
        '<script type="application/ld+json">'
        f'{{"@type": "NewsArticle", "headline": "Story", "articleBody": "{full_text}"}}'
        "</script>\n</head>\n<body>\n<h1>Story</h1>\n"
        f'<article class="story">\n{body}\n</article>\n<footer>Footer &copy;</footer>\n'
        "</body></html>\n"
    )


async def article_site(scope: Any, receive: Any, send: Any) -> None:
    """The upstream: article pages at every path; /data.json is JSON; /missing is a 404."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path.endswith("/missing"):
        status, ctype, body = 404, b"text/html; charset=utf-8", b"<p>not here</p>"
    elif path.endswith(".json"):
        status, ctype, body = 200, b"application/json", b'{"articleBody": "secret-text-9"}'
    else:
        status, ctype, body = 200, b"text/html; charset=utf-8", article_page().encode()
    headers = [
        (b"content-type", ctype),
        (b"content-length", str(len(body)).encode()),
        (b"etag", b'"v1"'),
        (b"last-modified", b"Tue, 01 Sep 2026 00:00:00 GMT"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


CONFIG = """\
publication: The Test Gazette
meter:
  limit: 3
  period: month
  timezone: Asia/Tokyo
content:
  default: free
  rules:
    - {path: "/sponsored/*", access: free}
    - {path: "/premium/*", access: premium}
    - {path: "/articles/*", access: metered}
  article: article.story
  teaser_paragraphs: 2
offers:
  - id: trial-3m
    headline: Try 3 months for $9
    url: /subscribe?offer=trial-3m
    audience: [anonymous, registered]
    ends: 2099-06-30
store:
  prefix: "PREFIX"
  timeout_ms: 1000
"""


@pytest.fixture
def config_file(tmp_path: Path, prefix: str) -> Callable[..., Path]:
    """Write a config (the default one above, or `text`) and return its path."""

    def write(text: str = CONFIG) -> Path:
        path = tmp_path / "paywall.yaml"
        path.write_text(text.replace("PREFIX", prefix), encoding="utf-8")
        return path

    return write


def client_for(app: Any) -> httpx.AsyncClient:
    """An httpx client on https (so Secure cookies are kept) talking to `app` in-process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://news.test")


@pytest.fixture
async def reader(store: Any, config_file: Callable[..., Path]) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like reader (keeps its cookie) on the sample site behind the paywall."""
    async with client_for(PaywallMiddleware(article_site, config=config_file(), redis=store)) as c:
        yield c
