"""How the dashboard answers: every response private and never stored, with a strict
Content-Security-Policy (scripts and styles only from the dashboard's own static files;
the login page's one inline style allowed by its hash), no framing, no sniffing; the
templates and static files shipped in the package.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from importlib.resources import files
from string import Template
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Send

UPLOT_VERSION = "1.6.32"  # static/uPlot.iife.min.js, vendored from npm with its LICENSE
MAX_FORM_BYTES = 4096

STATIC_TYPES = {
    "uPlot.iife.min.js": b"text/javascript; charset=utf-8",
    "uPlot.min.css": b"text/css; charset=utf-8",
    "uPlot.LICENSE": b"text/plain; charset=utf-8",
    "dashboard.js": b"text/javascript; charset=utf-8",
    "dashboard.css": b"text/css; charset=utf-8",
}

_PACKAGE = files("paywall.admin")


@cache
def template(name: str) -> Template:
    return Template(_PACKAGE.joinpath("templates", name).read_text(encoding="utf-8"))


@cache
def static(name: str) -> bytes:
    return _PACKAGE.joinpath("static", name).read_bytes()


@cache
def login_style() -> tuple[str, str]:
    """The login page's inline CSS and its CSP source (the page loads nothing else)."""
    css = _PACKAGE.joinpath("templates", "login.css").read_text(encoding="utf-8").strip()
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return css, f"'sha256-{digest}'"


def policy(style: str = "'self'") -> bytes:
    return (
        "default-src 'none'; script-src 'self'; style-src " + style + "; img-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ).encode()


def security_headers(style: str = "'self'") -> list[tuple[bytes, bytes]]:
    return [
        (b"cache-control", b"private, no-store"),
        (b"content-security-policy", policy(style)),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),  # keeps Origin on our own form posts
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]


async def respond(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes = b"text/plain; charset=utf-8",
    headers: list[tuple[bytes, bytes]] | None = None,
    style: str = "'self'",
    head: bool = False,
) -> None:
    """One whole response with the dashboard's headers (`head`: without its body)."""
    raw = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *security_headers(style),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def redirect(
    send: Send, location: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A 303 to `location` (a path of the dashboard)."""
    extra = [(b"location", location.encode("latin-1", "replace")), *(headers or [])]
    await respond(send, 303, b"", headers=extra)


async def read_form(receive: Receive) -> dict[str, str] | None:
    """The urlencoded form of a POST (first value of each field); None when too large."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return {}
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            return None
        if not message.get("more_body", False):
            break
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def data_island(value: Any) -> str:
    """JSON to sit inside `<script type="application/json">`: never closes the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
