"""Reading pages as a browser does: the gated element's CSS selector, and the page's charset.

Pages are parsed by Lexbor (through selectolax), a spec-compliant HTML5 parser, so the
paywall finds the article, its paragraphs and every copy of its text in the same tree
a browser builds, whatever the markup's quirks (implied end tags, foster-parented table
content, raw-text elements, foreign SVG content, templates).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, SelectolaxError

_PROBE = LexborHTMLParser("<!doctype html><html><body><article><p>x</p></article></body></html>")


@dataclass(frozen=True)
class Selector:
    """The gated element's CSS selector: any selector Lexbor supports (type, class, id,
    attribute, descendant and child combinators, :not(), :nth-child(), …)."""

    text: str

    @classmethod
    def parse(cls, text: str) -> Selector:
        """Raise ValueError, saying what is wrong, for a selector Lexbor cannot use."""
        source = text.strip()
        if not source:
            raise ValueError("empty CSS selector")
        try:
            _PROBE.css(source)
        except (SelectolaxError, ValueError) as exc:
            raise ValueError(
                f"unsupported CSS selector {text!r} ({exc}); e.g. article, .story-body,"
                " #main, div[itemprop=articleBody], main > article"
            ) from None
        if source.lower() in ("*", "html", "head", "body", ":root"):
            raise ValueError(f"CSS selector {text!r} is the whole page, not the article")
        return cls(source)


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Browsers read these labels as windows-1252 (the WHATWG Encoding Standard).
_AS_WINDOWS_1252 = frozenset({"iso8859-1", "latin-1", "latin_1", "iso8859_1", "ascii", "cp1252"})


def decode_page(data: bytes, content_type: str) -> str:
    """The page's text, decoded in the order a browser chooses: a byte order mark, then the
    Content-Type charset, then a <meta> charset near the top, else UTF-8."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(name, "replace")
    found = _HEADER_CHARSET.search(content_type)
    label = found.group(1) if found else None
    if label is None:
        meta = _META_CHARSET.search(data, 0, 1024)
        label = meta.group(1).decode("ascii") if meta else "utf-8"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        name = "utf-8"
    if name in _AS_WINDOWS_1252:
        name = "cp1252"
    elif name.startswith("utf-16"):  # a <meta> can't say UTF-16 of an ASCII-readable page
        name = "utf-8" if found is None else name
    return data.decode(name, "replace")
