"""The reader table of the contract (section 5), end to end through the middleware."""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import html5lib
import httpx
import pytest

from paywall import PaywallMiddleware

from .conftest import ARTICLE_PARAGRAPHS, article_page, article_site, client_for

pytestmark = pytest.mark.anyio

PROMPT = re.compile(r'data-paywall="([\w-]+)"')


def prompts(response: httpx.Response) -> list[str]:
    return PROMPT.findall(response.text)


def hidden_text_in(response: httpx.Response) -> list[str]:
    """Markers of the paragraphs a walled reader must not get (all but the 2-paragraph teaser)."""
    return [f"secret-text-{n}" for n in range(3, 7) if f"secret-text-{n}" in response.text]


async def test_countdown_then_last_free_then_wall(reader: httpx.AsyncClient) -> None:
    first = await reader.get("/articles/one")
    assert prompts(first) == ["meter"]
    assert "You have 2 free articles left this month" in first.text
    assert all(text in first.text for text in ARTICLE_PARAGRAPHS)

    second = await reader.get("/articles/two")
    assert "You have 1 free article left this month" in second.text

    third = await reader.get("/articles/three")
    assert prompts(third) == ["last-free"]
    assert "This is your last free article this month" in third.text
    assert all(text in third.text for text in ARTICLE_PARAGRAPHS)

    fourth = await reader.get("/articles/four")
    assert fourth.status_code == 200
    assert prompts(fourth) == ["subscribe"]
    assert "Try 3 months for $9" in fourth.text and "Offer ends June 30th" in fourth.text
    assert ARTICLE_PARAGRAPHS[0] in fourth.text and ARTICLE_PARAGRAPHS[1] in fourth.text
    assert hidden_text_in(fourth) == []
    assert "articleBody" not in fourth.text
    assert fourth.headers["content-length"] == str(len(fourth.content))


async def test_prompt_sits_at_the_start_of_the_article(reader: httpx.AsyncClient) -> None:
    page = (await reader.get("/articles/one")).text
    opening = '<article class="story paywall-gated">'
    start = page.index(opening) + len(opening)
    assert page[start:].startswith(
        '<div class="paywall-prompt paywall-meter" data-paywall="meter">'
    )


async def test_walled_page_keeps_the_publishers_markup_outside_the_article(
    reader: httpx.AsyncClient,
) -> None:
    for n in range(3):
        await reader.get(f"/articles/{n}")
    walled = html5lib.parse(
        (await reader.get("/articles/walled")).text, namespaceHTMLElements=False
    )
    original = html5lib.parse(article_page(), namespaceHTMLElements=False)

    def outside_article(tree: Any) -> list[str]:
        body = [ET.tostring(child) for child in tree.find("body") if child.tag != "article"]
        head = [ET.tostring(child) for child in tree.find("head") if child.tag != "script"]
        return [part.decode() for part in head + body]

    assert outside_article(walled) == outside_article(original)
    footer = walled.find("body/footer")
    assert footer is not None and footer.text == "Footer \u00a9"


async def test_an_article_already_read_is_free_and_not_counted_again(
    reader: httpx.AsyncClient,
) -> None:
    await reader.get("/articles/one")
    again = await reader.get("/articles/one")
    assert prompts(again) == []
    assert all(text in again.text for text in ARTICLE_PARAGRAPHS)
    assert "You have 1 free article left" in (await reader.get("/articles/two")).text
    for n in range(2):
        await reader.get(f"/articles/more-{n}")
    # Past the limit, articles read earlier this period stay readable in full.
    reread = await reader.get("/articles/one")
    assert prompts(reread) == []
    assert ARTICLE_PARAGRAPHS[-1] in reread.text


async def test_trailing_slash_is_the_same_article(reader: httpx.AsyncClient) -> None:
    await reader.get("/articles/one")
    assert prompts(await reader.get("/articles/one/")) == []


async def test_premium_page_walls_a_reader_without_access(reader: httpx.AsyncClient) -> None:
    page = await reader.get("/premium/deep-dive")
    assert prompts(page) == ["subscribe"]
    assert hidden_text_in(page) == []
    # A premium view spends no free article.
    assert "You have 2 free articles left" in (await reader.get("/articles/one")).text


async def test_free_pages_pass_untouched(reader: httpx.AsyncClient) -> None:
    for path in ("/sponsored/story", "/", "/about"):
        page = await reader.get(path)
        assert page.content == article_page().encode()
        assert "set-cookie" not in page.headers
        assert page.headers["etag"] == '"v1"'
        assert "cache-control" not in page.headers and "vary" not in page.headers
    assert "You have 2 free articles left" in (await reader.get("/articles/one")).text


async def test_non_views_are_not_counted_or_rewritten(reader: httpx.AsyncClient) -> None:
    head = await reader.head("/articles/one")
    assert head.status_code == 200 and "set-cookie" not in head.headers
    missing = await reader.get("/articles/missing")
    assert missing.status_code == 404 and prompts(missing) == []
    posted = await reader.post("/articles/one")  # answered with the article: walled, uncounted
    assert prompts(posted) == ["subscribe"] and hidden_text_in(posted) == []
    assert "You have 2 free articles left" in (await reader.get("/articles/one")).text
    # JSON on a metered path is a view in another shape (tests/test_attack_routes.py): counted.
    data = await reader.get("/articles/data.json")
    assert data.json() == {"articleBody": "secret-text-9"}
    assert "This is your last free article" in (await reader.get("/articles/two")).text


async def test_personalised_responses_are_private(reader: httpx.AsyncClient) -> None:
    for path in ("/articles/one", "/premium/x"):
        page = await reader.get(path)
        assert "private" in page.headers["cache-control"]
        assert "Cookie" in page.headers["vary"]
        assert "etag" not in page.headers and "last-modified" not in page.headers


async def test_new_reader_gets_a_signed_http_only_cookie(reader: httpx.AsyncClient) -> None:
    page = await reader.get("/articles/one")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("paywall_rid=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Secure", "Max-Age=31536000", "Path=/"):
        assert attribute in cookie
    # The browser sends it back: no new reader cookie, and the meter goes on. (The summary
    # cookie, paywall_rid_s, changes with the count: see tests/test_summary.py.)
    second = await reader.get("/articles/two")
    cookies = second.headers.get_list("set-cookie")
    assert [c for c in cookies if c.startswith("paywall_rid=")] == []
    assert "You have 1 free article left" in second.text


async def test_deleting_the_cookie_starts_a_new_reader(reader: httpx.AsyncClient) -> None:
    await reader.get("/articles/one")
    reader.cookies.clear()
    assert "You have 2 free articles left" in (await reader.get("/articles/two")).text


@pytest.mark.parametrize(
    "value",
    [
        b"garbage",
        b"",
        b"a.b.c",
        b"x" * 5000,
        "\u00e9t\u00e9".encode(),
        b"\xff\xfe",
        b"eyJ.forged.sig",
    ],
)
async def test_bad_cookies_are_a_new_reader_never_an_error(
    reader: httpx.AsyncClient, value: bytes
) -> None:
    page = await reader.get(
        "/articles/one", headers={b"cookie": b"paywall_rid=" + value + b"; o=1"}
    )
    assert page.status_code == 200 and prompts(page) == ["meter"]
    assert page.headers["set-cookie"].startswith("paywall_rid=")


async def test_a_tampered_cookie_does_not_inherit_the_meter(reader: httpx.AsyncClient) -> None:
    for n in range(4):
        await reader.get(f"/articles/{n}")
    signed = reader.cookies["paywall_rid"]
    reader_id, signature = signed.rsplit(".", 1)
    forged = reader_id[:-1] + ("A" if reader_id[-1] != "A" else "B") + "." + signature
    reader.cookies.clear()
    page = await reader.get("/articles/x", headers={"cookie": f"paywall_rid={forged}"})
    assert prompts(page) == ["meter"]


async def test_rotated_keys_still_verify_and_re_sign(
    store: Any, config_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_file()
    async with client_for(PaywallMiddleware(article_site, config=path, redis=store)) as old:
        await old.get("/articles/one")
        cookie = old.cookies["paywall_rid"]
    monkeypatch.setenv("PAYWALL_SECRET_KEYS", "new-key, test-signing-key")
    async with client_for(PaywallMiddleware(article_site, config=path, redis=store)) as new:
        page = await new.get("/articles/two", headers={"cookie": f"paywall_rid={cookie}"})
        assert "You have 1 free article left" in page.text
        resigned = page.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        assert resigned != cookie and resigned.split(".")[0] == cookie.split(".")[0]
    monkeypatch.setenv("PAYWALL_SECRET_KEYS", "new-key")
    async with client_for(PaywallMiddleware(article_site, config=path, redis=store)) as later:
        page = await later.get("/articles/three", headers={"cookie": f"paywall_rid={resigned}"})
        assert "This is your last free article" in page.text


def test_missing_keys_refuse_to_start(
    config_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAYWALL_SECRET_KEYS")
    with pytest.raises(RuntimeError, match="PAYWALL_SECRET_KEYS"):
        PaywallMiddleware(article_site, config=config_file())


async def test_counts_restart_with_the_next_calendar_period(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(), redis=store)
    # 2026-11-30 23:30 in Tokyo is still November there; 15:30 UTC is already December.
    paywall.clock = lambda: datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
    async with client_for(paywall) as reader:
        for n in range(3):
            await reader.get(f"/articles/{n}")
        assert prompts(await reader.get("/articles/x")) == ["subscribe"]
        paywall.clock = lambda: datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
        fresh = await reader.get("/articles/x")
        assert "You have 2 free articles left this month" in fresh.text


async def test_meter_keys_expire_after_their_period(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(), redis=store)
    paywall.clock = lambda: datetime.now(UTC)
    async with client_for(paywall) as reader:
        await reader.get("/articles/one")
    keys = [key async for key in store.scan_iter(match=prefix + "*")]
    assert len(keys) == 1
    ttl = await store.ttl(keys[0])
    assert 0 < ttl <= 32 * 86400
    assert b"{r:" in keys[0]


async def test_override_header_changes_access_and_is_removed(
    store: Any, config_file: Callable[..., Path]
) -> None:
    async def site(scope: Any, receive: Any, send: Any) -> None:
        access = scope["path"].rsplit("/", 1)[-1].encode()
        body = article_page().encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html"), (b"x-paywall", access)],
            }
        )
        await send({"type": "http.response.body", "body": body})

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    async with client_for(paywall) as reader:
        free = await reader.get("/articles/free")
        assert "x-paywall" not in free.headers and prompts(free) == []
        assert free.content == article_page().encode()
        metered = await reader.get("/news/metered")  # a free path by the rules
        assert prompts(metered) == ["meter"] and "x-paywall" not in metered.headers
        premium = await reader.get("/articles/premium")
        assert prompts(premium) == ["subscribe"] and hidden_text_in(premium) == []
        bogus = await reader.get("/articles/bogus")  # unknown value: the path rule stands
        assert prompts(bogus) == ["meter"]
        posted = await reader.post("/articles/metered")
        assert "x-paywall" not in posted.headers


async def test_metered_requests_ask_for_an_uncompressed_unconditional_page(
    store: Any, config_file: Callable[..., Path]
) -> None:
    seen: list[dict[bytes, bytes]] = []

    async def site(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope["headers"]))
        await article_site(scope, receive, send)

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    conditional = {
        "accept-encoding": "gzip, br",
        "if-none-match": '"v1"',
        "if-modified-since": "Tue, 01 Sep 2026 00:00:00 GMT",
        "range": "bytes=0-100",
    }
    async with client_for(paywall) as reader:
        await reader.get("/articles/one", headers=conditional)
        await reader.get("/sponsored/one", headers=conditional)
    metered, free = seen
    assert metered[b"accept-encoding"] == b"identity"
    assert b"if-none-match" not in metered and b"range" not in metered
    assert b"if-modified-since" not in metered
    assert free[b"accept-encoding"] == b"gzip, br" and free[b"range"] == b"bytes=0-100"


def compressing_site(coding: str) -> Any:
    async def site(scope: Any, receive: Any, send: Any) -> None:
        raw = article_page().encode()
        body = gzip.compress(raw) if coding == "gzip" else raw
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-encoding", coding.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return site


async def test_a_compressed_upstream_is_decompressed_and_rewritten(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(compressing_site("gzip"), config=config_file(), redis=store)
    async with client_for(paywall) as reader:
        page = await reader.get("/articles/one")
        assert "content-encoding" not in page.headers
        assert prompts(page) == ["meter"]
        for n in range(3):
            await reader.get(f"/articles/{n}")
        walled = await reader.get("/articles/walled")
        assert prompts(walled) == ["subscribe"] and hidden_text_in(walled) == []


async def test_an_undecodable_encoding_never_leaks_to_a_walled_reader(
    store: Any, config_file: Callable[..., Path]
) -> None:
    paywall = PaywallMiddleware(compressing_site("br"), config=config_file(), redis=store)
    async with client_for(paywall) as reader:
        for n in range(3):
            assert (await reader.get(f"/articles/{n}")).status_code == 200
        walled = await reader.get("/articles/walled")
        assert walled.status_code == 200 and prompts(walled) == ["subscribe"]
        assert hidden_text_in(walled) == [] and "content-encoding" not in walled.headers


async def test_streamed_upstream_bodies_are_reassembled(
    store: Any, config_file: Callable[..., Path]
) -> None:
    async def site(scope: Any, receive: Any, send: Any) -> None:
        body = article_page().encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        for start in range(0, len(body), 37):
            chunk = body[start : start + 37]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    async with client_for(paywall) as reader:
        page = await reader.get("/articles/one")
        assert prompts(page) == ["meter"] and ARTICLE_PARAGRAPHS[-1] in page.text
        assert page.headers["content-length"] == str(len(page.content))
        for n in range(3):
            await reader.get(f"/articles/{n}")
        walled = await reader.get("/articles/walled")
        assert prompts(walled) == ["subscribe"] and hidden_text_in(walled) == []


async def test_page_without_the_gated_element_is_never_served_whole_when_walled(
    store: Any, config_file: Callable[..., Path]
) -> None:
    async def site(scope: Any, receive: Any, send: Any) -> None:
        body = article_page().replace('class="story"', 'class="other"').encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    async with client_for(paywall) as reader:
        counted = await reader.get("/articles/one")
        assert counted.status_code == 200 and ARTICLE_PARAGRAPHS[-1] in counted.text
        for n in range(3):
            await reader.get(f"/articles/{n}")
        walled = await reader.get("/articles/walled")
        assert walled.status_code == 200 and prompts(walled) == ["subscribe"]
        assert "secret-text" not in walled.text


async def test_oversized_pages_are_not_buffered_without_bound(
    store: Any, config_file: Callable[..., Path]
) -> None:
    from .conftest import CONFIG

    async def big_site(scope: Any, receive: Any, send: Any) -> None:
        padding = "<!-- padding -->" * 200
        body = article_page().replace("</footer>", "</footer>" + padding).encode()
        headers = [(b"content-type", b"text/html")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body[:500], "more_body": True})
        await send({"type": "http.response.body", "body": body[500:]})

    text = CONFIG.replace("teaser_paragraphs: 2", "teaser_paragraphs: 2\n  max_page_kb: 1")
    paywall = PaywallMiddleware(big_site, config=config_file(text), redis=store)
    async with client_for(paywall) as reader:
        counted = await reader.get("/articles/one")
        assert counted.status_code == 200 and ARTICLE_PARAGRAPHS[-1] in counted.text
        for n in range(3):
            await reader.get(f"/articles/{n}")
        walled = await reader.get("/articles/walled")
        assert prompts(walled) == ["subscribe"] and "secret-text" not in walled.text


@pytest.mark.parametrize("path", ["/premium/story", "/sponsored/story", "/about"])
async def test_upstream_that_stops_without_a_last_message_still_gets_walled(
    store: Any, config_file: Callable[..., Path], path: str
) -> None:
    """The upstream returns after a chunk marked more_body: on a gated path, and on a free
    path gated by its X-Paywall, the reader still gets the walled page, not the article."""

    async def site(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/html"), (b"x-paywall", b"premium")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": article_page().encode(), "more_body": True}
        )

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    async with client_for(paywall) as reader:
        walled = await reader.get(path)
    assert prompts(walled) == ["subscribe"]
    assert ARTICLE_PARAGRAPHS[-1] not in walled.text
    assert "x-paywall" not in walled.headers


async def test_lifespan_and_websocket_scopes_pass_through(
    store: Any, config_file: Callable[..., Path]
) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    paywall = PaywallMiddleware(app, config=config_file(), redis=store)

    async def nothing() -> Any:
        return {}

    async def ignore(message: Any) -> None:
        raise AssertionError("the paywall sent something itself")

    await paywall({"type": "lifespan"}, nothing, ignore)
    await paywall({"type": "websocket", "path": "/articles/x", "headers": []}, nothing, ignore)
    assert seen == ["lifespan", "websocket"]


async def test_config_edits_apply_live_and_keep_counts(
    store: Any,
    config_file: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import asyncio
    import time

    from paywall.cli import main

    from .conftest import CONFIG

    path = config_file()
    paywall = PaywallMiddleware(article_site, config=path, redis=store)

    async def wait_for_limit(limit: int) -> bool:
        """Poll with new readers until a first view shows the new limit."""
        deadline = time.monotonic() + 2.0  # the promise: every worker within 2 seconds
        while time.monotonic() < deadline:
            async with client_for(paywall) as newcomer:
                page = await newcomer.get("/articles/probe")
            if f"You have {limit - 1} free articles left" in page.text:
                return True
            await asyncio.sleep(0.1)
        return False

    async with client_for(paywall) as reader:
        await reader.get("/articles/a")
        await reader.get("/articles/b")
        path.write_text(path.read_text().replace("limit: 3", "limit: 5"))
        assert await wait_for_limit(5)
        page = await reader.get("/articles/c")
        assert "You have 2 free articles left" in page.text  # 3 of 5 used, none lost
        path.write_text(path.read_text().replace("limit: 5", "limit: many"))
        await asyncio.sleep(1.2)
        page = await reader.get("/articles/d")
        assert "You have 1 free article left" in page.text  # the last good version serves
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and "meter.limit" in errors[0].getMessage()
        assert f"{path}:" in errors[0].getMessage()
        assert main(["check", str(path)]) == 1
        problem = capsys.readouterr().err.splitlines()[0]
        assert problem.startswith(f"{path}:") and problem in errors[0].getMessage()
        fixed = CONFIG.replace("PREFIX", paywall.store.prefix).replace("limit: 3", "limit: 4")
        path.write_text(fixed)
        assert await wait_for_limit(4)
        assert prompts(await reader.get("/articles/e")) == ["subscribe"]  # 4 of 4 used


async def test_mixed_case_upstream_headers_are_understood(
    store: Any, config_file: Callable[..., Path]
) -> None:
    async def site(scope: Any, receive: Any, send: Any) -> None:
        headers = [
            (b"Content-Type", b"text/html; charset=utf-8"),
            (b"ETag", b'"v1"'),
            (b"X-Paywall", b"premium"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": article_page().encode()})

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    async with client_for(paywall) as reader:
        page = await reader.get("/news/anything")
    assert prompts(page) == ["subscribe"] and hidden_text_in(page) == []
    assert "etag" not in page.headers and "x-paywall" not in page.headers


async def test_head_of_a_metered_page_is_private_and_uncounted(reader: httpx.AsyncClient) -> None:
    head = await reader.head("/articles/one")
    assert head.status_code == 200 and "set-cookie" not in head.headers
    assert "private" in head.headers["cache-control"] and "Cookie" in head.headers["vary"]
    assert "etag" not in head.headers and "last-modified" not in head.headers
    assert "You have 2 free articles left" in (await reader.get("/articles/one")).text


async def test_premium_wall_says_the_story_is_for_subscribers(reader: httpx.AsyncClient) -> None:
    premium = await reader.get("/premium/deep")
    assert "This story is for subscribers" in premium.text
    assert "You have read your" not in premium.text
    for n in range(4):
        await reader.get(f"/articles/{n}")
    walled = await reader.get("/articles/walled")
    assert "You have read your 3 free articles this month" in walled.text


async def _receive_nothing() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _ignore(message: Any) -> None:
    return None


async def test_file_sending_extensions_are_withheld_on_metered_paths(
    store: Any, config_file: Callable[..., Path]
) -> None:
    seen: list[dict[str, Any]] = []

    async def site(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope.get("extensions", {})))
        await article_site(scope, receive, send)

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    extensions: dict[str, dict[str, Any]] = {
        "http.response.pathsend": {},
        "http.response.trailers": {},
    }
    for path in ("/articles/a", "/sponsored/a"):
        scope: dict[str, Any] = {
            "type": "http",
            "method": "GET",
            "path": path,
            "headers": [],
            "query_string": b"",
            "extensions": extensions,
        }
        await paywall(scope, _receive_nothing, _ignore)
    metered, free = seen
    assert "http.response.pathsend" not in metered and "http.response.trailers" in metered
    assert free == extensions


async def test_a_compressed_page_left_as_it_is_keeps_its_encoding(
    store: Any, config_file: Callable[..., Path]
) -> None:
    async def site(scope: Any, receive: Any, send: Any) -> None:
        body = gzip.compress(article_page().replace('class="story"', 'class="x"').encode())
        headers = [(b"content-type", b"text/html"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    async with client_for(paywall) as reader:
        page = await reader.get("/articles/one")  # no gated element: served as it came
    assert page.headers["content-encoding"] == "gzip"
    assert ARTICLE_PARAGRAPHS[-1] in page.text  # httpx decoded it: the bytes were gzip


async def test_a_file_sent_past_the_paywall_on_a_page_marked_premium_is_dropped(
    store: Any, config_file: Callable[..., Path]
) -> None:
    # Starlette's FileResponse uses the pathsend extension when the server offers it; on a
    # free path the paywall leaves the extension in place, so an upstream that marks the
    # page premium must not get its file out around the wall.
    async def site(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"x-paywall", b"premium")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": "/srv/articles/premium.html"})

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/free/x",
        "raw_path": b"/free/x",
        "query_string": b"",
        "headers": [],
        "client": ("198.51.100.1", 1),
        "extensions": {"http.response.pathsend": {}},
    }
    await paywall(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert b'data-paywall="subscribe"' in sent[1]["body"]


ARMS = """\
  - {id: annual, headline: Annual plan, url: /annual, audience: [anonymous]}
experiments:
  - id: copy
    starts: 2027-01-01
    arms:
      - {name: control, weight: 1}
      - name: short
        weight: 1
        offers: [annual, trial-3m]
        templates: {subscribe: subscribe.short.html}
        teaser_paragraphs: 1
"""


async def test_an_arm_changes_wording_offers_and_teaser_for_its_readers_only(
    store: Any, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    from paywall.identity import ReaderCookie

    from .conftest import CONFIG, SECRET

    (tmp_path / "subscribe.short.html").write_text(
        "<p>Short on time?</p>{{#offers}}<a href='{{url}}'>{{headline}}</a>{{/offers}}"
    )
    paywall = PaywallMiddleware(
        article_site, config=config_file(CONFIG.replace("store:\n", ARMS + "store:\n")), redis=store
    )
    paywall.clock = lambda: datetime(2027, 1, 5, 3, tzinfo=UTC)
    experiment = paywall.live.config.experiments.get("copy")
    assert experiment is not None
    ids = (f"reader-{n:010d}" for n in range(1000))
    for arm in ("control", "short"):
        reader_id = next(r for r in ids if experiment.arm_of(r).name == arm)
        cookie = ReaderCookie([SECRET], "paywall_rid", secure=True, max_age=60).header(reader_id)
        async with client_for(paywall) as reader:
            reader.cookies.set("paywall_rid", cookie.decode().split(";")[0].split("=", 1)[1])
            for n in range(3):
                await reader.get(f"/articles/{n}")
            wall = await reader.get("/articles/walled")
        assert prompts(wall) == ["subscribe"]
        if arm == "short":
            assert "Short on time?" in wall.text and "Keep reading" not in wall.text
            assert wall.text.index("Annual plan") < wall.text.index("Try 3 months")
            assert ARTICLE_PARAGRAPHS[0] in wall.text and ARTICLE_PARAGRAPHS[1] not in wall.text
        else:
            assert "Short on time?" not in wall.text and "Annual plan" in wall.text
            assert wall.text.index("Try 3 months") < wall.text.index("Annual plan")
            assert ARTICLE_PARAGRAPHS[1] in wall.text and "secret-text-3" not in wall.text


async def test_a_402_carries_the_experiment_mark_so_the_browser_is_counted_once(
    store: Any, config_file: Callable[..., Path]
) -> None:
    from paywall.analytics import AnalyticsReader

    from .conftest import CONFIG

    text = CONFIG.replace("store:\n", ARMS + "analytics: {enabled: true}\nstore:\n")
    (config_file().parent / "subscribe.short.html").write_text("<p>Short</p>")
    paywall = PaywallMiddleware(article_site, config=config_file(text), redis=store)
    now = datetime(2027, 1, 5, 3, tzinfo=UTC)
    paywall.clock = lambda: now
    async with client_for(paywall) as reader:  # premium JSON: a 402 from the first view
        statuses = [(await reader.get(f"/premium/{n}.json")).status_code for n in range(3)]
        statuses += [(await reader.get(f"/articles/{n}.json")).status_code for n in range(3)]
    assert statuses == [402, 402, 402, 200, 200, 200]
    await paywall.analytics.flush()
    counters = await AnalyticsReader(store, paywall.store.prefix).counters(now.date(), now.date())
    exposed = {k: n for k, n in counters[now.date()].items() if k[0] == "ae"}
    assert list(exposed.values()) == [1]  # six views, three of them 402s: one reader
    await paywall.analytics.aclose()
