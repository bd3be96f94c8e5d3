"""A news site that routes the way real frameworks do, behind the paywall, for tests over real
HTTP (tests/test_attack_routes.py):

    PAYWALL_TEST_CONFIG=/path/paywall.yaml PAYWALL_SECRET_KEYS=k uvicorn tests.routes_app:app

Starlette path parameters serve an article for spellings the paywall's rules may not name:
`/premium/{id}/{rest:path}` serves article 123 for "/premium/123/..", as a site with
"/articles/123/some-slug" URLs (the slug ignored) does. Pages also come as JSON (on request,
or at /premium/{id}.json), an RSS feed, XHTML, a body without a Content-Type, and a free
path whose upstream marks its page premium with X-Paywall and honours Range.

Paths under /_bare/ reach the site without the paywall: what the site itself serves.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from paywall import PaywallMiddleware

from .conftest import article_page

CONFIG_ENV = "PAYWALL_TEST_CONFIG"
BARE = "/_bare"


def paragraphs(story: str) -> list[str]:
    """Story `story`'s text: paragraphs 3-6 ("secret-text-3"...) are past any teaser."""
    return [f"Paragraph {n} of story {story}, secret-text-{n}." for n in range(1, 7)]


def full_text(story: str) -> str:
    return " ".join(paragraphs(story))


async def home(request: Request) -> Response:
    return PlainTextResponse("The Test Gazette\n")


async def article(request: Request) -> Response:
    """An article page; JSON when the request asks for it (content negotiation)."""
    story = request.path_params["id"]
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"id": story, "articleBody": full_text(story)})
    return HTMLResponse(article_page(paragraphs(story)))


async def by_query(request: Request) -> Response:
    """/articles/view?id=17: the article is named by a query parameter."""
    story = request.query_params.get("id", "latest")
    return HTMLResponse(article_page(paragraphs(story)))


async def as_json(request: Request) -> Response:
    story = request.path_params["id"]
    return JSONResponse({"id": story, "articleBody": full_text(story)})


async def feed(request: Request) -> Response:
    items = "".join(
        f"<item><title>Story {n}</title><description>{full_text(str(n))}</description></item>"
        for n in (1, 2)
    )
    rss = f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'
    return Response(rss, media_type="application/rss+xml")


async def xhtml(request: Request) -> Response:
    page = article_page(paragraphs(request.path_params["id"]))
    return Response(page, media_type="application/xhtml+xml")


async def stream(request: Request) -> Response:
    """The article streamed in pieces, with no Content-Type at all."""
    story = request.path_params["id"]

    async def pieces() -> AsyncIterator[bytes]:
        for text in paragraphs(story):
            yield text.encode() + b"\n"

    return StreamingResponse(pieces())


async def photo(request: Request) -> Response:
    return Response(b"\x89PNG\r\n\x1a\n-not-really-a-png-", media_type="image/png")


async def marked(request: Request) -> Response:
    """A free path by the rules; the site marks the page itself (X-Paywall, premium unless
    ?access= says otherwise) and answers Range requests with 206 Partial Content."""
    body = article_page(paragraphs(request.path_params["id"])).encode()
    headers = {"x-paywall": request.query_params.get("access", "premium")}
    wanted = request.headers.get("range", "")
    if wanted.startswith("bytes=") and "," not in wanted:
        first, _, last = wanted[len("bytes=") :].partition("-")
        start = int(first or 0)
        end = min(int(last), len(body) - 1) if last else len(body) - 1
        headers["content-range"] = f"bytes {start}-{end}/{len(body)}"
        return Response(body[start : end + 1], 206, headers, "text/html; charset=utf-8")
    return Response(body, 200, headers, "text/html; charset=utf-8")


site = Starlette(
    routes=[
        Route("/", home),
        Route("/articles/view", by_query),
        Route("/articles/feed.xml", feed),
        Route("/articles/{id}/stream", stream),
        Route("/articles/{id}/xhtml", xhtml),
        Route("/articles/{id}/photo.png", photo),
        Route("/articles/{id}", article),
        Route("/articles/{id}/{rest:path}", article),  # the slug after the id is ignored
        Route("/premium/{id}.json", as_json),
        Route("/premium/{id}", article),
        Route("/premium/{id}/{rest:path}", article),
        Route("/news/{id}", marked),
    ]
)


class BareOrPaywalled:
    """/_bare/... goes straight to the site (prefix removed); everything else through the
    paywall."""

    def __init__(self, config: str) -> None:
        self.paywalled = PaywallMiddleware(site, config=config)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(BARE + "/"):
            scope = dict(scope)
            scope["path"] = scope["path"][len(BARE) :]
            if isinstance(scope.get("raw_path"), bytes):
                scope["raw_path"] = scope["raw_path"][len(BARE) :]
            await site(scope, receive, send)
            return
        await self.paywalled(scope, receive, send)


def build(config: str | None = None) -> BareOrPaywalled:
    path = config or os.environ.get(CONFIG_ENV)
    if not path:
        raise RuntimeError(f"tests.routes_app: set {CONFIG_ENV} to the paywall config file")
    return BareOrPaywalled(path)


app = build() if os.environ.get(CONFIG_ENV) else None
