"""Paths judged as the upstream may route them, and the article id a view is counted under.

A server hands the app a decoded path, and routers differ in what they do with it next:
some resolve "." and ".." segments, some don't (Starlette's `{slug:path}` serves
"/premium/123/.." as article 123); some read `%2F` or `\\` as a separator, decode twice,
strip `;params` (Java servlets), trailing dots (IIS), repeated or trailing slashes, or ignore
case. `readings()` lists every plausible reading of the request path and `access_of()`
judges it by the most restrictive rule any reading matches (premium > metered > free; the
`content.default` counts for a reading no rule matches), so no spelling of a gated article
is judged freer than the upstream will serve it.

The article id must never let two articles share one count: it is taken from the path as
decoded, with only repeated and trailing slashes collapsed (dot segments are kept, so
"/articles/1/.." and "/articles/2/.." stay apart), plus the `content.article_query`
parameters (`/articles/view?id=17` and `?id=18` are two articles).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, quote, unquote

from starlette.types import Scope

from .settings import ACCESS_LEVELS, Access, Config, Rule

# A path a browser would send as is: nothing that any router could read two ways (but case).
_ODD_PATH = re.compile(r"[%\\;#\x00]|//|/\.|[. ](?:/|$)|^[^/]")
_RANK = {access: rank for rank, access in enumerate(ACCESS_LEVELS)}  # free < metered < premium
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_ENCODED_SEPARATOR = re.compile(r"%(?=2[fF]|5[cC])")  # %2F and %5C: / and \
_ABSOLUTE_FORM = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")  # GET http://host/path
_REPEATED_SLASHES = re.compile(r"/{2,}")
_PARAMS = re.compile(r";[^/]*")
_TRAILING_DOTS = re.compile(r"(?<=[^/.])[. ]+(?=/|$)")
MAX_DECODES = 3  # percent-decoding beyond the server's own: double and triple encoding
# Past either bound (a crafted path, never a browser's) the path is judged by the config's
# most restrictive level rather than spending milliseconds of CPU on it.
MAX_READINGS = 256
MAX_READING_CHARS = 64 * 1024


def _plain_readings(path: str) -> list[str]:
    """The common case: the path, without a trailing slash, and their lower case."""
    found = [path]
    if len(path) > 1 and path.endswith("/"):
        found.append(path.rstrip("/") or "/")
    found += [lower for reading in found if (lower := reading.lower()) != reading]
    return found


# A language prefix (Django's i18n_patterns, /fr/…, /pt-br/…, /zh-Hant-TW/…, /ast/…) serves
# the same article. Any short first segment is tried: judging /api/articles/x as
# /articles/x too can only make a path more gated, never less.
_LANGUAGE_PREFIX = re.compile(r"/[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}(?=/)")


def readings(path: str, raw_path: bytes | None = None) -> list[str] | None:
    """Every plausible reading of a request path (`scope["path"]`, `scope["raw_path"]`),
    the path itself first, each also without a leading language prefix; None when a
    crafted path has too many (see MAX_READINGS)."""
    found = _readings(path, raw_path)
    if found is not None:
        found += [r[m.end() :] for r in found if (m := _LANGUAGE_PREFIX.match(r)) is not None]
    return found


def _readings(path: str, raw_path: bytes | None) -> list[str] | None:
    if path.isascii() and not _ODD_PATH.search(path) and (raw_path is None or b"%" not in raw_path):
        return _plain_readings(path)
    bases = [path]
    if raw_path is not None:
        raw = raw_path.split(b"?", 1)[0].decode("latin-1")
        bases += [raw, _decode(_ENCODED_SEPARATOR.sub("%25", raw))]  # %2F kept as a character
    decoded = path
    for _ in range(MAX_DECODES):
        decoded, before = _decode(decoded), decoded
        if decoded == before:
            break
        bases.append(decoded)
    found = dict.fromkeys(bases)
    for base in bases:
        found[_ABSOLUTE_FORM.sub("", base) or "/"] = None
    size = sum(map(len, found))
    for transform in _TRANSFORMS:
        for reading in list(found):
            new = transform(reading)
            if new not in found:
                found[new] = None
                size += len(new)
        if len(found) > MAX_READINGS or size > MAX_READING_CHARS:
            return None
    return list(found)


def access_of(config: Config, scope: Scope) -> Access:
    """The most restrictive access any reading of the request path gets from the rules."""
    return route_of(config, scope)[0]


def route_of(config: Config, scope: Scope) -> tuple[Access, Rule | None]:
    """`access_of`, and the first rule the path as sent matches (None when none does): the
    rule whose section analytics counts the view in, found by the same match."""
    raw_path = scope.get("raw_path")
    return judge(config, readings(scope["path"], raw_path if isinstance(raw_path, bytes) else None))


def judge(config: Config, found: list[str] | None) -> tuple[Access, Rule | None]:
    """The most restrictive access of these readings, and the first rule the first of them
    matches."""
    if found is None:  # too many readings to judge one by one: the strictest level in use
        return ACCESS_LEVELS[max(_RANK[a] for a in _levels(config))], None
    fold = config.rules_have_capitals  # rules with capitals, on a case-insensitive router
    first = config.rule_for(found[0])
    best = 0
    for index, reading in enumerate(found):
        rule = config.rule_for(reading) if index else first
        rank = _RANK[config.default_access if rule is None else rule.access]
        if fold and reading.islower():
            rank = max(rank, _RANK[config.access_for(reading, folded=True)])
        if rank > best:
            best = rank
            if best == len(ACCESS_LEVELS) - 1:  # nothing is stricter
                break
    return ACCESS_LEVELS[best], first


def article_key(scope: Scope, query_names: tuple[str, ...]) -> str:
    """What the meter counts a view under: the article's path and, with
    `content.article_query`, those query parameters ("?id=17/articles/view": the query
    part, fully escaped so it holds no "/", comes first; a path always starts with "/", so
    no path and no other path-and-query can spell the same key)."""
    raw_path = scope.get("raw_path")
    path = article_path(scope["path"], raw_path if isinstance(raw_path, bytes) else None)
    if not query_names:
        return path
    query = article_query(scope.get("query_string", b""), query_names)
    return f"?{query}{path}" if query else path


def article_path(path: str, raw_path: bytes | None = None) -> str:
    """The path as decoded with repeated and trailing slashes collapsed ("/articles/x/" is
    "/articles/x", as it always was); an encoded slash stays "%2F", so "/articles/a%2Fb" is
    not "/articles/a/b", and bytes that are not UTF-8 stay distinct."""
    if raw_path is not None and b"%" in raw_path:
        path = _decode(_ENCODED_SEPARATOR.sub("%25", raw_path.split(b"?", 1)[0].decode("latin-1")))
    return "/" + _REPEATED_SLASHES.sub("/", path).strip("/")


def article_query(query_string: bytes, names: tuple[str, ...]) -> str:
    """The `names` parameters (any case, as written) in a canonical form: ordered by name,
    each name's values in the order sent (routers differ on which of two `id=` they take)."""
    wanted = {name.lower() for name in names}
    pairs = [
        (name, value)
        for name, value in parse_qsl(
            query_string.decode("latin-1"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="surrogateescape",
        )
        if name.lower() in wanted
    ]
    pairs.sort(key=lambda pair: pair[0])  # stable: values of one name keep their order
    return "&".join(f"{_escape(name)}={_escape(value)}" for name, value in pairs)


def _escape(text: str) -> str:
    return quote(text, safe="", errors="surrogateescape")


def _decode(text: str) -> str:
    if not _ESCAPE.search(text):  # unquote is slow on strings full of stray "%"
        return text
    return unquote(text, errors="surrogateescape")


def _levels(config: Config) -> Iterable[Access]:
    yield config.default_access
    for rule in config.rules:
        yield rule.access


def _resolve(path: str) -> str:
    """RFC 3986 remove_dot_segments: "/premium/123/.." is "/premium/"."""
    out: list[str] = []
    segments = path.split("/")
    last = len(segments) - 1
    for index, segment in enumerate(segments[1:], start=1):
        if segment == ".":
            if index == last:
                out.append("")
        elif segment == "..":
            if out:
                out.pop()
            if index == last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


# Applied in this order, each to every reading found so far: every combination is a reading.
_TRANSFORMS: tuple[Callable[[str], str], ...] = (
    lambda p: p if p.isascii() else unicodedata.normalize("NFKC", p),  # fullwidth U+FF0F is /
    lambda p: p.replace("\\", "/"),  # Windows servers
    lambda p: p.split("\x00", 1)[0],  # C strings
    lambda p: p.split("#", 1)[0],  # a fragment sent by mistake or on purpose
    lambda p: _PARAMS.sub("", p),  # /premium;jsessionid=x/1 (servlet containers)
    lambda p: _TRAILING_DOTS.sub("", p),  # /premium./1 (IIS)
    lambda p: _REPEATED_SLASHES.sub("/", p),  # nginx merge_slashes
    _resolve,
    lambda p: p.rstrip("/") or "/",
    str.lower,  # case-insensitive routers
)
