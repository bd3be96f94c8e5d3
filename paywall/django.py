"""Django: tell the paywall who is signed in, from Django's own session.

Django authenticates inside its request handler, after the paywall has seen the
request. `DjangoAccounts` sits outside the paywall, reads the user id that
`django.contrib.auth` stored in the session, and sets `scope["user"]` the way
Starlette's AuthenticationMiddleware does. Needs Django 5.0+ (async sessions).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class DjangoAccount:
    """What the paywall reads: `is_authenticated` and `identity` (the user's primary key)."""

    identity: str

    @property
    def is_authenticated(self) -> bool:
        return True


class DjangoAccounts:
    """ASGI middleware: `scope["user"]` from Django's session cookie, for the paywall inside."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "user" not in scope:
            account = await self._account(scope)
            if account is not None:
                scope = {**scope, "user": DjangoAccount(account)}
        await self.app(scope, receive, send)

    async def _account(self, scope: Scope) -> str | None:
        from django.conf import settings
        from django.contrib.auth import SESSION_KEY

        session_key = _cookie(scope, settings.SESSION_COOKIE_NAME)
        if not session_key:
            return None
        engine: Any = import_module(settings.SESSION_ENGINE)
        user_id = await engine.SessionStore(session_key).aget(SESSION_KEY)
        return None if user_id in (None, "") else str(user_id)


def _cookie(scope: Scope, name: str) -> str | None:
    from django.http.cookie import parse_cookie  # lenient, as Django itself reads cookies

    for key, value in scope["headers"]:
        if key == b"cookie" and name.encode() in value:
            found = parse_cookie(value.decode("latin-1")).get(name)
            if found:
                return str(found)
    return None
