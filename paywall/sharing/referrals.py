"""Referral reads: which `referrals:` rule, if any, the site a reader came from matches.

The `Referer` header is the reader's to forge, so what a rule opens is capped per reader
and period (meter.lua counts referral reads apart from the meter); links within the site
itself (by `Host`, or `X-Forwarded-Host` behind a proxy) never count as referrals.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import Scope

from ..exchange import header, site_hosts
from .schema import Sharing

MAX_REFERER_CHARS = 2048


def referral_of(sharing: Sharing, scope: Scope) -> str:
    """meter.lua's referral argument for this request: "<rule>:<cap>" of the first rule
    matching the referring site, else ""."""
    referer = header(scope, b"referer")
    if not referer or len(referer) > MAX_REFERER_CHARS:
        return ""
    host = _host(referer)
    if not host or host in (_host("//" + own) for own in site_hosts(scope)):
        return ""
    rule = sharing.referral_for(host)
    return f"{rule.number}:{rule.per_period}" if rule is not None else ""


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:  # a malformed port or IPv6 literal
        return ""
