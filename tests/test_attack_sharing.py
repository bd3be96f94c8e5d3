"""A red-team pass over gift links, referral reads and editor previews (issue 15), through a
real uvicorn and a real Redis: a reader who wants articles free, or wants to spend someone
else's gifts. Each attack that worked is kept here as a test of its fix; the ones that held
are kept too, so they keep holding. Pages are judged by the tree an HTML5 parser builds."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from paywall import Entitlements
from paywall.analytics.metrics import sample_value
from paywall.config import load_config
from paywall.identity import Reader
from paywall.names import Prompt
from paywall.sharing.cli import preview_url
from paywall.store import Extras, MeterStore, Outcome

from . import leaks
from .conftest import REAL_REDIS_URL, Backend
from .redis_server import RedisServer
from .sharing_site import (
    GIFT,
    GOOGLE,
    NOW,
    Site,
    left_on,
    prompts_of,
    reads_in_full,
    running,
    subscribe,
)
from .test_store import NOW as STORE_NOW
from .test_store import PERIOD, extra_view

pytestmark = pytest.mark.skipif(not REAL_REDIS_URL, reason="PAYWALL_TEST_REDIS_URL is not set")

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


async def grant(url: str, prefix: str, account: str) -> None:
    """A subscription for `account` in the store at `url` (not the shared test Redis)."""
    client = redis.asyncio.from_url(url)
    try:
        await Entitlements(client, prefix).grant(
            account, plan="subscription", until=NOW + timedelta(days=30)
        )
    finally:
        await client.aclose()


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


# -- gift links: what held -------------------------------------------------------------------


def spelled(site: Site, target: str) -> str:
    """What a new reader gets at `target`: "gifted" (the gift opened it), "metered"."""
    page = raw_get(site, target.encode())
    assert page.status_code == 200, (target, page.status_code)
    if prompts_of(page) == ["gifted"]:
        assert reads_in_full(page)
        return "gifted"
    assert metered(page), (target, prompts_of(page))
    return "metered"


def test_a_gift_opens_only_spellings_of_its_own_article(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """34 spellings: only those the article id counts as the same article open; case, dot
    segments, encoded slashes, path params, language prefixes, trailing dots and NULs,
    another article's id, a second `gift=` first or a `gift` that is not the parameter's
    exact name are metered views."""
    content = "  article_query: [id]\n  page_param: page\n"
    with running(tmp_path, monkeypatch, content=content) as site:
        asyncio.run(subscribe(site, "sub-spell"))
        a = token_of(site.gift("sub-spell", "/articles/a").json()["url"])
        v = token_of(site.gift("sub-spell", "/articles/view?id=17").json()["url"])
        opens = [
            f"/articles/a?gift={a}",
            f"/articles/a/?gift={a}",
            f"//articles/a?gift={a}",
            f"/articles//a?gift={a}",
            f"/articles/%61?gift={a}",
            f"/articles/a?gift={a}&gift=x",
            f"/articles/a?page=2&gift={a}",
            f"/articles/view?id=17&gift={v}",
            f"/articles/view?id=%31%37&gift={v}",
            f"/articles/view?id=17&page=3&gift={v}",
        ]
        metered_views = [
            f"/articles/A?gift={a}",
            f"/Articles/a?gift={a}",
            f"/articles/a/../b?gift={a}",
            f"/articles/b/../a?gift={a}",
            f"/articles/a%2F?gift={a}",
            f"/articles/a%2fb?gift={a}",
            f"/articles/a;x?gift={a}",
            f"/fr/articles/a?gift={a}",
            f"/articles/a.?gift={a}",
            f"/articles/a%00?gift={a}",
            f"/articles/a%20?gift={a}",
            f"/articles/a?gift=x&gift={a}",
            f"/articles/a?GIFT={a}",
            f"/articles/a?%67ift={a}",
            f"/articles/a;gift={a}",
            f"/articles/a?id=1&gift={a}",
            f"/articles/view?id=18&gift={v}",
            f"/articles/view?id=17&id=18&gift={v}",
            f"/articles/view?id=18&id=17&gift={v}",
            f"/articles/view?ID=17&gift={v}",
            f"/articles/view?i%64=18&gift={v}",
            f"/articles/view?gift={v}",
            f"/articles/view?id=17+&gift={v}",
            f"/articles/view?id=17&gift={a}",
        ]
        assert [t for t in opens if spelled(site, t) != "gifted"] == []
        assert [t for t in metered_views if spelled(site, t) != "metered"] == []
        premium = raw_get(site, f"/premium/a?gift={a}".encode())
        assert prompts_of(premium) == ["subscribe"] and not reads_in_full(premium)


def test_a_gift_is_read_only_by_a_get_and_never_stored_for_others(site: Site) -> None:
    asyncio.run(subscribe(site, "sub-ways"))
    link = site.gift("sub-ways", "/articles/ways").json()["url"]
    with site.browser() as reader:
        for n in range(3):
            reader.get(f"/articles/used-{n}")
        page = reader.get(link, headers={"Range": "bytes=0-10", "If-None-Match": '"v1"'})
        assert page.status_code == 200 and reads_in_full(page)
        cache = page.headers["cache-control"]
        assert "private" in cache and "public" not in cache and "s-maxage" not in cache
        assert "cookie" in page.headers["vary"].lower()
        assert "etag" not in page.headers and "last-modified" not in page.headers
        posted = reader.post(link)  # a POST answered with the page is not a view: walled
        assert not reads_in_full(posted) and prompts_of(posted) == ["subscribe"]
        head = reader.head(link)
        assert head.content == b"" and "content-length" not in head.headers
        assert "private" in head.headers["cache-control"]
    assert site.gift("sub-ways", "/articles/ways").json()["left"] == 1  # views spent none


def test_another_sites_page_cannot_spend_a_subscribers_gifts(site: Site) -> None:
    asyncio.run(subscribe(site, "sub-csrf"))
    own = site.url
    refused = [
        {"Origin": "null"},
        {"Origin": "https://attacker.example"},
        {"Origin": own.replace("127.0.0.1", "127.0.0.1.attacker.example")},
        {"Origin": f"http://attacker.example@{own[len('http://') :]}"},
        {"Referer": "https://attacker.example/page"},
        {"Referer": f"https://attacker.example/?{own}"},
        {"Referer": "null"},
        {},  # neither: a stripped Referer and no Origin is refused too
        {"Origin": "https://attacker.example", "Referer": own + "/articles/x"},
    ]
    for headers in refused:
        made = httpx.post(
            own + GIFT,
            data={"path": "/articles/x"},
            headers={"X-Test-Account": "sub-csrf", **headers},
            timeout=10,
        )
        assert made.status_code == 403, headers
    for method in ("GET", "HEAD", "PUT"):
        made = httpx.request(
            method, own + GIFT, headers={"X-Test-Account": "sub-csrf", "Origin": own}
        )
        assert made.status_code == 405
    assert site.gift("sub-csrf", "/articles/x").json()["left"] == 2  # nothing was spent


@pytest.mark.anyio
async def test_a_burst_of_gift_requests_gets_exactly_the_quota(site: Site) -> None:
    await subscribe(site, "sub-burst")
    headers = {"Origin": site.url, "X-Test-Account": "sub-burst"}
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(base_url=site.url, headers=headers, limits=limits) as client:
        answers = await asyncio.gather(
            *(client.post(GIFT, data={"path": f"/articles/burst-{n}"}) for n in range(40))
        )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 3 + [429] * 37
    assert sorted(a.json()["left"] for a in answers if a.status_code == 200) == [0, 1, 2]
    given = site.redis.get(f"{site.prefix}{{a:sub-burst}}:g:2027-01")
    assert given == b"3"


def test_only_a_plan_that_may_gift_gets_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(tmp_path, monkeypatch, plans="[subscription]") as site:
        asyncio.run(subscribe(site, "trialist", plan="trial"))
        asyncio.run(subscribe(site, "payer"))
        assert site.gift("trialist", "/articles/x").status_code == 403
        with site.browser("trialist") as trialist:  # and no control that would fail
            page = trialist.get("/articles/x")
            assert reads_in_full(page) and prompts_of(page) == []
        assert site.gift(None, "/articles/x").status_code == 401
        assert site.gift("nobody", "/articles/x").status_code == 403
        assert site.gift("payer", "/articles/x").status_code == 200
        site.now = NOW + timedelta(days=30)  # the plan has just ended: lapsed
        assert site.gift("payer", "/articles/x").status_code == 403
        with site.browser("payer") as lapsed:
            assert prompts_of(lapsed.get("/articles/y")) != ["gift"]


def test_markup_in_a_path_stays_text_in_the_gift_page_and_the_control(site: Site) -> None:
    asyncio.run(subscribe(site, "sub-xss"))
    path = '/articles/a"onmouseover=alert(1)//<script>alert(2)</script>'
    page = httpx.post(
        site.url + GIFT,
        data={"path": path},
        headers={"Origin": site.url, "X-Test-Account": "sub-xss", "Accept": "text/html"},
        timeout=10,
    )
    assert page.status_code == 200
    root = leaks.parse(page.content, page.headers["content-type"])
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    injected = [e for e in elements if e.tag == "script" and "alert" in (e.text or "")]
    assert not injected and not [e for e in elements if "onmouseover" in e.attrib]
    [back] = [e for e in elements if e.tag == "a"]
    assert back.get("href") == path  # a path of this site, as typed: not another host
    [link] = [e for e in elements if e.tag == "input"]
    assert urlsplit(link.get("value", "")).netloc == urlsplit(site.url).netloc
    target = b'/articles/a"onmouseover=alert(1)//</form><script>alert(2)</script>'
    entitled = raw_get(site, target, {"X-Test-Account": "sub-xss"})
    root = leaks.parse(entitled.content, entitled.headers["content-type"])
    [control] = leaks.prompts(root, "gift")
    inside = [e for e in control.iter() if isinstance(e.tag, str)]
    assert not [e for e in inside if e.tag == "script" or "onmouseover" in e.attrib]
    [field] = [e for e in inside if e.tag == "input"]
    assert field.get("value") == target.decode()


def test_a_gift_made_before_a_key_rotation_works_until_the_old_key_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYWALL_SECRET_KEYS", "old-signing-key")
    with running(tmp_path, monkeypatch) as site:
        asyncio.run(subscribe(site, "sub-rotate"))
        link = urlsplit(site.gift("sub-rotate", "/articles/rotated").json()["url"])
    target = f"{link.path}?{link.query}"
    for keys, expected in (("new-signing-key,old-signing-key", "gifted"), ("new-key", "metered")):
        monkeypatch.setenv("PAYWALL_SECRET_KEYS", keys)
        with running(tmp_path, monkeypatch) as site:
            assert spelled(site, target) == expected, keys


# -- referral reads: what held ---------------------------------------------------------------


def first_view(site: Site, path: str, referer: str) -> str:
    """What a new reader's first view of `path` from `referer` (sent as UTF-8) is:
    "referral" (free, no prompt, nothing on the meter) or "metered"."""
    with site.browser() as reader:
        page = reader.get(path, headers={b"referer": referer.encode()})
    if prompts_of(page) == [] and reads_in_full(page):
        return "referral"
    assert left_on(page) == "You have 2 free articles left", (referer, prompts_of(page))
    return "metered"


def test_only_a_referer_naming_the_rules_host_is_a_referral(site: Site) -> None:
    """11 Referer spellings that must not match `*.google.*` (userinfo, the host in a path
    or query, look-alikes, the site itself), 4 that do (case, a trailing dot, a port,
    userinfo before the real host)."""
    own = site.url
    not_google = [
        "https://www.google.com@evil.example/",
        "https://www.google.com:443@evil.example/",
        "https://evil.example/?r=https://www.google.com/",
        "https://evil.example/www.google.com/",
        "https://www.goog1e.com/",
        "https://notgoogle.com/",
        "https://xn--ggle-55da.com/",  # g\u043e\u043egle with Cyrillic o's, as IDNA spells it
        "https://www.g\u043e\u043egle.com/",
        "https://[::1/",
        own + "/articles/elsewhere",
        own.replace(str(site.server.port), "1") + "/",
    ]
    google = [
        "https://WWW.GOOGLE.COM/",
        "https://www.google.com./",
        "https://www.google.com:8443/search",
        "https://someone:secret@news.google.com/",
    ]
    spoofs = [f"/articles/not-{n}" for n in range(len(not_google))]
    assert [
        referer
        for path, referer in zip(spoofs, not_google, strict=True)
        if first_view(site, path, referer) != "metered"
    ] == []
    assert [
        referer
        for n, referer in enumerate(google)
        if first_view(site, f"/articles/yes-{n}", referer) != "referral"
    ] == []


@pytest.mark.anyio
async def test_a_burst_of_referral_views_from_one_cookie_gets_exactly_the_cap(site: Site) -> None:
    with site.browser() as seed:
        seed.get("/articles/seed")  # the cookie, and one view on the meter
        cookies = dict(seed.cookies)
    limits = httpx.Limits(max_connections=24)
    async with httpx.AsyncClient(
        base_url=site.url, cookies=cookies, headers=GOOGLE, limits=limits, timeout=10
    ) as reader:
        pages = await asyncio.gather(*(reader.get(f"/articles/burst-{n}") for n in range(24)))
    kinds = [
        "referral"
        if reads_in_full(p) and not prompts_of(p)
        else str(prompts_of(p) or p.status_code)
        for p in pages
    ]
    assert kinds.count("referral") == 2, kinds
    full = [p for p in pages if p.status_code == 200 and reads_in_full(p)]
    assert len(full) <= 4  # two referral reads, and the meter's two views left at most
    with site.browser() as after:
        after.cookies.update(cookies)
        later = after.get("/articles/after-burst", headers=GOOGLE)
        assert prompts_of(later) == ["subscribe"] and not reads_in_full(later)


def test_referral_reads_are_for_reading_a_metered_page_with_a_get(site: Site) -> None:
    with site.browser() as reader:
        posted = reader.post("/articles/posted", headers=GOOGLE)
        assert not reads_in_full(posted)
        premium = reader.get("/premium/from-google", headers=GOOGLE)
        assert prompts_of(premium) == ["subscribe"] and not reads_in_full(premium)
        assert site.redis.keys(site.prefix + "*:rf:*") == []  # neither spent a referral read


# -- previews: what held ---------------------------------------------------------------------


def test_a_preview_link_shows_nothing_but_its_own_article_while_its_key_lasts(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moved to another article, tampered, doubled, or after the admin token changed, is
    too short or is gone: an ordinary metered view (a 200, the reader's cookie), never a
    500 and never the preview's state."""
    config = load_config(site.config)
    url = preview_url(config, "/articles/previewed", Prompt.LAST_FREE, now=site.now)
    token = url.split("paywall_preview=", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    def view(target: str) -> str:
        page = raw_get(site, target.encode())
        assert page.status_code == 200, target
        if "set-cookie" not in page.headers and page.headers.get("x-robots-tag") == "noindex":
            return "preview"
        assert left_on(page) == "You have 2 free articles left", target
        return "metered"

    assert view(url) == "preview"
    for target in (
        f"/articles/other?paywall_preview={token}",
        f"/articles/previewed/../other?paywall_preview={token}",
        f"/articles/previewed?paywall_preview={tampered}",
        f"/articles/previewed?paywall_preview=x&paywall_preview={token}",
        "/articles/previewed?paywall_preview=%C3%A9.%FF",
        "/articles/previewed?paywall_preview=" + "A" * 5000,
    ):
        assert view(target) == "metered", target
    for admin in ("another-admin-token-of-length", "too-short", ""):
        monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", admin)
        assert view(url) == "metered", admin
    monkeypatch.delenv("PAYWALL_ADMIN_TOKEN")
    assert view(url) == "metered"


# -- the store down, analytics ---------------------------------------------------------------


def test_with_redis_down_a_gift_reads_in_full_and_nothing_else_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        RedisServer() as server,
        running(
            tmp_path, monkeypatch, extra="on_store_error: closed\n", store_url=server.url
        ) as site,
    ):
        asyncio.run(grant(server.url, site.prefix, "sub-down"))
        link = site.gift("sub-down", "/articles/outage").json()["url"]
        server.kill()
        with site.browser() as reader:
            gifted = reader.get(link)
            assert gifted.status_code == 200
            assert prompts_of(gifted) == ["gifted"] and reads_in_full(gifted)
            other = reader.get("/articles/not-gifted", headers=GOOGLE)
            assert other.status_code == 200 and not reads_in_full(other)
            moved = reader.get(link.replace("/articles/outage", "/articles/moved"))
            assert moved.status_code == 200 and not reads_in_full(moved)
        refused = site.gift("sub-down", "/articles/outage")
        assert refused.status_code == 503 and refused.json()["error"]


def test_gift_and_referral_views_are_labelled_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = "analytics: {enabled: true}\nmetrics: {enabled: true}\n"
    with running(tmp_path, monkeypatch, extra=extra) as site:
        asyncio.run(subscribe(site, "sub-labels"))
        link = site.gift("sub-labels", "/articles/labelled").json()["url"]
        config = load_config(site.config)
        preview = preview_url(config, "/articles/labelled", Prompt.GIFTED, now=site.now)
        with site.browser() as reader:
            reader.get(link)
            reader.get("/articles/from-google", headers=GOOGLE)
            reader.get(preview)
        with site.browser("sub-labels") as subscriber:
            subscriber.get("/articles/labelled")
        text = httpx.get(site.url + "/paywall/metrics", timeout=10).text
    views = "paywall_views_total"
    assert sample_value(text, views, {"outcome": "gift", "prompt": "gifted"}) == 1
    assert sample_value(text, views, {"outcome": "referral"}) == 1
    assert sample_value(text, views, {"outcome": "entitled", "prompt": "gift"}) == 1
    assert sample_value(text, views) == 3  # the preview is not a view
    assert sample_value(text, "paywall_gifts_created_total") == 1


def test_a_gift_link_names_the_origin_the_subscriber_was_on_behind_a_proxy(site: Site) -> None:
    """same_origin takes X-Forwarded-Host for a proxy that rewrites Host; the link named the
    rewritten Host and scheme instead (http://internal:8000/...): a link nobody can open,
    naming a host inside the publisher's network."""
    asyncio.run(subscribe(site, "sub-proxy"))
    behind_proxy = {"Host": "internal:8000", "X-Forwarded-Host": "news.example"}
    for source in ({"Origin": "https://news.example"}, {"Referer": "https://news.example/x"}):
        made = httpx.post(
            site.url + GIFT,
            data={"path": "/articles/proxied"},
            headers={"X-Test-Account": "sub-proxy", **behind_proxy, **source},
            timeout=10,
        )
        assert made.status_code == 200
        link = urlsplit(made.json()["url"])
        assert (link.scheme, link.netloc, link.path) == (
            "https",
            "news.example",
            "/articles/proxied",
        )
    direct = urlsplit(site.gift("sub-proxy", "/articles/direct").json()["url"])
    assert f"{direct.scheme}://{direct.netloc}" == site.url


def test_an_origin_python_cannot_split_is_refused_not_a_500(site: Site) -> None:
    asyncio.run(subscribe(site, "sub-origin"))
    for source in ({"Origin": "http://["}, {"Referer": "http://[::1/page"}):
        made = httpx.post(
            site.url + GIFT,
            data={"path": "/articles/x"},
            headers={"X-Test-Account": "sub-origin", **source},
            timeout=10,
        )
        assert made.status_code == 403, (source, made.status_code)


def test_behind_a_proxy_that_rewrites_host_the_sites_own_pages_are_not_referrals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule matching the site's own domain (`*.example` for sister sites, or `*` for
    "anywhere else"): own links were told apart by `Host` alone, so behind a proxy that
    rewrites it every reader's internal clicks were referral reads, the cap on top of the
    meter for everyone."""
    with running(tmp_path, monkeypatch, referrals='"*.example"') as site:
        proxied = {"Host": "internal:8000", "X-Forwarded-Host": "news.example"}
        for n, referer in enumerate(("https://news.example/home", "https://NEWS.example:443/")):
            with site.browser() as reader:
                page = reader.get(f"/articles/own-{n}", headers={**proxied, "Referer": referer})
                assert left_on(page) == "You have 2 free articles left", referer
        with site.browser() as reader:  # the rule itself still works
            page = reader.get(
                "/articles/sister", headers={**proxied, "Referer": "https://b.example/"}
            )
            assert prompts_of(page) == [] and reads_in_full(page)
