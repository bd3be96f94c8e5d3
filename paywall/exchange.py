"""Small helpers for requests and responses as they pass through the paywall."""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Iterable

from starlette.types import Scope

from .names import OVERRIDE_HEADER

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def decompress(body: bytes, coding: str) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return zlib.decompress(body, wbits=47)
    if coding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, wbits=-15)
    raise ValueError(f"cannot decode Content-Encoding {coding!r}")


def utf8_content_type(content_type: str) -> str:
    """The Content-Type of a page re-encoded as UTF-8: its media type, charset=utf-8."""
    media = content_type.split(";", 1)[0].strip() or "text/html"
    return f"{media}; charset=utf-8"


def header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def page_origin(scope: Scope) -> str:
    """The page a request says it comes from: its `Origin`, else its `Referer` ("" without)."""
    return header(scope, b"origin") or header(scope, b"referer")


def site_hosts(scope: Scope) -> tuple[str, ...]:
    """This site's host (with any port) as the request names it, lower case: `Host`, and the
    first `X-Forwarded-Host` for a proxy that rewrites `Host` (a cross-site page can set
    neither)."""
    own = header(scope, b"host").lower()
    forwarded = header(scope, b"x-forwarded-host").split(",")[0].strip().lower()
    return (own, forwarded) if forwarded else (own,)


def is_prefetch(headers: list[tuple[bytes, bytes]]) -> bool:
    """Sec-Purpose / Purpose: prefetch (Chrome, Safari), X-Moz: prefetch (Firefox), and
    Next.js's router prefetches (Next-Router-Prefetch, X-Middleware-Prefetch)."""
    for key, value in headers:
        if key in (b"next-router-prefetch", b"x-middleware-prefetch"):
            return True
        if key in (b"sec-purpose", b"purpose", b"x-purpose", b"x-moz") and (
            b"prefetch" in value.lower() or b"preview" in value.lower()
        ):
            return True
    return False


def client_network_of(scope: Scope) -> str | None:
    client = scope.get("client")
    return client_network(client[0]) if client else None


def cookie_value(headers: Iterable[tuple[bytes, bytes]], needle: bytes) -> bytes | None:
    """The value of the first cookie whose `name=` is `needle`, unquoted; None if absent."""
    for key, value in headers:
        if key != b"cookie" or needle not in value:
            continue
        for pair in value.split(b";"):
            pair = pair.strip()
            if pair.startswith(needle):
                return pair[len(needle) :].strip(b'"')
    return None


def cookie_attributes(*, max_age: int, secure: bool) -> str:
    """The attributes every paywall cookie is set with."""
    attributes = f"Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"
    return attributes + ("; Secure" if secure else "")


def has_override(headers: list[tuple[bytes, bytes]]) -> bool:
    for key, _ in headers:  # noqa: SIM110 (a loop, not any(): it runs for every free page)
        if key.lower() == _OVERRIDE:
            return True
    return False


_OVERRIDE = OVERRIDE_HEADER.encode()


def client_network(client: str, v4_prefix: int = 24, v6_prefix: int = 64) -> str | None:
    """The /24 (IPv4) or /64 (IPv6) a client address belongs to, as text."""
    address = client_address(client)
    if address is None:
        return None
    prefix = v4_prefix if address.version == 4 else v6_prefix
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def client_address(client: str) -> IPAddress | None:
    """The client's address; an IPv4-mapped IPv6 one (a dual-stack socket) as IPv4."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
