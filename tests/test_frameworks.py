"""Mounting as the README shows: Starlette's middleware list and FastAPI's add_middleware."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.routing import Route

from paywall import PaywallMiddleware

from .conftest import article_page, client_for
from .test_accounts import SignedInByHeader
from .test_middleware import hidden_text_in, prompts

pytestmark = pytest.mark.anyio


async def article(request: Request) -> HTMLResponse:
    return HTMLResponse(article_page())


async def test_starlette_middleware_list_with_gzip_outside(
    store: Any, config_file: Callable[..., Path]
) -> None:
    app = Starlette(
        routes=[Route("/articles/{slug}", article)],
        middleware=[
            Middleware(GZipMiddleware, minimum_size=10),
            Middleware(AuthenticationMiddleware, backend=SignedInByHeader()),
            Middleware(PaywallMiddleware, config=config_file(), redis=store),
        ],
    )
    async with client_for(app) as reader:
        page = await reader.get("/articles/one", headers={"accept-encoding": "gzip"})
        assert page.headers["content-encoding"] == "gzip"  # compressed once, after rewriting
        assert prompts(page) == ["meter"]
        for n in range(3):
            await reader.get(f"/articles/{n}")
        walled = await reader.get("/articles/walled")
        assert prompts(walled) == ["subscribe"] and hidden_text_in(walled) == []
    async with client_for(app) as other_device:
        signed_in = await other_device.get("/articles/x", headers={"x-test-account": "acct-9"})
        assert "You have 2 free articles left" in signed_in.text


async def test_fastapi_add_middleware(store: Any, config_file: Callable[..., Path]) -> None:
    app = FastAPI()

    @app.get("/articles/{slug}", response_class=HTMLResponse)
    async def read(slug: str) -> str:
        return article_page()

    app.add_middleware(PaywallMiddleware, config=config_file(), redis=store)
    async with client_for(app) as reader:
        assert "You have 2 free articles left" in (await reader.get("/articles/a")).text
        assert (await reader.get("/openapi.json")).status_code == 200
