"""Who may see the dashboard: the admin token, and the session cookie the login form sets.

The token is read from the environment variable `admin.token_env` names, on each request
(nothing set: the dashboard does not exist, a 404). A request is let in with the token as
`Authorization: Bearer TOKEN`, or with the session cookie: never the token itself, but an
expiry and a random id signed with a key derived from the token, so a new token signs out
every session. Comparisons are constant-time.

The login form and logout are the only state-changing requests. Both need the request to
come from the dashboard's own origin (`Origin`, else `Referer`, against `Host`) and a
form token: the login form's is a random nonce also kept in a short-lived cookie (double
submit), logout's is derived from the session. The cookies are HttpOnly, SameSite=Strict,
scoped to the dashboard's path, and Secure on https.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.types import Scope

from ..exchange import cookie_value, header, page_origin, site_hosts

logger = logging.getLogger("paywall")

SESSION_COOKIE = "paywall_admin"
LOGIN_COOKIE = "paywall_admin_login"  # the login form's nonce (double submit)
SESSION_SECONDS = 12 * 3600
LOGIN_SECONDS = 3600
MIN_TOKEN_CHARS = 16
_SESSION_SALT = b"paywall.admin.session.v1"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def _mac(key: bytes, text: str) -> str:
    raw = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class AdminAuth:
    """Checks for one admin token; sessions signed with a key derived from it."""

    def __init__(self, token: str, clock: Callable[[], float] = time.time) -> None:
        self._token = _digest(token)
        secret = token.encode("utf-8", "surrogateescape")
        self._key = hmac.new(secret, _SESSION_SALT, hashlib.sha256).digest()
        self.clock = clock

    def token_ok(self, candidate: str) -> bool:
        """Whether `candidate` is the token (constant-time, whatever its length)."""
        return hmac.compare_digest(_digest(candidate), self._token)

    def bearer_ok(self, scope: Scope) -> bool | None:
        """True/False for a request with an `Authorization: Bearer` header, None without."""
        value = header(scope, b"authorization")
        if not value:
            return None
        scheme, _, credentials = value.strip().partition(" ")
        return scheme.lower() == "bearer" and self.token_ok(credentials.strip())

    def new_session(self) -> str:
        """A fresh session cookie value: `id.expires.mac`."""
        body = f"{secrets.token_urlsafe(12)}.{int(self.clock()) + SESSION_SECONDS}"
        return f"{body}.{_mac(self._key, 'session|' + body)}"

    def session(self, scope: Scope) -> str | None:
        """The request's session cookie, when it is one we signed and it has not expired."""
        raw = cookie_value(scope["headers"], SESSION_COOKIE.encode() + b"=")
        if not raw:
            return None
        value = raw.decode("latin-1")
        body, _, mac = value.rpartition(".")
        _, _, expires = body.partition(".")
        expected = _mac(self._key, "session|" + body)
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            return None
        if not expires.isdigit() or int(expires) <= self.clock():
            return None
        return value

    def logout_token(self, session: str) -> str:
        """The form token of the logout button, bound to the session."""
        return _mac(self._key, "logout|" + session)

    def logout_ok(self, session: str, form_token: str) -> bool:
        return hmac.compare_digest(form_token.encode(), self.logout_token(session).encode())


def login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_nonce_ok(scope: Scope, form_nonce: str) -> bool:
    """The login form's nonce matches its cookie (a cross-site form cannot read or set it)."""
    raw = cookie_value(scope["headers"], LOGIN_COOKIE.encode() + b"=")
    if not raw or not form_nonce:
        return False
    return hmac.compare_digest(raw, form_nonce.encode("utf-8", "replace"))


def same_origin(scope: Scope) -> bool:
    """Whether a state-changing request comes from a page of this host: its `Origin` (else
    its `Referer`) names the host the request was sent to. Behind a proxy that rewrites
    `Host`, `X-Forwarded-Host` counts too (a cross-site form cannot set either)."""
    source = page_origin(scope)
    if not source or source == "null":
        return False
    try:
        host = urlsplit(source).netloc.lower()
    except ValueError:  # "http://[": a bracket host unclosed (no browser sends one)
        return False
    return bool(host) and host in site_hosts(scope)


def cookie(name: str, value: str, *, path: str, secure: bool, max_age: int) -> bytes:
    """A Set-Cookie value for the dashboard (max_age 0: remove it)."""
    attributes = f"Max-Age={max_age}; Path={path}; HttpOnly; SameSite=Strict"
    return f"{name}={value}; {attributes}{'; Secure' if secure else ''}".encode()


class TokenSource:
    """The admin token from the environment, read on each request; the checks for it are
    built once per token value. Too short a token leaves the dashboard off (logged once)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._for: tuple[str, AdminAuth] | None = None
        self._warned: set[str] = set()

    def auth(self, env_name: str) -> AdminAuth | None:
        token = os.environ.get(env_name, "").strip()
        if not token:
            return None
        if len(token) < MIN_TOKEN_CHARS:
            if env_name not in self._warned:
                self._warned.add(env_name)
                logger.warning(
                    "paywall: %s is shorter than %d characters; the dashboard stays off",
                    env_name,
                    MIN_TOKEN_CHARS,
                )
            return None
        if self._for is None or self._for[0] != token:  # the environment against itself
            self._for = (token, AdminAuth(token, self.clock))
        return self._for[1]
