"""The simulated reader's in-process browser: requests as ASGI scopes, cookies kept."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paywall.demo.visitor import Visitor

pytestmark = pytest.mark.anyio


async def echo(request: Request) -> Response:
    user: Any = request.scope.get("user")
    response = JSONResponse(
        {
            "method": request.method,
            "form": parse_qs((await request.body()).decode()),
            "origin": request.headers.get("origin"),
            "path": request.url.path,
            "query": dict(request.query_params),
            "cookies": request.cookies,
            "client": request.client.host if request.client else None,
            "agent": request.headers.get("user-agent"),
            "purpose": request.headers.get("sec-purpose"),
            "account": user.identity if user is not None and user.is_authenticated else None,
        }
    )
    if "set" in request.query_params:
        response.set_cookie("rid", request.query_params["set"], httponly=True)
    if "drop" in request.query_params:
        response.delete_cookie("rid")
    return response


APP = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])


async def test_a_visitor_keeps_its_cookies_and_its_address() -> None:
    visitor = Visitor("198.18.0.7")
    first = await visitor.get(APP, "/articles/1?set=abc")
    assert first.status == 200 and first.headers["content-type"] == "application/json"
    second = await visitor.get(APP, "/articles/2?page=2", {"Sec-Purpose": "prefetch"})
    seen = second.text
    assert '"cookies":{"rid":"abc"}' in seen and '"client":"198.18.0.7"' in seen
    assert '"query":{"page":"2"}' in seen and '"purpose":"prefetch"' in seen
    await visitor.get(APP, "/x?drop=1")
    assert visitor.cookies == {}


async def test_a_signed_in_visitor_is_the_apps_user() -> None:
    anonymous = await Visitor("198.18.0.8").get(APP, "/")
    assert '"account":null' in anonymous.text
    signed_in = await Visitor("198.18.0.8", account="acct-9").get(APP, "/")
    assert '"account":"acct-9"' in signed_in.text


async def test_a_visitor_posts_a_form_with_its_cookies_and_account() -> None:
    visitor = Visitor("198.18.0.9", account="acct-3")
    await visitor.get(APP, "/?set=abc")
    answer = await visitor.post(APP, "/gift", {"path": "/a?b=1&c"}, {"Origin": "http://x"})
    seen = answer.json()
    assert seen["method"] == "POST" and seen["form"] == {"path": ["/a?b=1&c"]}
    assert seen["cookies"] == {"rid": "abc"} and seen["account"] == "acct-3"
    assert seen["origin"] == "http://x"
