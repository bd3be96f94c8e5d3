"""Rewriting an article page: the prompt at the start of the gated element, and the wall.

Edits are byte splices on the page as the upstream sent it; nothing outside the
gated element and the JSON-LD blocks changes.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from html import escape
from typing import Any

from .html import VOID, Selector, Tag, tags

# Start tags that end an open <p> (HTML's implied </p>).
_CLOSES_P = frozenset(
    b"address article aside blockquote center dd details dialog dir div dl dt fieldset figcaption"
    b" figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr li listing main menu nav ol p"
    b" plaintext pre search section summary table ul xmp".split()
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9_.:-]+)", re.I)
_HIDDEN_JSON_LD_KEYS = frozenset({"articleBody"})
# Charsets whose bytes for "<p>" can occur inside other characters (ISO-2022-JP, UTF-7…).
_STATEFUL = ("iso2022", "utf_7", "utf-7", "hz")
_ASCII_PROBE = "<p class=\"a\" id='b'>text</p><!-- -->"


@dataclass(frozen=True)
class Gate:
    """Where the gated element sits in the page, and the <p> elements inside it."""

    open_end: int  # just after the element's start tag
    close_start: int  # where its end tag (or the end of the body) begins
    paragraphs: tuple[tuple[int, int], ...]


def find_gate(data: bytes, selector: Selector, max_paragraphs: int) -> Gate | None:
    """Locate the first element matching `selector` and up to `max_paragraphs` <p> in it."""
    scan = tags(data)
    opening = next((tag for tag in scan if selector.matches(tag)), None)
    if opening is None:
        return None
    if opening.name in VOID:
        return Gate(opening.end, opening.end, ())  # an empty element: nothing to hide
    paragraphs: list[tuple[int, int]] = []
    collector = _ParagraphCollector(paragraphs)
    depth = 1
    close_start: int | None = None
    for tag in scan:
        if tag.name == opening.name:
            depth += -1 if tag.closing else 1  # HTML ignores "/>" on non-void elements
            if depth == 0:
                close_start = tag.start
                break
        elif tag.closing and tag.name in (b"body", b"html"):
            close_start = tag.start
            break
        if len(paragraphs) < max_paragraphs:
            collector.feed(tag)
    if close_start is None:
        close_start = len(data)
    collector.finish(close_start)
    return Gate(opening.end, close_start, tuple(paragraphs[:max_paragraphs]))


class _ParagraphCollector:
    """Tracks <p> elements, including ones closed implicitly as HTML allows."""

    def __init__(self, out: list[tuple[int, int]]) -> None:
        self.out = out
        self.start: int | None = None
        self.inside: list[bytes] = []

    def feed(self, tag: Tag) -> None:
        if self.start is None:
            if tag.name == b"p" and not tag.closing:
                self.start, self.inside = tag.start, []
            return
        if tag.closing:
            if tag.name == b"p":
                self._close(tag.end)
            elif tag.name in self.inside:
                del self.inside[self.inside.index(tag.name) :]
            else:
                self._close(tag.start)
        elif tag.name in _CLOSES_P:
            self._close(tag.start)
            self.feed(tag)
        elif tag.name not in VOID and not tag.self_closing:
            self.inside.append(tag.name)

    def finish(self, end: int) -> None:
        if self.start is not None:
            self._close(end)

    def _close(self, end: int) -> None:
        assert self.start is not None
        self.out.append((self.start, end))
        self.start = None


def insert_prompt(data: bytes, gate: Gate, fragment: bytes) -> bytes:
    """The full page with `fragment` at the start of the gated element."""
    return b"".join((data[: gate.open_end], fragment, data[gate.open_end :]))


def wall(data: bytes, gate: Gate, fragment: bytes, encoding: str) -> bytes:
    """The page with only the teaser paragraphs and `fragment` inside the gated element."""
    teaser = b"\n".join(data[start:end] for start, end in gate.paragraphs)
    head = strip_json_ld(data[: gate.open_end], encoding)
    tail = strip_json_ld(data[gate.close_start :], encoding)
    return b"".join((head, teaser, fragment, tail))


def strip_json_ld(data: bytes, encoding: str) -> bytes:
    """Remove the article text (articleBody) from every JSON-LD block in `data`."""
    edits: list[tuple[int, int, bytes]] = []
    for tag in tags(data):
        if tag.name != b"script" or tag.closing or b"ld+json" not in tag.attrs.lower():
            continue
        raw = data[tag.end : tag.content_end]
        try:
            document = json.loads(raw.decode(encoding))
        except (ValueError, UnicodeDecodeError):
            edits.append((tag.end, tag.content_end, b""))  # unreadable: drop it whole
            continue
        cleaned = _without_hidden_keys(document)
        if cleaned != document:
            edits.append((tag.end, tag.content_end, _json_for_script(cleaned, encoding)))
    if not edits:
        return data
    parts: list[bytes] = []
    pos = 0
    for start, end, replacement in edits:
        parts += [data[pos:start], replacement]
        pos = end
    parts.append(data[pos:])
    return b"".join(parts)


def _json_for_script(value: Any, encoding: str) -> bytes:
    """JSON that can't end or comment out its <script>, in the page's charset."""
    for ensure_ascii in (False, True):
        text = json.dumps(value, ensure_ascii=ensure_ascii)
        text = text.replace("<!--", "\\u003c!--").replace("</", "<\\/")
        try:
            return text.encode(encoding)
        except UnicodeEncodeError:
            continue  # a character the charset lacks: \u escapes keep the data intact
    raise AssertionError("ASCII JSON is encodable in an ASCII-compatible charset")


def _without_hidden_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _without_hidden_keys(item)
            for key, item in value.items()
            if key not in _HIDDEN_JSON_LD_KEYS
        }
    if isinstance(value, list):
        return [_without_hidden_keys(item) for item in value]
    return value


def page_encoding(content_type: str, data: bytes) -> str | None:
    """The page's charset (header, then <meta>, then UTF-8); None if bytes can't be spliced."""
    found = _HEADER_CHARSET.search(content_type)
    name = found.group(1) if found else None
    if name is None:
        meta = _META_CHARSET.search(data, 0, 4096)
        name = meta.group(1).decode("ascii") if meta else "utf-8"
    try:
        codec = codecs.lookup(name)
    except LookupError:
        codec = codecs.lookup("utf-8")
    if codec.name.startswith(_STATEFUL) or _ASCII_PROBE.encode(codec.name) != _ASCII_PROBE.encode():
        return None  # not ASCII-compatible (UTF-16, EBCDIC) or shifting: tags are not plain bytes
    return codec.name


def standalone_page(fragment: str, title: str) -> bytes:
    """A minimal page holding only the prompt, for when the article can't be located safely."""
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>\n<body>\n{fragment}\n</body></html>\n"
    ).encode()
