"""Odd requests and odd pages: always a clean response, never a 500, never a leak."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from paywall import PaywallMiddleware
from paywall.routing import readings

from .conftest import article_page, article_site, client_for
from .test_middleware import hidden_text_in, prompts

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/articles/x", "/articles/x"),
        ("/articles/x/", "/articles/x/"),
        ("//articles//x", "/articles/x"),
        ("/sponsored/../premium/x", "/premium/x"),
        ("/sponsored/./../../premium/x", "/premium/x"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/", "/"),
    ],
)
def test_the_resolved_path_is_one_of_the_readings_judged(raw: str, canonical: str) -> None:
    found = readings(raw)
    assert found is not None and canonical in found


async def call(app: Any, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    """Send one raw ASGI request (paths exactly as a server would decode them)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": b"",
        "headers": headers or [],
        "client": ("203.0.113.5", 5000),
        "scheme": "https",
        "server": ("news.test", 443),
    }
    await app(scope, receive, send)
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, dict(sent[0]["headers"]), body


@pytest.mark.parametrize(
    "path",
    [
        "/sponsored/../premium/deep",
        "/sponsored/%2E%2E/premium/deep".replace("%2E", "."),
        "//premium//deep",
        "/premium/./deep",
    ],
)
async def test_dot_segments_cannot_turn_a_premium_page_free(
    store: Any, config_file: Callable[..., Path], path: str
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(), redis=store)
    status, _, body = await call(paywall, path)
    assert status == 200 and b'data-paywall="subscribe"' in body
    assert b"secret-text-3" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/articles/caf\u00e9",
        "/articles/\u65e5\u672c",
        "/articles/a\x00b",
        "/articles/" + "x" * 5000,
    ],
)
async def test_unusual_paths_are_metered_cleanly(
    store: Any, config_file: Callable[..., Path], path: str
) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(), redis=store)
    status, _, body = await call(paywall, path)
    assert status == 200 and b'data-paywall="meter"' in body


def page_in(encoding: str, declare: str) -> bytes:
    text = article_page(
        [f"\u65e5\u672c\u8a9e\u306e\u6bb5\u843d {n} secret-text-{n}." for n in range(1, 7)],
        charset=encoding if declare == "meta" else "ignored",
    )
    if declare != "meta":
        text = text.replace('<meta charset="ignored">', "")
    return text.encode(encoding)


@pytest.mark.parametrize("encoding", ["shift_jis", "euc-jp", "utf-8"])
@pytest.mark.parametrize("declare", ["header", "meta"])
async def test_pages_in_other_charsets_are_read_in_their_charset(
    store: Any, config_file: Callable[..., Path], encoding: str, declare: str
) -> None:
    async def site(scope: Any, receive: Any, send: Any) -> None:
        ctype = f"text/html; charset={encoding}" if declare == "header" else "text/html"
        headers = [(b"content-type", ctype.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": page_in(encoding, declare)})

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    async with client_for(paywall) as reader:
        counted = await reader.get("/articles/a")
        assert counted.headers["content-type"] == "text/html; charset=utf-8"  # re-encoded
        text = counted.content.decode("utf-8")
        assert 'data-paywall="meter"' in text and "\u65e5\u672c\u8a9e\u306e\u6bb5\u843d 6" in text
        for n in range(3):
            await reader.get(f"/articles/{n}")
        walled = (await reader.get("/articles/walled")).content.decode("utf-8")
        assert 'data-paywall="subscribe"' in walled
        assert "\u65e5\u672c\u8a9e\u306e\u6bb5\u843d 2" in walled
        assert "secret-text-3" not in walled and "articleBody" not in walled


@pytest.mark.parametrize(
    "page",
    [
        b"",
        b"<html><body><p>no article element at all secret-text-5</p></body></html>",
        b'<article class="story"><p>unclosed <b>tags <p>secret-text-1 <p>secret-text-2'
        b"<p>secret-text-3 <div><p>secret-text-4",
        b'<ARTICLE CLASS="story"><P>secret-text-1</P><P>secret-text-2</P><P>secret-text-3'
        b"</P></ARTICLE>",
        b'<article class="story" title="a > b"><!-- <p>comment</p> --><script>"<p>x</p>"'
        b"</script><p>secret-text-1</p><p>secret-text-2</p><p>secret-text-3</p></article>",
        b'<article class="story"><p>secret-text-1</p><p>secret-text-2</p><p>secret-text-3',
        b"\xff\xfe<article class='story'>\x00\x01<p>secret-text-1<p>secret-text-2<p>secret-text-3",
    ],
    ids=["empty", "no-gate", "unclosed", "uppercase", "tricky", "truncated", "binary"],
)
async def test_malformed_pages_never_500_and_never_leak(
    store: Any, config_file: Callable[..., Path], page: bytes
) -> None:
    async def site(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/html")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": page})

    paywall = PaywallMiddleware(site, config=config_file(), redis=store)
    async with client_for(paywall) as reader:
        for n in range(3):
            assert (await reader.get(f"/articles/{n}")).status_code == 200
        walled = await reader.get("/articles/walled")
        assert walled.status_code == 200 and prompts(walled) == ["subscribe"]
        assert hidden_text_in(walled) == []


async def test_a_failing_upstream_is_not_the_paywalls_500(
    store: Any, config_file: Callable[..., Path]
) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("upstream bug")

    paywall = PaywallMiddleware(broken, config=config_file(), redis=store)
    transport = httpx.ASGITransport(app=paywall, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://news.test") as reader:
        page = await reader.get("/articles/a")
    assert page.status_code == 500  # the upstream's own error, passed on untouched
