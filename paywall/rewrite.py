"""Rewriting an article page: the prompt at the start of the gated element, and the wall.

Edits are byte splices on the page as the upstream sent it; nothing outside the
gated element and the JSON-LD blocks changes.
"""

from __future__ import annotations

import codecs
import functools
import html
import json
import re
from dataclasses import dataclass
from typing import Any

from . import jsonld
from .html import VOID, Selector, Tag, edit_start_tag, first_match, tags, tags_named
from .jsonld import GATED_CLASS

# Start tags that end an open <p> (HTML's implied </p>).
_CLOSES_P = frozenset(
    b"address article aside blockquote center dd details dialog dir div dl dt fieldset figcaption"
    b" figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr li listing main menu nav ol p"
    b" plaintext pre search section summary table ul xmp".split()
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9_.:-]+)", re.I)
_SCRIPT = frozenset({b"script"})
_MAY_HOLD_TEXT = frozenset({b"script", b"noscript", b"template", b"textarea"})
_HEAD_END = re.compile(rb"</head\s*>", re.I)
_MARKUP = re.compile(rb"<[^>]*>")
# Charsets whose bytes for "<p>" can occur inside other characters (ISO-2022-JP, UTF-7…).
_STATEFUL = ("iso2022", "utf_7", "utf-7", "hz")
_ASCII_PROBE = "<p class=\"a\" id='b'>text</p><!-- -->"


@dataclass(frozen=True)
class Gate:
    """Where the gated element sits in the page, and the <p> elements inside it."""

    opening: Tag  # the element's start tag
    close_start: int  # where its end tag (or the end of the body) begins
    paragraphs: tuple[tuple[int, int], ...]

    @property
    def open_end(self) -> int:
        return self.opening.end


def find_gate(
    data: bytes, selector: Selector, max_paragraphs: int, *, exact: bool = True
) -> Gate | None:
    """Locate the first element matching `selector` and up to `max_paragraphs` <p> in it.

    `exact` reads every tag, as a browser would. Without it (enough to place the meter
    prompt for a reader who gets the whole page anyway), byte searches jump to the
    element and, after the teaser, between tags of its own name; they can be fooled by
    markup inside attribute values, so walls always use `exact`.
    """
    if exact:
        opening = next((tag for tag in tags(data) if selector.matches(tag)), None)
    else:
        opening = first_match(data, selector)
    if opening is None:
        return None
    if opening.name in VOID:
        return Gate(opening, opening.end, ())  # an empty element: nothing to hide
    paragraphs: list[tuple[int, int]] = []
    collector = _ParagraphCollector(paragraphs)
    ends = frozenset({opening.name, b"body", b"html"})
    fast = max_paragraphs <= 0 and not exact
    scan = tags_named(data, ends, opening.end) if fast else tags(data, opening.end)
    depth = 1
    close_start: int | None = None
    while (tag := next(scan, None)) is not None:
        if tag.name == opening.name:
            depth += -1 if tag.closing else 1  # HTML ignores "/>" on non-void elements
            if depth == 0:
                close_start = tag.start
                break
        elif tag.closing and tag.name in (b"body", b"html"):
            close_start = tag.start
            break
        if not fast and len(paragraphs) < max_paragraphs:
            collector.feed(tag)
            if len(paragraphs) >= max_paragraphs and not exact:
                fast = True
                scan = tags_named(data, ends, tag.content_end)
    if close_start is None:
        close_start = len(data)
    collector.finish(close_start)
    return Gate(opening, close_start, tuple(paragraphs[:max_paragraphs]))


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
    """The full page with `fragment` at the start of the gated element, nothing else changed."""
    return personalise(data, gate, fragment, walled=False, encoding="utf-8", declare_paywall=False)


def wall(data: bytes, gate: Gate, fragment: bytes, encoding: str) -> bytes:
    """The walled page without the paywall markup: what `personalise` hides, nothing more."""
    return personalise(data, gate, fragment, walled=True, encoding=encoding, declare_paywall=False)


def personalise(
    data: bytes,
    gate: Gate,
    fragment: bytes,
    *,
    walled: bool,
    encoding: str,
    declare_paywall: bool,
) -> bytes:
    """The page as one reader gets it: `fragment` at the start of the gated element, or,
    when `walled`, the teaser and `fragment` alone, with every other copy of the hidden
    text (JSON-LD, noscript, template, inline scripts, data- attributes) removed. With
    `declare_paywall` the gated element gets the class that the page's JSON-LD names as
    not free (Google's paywalled-content markup), added to the JSON-LD if it lacks it."""
    before, after = _cut(data, gate, walled, encoding, declare_paywall)
    return b"".join((before, fragment, after))


def cut_page(
    data: bytes,
    selector: Selector,
    teaser_paragraphs: int,
    *,
    walled: bool,
    encoding: str,
    declare_paywall: bool,
) -> tuple[bytes, bytes] | None:
    """`personalise` for a whole page, as the two pieces the prompt goes between, or None
    when the page has no gated element. Remembered for the last few distinct pages, so
    the same article served to many readers is analysed once."""
    args = (data, selector, teaser_paragraphs, walled, encoding, declare_paywall)
    if len(data) > _CACHED_PAGE_BYTES:
        return _cut_page(*args)
    return _cut_page_cached(*args)


def _cut_page(
    data: bytes,
    selector: Selector,
    teaser_paragraphs: int,
    walled: bool,
    encoding: str,
    declare_paywall: bool,
) -> tuple[bytes, bytes] | None:
    gate = find_gate(data, selector, teaser_paragraphs, exact=walled)
    return None if gate is None else _cut(data, gate, walled, encoding, declare_paywall)


_CACHED_PAGE_BYTES = 512 * 1024
_cut_page_cached = functools.lru_cache(maxsize=64)(_cut_page)


def _cut(
    data: bytes, gate: Gate, walled: bool, encoding: str, declare_paywall: bool
) -> tuple[bytes, bytes]:
    opening = gate.opening
    hidden = _fingerprints(data, gate) if walled else []
    start_tag = data[opening.start : opening.end]
    if walled or declare_paywall:
        add_class = GATED_CLASS if declare_paywall else ""
        start_tag = edit_start_tag(data, opening, add_class=add_class, drop_data=walled)
    cleaner = _Outside(encoding, hide=walled, mark=declare_paywall, hidden=hidden)
    head = cleaner.clean(data[: opening.start])
    tail = cleaner.clean(data[gate.close_start :])
    if declare_paywall and not cleaner.found_article:
        block = b'<script type="application/ld+json">'
        block += _json_for_script(jsonld.paywall_block(), encoding) + b"</script>"
        head_end = _HEAD_END.search(head)
        if head_end is not None:
            head = head[: head_end.start()] + block + head[head_end.start() :]
        else:
            head += block
    if walled:
        teaser = b"\n".join(data[start:end] for start, end in gate.paragraphs)
        return b"".join((head, start_tag, teaser)), tail
    return head + start_tag, data[gate.open_end : gate.close_start] + tail


def strip_json_ld(data: bytes, encoding: str) -> bytes:
    """Remove the article text (articleBody, text) from every JSON-LD block in `data`."""
    return _Outside(encoding, hide=True, mark=False, hidden=[]).clean(data)


class _Outside:
    """Edits the page outside the gated element: JSON-LD, and copies of hidden text."""

    def __init__(self, encoding: str, *, hide: bool, mark: bool, hidden: list[str]) -> None:
        self.encoding = encoding
        self.hide = hide
        self.mark = mark
        self.hidden = hidden
        self.found_article = False

    def clean(self, data: bytes) -> bytes:
        edits: list[tuple[int, int, bytes]] = []
        names = _MAY_HOLD_TEXT if self.hidden else _SCRIPT
        pos = 0
        while (tag := next(tags_named(data, names, pos), None)) is not None:
            pos = tag.end
            if tag.closing:
                continue
            if tag.name == b"script" and b"ld+json" in tag.attrs.lower():
                if self.hide or self.mark:
                    replacement = self._json_ld(data[tag.end : tag.content_end])
                    if replacement is not None:
                        edits.append((tag.end, tag.content_end, replacement))
                pos = tag.content_end
            elif self.hidden and tag.name in _MAY_HOLD_TEXT:
                end = _element_end(data, tag)
                if self._holds_hidden_text(data[tag.end : end]):
                    edits.append((tag.start, end, b""))
                pos = max(end, tag.content_end)
        return _apply(data, edits)

    def _json_ld(self, raw: bytes) -> bytes | None:
        replacement, found = _rewrite_json_ld(raw, self.encoding, self.hide, self.mark)
        self.found_article |= found
        if self.hidden and self._holds_hidden_text(raw if replacement is None else replacement):
            return b""
        return replacement

    def _holds_hidden_text(self, content: bytes) -> bool:
        text = _plain_words(content.decode(self.encoding, "replace"))
        return any(fingerprint in text for fingerprint in self.hidden)


@functools.lru_cache(maxsize=256)
def _rewrite_json_ld(
    raw: bytes, encoding: str, hide: bool, mark: bool
) -> tuple[bytes | None, bool]:
    """A JSON-LD block's new text (None: unchanged) and whether it describes an article."""
    try:
        value, found = jsonld.rewrite_block(raw.decode(encoding), hide_text=hide, mark=mark)
    except (jsonld.Unreadable, UnicodeDecodeError):
        return (b"" if hide else None), False  # unreadable: drop it whole from a walled page
    return (None if value is None else _json_for_script(value, encoding)), found


def _element_end(data: bytes, tag: Tag) -> int:
    """Just past the end tag of the element `tag` opens (nested ones of its kind included)."""
    if tag.content_end > tag.end:  # raw text (script, textarea): the scanner found the end
        close = data.find(b">", tag.content_end)
        return len(data) if close < 0 else close + 1
    depth = 1
    for inner in tags_named(data, frozenset({tag.name}), tag.end):
        if inner.name == tag.name:
            depth += -1 if inner.closing else 1
            if depth == 0:
                return inner.end
    return len(data)


_WORDS = re.compile(r"\w+")
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_FINGERPRINT_WORDS = 6
_FINGERPRINT_CHARS = 12  # for scripts written without spaces (Chinese, Japanese)
_MAX_FINGERPRINTS = 300


def _plain_words(text: str) -> str:
    """Text reduced to lower-case words and single spaces, entities and \\u escapes decoded,
    so a paragraph matches its copy in markup, JSON or a script string alike."""
    text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), html.unescape(text))
    return " ".join(_WORDS.findall(text.lower()))


def _fingerprints(data: bytes, gate: Gate) -> list[str]:
    """Short runs of the hidden text (the gated element minus the teaser) to recognise
    copies of it elsewhere in the page."""
    pieces, pos = [], gate.open_end
    for start, end in gate.paragraphs:
        pieces.append(data[pos:start])
        pos = end
    pieces.append(data[pos : gate.close_start])
    hidden = _MARKUP.sub(b" ", b" ".join(pieces)).decode("utf-8", "replace")
    words = _plain_words(hidden).split()
    found: list[str] = []
    for index in range(0, len(words), _FINGERPRINT_WORDS):
        run = words[index : index + _FINGERPRINT_WORDS]
        if len(run) == _FINGERPRINT_WORDS:
            found.append(" ".join(run))
    for word in words:
        for index in range(0, len(word) - _FINGERPRINT_CHARS + 1, _FINGERPRINT_CHARS):
            found.append(word[index : index + _FINGERPRINT_CHARS])
    return found[:_MAX_FINGERPRINTS]


def _apply(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
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
        f"<title>{html.escape(title)}</title></head>\n<body>\n{fragment}\n</body></html>\n"
    ).encode()
