"""The overload tests' site, served by uvicorn: the sample article site behind the paywall,
signed in by a test header, plus two ways to make the event loop busy.

    PAYWALL_TEST_CONFIG=/path/paywall.yaml PAYWALL_SECRET_KEYS=k \\
        uvicorn tests.overload_app:app

- `/block?ms=300` (a free path) waits, for at most 2 s, until the paywall has a meter call
  queued or in flight, then blocks the whole event loop for `ms` milliseconds, as a slow
  synchronous handler or a big page being rewritten would.
- `/articles/big-*` is a ~1.8 MB article page, `/articles/long-*` a ~90 KB one (the size of
  a real news page); both metered, like every `/articles/*` path.
- Every other `/articles/*` page costs 1 ms of CPU on the loop before it is sent, as rendering
  a template would on a real site; then it is the sample article page.
- `X-Test-Account: NAME` signs the request in as NAME (Starlette's AuthenticationMiddleware,
  outside the paywall, as a site's own login would be).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser, SimpleUser
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection

from paywall import PaywallMiddleware
from paywall.batch import ScriptBatcher

from .conftest import ARTICLE_PARAGRAPHS, article_page, article_site

CONFIG_ENV = "PAYWALL_TEST_CONFIG"
RENDER_SECONDS = 0.001
FILLER = "Filler sentence of a very long story, repeated to make the page big. " * 12
BIG_PAGE = article_page([*ARTICLE_PARAGRAPHS, *[FILLER] * 2000]).encode()
LONG_PAGE = article_page([*ARTICLE_PARAGRAPHS, *[FILLER] * 100]).encode()  # ~90 KB, a real page


class SignedInByHeader(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        account = conn.headers.get("x-test-account")
        return (AuthCredentials(["authenticated"]), SimpleUser(account)) if account else None


def render() -> None:
    """What rendering an article page costs a real site (templates, ORM): CPU on the loop."""
    end = time.perf_counter() + RENDER_SECONDS
    while time.perf_counter() < end:
        pass


def meter_call_pending(paywall: PaywallMiddleware) -> bool:
    batcher = paywall.store._script
    if isinstance(batcher, ScriptBatcher):
        return bool(batcher._pending or batcher._flushing)
    return bool(batcher.client.pending)  # our RESP client: queued or written, unanswered


def build(config: str) -> Any:
    paywall: PaywallMiddleware | None = None

    async def upstream(scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path == "/block":
            assert paywall is not None
            query = parse_qs(scope.get("query_string", b"").decode())
            ms = int(query.get("ms", ["300"])[0])
            deadline = time.monotonic() + 2.0
            while not meter_call_pending(paywall) and time.monotonic() < deadline:
                await asyncio.sleep(0)
            time.sleep(ms / 1000)  # the whole loop stops: nothing else runs meanwhile
            await _send(send, 200, b"text/plain", b"blocked\n")
        elif scope["type"] == "http" and path.startswith("/articles/big-"):
            await _send(send, 200, b"text/html; charset=utf-8", BIG_PAGE)
        elif scope["type"] == "http" and path.startswith("/articles/long-"):
            await _send(send, 200, b"text/html; charset=utf-8", LONG_PAGE)
        else:
            if path.startswith("/articles/"):
                render()
            await article_site(scope, receive, send)

    paywall = PaywallMiddleware(upstream, config=config)
    return AuthenticationMiddleware(paywall, backend=SignedInByHeader())


async def _send(send: Any, status: int, content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = build(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None
