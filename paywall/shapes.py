"""Responses on metered and premium paths that are not an HTML view (JSON, feeds, XHTML, a
body without a Content-Type, a 206 or 304): which go out as they are, and the 402 a walled
reader gets instead of the article in another shape."""

from __future__ import annotations

import enum
import json
import re
from urllib.parse import unquote_plus

from .names import Prompt
from .prompts import PromptContext

HTML = "text/html"
_NO_BODY_STATUSES = frozenset({204, 205})  # never carry a body (RFC 9110)


def media_type(content_type: str) -> str:
    """The media type of a Content-Type, lower-cased ("" when there is none)."""
    return content_type.split(";", 1)[0].strip().lower()


def is_view(status: int, content_type: str) -> bool:
    """A rewritable HTML view: 200 with text/html (the paywall's buffered rewrite)."""
    return status == 200 and media_type(content_type) == HTML


class Shape(enum.Enum):
    """What a response on a metered or premium path is, as far as the paywall cares."""

    PAGE = "page"  # a view: 200 text/html, metered and rewritten
    OTHER = "other"  # the article in another shape (JSON, a feed, a 206…): metered, or 402
    ASSET = "asset"  # a type that holds no article (content.pass_types): as it came
    NO_ARTICLE = "no-article"  # a redirect, an error, no body: uncounted, but private


def shape_of(
    status: int,
    content_type: str,
    content_length: str | None,
    pass_types: tuple[str, ...],
    query: str = "",
    method: str = "GET",
) -> Shape:
    if is_view(status, content_type):
        return Shape.PAGE
    if not (200 <= status < 300 or status == 304) or status in _NO_BODY_STATUSES:
        return Shape.NO_ARTICLE
    if content_length is not None and content_length.strip() == "0":
        return Shape.NO_ARTICLE
    if type_passes(media_type(content_type), pass_types, query, method):
        return Shape.ASSET
    return Shape.OTHER


# Types a pass_types pattern may match that can still carry an article's text: SVG is
# text, and a script answering a JSONP request (?callback=) is the article's data.
_TEXT_BEARING = frozenset({"image/svg+xml"})
_SCRIPTS = frozenset({"text/javascript", "application/javascript", "application/x-javascript"})
# A query parameter that asks for JSONP, in any framework's spelling (callback, _jsonp,
# jsonpCallback, json.wrf, cb), names percent-decoded, "&" or ";" between them.
_JSONP_NAME = re.compile(r"callback|jsonp|wrf|^_?cb$", re.I)


def asks_for_jsonp(query: str) -> bool:
    """A parameter named for a callback, or any parameter whose value is jsonp or js
    (?format=jsonp): the script is the article's data."""
    for pair in re.split(r"[&;]", query):
        name, _, value = pair.partition("=")
        if _JSONP_NAME.search(unquote_plus(name).strip()):
            return True
        if unquote_plus(value).strip().lower() in ("jsonp", "js", "javascript"):
            return True
    return False


def type_passes(
    media: str, pass_types: tuple[str, ...], query: str = "", method: str = "GET"
) -> bool:
    if not media or media in _TEXT_BEARING:
        return False  # no Content-Type: it could be anything, an article included
    if media in _SCRIPTS and (asks_for_jsonp(query) or method not in ("GET", "HEAD")):
        return False  # JSONP: the article's data, whatever the type says
    for pattern in pass_types:
        if pattern.endswith("/*"):
            if media.startswith(pattern[:-1]):
                return True
        elif media == pattern:
            return True
    return False


def is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def wants_json(accept: str, upstream_type: str) -> bool:
    """JSON when the upstream's answer was JSON or the request's Accept names a JSON type."""
    if is_json(media_type(upstream_type)):
        return True
    return any(is_json(media_type(part)) for part in accept.split(","))


def reason(prompt: Prompt, context: PromptContext) -> str:
    """Why the reader is walled, in the words of the HTML prompts."""
    if prompt is Prompt.TRIAL_EXPIRED:
        return "Your trial period has expired."
    if prompt is Prompt.ACCESS_EXPIRED:
        return f"Your full access to {context.publication} has expired."
    if context.limit_used:
        plural = "" if context.limit == 1 else "s"
        return f"You have read your {context.limit} free article{plural} this {context.period}."
    return "This story is for subscribers."


def refusal(prompt: Prompt, context: PromptContext, as_json: bool) -> tuple[bytes, bytes]:
    """The body and Content-Type of a 402 for a walled reader: why, and where to subscribe
    (and, on the registration wall, where to register); never any of the article."""
    why = reason(prompt, context)
    if as_json:
        data: dict[str, str] = {
            "error": "paywall",
            "prompt": prompt.value,
            "message": why,
            "subscribe_url": context.subscribe_url,
        }
        if prompt is Prompt.REGISTER:
            data["register_url"] = context.register_url
        body = json.dumps(data, ensure_ascii=False).encode() + b"\n"
        return body, b"application/json"
    lines = [f"Payment required. {why}"]
    if prompt is Prompt.REGISTER:
        lines.append(f"Register for free to keep reading: {context.register_url}")
    lines.append(f"Subscribe: {context.subscribe_url}")
    return ("\n".join(lines) + "\n").encode(), b"text/plain; charset=utf-8"
