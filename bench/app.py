"""The upstream used by the benchmark: a ~20 KB article page, bare or behind the paywall.

`bare` and `paywalled` share everything but the paywall, including the header-based
sign-in that the subscriber scenario uses.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp

CONFIG = Path(os.environ.get("BENCH_CONFIG", Path(__file__).with_name("paywall.yaml")))

WORDS = [
    *("harbour", "council", "ferry", "market", "budget", "tenants", "port", "cranes"),
    *("typhoon", "insurers", "schools", "tutors", "museum", "regatta", "noodle"),
    *("petition", "landlord", "data", "centre", "water", "permit", "shipping", "container"),
]


def paragraph(n: int) -> str:
    words = [WORDS[(n * 7 + i * 3) % len(WORDS)] for i in range(95)]
    return " ".join(words).capitalize() + "."


PARAGRAPHS = [paragraph(n) for n in range(14)]
BODY = "\n".join(f"<p>{text}</p>" for text in PARAGRAPHS)
JSON_LD = json.dumps(
    {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": "Benchmark story",
        "articleBody": " ".join(PARAGRAPHS),
    }
)
PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Benchmark story</title>
<link rel="stylesheet" href="/static/site.css">
<script type="application/ld+json">{JSON_LD}</script>
</head><body>
<header><nav><a href="/">Home</a> <a href="/city">City</a>
<a href="/markets">Markets</a></nav></header>
<main><article><h1>Benchmark story</h1><p class="standfirst">A standfirst.</p>
<div class="article-body">
{BODY}
</div></article></main>
<footer><p>&copy; The Benchmark Gazette</p></footer>
</body></html>
"""


async def article(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


class HeaderAccounts(AuthenticationBackend):
    """Stands in for a site's login: X-Bench-Account names the signed-in account."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        account = conn.headers.get("x-bench-account")
        return (AuthCredentials(["authenticated"]), SimpleUser(account)) if account else None


upstream = Starlette(
    routes=[Route("/articles/{id}", article), Route("/free/{id}", article)],
)


def _signed_in(app: ASGIApp) -> ASGIApp:
    return AuthenticationMiddleware(app, backend=HeaderAccounts())


def bare() -> ASGIApp:
    return _signed_in(upstream)


def sessions() -> ASGIApp:
    """The calibration: Starlette's SessionMiddleware, which does no I/O at all."""
    from starlette.middleware.sessions import SessionMiddleware

    return _signed_in(SessionMiddleware(upstream, secret_key="bench"))


def paywalled() -> ASGIApp:
    from paywall import PaywallMiddleware

    return _signed_in(PaywallMiddleware(upstream, config=CONFIG))
