"""Issue 9, routes: a reader who spells a gated article's URL oddly, asks for it in another
shape, or claims to be Googlebot through a proxy header gets no more than the wall.

- Paths are judged as the upstream may route them: every reading of the path, the most
  restrictive rule any reading matches (`paywall.routing`).
- Articles named by query parameters (`content.article_query`) are counted one by one.
- On gated paths a body that is not an HTML view (JSON, RSS, XHTML, no Content-Type, 206,
  304) is metered like a view: passed to a counted or entitled reader, 402 for a walled one.
- The demo does not believe X-Forwarded-For.

In-process tests run on fakeredis and, with PAYWALL_TEST_REDIS_URL, real Redis; the routing
and demo tests run a real uvicorn (a Starlette site that serves "/premium/123/.." as article
123) on a free loopback port against real Redis, sending paths byte for byte with
http.client (httpx would normalise them). Every test deletes its Redis keys.
"""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from paywall import Entitlements, PaywallMiddleware
from paywall.config import load_config

from . import servers
from .conftest import CONFIG, REAL_REDIS_URL, SECRET, article_page, article_site
from .redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
PROMPT = re.compile(rb'data-paywall="([\w-]+)"')
HIDDEN = [f"secret-text-{n}".encode() for n in range(3, 7)]  # past the 2-paragraph teaser
needs_redis = pytest.mark.skipif(not REAL_REDIS_URL, reason="PAYWALL_TEST_REDIS_URL is not set")


def hidden_in(body: bytes) -> list[bytes]:
    return [marker for marker in HIDDEN if marker in body]


def prompts_in(body: bytes) -> list[str]:
    return [name.decode() for name in PROMPT.findall(body)]


def left_in(body: bytes) -> int | None:
    """Free articles left as the meter prompt says it (None: no meter prompt)."""
    if b"This is your last free article" in body:
        return 0
    found = re.search(rb"You have (\d+) free articles? left", body)
    return int(found.group(1)) if found else None


# --------------------------------------------------------------------------------------
# 1. Every reading of a path, the most restrictive rule


def scope_for(raw: str, query: bytes = b"") -> dict[str, Any]:
    """The scope a server builds from a request line sent byte for byte (uvicorn decodes
    the path once; raw_path is what was sent)."""
    return {"path": unquote(raw), "raw_path": raw.encode("latin-1"), "query_string": query}


@pytest.fixture
def rules(config_file: Callable[..., Path]) -> Any:
    return load_config(config_file())  # /sponsored/* free, /premium/* premium, /articles/* metered


ODD_SPELLINGS = [
    # (as sent, how the rules must judge it)
    ("/premium/123/..", "premium"),  # Starlette {rest:path} serves article 123
    ("/premium/123/.", "premium"),
    ("/premium/123/%2e%2e", "premium"),
    ("/articles/123/%2e%2e", "metered"),
    ("/articles/123/%2E%2E/", "metered"),
    ("/articles/123//..", "metered"),
    ("/sponsored/../premium/x", "premium"),
    ("/sponsored/..%2fpremium/x", "premium"),
    ("/sponsored%2F..%2Fpremium%2Fx", "premium"),
    ("/sponsored/%2e%2e/premium/x", "premium"),
    ("/%2570remium/x", "premium"),  # double encoding: a second decode gives /premium/x
    ("/%252570remium/x", "premium"),  # triple
    ("/sponsored/%252e%252e/premium/x", "premium"),
    ("/sponsored/x/..;/..;/premium/y", "premium"),  # servlet containers strip ;params
    ("/premium;jsessionid=1/x", "premium"),
    ("/sponsored\\..\\premium\\x", "premium"),  # Windows servers read \ as /
    ("/sponsored/%5c..%5cpremium/x", "premium"),
    ("//premium//x", "premium"),
    ("/PREMIUM/x", "premium"),  # case-insensitive routers
    ("/Articles/X", "metered"),
    ("/premium./x", "premium"),  # IIS drops trailing dots and spaces
    ("/premium%20/x", "premium"),
    ("/%EF%BD%90remium/x", "premium"),  # fullwidth p: NFKC
    ("/sponsored/x%00/../../premium/y", "premium"),
    ("http://news.test/premium/x", "premium"),  # absolute-form request target
]
PLAIN_SPELLINGS = [
    ("/articles/x", "metered"),
    ("/articles/x/", "metered"),
    ("/premium/deep-dive", "premium"),
    ("/sponsored/story", "free"),
    ("/sponsored/caf%C3%A9", "free"),
    ("/sponsored/a/../b", "free"),
    ("/about/team.html", "free"),
    ("/static/app.v2.js", "free"),
    ("/.well-known/security.txt", "free"),
    ("/", "free"),
]


@pytest.mark.parametrize(("raw", "access"), ODD_SPELLINGS + PLAIN_SPELLINGS)
def test_readings_judge_a_path_by_its_most_restrictive_reading(
    rules: Any, raw: str, access: str
) -> None:
    from paywall import routing

    assert routing.access_of(rules, scope_for(raw)) == access


def test_the_default_counts_for_readings_no_rule_matches(config_file: Callable[..., Path]) -> None:
    from paywall import routing

    text = CONFIG.replace("default: free", "default: metered").replace(
        '- {path: "/sponsored/*", access: free}', '- {path: "/static/*", access: free}'
    )
    config = load_config(config_file(text))
    assert routing.access_of(config, scope_for("/static/app.js")) == "free"
    # "/static/x/.." also reads as "/static", which no rule names: the default, metered.
    assert routing.access_of(config, scope_for("/static/x/..")) == "metered"


def test_the_route_names_the_rule_of_the_path_as_sent(rules: Any) -> None:
    """route_of judges like access_of and also names the first rule the path as sent
    matches (analytics counts the view in its section), never a stricter reading's."""
    from paywall import routing

    access, rule = routing.route_of(rules, scope_for("/articles/story"))
    assert access == "metered" and rule is not None and rule.pattern == "/articles/*"
    # The sponsored path as sent is free by its rule; ".." also reads it as premium.
    access, rule = routing.route_of(rules, scope_for("/sponsored/../premium/x"))
    assert access == "premium" and rule is not None and rule.pattern == "/sponsored/*"
    assert routing.route_of(rules, scope_for("/about")) == ("free", None)  # no rule: default
    crafted = "/sponsored/a;b/c.%00#/..\\" + "%252e%252e/x;y/Z./" * 400
    assert routing.route_of(rules, scope_for(crafted)) == ("premium", None)


def test_a_plain_path_needs_one_reading() -> None:
    from paywall import routing

    assert routing.readings("/articles/some-story", b"/articles/some-story") == [
        "/articles/some-story"
    ]
    assert routing.readings("/News/Story", b"/News/Story") == ["/News/Story", "/news/story"]
    assert routing.readings("/articles/x", None) == ["/articles/x"]


def test_a_crafted_path_with_too_many_readings_gets_the_strictest_level(rules: Any) -> None:
    from paywall import routing

    raw = "/sponsored/a;b/c.%00#/..\\" + "%252e%252e/x;y/Z./" * 400
    assert routing.readings(unquote(raw), raw.encode()) is None
    assert routing.access_of(rules, scope_for(raw)) == "premium"
    started = time.perf_counter()
    for _ in range(10):
        routing.access_of(rules, scope_for(raw))
    assert (time.perf_counter() - started) / 10 < 0.05  # bounded work, not a CPU sink


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("/articles/1/..", "/articles/2/.."),
        ("/articles/1/%2e%2e", "/articles/2/%2e%2e"),
        ("/articles/1/.", "/articles/2/."),
        ("/articles/a%2Fb", "/articles/a/b"),  # a router may read %2F as part of the id
        ("/articles/%FF", "/articles/%FE"),  # not UTF-8: still two ids
        ("/articles/x", "/articles/X"),
        ("/articles/x;v=1", "/articles/x;v=2"),
        ("/articles/view%3Fid=17", "/articles/view?id=17"),  # a "?" in the path is not a query
    ],
)
def test_normalising_never_makes_two_articles_one(one: str, other: str) -> None:
    from paywall import routing

    def key(sent: str) -> str:
        path, _, query = sent.partition("?")
        return routing.article_key(scope_for(path, query.encode()), ("id",))

    assert key(one) != key(other)


@pytest.mark.parametrize(
    "raw",
    ["/articles/x", "/articles/x/", "//articles//x//", "/", "/articles/caf%C3%A9", "/a/b.html"],
)
def test_ordinary_paths_keep_their_article_ids(raw: str) -> None:
    from paywall import routing

    # The id is what it was before (the decoded path, dot segments and repeated slashes
    # resolved): counts carry over.
    assert routing.article_key(scope_for(raw), ()) == resolved(unquote(raw))


def test_article_query_parameters_name_the_article() -> None:
    from paywall import routing

    def key(query: bytes, names: tuple[str, ...] = ("id",)) -> str:
        return routing.article_key(scope_for("/articles/view", query), names)

    assert key(b"id=17") != key(b"id=18")
    assert key(b"id=17") == key(b"utm_source=news&id=17") == key(b"id=%31%37")
    assert key(b"id=17&page=2", ("id", "page")) == key(b"page=2&id=17", ("id", "page"))
    assert key(b"id=17&id=18") != key(b"id=18&id=17")  # routers take the first or the last
    assert key(b"ID=17") != key(b"id=17") != key(b"")
    assert key(b"id=17", ()) == key(b"id=18", ()) == "/articles/view"  # not configured


async def call(app: Any, raw: str, method: str = "GET") -> tuple[int, bytes]:
    """One request with the path sent byte for byte, as a server decodes it."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "headers": [],
        "client": ("203.0.113.5", 5000),
        "scheme": "https",
        "server": ("news.test", 443),
        **scope_for(raw),
    }
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.anyio
@pytest.mark.parametrize(("raw", "access"), ODD_SPELLINGS)
async def test_odd_spellings_are_gated_through_the_middleware(
    store: Any, config_file: Callable[..., Path], raw: str, access: str
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(), redis=store)
    status, body = await call(paywall, raw)
    assert status == 200
    if access == "premium":
        assert prompts_in(body) == ["subscribe"] and hidden_in(body) == []
    else:
        assert prompts_in(body) == ["meter"]


# --------------------------------------------------------------------------------------
# 3. Other shapes of the article on gated paths, in process


def shaped_site(
    status: int = 200,
    content_type: bytes | None = b"application/json",
    body: bytes = b'{"articleBody": "secret-text-3 secret-text-4 secret-text-5 secret-text-6"}',
    extra: list[tuple[bytes, bytes]] | None = None,
) -> Any:
    """An upstream that answers every path with one response (and any other status or type
    as given), streamed in two pieces."""

    async def site(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"etag", b'"v1"'), (b"set-cookie", b"site_session=abc; Path=/")]
        if content_type is not None:
            headers.append((b"content-type", content_type))
        headers += extra or []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        half = len(body) // 2
        await send({"type": "http.response.body", "body": body[:half], "more_body": True})
        await send({"type": "http.response.body", "body": body[half:]})

    return site


ARTICLE_JSON = b'{"articleBody": "secret-text-3 secret-text-4 secret-text-5 secret-text-6"}'
SHAPES = {
    "json": shaped_site(),
    "ld+json": shaped_site(content_type=b"application/ld+json"),
    "rss": shaped_site(content_type=b"application/rss+xml", body=b"<rss>secret-text-3</rss>"),
    "atom": shaped_site(content_type=b"application/atom+xml", body=b"<feed>secret-text-4</feed>"),
    "no-type": shaped_site(content_type=None, body=b"secret-text-5 streamed"),
    "xhtml": shaped_site(
        content_type=b"application/xhtml+xml", body=article_page().encode("utf-8")
    ),
    "text": shaped_site(content_type=b"text/plain", body=b"secret-text-6"),
    "206": shaped_site(206, b"text/html; charset=utf-8", article_page().encode()),
    "203": shaped_site(203, b"text/html", article_page().encode()),
    "304": shaped_site(304, None, b""),
}


async def use_up_the_meter(reader: httpx.AsyncClient) -> None:
    """Three HTML views of the default site (limit 3): the next article is walled."""
    for n in range(3):
        page = await reader.get(f"/articles/used-{n}", headers={"x-html": "1"})
        assert page.status_code == 200 and b"data-paywall" in page.content


def html_or(shape: Any) -> Any:
    """The sample article site for requests carrying X-Html (to use up the meter), else
    `shape`."""

    async def site(scope: Any, receive: Any, send: Any) -> None:
        if any(key == b"x-html" for key, _ in scope["headers"]):
            await article_site(scope, receive, send)
        else:
            await shape(scope, receive, send)

    return site


def client(app: Any, **kwargs: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, **kwargs)
    return httpx.AsyncClient(transport=transport, base_url="https://news.test")


@pytest.mark.anyio
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("path", ["/articles/walled", "/premium/deep"])
async def test_a_walled_reader_gets_402_and_nothing_of_the_article_in_any_shape(
    store: Any, config_file: Callable[..., Path], shape: str, path: str
) -> None:
    paywall = PaywallMiddleware(html_or(SHAPES[shape]), config=config_file(), redis=store)
    async with client(paywall) as reader:
        await use_up_the_meter(reader)
        answer = await reader.get(path)
    assert answer.status_code == 402, (shape, answer.status_code, answer.content[:200])
    assert b"secret-text" not in answer.content and hidden_in(answer.content) == []
    assert answer.headers["cache-control"] == "private, no-store"
    assert "Cookie" in answer.headers["vary"] and "etag" not in answer.headers
    assert answer.headers["content-length"] == str(len(answer.content))
    if shape in ("json", "ld+json"):
        data = answer.json()
        assert data["error"] == "paywall" and data["prompt"] == "subscribe"
        assert data["subscribe_url"] == "/subscribe"
        expected = "free articles" if path.startswith("/articles") else "for subscribers"
        assert expected in data["message"]
    else:
        assert answer.headers["content-type"] == "text/plain; charset=utf-8"
        assert "Subscribe: /subscribe" in answer.text


@pytest.mark.anyio
async def test_json_is_chosen_by_the_request_accept_header(
    store: Any, config_file: Callable[..., Path]
) -> None:
    site = html_or(shaped_site(content_type=b"application/vnd.api+json"))
    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    async with client(paywall) as reader:
        text = await reader.get("/premium/a", headers={"accept": "text/html"})
        as_json = await reader.get("/premium/a", headers={"accept": "application/json"})
    assert text.status_code == as_json.status_code == 402
    assert as_json.json()["prompt"] == "subscribe"
    assert text.json()["error"] == "paywall"  # the upstream's type was JSON (+json) too
    plain = PaywallMiddleware(
        html_or(shaped_site(content_type=b"text/csv", body=b"secret-text-3")),
        config=config_file(),
        redis=store,
    )
    async with client(plain) as reader:
        csv = await reader.get("/premium/a", headers={"accept": "application/json, */*"})
        assert csv.json()["error"] == "paywall"
        csv = await reader.get("/premium/a", headers={"accept": "text/csv"})
        assert csv.headers["content-type"].startswith("text/plain") and b"secret" not in csv.content


@pytest.mark.anyio
@pytest.mark.parametrize("shape", ["json", "rss", "no-type", "xhtml", "206", "304"])
async def test_a_counted_reader_gets_other_shapes_counted_once(
    store: Any, config_file: Callable[..., Path], shape: str
) -> None:
    paywall = PaywallMiddleware(html_or(SHAPES[shape]), config=config_file(), redis=store)
    async with client(paywall) as reader:
        first = await reader.get("/articles/other-shape")
        assert first.status_code == (200 if shape not in ("206", "304") else int(shape))
        assert "private" in first.headers["cache-control"] and "Cookie" in first.headers["vary"]
        assert "etag" not in first.headers
        cookies = first.headers.get_list("set-cookie")
        assert any(cookie.startswith("paywall_rid=") for cookie in cookies)
        assert "site_session=abc" in first.headers.get_list("set-cookie")[0]
        if shape != "304":
            assert b"secret-text" in first.content  # the reader may read it: as it came
        again = await reader.get("/articles/other-shape")  # the same article: not again
        assert again.status_code == first.status_code
        assert "paywall_rid=" not in again.headers.get("set-cookie", "")
        page = await reader.get("/articles/next", headers={"x-html": "1"})
    assert left_in(page.content) == 1  # limit 3: the other shape, then this page


@pytest.mark.anyio
async def test_other_shapes_and_html_of_one_article_count_once(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(html_or(SHAPES["json"]), config=config_file(), redis=store)
    async with client(paywall) as reader:
        page = await reader.get("/articles/one", headers={"x-html": "1"})
        assert left_in(page.content) == 2
        data = await reader.get("/articles/one", headers={"accept": "application/json"})
        assert data.status_code == 200 and b"secret-text-6" in data.content
        assert left_in((await reader.get("/articles/two", headers={"x-html": "1"})).content) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "content_type", "length"),
    [
        (200, b"image/png", None),
        (200, b"text/css; charset=utf-8", None),
        (200, b"application/javascript", None),
        (200, b"font/woff2", None),
        (206, b"video/mp4", None),
        (301, b"text/html", None),
        (302, b"application/json", None),
        (404, b"application/json", None),
        (500, None, None),
        (204, None, None),
        (200, b"application/json", b"0"),  # nothing to hide in an empty body
    ],
)
async def test_what_cannot_hold_an_article_passes_uncounted(
    store: Any,
    config_file: Callable[..., Path],
    status: int,
    content_type: bytes | None,
    length: bytes | None,
) -> None:
    body = b"" if status == 204 or length == b"0" else b"\x89PNG body secret-text-3"
    extra = [(b"content-length", length)] if length is not None else []
    site = html_or(shaped_site(status, content_type, body, extra))
    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    async with client(paywall) as reader:
        await use_up_the_meter(reader)
        answer = await reader.get("/premium/asset", follow_redirects=False)
    assert answer.status_code == status and answer.content == body
    if content_type is not None and status < 300 and length is None:  # an asset: as it came
        assert answer.headers["etag"] == '"v1"' and "cache-control" not in answer.headers
    else:  # a redirect, error or empty answer on a gated path is private all the same
        assert "private" in answer.headers["cache-control"] and "etag" not in answer.headers
        assert "Cookie" in answer.headers["vary"]
    async with client(paywall) as newcomer:
        await newcomer.get("/articles/asset", follow_redirects=False)
        page = await newcomer.get("/articles/first", headers={"x-html": "1"})
    assert left_in(page.content) == 2  # the asset was not a view


@pytest.mark.anyio
async def test_pass_types_come_from_the_config(
    store: Any, config_file: Callable[..., Path]
) -> None:
    text = CONFIG.replace("teaser_paragraphs: 2", "teaser_paragraphs: 2\n  pass_types: [text/csv]")
    csv = html_or(shaped_site(content_type=b"text/csv", body=b"a,b"))
    png = html_or(shaped_site(content_type=b"image/png", body=b"png"))
    async with client(PaywallMiddleware(csv, config=config_file(text), redis=store)) as reader:
        assert (await reader.get("/premium/x.csv")).content == b"a,b"
    async with client(PaywallMiddleware(png, config=config_file(text), redis=store)) as reader:
        assert (await reader.get("/premium/x.png")).status_code == 402  # image/* not listed


@pytest.mark.anyio
async def test_head_of_another_shape_is_private_uncounted_and_bodiless(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(html_or(SHAPES["json"]), config=config_file(), redis=store)
    async with client(paywall) as reader:
        head = await reader.head("/articles/data")
        assert head.status_code == 200 and head.content == b""
        assert "private" in head.headers["cache-control"]
        assert "paywall_rid" not in head.headers.get("set-cookie", "")
        page = await reader.get("/articles/first", headers={"x-html": "1"})
    assert left_in(page.content) == 2


@pytest.mark.anyio
async def test_other_methods_answered_with_json_are_walled_and_uncounted(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(html_or(SHAPES["json"]), config=config_file(), redis=store)
    async with client(paywall) as reader:
        posted = await reader.post("/articles/data", json={})
        assert posted.status_code == 402 and b"secret-text" not in posted.content
        page = await reader.get("/articles/first", headers={"x-html": "1"})
    assert left_in(page.content) == 2


@pytest.mark.anyio
async def test_a_prefetch_of_another_shape_is_refused_uncounted(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(html_or(SHAPES["json"]), config=config_file(), redis=store)
    async with client(paywall) as reader:
        prefetch = await reader.get("/articles/data", headers={"sec-purpose": "prefetch"})
        assert prefetch.status_code == 503 and b"secret-text" not in prefetch.content
        page = await reader.get("/articles/first", headers={"x-html": "1"})
    assert left_in(page.content) == 2


CRAWLER_CONFIG = CONFIG + (
    "crawlers:\n  - name: Googlebot\n    user_agent: Googlebot\n    networks: [66.249.64.0/19]\n"
)


@pytest.mark.anyio
async def test_a_verified_crawler_gets_other_shapes_whole_and_uncounted(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    path = config_file(CRAWLER_CONFIG)
    paywall = PaywallMiddleware(html_or(SHAPES["json"]), config=path, redis=store)
    async with client(paywall, client=("66.249.66.1", 4000)) as crawler:
        data = await crawler.get("/premium/x", headers={"user-agent": "Googlebot/2.1"})
    assert data.status_code == 200 and data.content == ARTICLE_JSON
    assert "paywall_rid" not in data.headers.get("set-cookie", "")
    assert "private" in data.headers["cache-control"]
    assert [key async for key in store.scan_iter(match=prefix + "*")] == []
    async with client(paywall, client=("203.0.113.9", 4000)) as impostor:
        data = await impostor.get("/premium/x", headers={"user-agent": "Googlebot/2.1"})
    assert data.status_code == 402


class _User:
    is_authenticated = True

    def __init__(self, identity: str) -> None:
        self.identity = identity


@pytest.mark.anyio
async def test_an_entitled_reader_gets_premium_json(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    await Entitlements(store, prefix=prefix).grant(
        "acct-1", plan="subscription", until=datetime.now(UTC) + timedelta(days=30)
    )
    paywall = PaywallMiddleware(html_or(SHAPES["json"]), config=config_file(), redis=store)

    async def signed_in(scope: Any, receive: Any, send: Any) -> None:
        await paywall({**scope, "user": _User("acct-1")}, receive, send)

    async with client(signed_in) as subscriber:
        data = await subscriber.get("/premium/x.json")
    assert data.status_code == 200 and data.content == ARTICLE_JSON


@pytest.mark.anyio
async def test_the_registration_wall_says_register(
    store: Any, config_file: Callable[..., Path]
) -> None:
    text = CONFIG.replace("limit: 3", "limit: 3\n  registration_wall: true")
    paywall = PaywallMiddleware(html_or(SHAPES["json"]), config=config_file(text), redis=store)
    async with client(paywall) as reader:
        await use_up_the_meter(reader)
        answer = await reader.get("/articles/walled")
    assert answer.status_code == 402
    assert answer.json()["prompt"] == "register" and answer.json()["register_url"] == "/signin"


@pytest.mark.anyio
async def test_a_206_of_a_page_marked_premium_on_a_free_path_is_402(
    store: Any, config_file: Callable[..., Path]
) -> None:
    async def site(scope: Any, receive: Any, send: Any) -> None:
        body = article_page().encode()
        ranged = any(key == b"range" for key, _ in scope["headers"])
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"x-paywall", b"premium")]
        if ranged:
            headers.append((b"content-range", f"bytes 0-{len(body) - 1}/{len(body)}".encode()))
        await send(
            {"type": "http.response.start", "status": 206 if ranged else 200, "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    async with client(paywall) as reader:
        ranged = await reader.get("/news/story", headers={"range": "bytes=0-"})
        whole = await reader.get("/news/story")
    assert ranged.status_code == 402 and hidden_in(ranged.content) == []
    assert "x-paywall" not in ranged.headers and "content-range" not in ranged.headers
    assert whole.status_code == 200 and prompts_in(whole.content) == ["subscribe"]


# --------------------------------------------------------------------------------------
# Over real HTTP: a real uvicorn serving tests/routes_app.py, real Redis


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    @property
    def prompts(self) -> list[str]:
        return prompts_in(self.body)


@dataclass
class Reader:
    """A browser-like reader over http.client: sends paths exactly as given, keeps its cookie."""

    port: int
    cookie: str | None = None
    client_headers: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, method: str = "GET", **headers: str) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            sent = {**self.client_headers, **{k.replace("_", "-"): v for k, v in headers.items()}}
            if self.cookie:
                sent["Cookie"] = self.cookie
            conn.request(method, path, headers=sent)
            response = conn.getresponse()
            reply = Reply(response.status, response.headers, response.read())
        finally:
            conn.close()
        for value in reply.headers.get_all("set-cookie") or []:
            if value.startswith("paywall_rid="):
                self.cookie = value.split(";", 1)[0]
        return reply


@dataclass
class Server:
    port: int
    prefix: str
    log: Path

    def reader(self) -> Reader:
        return Reader(self.port)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not REAL_REDIS_URL:
        pytest.skip("PAYWALL_TEST_REDIS_URL is not set")
    folder = tmp_path_factory.mktemp("routes")
    prefix = f"paywall-test-{uuid.uuid4().hex[:12]}:"
    text = CONFIG.replace("PREFIX", prefix).replace(
        "store:\n", f"store:\n  url: {REAL_REDIS_URL}\n"
    )
    text = text.replace("teaser_paragraphs: 2", "teaser_paragraphs: 2\n  article_query: [id]")
    text += "cookie:\n  secure: false\n"
    config = folder / "paywall.yaml"
    config.write_text(text.replace("timeout_ms: 1000", "timeout_ms: 2000"), encoding="utf-8")
    server = Server(free_port(), prefix, folder / "uvicorn.log")
    env = {**os.environ, "PAYWALL_SECRET_KEYS": SECRET, "PAYWALL_TEST_CONFIG": str(config)}
    command = [
        sys.executable, "-m", "uvicorn", "tests.routes_app:app", "--host", "127.0.0.1",
        "--port", str(server.port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    proc = servers.serve(
        command, env, server.log, lambda: Reader(server.port).get("/").status == 200
    )
    try:
        yield server
    finally:
        servers.stop(proc)
        servers.delete_keys(str(REAL_REDIS_URL), prefix)


def walled_reader(site: Server) -> Reader:
    reader = site.reader()
    for n in range(3):
        assert reader.get(f"/articles/use-{uuid.uuid4().hex[:6]}-{n}").prompts != ["subscribe"]
    assert reader.get("/articles/one-more").prompts == ["subscribe"]
    return reader


@needs_redis
@pytest.mark.parametrize(
    "path",
    ["/premium/123/..", "/premium/123/.", "/premium/123/%2e%2e", "/premium/123/%2E%2E/"],
)
def test_http_odd_spellings_of_a_premium_article_are_walled(site: Server, path: str) -> None:
    reader = site.reader()
    bare = reader.get("/_bare" + path)  # what the site serves for this spelling: article 123
    assert bare.status == 200 and b"story 123" in bare.body and b"secret-text-6" in bare.body
    walled = reader.get(path)
    assert walled.status == 200 and walled.prompts == ["subscribe"]
    assert b"Paragraph 1 of story 123" in walled.body and hidden_in(walled.body) == []


@needs_redis
@pytest.mark.parametrize("path", ["/articles/123/..", "/articles/123/%2e%2e", "/articles/123//%2E"])
def test_http_odd_spellings_of_a_metered_article_are_walled_past_the_limit(
    site: Server, path: str
) -> None:
    reader = walled_reader(site)
    bare = reader.get("/_bare" + path)
    assert bare.status == 200 and b"secret-text-6" in bare.body
    walled = reader.get(path)
    assert walled.status == 200 and walled.prompts == ["subscribe"]
    assert hidden_in(walled.body) == []


@needs_redis
def test_http_an_odd_spelling_is_counted_once_and_never_shares_a_count(site: Server) -> None:
    reader = site.reader()
    first = reader.get("/articles/77/%2e%2e")
    assert first.prompts == ["meter"] and left_in(first.body) == 2
    assert b"secret-text-6" in first.body
    again = reader.get("/articles/77/%2e%2e")
    assert again.prompts == [] and b"secret-text-6" in again.body  # already read: not counted
    other = reader.get("/articles/78/..")  # resolves to "/articles/" too: a different article
    assert left_in(other.body) == 1
    assert left_in(reader.get("/articles/79/%2e%2e").body) == 0  # the last free one
    fourth = reader.get("/articles/80/..")
    assert fourth.prompts == ["subscribe"] and hidden_in(fourth.body) == []


@needs_redis
def test_http_articles_named_by_query_are_counted_one_by_one(site: Server) -> None:
    reader = site.reader()
    assert left_in(reader.get("/articles/view?id=17").body) == 2
    same = reader.get("/articles/view?utm_source=newsletter&id=17")
    assert same.prompts == [] and b"story 17" in same.body  # the same article, read before
    assert left_in(reader.get("/articles/view?id=18&utm_medium=social").body) == 1
    assert left_in(reader.get("/articles/view?id=19").body) == 0
    walled = reader.get("/articles/view?id=20")
    assert walled.prompts == ["subscribe"] and hidden_in(walled.body) == []
    assert b"Paragraph 1 of story 20" in walled.body
    reread = reader.get("/articles/view?id=18")  # counted this period: still readable
    assert reread.prompts == [] and b"secret-text-6" in reread.body


@needs_redis
@pytest.mark.parametrize(
    ("path", "accept", "as_json"),
    [
        ("/premium/5.json", "*/*", True),
        ("/articles/9", "application/json", True),
        ("/articles/feed.xml", "application/rss+xml", False),
        ("/articles/9/stream", "*/*", False),
        ("/articles/9/xhtml", "application/xhtml+xml", False),
    ],
)
def test_http_a_walled_reader_gets_402_for_other_shapes(
    site: Server, path: str, accept: str, as_json: bool
) -> None:
    reader = walled_reader(site)
    bare = reader.get("/_bare" + path, Accept=accept)
    assert bare.status == 200 and b"secret-text-6" in bare.body  # the site would send it all
    answer = reader.get(path, Accept=accept)
    assert answer.status == 402 and b"secret-text" not in answer.body
    assert answer.headers["cache-control"] == "private, no-store"
    if as_json:
        data = json.loads(answer.body)
        assert data["error"] == "paywall" and data["subscribe_url"] == "/subscribe"
    else:
        assert answer.headers["content-type"].startswith("text/plain")
        assert b"Subscribe: /subscribe" in answer.body
    photo = reader.get("/articles/9/photo.png")  # images on gated paths pass as they are
    assert photo.status == 200 and photo.body.startswith(b"\x89PNG")


@needs_redis
def test_http_a_counted_reader_gets_json_counted_once(site: Server) -> None:
    reader = site.reader()
    data = reader.get("/articles/40", Accept="application/json")
    assert data.status == 200 and json.loads(data.body)["articleBody"].endswith("secret-text-6.")
    assert "private" in data.headers["cache-control"] and "Cookie" in data.headers["vary"]
    assert reader.cookie is not None
    assert reader.get("/articles/40", Accept="application/json").status == 200
    assert left_in(reader.get("/articles/41").body) == 1  # 40 once, then 41


@needs_redis
def test_http_range_on_a_page_the_site_marks_premium_is_402(site: Server) -> None:
    reader = site.reader()
    bare = reader.get("/_bare/news/7", Range="bytes=0-")
    assert bare.status == 206 and b"secret-text-6" in bare.body  # the whole article as 206
    ranged = reader.get("/news/7", Range="bytes=0-")
    assert ranged.status == 402 and hidden_in(ranged.body) == []
    head = reader.get("/news/7", method="HEAD", Range="bytes=0-")
    assert head.status in (200, 206) and head.body == b""
    page = reader.get("/news/7")
    assert page.status == 200 and page.prompts == ["subscribe"] and hidden_in(page.body) == []


@needs_redis
def test_http_range_on_a_page_marked_metered_is_counted_once(site: Server) -> None:
    reader = site.reader()
    ranged = reader.get("/news/8?access=metered", Range="bytes=0-")
    assert ranged.status == 206 and b"secret-text-6" in ranged.body
    assert reader.get("/news/8?access=metered", Range="bytes=0-").status == 206
    assert left_in(reader.get("/articles/after-range").body) == 1


# --------------------------------------------------------------------------------------
# 4. The demo does not believe X-Forwarded-For


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`paywall demo` with the shipped config/paywall.yaml (Googlebot's networks listed)."""
    if not REAL_REDIS_URL:
        pytest.skip("PAYWALL_TEST_REDIS_URL is not set")
    folder = tmp_path_factory.mktemp("demo")
    prefix = f"paywall-test-{uuid.uuid4().hex[:12]}:"
    shipped = (ROOT / "config" / "paywall.yaml").read_text(encoding="utf-8")
    assert 'prefix: "paywall:"' in shipped and "66.249.64.0/19" in shipped
    config = folder / "paywall.yaml"
    config.write_text(shipped.replace('prefix: "paywall:"', f'prefix: "{prefix}"'), "utf-8")
    server = Server(free_port(), prefix, folder / "demo.log")
    env = {
        **os.environ,
        "PAYWALL_SECRET_KEYS": SECRET,
        "REDIS_URL": str(REAL_REDIS_URL),
        "PAYWALL_COOKIE_SECURE": "false",
    }
    env.pop("FORWARDED_ALLOW_IPS", None)
    command = [
        sys.executable, "-m", "paywall", "demo", "--config", str(config),
        "--host", "127.0.0.1", "--port", str(server.port),
    ]  # fmt: skip
    proc = servers.serve(
        command, env, server.log, lambda: Reader(server.port).get("/").status == 200
    )
    try:
        yield server
    finally:
        servers.stop(proc)
        servers.delete_keys(str(REAL_REDIS_URL), prefix)


GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@needs_redis
@pytest.mark.parametrize(
    "forged",
    [
        {"X-Forwarded-For": "66.249.66.1"},
        {"X-Forwarded-For": "66.249.66.1", "X-Forwarded-Proto": "https"},
        {"X-Forwarded-For": "203.0.113.1, 66.249.66.1"},
    ],
)
def test_demo_a_googlebot_claimed_through_x_forwarded_for_is_walled(
    demo: Server, forged: dict[str, str]
) -> None:
    from paywall.demo.articles import ARTICLES

    premium = next(a for a in ARTICLES if a.access == "premium")
    reader = demo.reader()
    reader.client_headers = {"User-Agent": GOOGLEBOT, **forged}
    page = reader.get(premium.path)
    assert page.status == 200 and page.prompts == ["subscribe"]
    for paragraph in premium.paragraphs[2:]:  # past the teaser, as text or as markup
        assert paragraph.encode() not in page.body
        assert html.escape(paragraph).encode() not in page.body
    assert reader.cookie is not None  # metered as an ordinary reader, not a crawler


def resolved(path: str) -> str:
    """How article ids were spelt before path readings: "." and ".." segments resolved."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    return "/" + "/".join(segments)
