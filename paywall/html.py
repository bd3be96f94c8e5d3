"""A forgiving byte-level HTML tag scanner and the simple CSS selectors the config allows.

The paywall never parses a page into a DOM: it finds the few places it must change
and splices bytes, so everything else reaches the reader exactly as the publisher
wrote it. Working on bytes also keeps any ASCII-compatible charset intact.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

VOID = frozenset(b"area base br col embed hr img input link meta source track wbr".split())
RAW_TEXT = frozenset(b"script style textarea title xmp iframe noembed noframes plaintext".split())

# Attributes as browsers tokenise them: a name (which may start with "="), then maybe
# "=" and a value; quotes only delimit a value right after that "=" (alt=Don't is the
# value "Don't"); a quote never closed is forgiven (the value ends at whitespace or ">").
# The possessive loop never backtracks, so a tag left open (no ">" outside quoted
# values) fails in one pass and, as in browsers, runs to the end of the page.
_WS = rb"[\t\n\f\r ]"
_ATTRS = (
    rb"(?:[\t\n\f\r /]+|[^\t\n\f\r />][^\t\n\f\r />=]*"
    rb"(?:" + _WS + rb"*=" + _WS + rb"""*(?:"[^"]*"|'[^']*'|[^\t\n\f\r >]*))?)*+"""
)
_TAG = re.compile(rb"<(/?)([A-Za-z][^\t\n\f\r />]*+)(" + _ATTRS + rb")>")
_TAG_OPEN = re.compile(rb"</?[A-Za-z]")
_ATTR = re.compile(rb"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
_RAW_END = {name: re.compile(rb"</" + name + rb"[\s/>]", re.I) for name in RAW_TEXT}


@dataclass(slots=True)
class Tag:
    """One start or end tag: its lower-case name and byte offsets in the page."""

    name: bytes
    closing: bool
    start: int
    end: int
    attrs: bytes
    content_end: int  # for raw-text elements (script, style…): where their text stops

    @property
    def self_closing(self) -> bool:
        return self.attrs.rstrip().endswith(b"/")

    def attributes(self) -> dict[str, str]:
        """The tag's attributes, names lower-cased, entities in values decoded."""
        found: dict[str, str] = {}
        for match in _ATTR.finditer(self.attrs.rstrip(b"/")):
            name = match.group(1).decode("latin-1").lower()
            raw = next((g for g in match.group(2, 3, 4) if g is not None), b"")
            found.setdefault(name, html.unescape(raw.decode("utf-8", "replace")))
        return found


def tags(data: bytes, pos: int = 0, stop: int | None = None) -> Iterator[Tag]:
    """Yield the tags of `data` from `pos`, skipping comments, doctypes and raw text."""
    limit = len(data) if stop is None else stop
    while True:
        lt = data.find(b"<", pos, limit)
        if lt < 0:
            return
        if data.startswith(b"<!--", lt):
            pos = _comment_end(data, lt)
            continue
        tag = tag_at(data, lt)
        if tag is None:
            if data.startswith((b"<!", b"<?"), lt):
                close = data.find(b">", lt)
                pos = len(data) if close < 0 else close + 1
            elif _TAG_OPEN.match(data, lt):
                return  # a tag never closed: the rest of the page is inside it
            else:
                pos = lt + 1
            continue
        yield tag
        pos = tag.content_end


def tag_at(data: bytes, lt: int) -> Tag | None:
    """The tag starting at `lt`, as `tags` would yield it, or None when there is none."""
    match = _TAG.match(data, lt)
    if match is None:
        return None
    name = match.group(2).lower()
    closing = bool(match.group(1))
    content_end = match.end()
    if not closing and name in RAW_TEXT:
        end = _RAW_END[name].search(data, content_end)
        content_end = len(data) if end is None else end.start()
    return Tag(name, closing, lt, match.end(), match.group(3), content_end)


_NAMED_SCANS: dict[frozenset[bytes], re.Pattern[bytes]] = {}


def tags_named(data: bytes, names: frozenset[bytes], pos: int = 0) -> Iterator[Tag]:
    """Like `tags`, but yield only tags with one of `names` (lower-case): a regex jumps
    straight to them, and to the comments and raw text it must skip on the way."""
    pattern = _NAMED_SCANS.get(names)
    if pattern is None:
        alternatives = b"|".join(re.escape(name) for name in sorted(names | RAW_TEXT))
        pattern = re.compile(rb"<!--|</?(?:" + alternatives + rb")(?=[\t\n\f\r />])", re.I)
        _NAMED_SCANS[names] = pattern
    while (found := pattern.search(data, pos)) is not None:
        lt = found.start()
        if data.startswith(b"<!--", lt):
            pos = _comment_end(data, lt)
            continue
        tag = tag_at(data, lt)
        if tag is None:
            return  # a tag never closed: the rest of the page is inside it
        if tag.name in names:
            yield tag
        pos = tag.content_end


def first_match(data: bytes, selector: Selector) -> Tag | None:
    """The first start tag matching `selector`. Jumps to the selector's most telling text
    (id, class, tag name) and checks it is a real tag outside comments and raw text;
    anything less clear-cut falls back to a full scan."""
    needle = selector.needle
    haystack = data.lower() if selector.needle_is_tag_name else data
    at = haystack.find(needle)
    while at >= 0:
        lt = at if selector.needle_is_tag_name else data.rfind(b"<", 0, at)
        tag = tag_at(data, lt) if lt >= 0 else None
        if tag is not None and tag.start <= at < tag.end and selector.matches(tag):
            if not _maybe_hidden(data, lt):
                return tag
            break
        at = haystack.find(needle, at + 1)
    return next((tag for tag in tags(data) if selector.matches(tag)), None)


_RAW_TEXT_TAG = re.compile(rb"</?(?:" + b"|".join(sorted(RAW_TEXT)) + rb")(?![A-Za-z0-9-])", re.I)


def _maybe_hidden(data: bytes, pos: int) -> bool:
    """Could `pos` be inside a comment or a raw-text element (script, style…)? Cautious:
    a comment opened and not closed before it, or a raw-text tag last opened and not
    closed, says yes, and the caller then scans the page properly."""
    comment = data.rfind(b"<!--", 0, pos)
    if comment >= 0 and max(data.find(b"-->", comment, pos), data.find(b"--!>", comment, pos)) < 0:
        return True
    last = None
    for match in _RAW_TEXT_TAG.finditer(data, 0, pos):
        last = match
    return last is not None and not last.group(0).startswith(b"</")


def _comment_end(data: bytes, lt: int) -> int:
    """Where the comment opened at `lt` ends: after "-->" or "--!>"; "<!-->" is complete."""
    if data.startswith((b"<!-->", b"<!--->"), lt):
        return data.index(b">", lt) + 1
    ends = [(at, len(mark)) for mark in (b"-->", b"--!>") if (at := data.find(mark, lt + 4)) >= 0]
    if not ends:
        return len(data)
    at, size = min(ends)
    return at + size


_SELECTOR = re.compile(r"[A-Za-z][A-Za-z0-9-]*|\*")
_SELECTOR_PART = re.compile(
    r"""\.(?P<cls>[\w-]+)|\#(?P<id>[\w-]+)"""
    r"""|\[\s*(?P<attr>[\w-]+)\s*(?:=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[\w-]+))\s*)?\]"""
)


@dataclass(frozen=True)
class Selector:
    """A compound CSS selector: optional tag, then any of .class, #id, [attr], [attr=value]."""

    text: str
    tag: bytes | None
    conditions: tuple[tuple[str, str | None], ...]  # ("\x00class", "x") is a class test

    @property
    def needle(self) -> bytes:
        """Text every matching start tag contains: an id, a class, an attribute or its name."""
        for _name, value in self.conditions:
            if value:
                return html.escape(value, quote=False).encode()
        return b"<" + (self.tag or b"")

    @property
    def needle_is_tag_name(self) -> bool:
        return not any(value for _, value in self.conditions)

    @classmethod
    def parse(cls, text: str) -> Selector:
        """Raise ValueError, saying what is wrong, for anything beyond the supported forms."""
        source = text.strip()
        if not source:
            raise ValueError("empty CSS selector")
        pos = 0
        tag: bytes | None = None
        head = _SELECTOR.match(source)
        if head:
            tag = None if head.group(0) == "*" else head.group(0).lower().encode()
            pos = head.end()
        conditions: list[tuple[str, str | None]] = []
        while pos < len(source):
            part = _SELECTOR_PART.match(source, pos)
            if part is None:
                raise ValueError(
                    f"unsupported CSS selector {text!r} at {source[pos:]!r}: use one element,"
                    " e.g. article, .story-body, #main, div[itemprop=articleBody]"
                )
            if part.group("cls"):
                conditions.append(("\x00class", part.group("cls")))
            elif part.group("id"):
                conditions.append(("id", part.group("id")))
            else:
                value = next((v for v in part.group("dq", "sq", "bare") if v is not None), None)
                conditions.append((part.group("attr").lower(), value))
            pos = part.end()
        if tag is None and not conditions:
            raise ValueError(f"CSS selector {text!r} matches every element")
        if tag in VOID:
            raise ValueError(f"CSS selector {text!r} names an empty element; it holds no article")
        return cls(text, tag, tuple(conditions))

    def matches(self, tag: Tag) -> bool:
        if tag.closing or (self.tag is not None and tag.name != self.tag):
            return False
        if not self.conditions:
            return True
        attrs = tag.attributes()
        for name, value in self.conditions:
            if name == "\x00class":
                if value not in attrs.get("class", "").split():
                    return False
            elif name not in attrs or (value is not None and attrs[name] != value):
                return False
        return True


def edit_start_tag(data: bytes, tag: Tag, *, add_class: str, drop_data: bool) -> bytes:
    """`tag` as written, with `add_class` (if any) added to its class list and, when
    `drop_data`, without its data-* attributes (a common place to park a copy of the
    article)."""
    attrs = tag.attrs
    parts: list[bytes] = []
    pos = 0
    has_class = False
    for match in _ATTR.finditer(attrs):
        name = match.group(1).lower()
        if drop_data and name.startswith(b"data-"):
            parts.append(attrs[pos : match.start()].rstrip())
            pos = match.end()
        elif name == b"class" and add_class and not has_class:
            has_class = True
            single, double = match.group(3), match.group(2)
            value = (double if double is not None else single or match.group(4) or b"").strip()
            joined = (value + b" " if value else b"") + add_class.encode()
            quoted = b"'" + joined + b"'" if single is not None else b'"' + joined + b'"'
            parts += [attrs[pos : match.start()], b"class=", quoted]
            pos = match.end()
    rest = attrs[pos:]
    if add_class and not has_class:
        body = rest.rstrip()
        closing = b"/" if body.endswith(b"/") else b""
        body = body[:-1] if closing else body
        rest = body + b' class="' + add_class.encode() + b'"' + closing
    name_end = tag.start + 1 + len(tag.name) + (1 if tag.closing else 0)
    return data[tag.start : name_end] + b"".join(parts) + rest + b">"
