"""`POST {prefix}/gift`: a gift link for a signed-in reader whose plan may gift.

Same-origin only (`Origin`, else `Referer`, names the host; the reader cookie is SameSite):
a page elsewhere cannot spend a subscriber's gifts. The form field `path` names the article
(its query too, for `content.article_query` sites); it must be gated by the path rules. The
plan check and the period's count are one call of gift.lua. A script (or `Accept` without
text/html) gets JSON `{"url", "left", "expires"}`; the gift control's plain form post gets a
small page with the link to copy. Every answer is `private, no-store`.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from ..admin.auth import same_origin
from ..analytics.recorder import Recorder
from ..exchange import header, page_origin
from ..identity import Reader, account_of
from ..payments.routes import read_body
from ..periods import current_period
from ..settings import Config
from ..store import entitlement_key, gifts_key
from .articles import Article, NotAnArticle, gated_article
from .gifts import GIFT_PARAMETER, GIFT_PATH, GiftTokens

logger = logging.getLogger("paywall")

GIFT_LUA = resources.files("paywall.lua").joinpath("gift.lua").read_text(encoding="utf-8")
MAX_BODY_BYTES = 8 * 1024
_GIVEN, _NO_PLAN, _USED_UP = 0, 1, 2


class GiftRefused(Exception):
    """A gift request that gets no link: its status and a message for the reader."""

    def __init__(self, status: int, message: str, left: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.left = left


class GiftRoutes:
    """Answers `{prefix}/gift` while `gifts:` is on (a 404 otherwise)."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        keys: list[str],
        clock: Callable[[], datetime],
        recorder: Recorder,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.tokens = GiftTokens(keys)
        self.clock = clock
        self.recorder = recorder
        self._script: Any = None

    @staticmethod
    def wants(config: Config, path: str) -> bool:
        prefix = config.analytics.prefix
        return path == prefix + GIFT_PATH and config.sharing.gifts.enabled

    async def answer(self, config: Config, scope: Scope, receive: Receive, send: Send) -> None:
        as_page = _wants_page(header(scope, b"accept"))
        try:
            answer = await self._give(config, scope, receive)
        except GiftRefused as refused:
            body: dict[str, Any] = {"error": str(refused)}
            if refused.left is not None:
                body["left"] = refused.left
            extra = [(b"allow", b"POST")] if refused.status == 405 else []
            await _respond(send, refused.status, body, as_page, extra)
            return
        await _respond(send, 200, answer, as_page)

    async def _give(self, config: Config, scope: Scope, receive: Receive) -> dict[str, Any]:
        if scope["method"] != "POST":
            raise GiftRefused(405, "gift links are made with a POST")
        if not same_origin(scope):
            raise GiftRefused(403, "gift links are made from this site's own pages")
        account = account_of(scope)
        if account is None:
            raise GiftRefused(401, "sign in to gift articles")
        target = await _target(config, receive)
        now = self.clock()
        gifts = config.sharing.gifts
        reader = Reader("", account)
        period = current_period(config.period, config.timezone, now)
        keys = [entitlement_key(self.prefix, reader), gifts_key(self.prefix, reader, period)]
        plans = " ".join(sorted(plan.value for plan in gifts.plans))
        args = [int(now.timestamp()), gifts.per_period, period.seconds_left(now), plans]
        try:
            code, given = await self._gift_script()(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("paywall: gift link not made, the store did not answer: %s", exc)
            raise GiftRefused(503, "the gift could not be made just now; try again") from exc
        if int(code) == _NO_PLAN:
            raise GiftRefused(403, "gift links are for subscribers")
        if int(code) == _USED_UP:
            raise GiftRefused(429, f"you have given all your gifts this {config.period}", left=0)
        expires = now + timedelta(days=gifts.valid_days)
        token = self.tokens.sign(target.key, int(expires.timestamp()))
        if config.analytics.enabled:
            self.recorder.gift_given(config, target.section)
        return {
            "url": _origin(scope) + target.with_parameter(GIFT_PARAMETER, token),
            "left": max(gifts.per_period - int(given), 0),
            "expires": expires.astimezone(config.timezone).isoformat(timespec="seconds"),
            "path": target.path,
        }

    def _gift_script(self) -> Any:
        if self._script is None:
            self._script = self.client.register_script(GIFT_LUA)
        return self._script


async def _target(config: Config, receive: Receive) -> Article:
    """The article the form's `path` names: a path of this site that the rules gate."""
    body = await read_body(receive, MAX_BODY_BYTES)
    if body is None:
        raise GiftRefused(413, "the request is too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    try:
        return gated_article(config, (fields.get("path") or [""])[0])
    except NotAnArticle as exc:
        raise GiftRefused(400, str(exc)) from exc


def _origin(scope: Scope) -> str:
    """`scheme://host` of the page the reader asked from, for an absolute link to share:
    the `Origin` (else `Referer`) that same_origin matched to `Host` or, behind a proxy
    that rewrites `Host`, to `X-Forwarded-Host` (whose link must name the public host and
    scheme, not the upstream's). "" when it names none we could put in a link."""
    parts = urlsplit(page_origin(scope))
    host = parts.netloc
    if parts.scheme not in ("http", "https") or not host:
        return ""
    if any(c in host for c in "/\\@ ") or not host.isascii():
        return ""
    return f"{parts.scheme}://{host}"


def _wants_page(accept: str) -> bool:
    """A browser's own form post (Accept names text/html, not JSON) gets a page."""
    accept = accept.lower()
    return "text/html" in accept and "application/json" not in accept


async def _respond(
    send: Send,
    status: int,
    value: dict[str, Any],
    as_page: bool,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    if as_page:
        body, content_type = _page(value).encode(), b"text/html; charset=utf-8"
    else:
        body, content_type = json.dumps(value).encode(), b"application/json"
    raw = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"private, no-store"),
        (b"referrer-policy", b"same-origin"),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


_PAGE_STYLE = (
    "body{margin:0;padding:0 .75rem;background:#fbf9f4;color:#1a1a1a;"
    "font:1.1rem/1.55 Georgia,'Times New Roman',serif}"
    "main{max-width:36rem;margin:clamp(1rem,6vw,3rem) auto;padding:1.25rem clamp(1rem,4vw,1.5rem);"
    "background:#fbf7f0;"
    "border-top:3px solid #8c1c13}"
    "h1{font-size:1.7rem;line-height:1.2;margin:.2rem 0 .8rem}"
    "p{margin:.7rem 0}"
    ".share{display:flex;flex-wrap:wrap;gap:.5rem;margin:.9rem 0}"
    "#gift-link{flex:1 1 16rem;min-width:0;padding:.55rem .6rem;border:1px solid #b9b2a5;"
    "border-radius:3px;background:#fff;color:#1a1a1a;"
    "font:.95rem/1.4 ui-monospace,Menlo,Consolas,monospace}"
    "button{border:0;border-radius:3px;padding:.55rem 1.1rem;background:#8c1c13;color:#fff;"
    "font:bold .95rem Helvetica,Arial,sans-serif;cursor:pointer}"
    "button:hover{background:#6d150f}"
    ".note{font:.9rem/1.5 Helvetica,Arial,sans-serif;color:#6b6b6b}"
    "a{color:#8c1c13}"
)
# Progressive: without JavaScript the link is still selectable in its field; with it, the
# field selects itself when clicked and "Copy link" puts it on the clipboard.
_PAGE_SCRIPT = (
    "(function(){var f=document.getElementById('gift-link'),"
    "b=document.getElementById('gift-copy');if(!f)return;"
    "f.addEventListener('focus',function(){f.select()});"
    "f.addEventListener('click',function(){f.select()});"
    "if(!b||!navigator.clipboard)return;b.hidden=false;"
    "b.addEventListener('click',function(){navigator.clipboard.writeText(f.value).then("
    "function(){b.textContent='Copied'},function(){f.focus()})})})();"
)


def _page(value: dict[str, Any]) -> str:
    """The gift link (or why there is none) as a page, for the control's form post: the
    link in a field easy to copy, when it stops working, and the way back to the article."""
    if "url" in value:
        url = html.escape(value["url"])
        back = html.escape(value["path"])
        left = int(value["left"])
        main = (
            "<h1>Your gift link</h1>"
            '<p><label for="gift-link">Anyone with this link can read the article in full,'
            f" free, until {_day(value['expires'])}.</label></p>"
            f'<div class="share"><input id="gift-link" type="url" readonly value="{url}"'
            ' spellcheck="false" autocomplete="off">'
            '<button id="gift-copy" type="button" hidden>Copy link</button></div>'
            f'<p class="note">You have {left} gift{"" if left == 1 else "s"} left.</p>'
            f'<p><a href="{back}">&larr; Back to the article</a></p>'
        )
    else:
        reason = str(value["error"])
        main = (
            "<h1>No gift link</h1>"
            f"<p>{html.escape(reason[:1].upper() + reason[1:])}.</p>"
            '<p><a href="/" onclick="history.back();return false">&larr; Go back</a></p>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>Gift this article</title><style>{_PAGE_STYLE}</style></head>"
        f"<body><main>{main}</main><script>{_PAGE_SCRIPT}</script></body></html>"
    )


def _day(expires: str) -> str:
    """An ISO time as a reader reads it at a glance ("8 December 2026, 14:05"): the link
    stops at that minute, not at the end of the day."""
    try:
        when = datetime.fromisoformat(expires)
    except ValueError:
        return html.escape(expires[:16])
    return f"{when.day} {when:%B %Y, %H:%M}"
